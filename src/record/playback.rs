//! Playback: one progressive, seekable MP4 spanning many stored segments, served with HTTP Range.
//!
//! As in Moonfire NVR, nothing is re-encoded or copied: the MP4 is *virtual*. Its header
//! (ftyp, moov with complete sample tables, mdat header) is generated from the segment indexes
//! kept in the database, and its body is the sequence of the segment files' sample ranges, one
//! chunk per recorded fragment, read on demand. Building the header touches no file, so a
//! response can start right away even for hours of video.

use std::collections::HashMap;
use std::io::{self, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use futures::Stream;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::mp4::{self, BoxBuf, SegmentIndex};

/// Largest single read from a segment file while streaming.
const MAX_READ: u64 = 1 << 20;

/// Upper bound of moov bytes per sample (stsz 4, stts 8, stss 4) plus per chunk (stsc 12,
/// co64 8), chunks never outnumbering samples; used to keep every box below 4 GiB.
const MAX_MOOV_BYTES_PER_SAMPLE: u64 = 36;

/// One stored segment's contribution to a playback file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlaybackPart {
    /// The segment file.
    pub path: PathBuf,
    /// The segment's sample entry box (`avc1`/`hvc1`), including its header.
    pub sample_entry: Vec<u8>,
    /// Coded width in pixels.
    pub width: u16,
    /// Coded height in pixels.
    pub height: u16,
    /// The samples to play (already trimmed to the requested time range).
    pub index: SegmentIndex,
}

/// Errors building a playback file.
#[derive(Debug, thiserror::Error)]
pub enum PlaybackError {
    /// No parts were given.
    #[error("nothing to play: no segments")]
    Empty,
    /// The parts hold no samples at all.
    #[error("nothing to play: the segments hold no samples")]
    NoSamples,
    /// A part's sample entry is not one well-formed box.
    #[error("part {part}: sample entry is not a single well-formed box")]
    InvalidSampleEntry {
        /// Position of the offending part.
        part: usize,
    },
    /// The sample tables would not fit the MP4 box format.
    #[error("too many samples for one playback file")]
    TooLarge,
    /// A segment's stored sample index does not decode.
    #[error("segment {segment} has a bad sample index: {message}")]
    BadIndex {
        /// Segment row id.
        segment: i64,
        /// Why.
        message: String,
    },
}

/// Turns the stored segments overlapping a range into playback parts, trimmed to
/// the range (from the key frame at or before `start`). Returns the parts and the
/// wall time of the first frame.
pub fn playback_parts(
    storage: &crate::record::storage::Storage,
    segs: &[crate::store::SegmentRow],
    start: crate::time::WallUs,
    end: crate::time::WallUs,
) -> Result<(Vec<PlaybackPart>, Option<crate::time::WallUs>), PlaybackError> {
    let to_90k = |us: i64| u64::try_from(us.max(0)).unwrap_or(0) * 9 / 100;
    let mut parts = Vec::new();
    let mut first = None;
    for s in segs {
        let Some(blob) = &s.sample_index else { continue };
        let idx = SegmentIndex::decode(blob)
            .map_err(|e| PlaybackError::BadIndex { segment: s.id, message: e.to_string() })?;
        let (trimmed, offset_90k) = idx.trim(to_90k(start - s.start_us), to_90k(end - s.start_us));
        if trimmed.frame_count() == 0 {
            continue;
        }
        if first.is_none() {
            first = Some(s.start_us + (offset_90k as i64) * 100 / 9);
        }
        parts.push(PlaybackPart {
            path: storage.resolve(&s.path),
            sample_entry: s.sample_entry.clone(),
            width: u16::try_from(s.width).unwrap_or(0),
            height: u16::try_from(s.height).unwrap_or(0),
            index: trimmed,
        });
    }
    Ok((parts, first))
}


/// A contiguous run of sample bytes: one recorded fragment, one MP4 chunk.
#[derive(Clone, Copy, Debug)]
struct Chunk {
    /// Index into `VirtualMp4::paths`.
    part: usize,
    file_offset: u64,
    len: u64,
    /// Offset of the chunk in the virtual file.
    start: u64,
}

/// A playable MP4 assembled on the fly from stored segments.
pub struct VirtualMp4 {
    header: Bytes,
    paths: Vec<PathBuf>,
    /// Chunks in file order; they tile `[header.len(), len)` without gaps.
    chunks: Vec<Chunk>,
    len: u64,
    duration_90k: u64,
    frame_count: u64,
    etag: String,
}

/// Sample tables accumulated over all parts before serialisation.
struct Tables<'a> {
    parts: &'a [PlaybackPart],
    /// Distinct sample entries in stsd order.
    entries: Vec<&'a [u8]>,
    /// (sample_count, sample_delta) runs.
    stts: Vec<(u32, u32)>,
    /// 1-based numbers of key frames.
    stss: Vec<u32>,
    /// (first_chunk, samples_per_chunk, sample_description_index) runs.
    stsc: Vec<(u32, u32, u32)>,
    frame_count: u32,
    chunk_count: u32,
    duration: u64,
    data_len: u64,
}

impl Tables<'_> {
    /// Writes ftyp + moov + mdat header; returns it and the position of the chunk offset table,
    /// whose entries are left zero because they depend on the header's own length.
    fn write_header(&self, width: u16, height: u16, co64: bool) -> (BoxBuf, usize) {
        let tables_len = 4 * self.frame_count as usize
            + 8 * (self.stts.len() + self.chunk_count as usize)
            + 4 * self.stss.len()
            + 12 * self.stsc.len();
        let entries_len: usize = self.entries.iter().map(|e| e.len()).sum();
        let mut b = BoxBuf::with_capacity(1024 + tables_len + entries_len);
        mp4::write_ftyp(&mut b);
        let moov = b.begin(b"moov");
        mp4::write_mvhd(&mut b, self.duration);
        let trak = b.begin(b"trak");
        mp4::write_tkhd(&mut b, self.duration, width, height);
        let (mdia, minf) = mp4::begin_video_media(&mut b, self.duration);
        let stbl = b.begin(b"stbl");

        let stsd = b.begin_full(b"stsd", 0, 0);
        b.u32(self.entries.len() as u32);
        for entry in &self.entries {
            b.bytes(entry);
        }
        b.end(stsd);

        let stts = b.begin_full(b"stts", 0, 0);
        b.u32(self.stts.len() as u32);
        for &(count, delta) in &self.stts {
            b.u32(count);
            b.u32(delta);
        }
        b.end(stts);

        let stss = b.begin_full(b"stss", 0, 0);
        b.u32(self.stss.len() as u32);
        for &n in &self.stss {
            b.u32(n);
        }
        b.end(stss);

        let stsc = b.begin_full(b"stsc", 0, 0);
        b.u32(self.stsc.len() as u32);
        for &(first_chunk, samples, description) in &self.stsc {
            b.u32(first_chunk);
            b.u32(samples);
            b.u32(description);
        }
        b.end(stsc);

        let stsz = b.begin_full(b"stsz", 0, 0);
        b.u32(0); // sample_size: sizes vary
        b.u32(self.frame_count);
        for f in self.parts.iter().flat_map(|p| &p.index.fragments) {
            for s in &f.samples {
                b.u32(s.size);
            }
        }
        b.end(stsz);

        let offsets = b.begin_full(if co64 { b"co64" } else { b"stco" }, 0, 0);
        b.u32(self.chunk_count);
        let table_pos = b.len();
        b.bytes(&vec![
            0;
            self.chunk_count as usize * if co64 { 8 } else { 4 }
        ]);
        b.end(offsets);

        b.end(stbl);
        b.end(minf);
        b.end(mdia);
        b.end(trak);
        b.end(moov);
        mp4::write_mdat_header(&mut b, self.data_len);
        (b, table_pos)
    }
}

impl VirtualMp4 {
    /// Builds the header and chunk map for `parts`, played back to back; touches no file.
    pub fn build(parts: Vec<PlaybackPart>) -> Result<Self, PlaybackError> {
        let first = parts.first().ok_or(PlaybackError::Empty)?;
        let (width, height) = (first.width, first.height);

        // stsd holds each distinct sample entry once; parts refer to it by 1-based index.
        let mut entry_index: HashMap<&[u8], u32> = HashMap::new();
        let mut entries = Vec::new();
        let mut descriptions = Vec::with_capacity(parts.len());
        for (i, p) in parts.iter().enumerate() {
            let e = p.sample_entry.as_slice();
            let well_formed =
                u32::try_from(e.len()).is_ok_and(|len| len >= 8 && e[..4] == len.to_be_bytes());
            if !well_formed {
                return Err(PlaybackError::InvalidSampleEntry { part: i });
            }
            descriptions.push(*entry_index.entry(e).or_insert_with(|| {
                entries.push(e);
                entries.len() as u32
            }));
        }

        let frame_count: u64 = parts.iter().map(|p| p.index.frame_count()).sum();
        if frame_count == 0 {
            return Err(PlaybackError::NoSamples);
        }
        let entries_len: u64 = entries.iter().map(|e| e.len() as u64).sum();
        let frame_count = u32::try_from(frame_count)
            .ok()
            .filter(|&n| {
                4096 + entries_len + MAX_MOOV_BYTES_PER_SAMPLE * u64::from(n) <= u64::from(u32::MAX)
            })
            .ok_or(PlaybackError::TooLarge)?;

        let mut tables = Tables {
            parts: &parts,
            entries,
            stts: Vec::new(),
            stss: Vec::new(),
            stsc: Vec::new(),
            frame_count,
            chunk_count: 0,
            duration: 0,
            data_len: 0,
        };
        let mut chunks = Vec::new();
        let mut sample_number = 0u32;
        for ((part, p), &description) in parts.iter().enumerate().zip(&descriptions) {
            for f in p.index.fragments.iter().filter(|f| !f.samples.is_empty()) {
                // Counts fit: the total sample count was checked above.
                let samples = f.samples.len() as u32;
                if tables
                    .stsc
                    .last()
                    .is_none_or(|&(_, n, d)| n != samples || d != description)
                {
                    tables
                        .stsc
                        .push((chunks.len() as u32 + 1, samples, description));
                }
                let mut len = 0u64;
                for s in &f.samples {
                    sample_number += 1;
                    if s.is_key {
                        tables.stss.push(sample_number);
                    }
                    match tables.stts.last_mut() {
                        Some((count, delta)) if *delta == s.duration => *count += 1,
                        _ => tables.stts.push((1, s.duration)),
                    }
                    tables.duration += u64::from(s.duration);
                    len += u64::from(s.size);
                }
                // `start` is relative to the mdat payload until the header length is known.
                chunks.push(Chunk {
                    part,
                    file_offset: f.data_offset,
                    len,
                    start: tables.data_len,
                });
                tables.data_len += len;
            }
        }
        tables.chunk_count = chunks.len() as u32;

        // 32-bit chunk offsets when the whole file allows, else co64 (slightly longer header).
        let (mut header, mut table_pos) = tables.write_header(width, height, false);
        let co64 = header.len() as u64 + tables.data_len > u64::from(u32::MAX);
        if co64 {
            (header, table_pos) = tables.write_header(width, height, true);
        }
        let header_len = header.len() as u64;
        for (k, c) in chunks.iter_mut().enumerate() {
            c.start += header_len;
            if co64 {
                header.set_u64(table_pos + 8 * k, c.start);
            } else {
                header.set_u32(table_pos + 4 * k, c.start as u32);
            }
        }
        let header = Bytes::from(header.into_vec());

        // The header covers sample sizes, timing and entries; add where the bytes come from.
        let mut hash = Sha256::new();
        hash.update(&header);
        for p in &parts {
            let path = p.path.as_os_str().as_encoded_bytes();
            hash.update((path.len() as u64).to_be_bytes());
            hash.update(path);
        }
        for c in &chunks {
            hash.update((c.part as u64).to_be_bytes());
            hash.update(c.file_offset.to_be_bytes());
        }
        let etag = format!("\"{}\"", hex::encode(&hash.finalize()[..16]));

        let (duration_90k, len) = (tables.duration, header_len + tables.data_len);
        Ok(Self {
            header,
            paths: parts.into_iter().map(|p| p.path).collect(),
            chunks,
            len,
            duration_90k,
            frame_count: u64::from(frame_count),
            etag,
        })
    }

    /// Total size of the virtual file in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Always false: a built file holds at least its header (the companion clippy requires of `len`).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Total duration in 90 kHz units.
    pub fn duration_90k(&self) -> u64 {
        self.duration_90k
    }

    /// Number of video frames.
    pub fn frame_count(&self) -> u64 {
        self.frame_count
    }

    /// Streams bytes [start, end) reading file slices with tokio::fs in chunks of <= 1 MiB; a file that is missing or shorter than expected gives an io error in the stream (never silently wrong bytes).
    pub fn stream_range(
        self: Arc<Self>,
        start: u64,
        end: u64,
    ) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
        let end = end.min(self.len);
        let reader = RangeReader {
            mp4: self,
            pos: start,
            end,
            open: None,
        };
        futures::stream::unfold(Some(reader), |reader| async move {
            let mut reader = reader?;
            if reader.pos >= reader.end {
                return None;
            }
            match reader.next_bytes().await {
                Ok(bytes) => Some((Ok(bytes), Some(reader))),
                // The error ends the stream: the client must not get bytes after a gap.
                Err(e) => Some((Err(e), None)),
            }
        })
    }

    /// Builds the axum response: honours a single `Range: bytes=a-b` / `a-` / `-n` (206 + Content-Range), answers 416 with `Content-Range: bytes */len` for unsatisfiable ranges, 200 for no Range; sets Content-Type video/mp4, Accept-Ranges: bytes, Content-Length, and a strong ETag derived from the content description; multi-range requests fall back to 200 full body. Uses axum::body::Body::from_stream.
    ///
    /// A Range with an `If-Range` that does not match the ETag is ignored (RFC 9110 §13.1.5).
    pub fn into_response(self: Arc<Self>, headers: &HeaderMap) -> Response {
        let len = self.len;
        let common: [(HeaderName, String); 3] = [
            (header::CONTENT_TYPE, "video/mp4".to_owned()),
            (header::ACCEPT_RANGES, "bytes".to_owned()),
            (header::ETAG, self.etag.clone()),
        ];
        match requested_range(headers, len, &self.etag) {
            RequestedRange::Full => (
                StatusCode::OK,
                common,
                [(header::CONTENT_LENGTH, len.to_string())],
                Body::from_stream(self.stream_range(0, len)),
            )
                .into_response(),
            RequestedRange::Partial { start, end } => (
                StatusCode::PARTIAL_CONTENT,
                common,
                [
                    (header::CONTENT_LENGTH, (end - start).to_string()),
                    (
                        header::CONTENT_RANGE,
                        format!("bytes {start}-{}/{len}", end - 1),
                    ),
                ],
                Body::from_stream(self.stream_range(start, end)),
            )
                .into_response(),
            RequestedRange::Unsatisfiable => (
                StatusCode::RANGE_NOT_SATISFIABLE,
                common,
                [(header::CONTENT_RANGE, format!("bytes */{len}"))],
                Body::empty(),
            )
                .into_response(),
        }
    }
}

/// What part of the file a request asks for.
#[derive(Debug, PartialEq, Eq)]
enum RequestedRange {
    Full,
    /// Bytes `[start, end)`, non-empty and within the file.
    Partial {
        start: u64,
        end: u64,
    },
    Unsatisfiable,
}

/// Interprets the Range header against a file of `len` bytes.
///
/// Anything other than one syntactically valid byte range is served in full, which RFC 9110
/// §14.2 allows (a server may ignore Range) and keeps multi-range out of scope.
fn requested_range(headers: &HeaderMap, len: u64, etag: &str) -> RequestedRange {
    let mut values = headers.get_all(header::RANGE).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return RequestedRange::Full;
    };
    if headers
        .get(header::IF_RANGE)
        .is_some_and(|v| v.as_bytes() != etag.as_bytes())
    {
        return RequestedRange::Full;
    }
    let Some((unit, spec)) = value.to_str().ok().and_then(|v| v.trim().split_once('=')) else {
        return RequestedRange::Full;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") || spec.contains(',') {
        return RequestedRange::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RequestedRange::Full;
    };
    let number = |s: &str| {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    match (number(first), last.trim().is_empty()) {
        // Suffix range: the last n bytes.
        (None, false) if first.trim().is_empty() => match number(last) {
            Some(0) => RequestedRange::Unsatisfiable,
            Some(n) => RequestedRange::Partial {
                start: len.saturating_sub(n),
                end: len,
            },
            None => RequestedRange::Full,
        },
        (Some(start), true) if start < len => RequestedRange::Partial { start, end: len },
        (Some(start), false) => match number(last) {
            Some(last) if last < start => RequestedRange::Full,
            Some(_) if start >= len => RequestedRange::Unsatisfiable,
            Some(last) => RequestedRange::Partial {
                start,
                end: last.saturating_add(1).min(len),
            },
            None => RequestedRange::Full,
        },
        (Some(_), true) => RequestedRange::Unsatisfiable,
        (None, _) => RequestedRange::Full,
    }
}

/// The segment file currently being read.
struct OpenFile {
    part: usize,
    file: tokio::fs::File,
    /// Current read position, to skip seeks between consecutive chunks.
    pos: u64,
}

/// State of one [`VirtualMp4::stream_range`] stream.
struct RangeReader {
    mp4: Arc<VirtualMp4>,
    pos: u64,
    end: u64,
    open: Option<OpenFile>,
}

impl RangeReader {
    /// Returns the next piece of `[pos, end)` (which must be non-empty) and advances past it.
    async fn next_bytes(&mut self) -> io::Result<Bytes> {
        let header = &self.mp4.header;
        if let Ok(pos) = usize::try_from(self.pos) {
            if pos < header.len() {
                let end = usize::try_from(self.end).map_or(header.len(), |e| e.min(header.len()));
                self.pos = end as u64;
                return Ok(header.slice(pos..end));
            }
        }
        let i = self
            .mp4
            .chunks
            .partition_point(|c| c.start + c.len <= self.pos);
        let chunk = *self
            .mp4
            .chunks
            .get(i)
            .ok_or_else(|| io::Error::other("read position past the last chunk"))?;
        let path = &self.mp4.paths[chunk.part];
        let with_path = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));

        let within = self.pos - chunk.start;
        let n = (chunk.len - within).min(self.end - self.pos).min(MAX_READ);
        let file_pos = chunk.file_offset + within;
        let open = match &mut self.open {
            Some(open) if open.part == chunk.part => open,
            slot => {
                let file = tokio::fs::File::open(path).await.map_err(with_path)?;
                // u64::MAX forces the seek below.
                slot.insert(OpenFile {
                    part: chunk.part,
                    file,
                    pos: u64::MAX,
                })
            }
        };
        if open.pos != file_pos {
            open.file
                .seek(SeekFrom::Start(file_pos))
                .await
                .map_err(with_path)?;
            open.pos = file_pos;
        }
        let mut buf = BytesMut::zeroed(n as usize);
        open.file.read_exact(&mut buf).await.map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                with_path(io::Error::new(
                    e.kind(),
                    "file is shorter than its index says",
                ))
            } else {
                with_path(e)
            }
        })?;
        open.pos += n;
        self.pos += n;
        Ok(buf.freeze())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::mp4::test_support::*;
    use crate::record::mp4::{FragmentIndex, SampleInfo};
    use axum::http::HeaderValue;
    use futures::{StreamExt, TryStreamExt};
    use std::path::Path;

    fn synthetic_part(
        path: PathBuf,
        entry: &[u8],
        fragments: usize,
        per_fragment: usize,
    ) -> PlaybackPart {
        let mut offset = 0;
        let index = SegmentIndex {
            fragments: (0..fragments)
                .map(|_| {
                    offset += 200; // moof + mdat header
                    let samples: Vec<SampleInfo> = (0..per_fragment)
                        .map(|i| SampleInfo {
                            duration: 3600,
                            size: 100 + (i as u32 * 37) % 500,
                            is_key: i == 0,
                        })
                        .collect();
                    let f = FragmentIndex {
                        data_offset: offset,
                        samples,
                    };
                    offset += f.samples.iter().map(|s| u64::from(s.size)).sum::<u64>();
                    f
                })
                .collect(),
        };
        PlaybackPart {
            path,
            sample_entry: entry.to_vec(),
            width: 320,
            height: 240,
            index,
        }
    }

    fn entry(fill: u8) -> Vec<u8> {
        let mut e = vec![0, 0, 0, 40, b'a', b'v', b'c', b'1'];
        e.resize(40, fill);
        e
    }

    /// Entry count of the stsd box in a generated header.
    fn stsd_entries(header: &[u8]) -> u32 {
        let at = header.windows(4).position(|w| w == b"stsd").unwrap();
        u32::from_be_bytes(header[at + 8..at + 12].try_into().unwrap())
    }

    async fn collect(mp4: &Arc<VirtualMp4>, start: u64, end: u64) -> io::Result<Vec<u8>> {
        let chunks: Vec<Bytes> = mp4.clone().stream_range(start, end).try_collect().await?;
        assert!(chunks.iter().all(|c| c.len() as u64 <= MAX_READ));
        Ok(chunks.concat())
    }

    #[test]
    fn builds_an_hour_of_samples() {
        let parts: Vec<PlaybackPart> = (0..60)
            .map(|i| {
                synthetic_part(
                    format!("/nonexistent/{i}.mp4").into(),
                    &entry(i as u8 % 2),
                    60,
                    25,
                )
            })
            .collect();
        let started = std::time::Instant::now();
        let mp4 = VirtualMp4::build(parts).unwrap();
        eprintln!(
            "built 90000-sample playback file in {:?}",
            started.elapsed()
        );
        assert_eq!(mp4.frame_count(), 90_000);
        assert_eq!(mp4.duration_90k(), 90_000 * 3600);
        assert_eq!(stsd_entries(&mp4.header), 2);
        assert_eq!(mp4.chunks.len(), 3600);
        assert_eq!(
            mp4.len(),
            mp4.header.len() as u64 + mp4.chunks.iter().map(|c| c.len).sum::<u64>()
        );
        assert!(mp4
            .chunks
            .windows(2)
            .all(|w| w[0].start + w[0].len == w[1].start));
    }

    #[test]
    fn large_files_use_co64_and_mdat_largesize() {
        // 3 × 1 GiB + 1 GiB-ish samples push chunk offsets past 32 bits.
        let mut part = synthetic_part("/nonexistent".into(), &entry(0), 5, 2);
        for f in &mut part.index.fragments {
            f.samples.iter_mut().for_each(|s| s.size = 1 << 29);
        }
        let mp4 = VirtualMp4::build(vec![part]).unwrap();
        assert!(mp4.len() > 5 << 30);
        assert!(mp4.header.windows(4).any(|w| w == b"co64"));
        assert!(!mp4.header.windows(4).any(|w| w == b"stco"));
        let mdat = &mp4.header[mp4.header.len() - 16..];
        assert_eq!(&mdat[..8], b"\0\0\0\x01mdat");
        assert_eq!(
            u64::from_be_bytes(mdat[8..].try_into().unwrap()),
            10 * (1 << 29) + 16
        );
        let last = mp4.chunks.last().unwrap();
        let co64 = mp4.header.windows(4).position(|w| w == b"co64").unwrap();
        let table_end = co64 + 8 + 4 + 8 * mp4.chunks.len();
        assert_eq!(
            u64::from_be_bytes(mp4.header[table_end - 8..table_end].try_into().unwrap()),
            last.start
        );
    }

    #[test]
    fn build_rejects_bad_input() {
        assert!(matches!(
            VirtualMp4::build(vec![]),
            Err(PlaybackError::Empty)
        ));
        let empty = synthetic_part("/x".into(), &entry(0), 0, 0);
        assert!(matches!(
            VirtualMp4::build(vec![empty]),
            Err(PlaybackError::NoSamples)
        ));
        let good = synthetic_part("/x".into(), &entry(0), 1, 1);
        let mut bad = good.clone();
        bad.sample_entry.pop();
        assert!(matches!(
            VirtualMp4::build(vec![good, bad]),
            Err(PlaybackError::InvalidSampleEntry { part: 1 })
        ));
    }

    /// Two segment files of random-ish bytes and a playback file over them.
    fn synthetic_files(dir: &Path) -> (Arc<VirtualMp4>, Vec<u8>) {
        let mut parts = Vec::new();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for i in 0..2 {
            let part = synthetic_part(dir.join(format!("{i}.mp4")), &entry(i), 40, 25);
            let len = part
                .index
                .fragments
                .last()
                .map(|f| f.data_offset + f.samples.iter().map(|s| u64::from(s.size)).sum::<u64>())
                .unwrap();
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            std::fs::write(&part.path, &bytes).unwrap();
            parts.push(part);
        }
        let mut expected = Vec::new();
        for p in &parts {
            let file = std::fs::read(&p.path).unwrap();
            for f in &p.index.fragments {
                let len: u64 = f.samples.iter().map(|s| u64::from(s.size)).sum();
                expected.extend_from_slice(
                    &file[f.data_offset as usize..(f.data_offset + len) as usize],
                );
            }
        }
        let mp4 = Arc::new(VirtualMp4::build(parts).unwrap());
        let mut full = mp4.header.to_vec();
        full.extend(expected);
        assert_eq!(full.len() as u64, mp4.len());
        (mp4, full)
    }

    #[tokio::test]
    async fn stream_range_returns_exact_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let (mp4, full) = synthetic_files(dir.path());
        let len = mp4.len();
        assert_eq!(collect(&mp4, 0, len).await.unwrap(), full);
        let h = mp4.header.len() as u64;
        for (a, b) in [
            (0, 1),
            (h - 3, h + 5),
            (h + 10, h + 11),
            (h + 100, len - 7),
            (len - 1, len),
            (5, len + 100),
            (len, len),
        ] {
            let got = collect(&mp4, a, b).await.unwrap();
            assert_eq!(got, full[a as usize..b.min(len) as usize], "range {a}..{b}");
        }
    }

    #[tokio::test]
    async fn missing_or_short_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let (mp4, _) = synthetic_files(dir.path());
        let len = mp4.len();
        let second = &mp4.paths[1];
        let second_start = mp4.chunks.iter().find(|c| c.part == 1).unwrap().start;

        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(second)
            .unwrap();
        let short_len = file.metadata().unwrap().len() - 10;
        file.set_len(short_len).unwrap();
        let err = collect(&mp4, 0, len).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        // The bytes before the damage are still served, then the stream stops with the error.
        let items: Vec<io::Result<Bytes>> = mp4.clone().stream_range(0, len).collect().await;
        assert!(items.last().unwrap().is_err());
        assert!(items[..items.len() - 1].iter().all(|r| r.is_ok()));

        std::fs::remove_file(second).unwrap();
        assert!(collect(&mp4, 0, second_start).await.is_ok());
        let err = collect(&mp4, 0, len).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(err.to_string().contains("1.mp4"), "{err}");
    }

    fn range_headers(range: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::RANGE, HeaderValue::from_str(range).unwrap());
        h
    }

    async fn body_of(resp: Response) -> Vec<u8> {
        axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec()
    }

    #[tokio::test]
    async fn response_honours_ranges() {
        let dir = tempfile::tempdir().unwrap();
        let (mp4, full) = synthetic_files(dir.path());
        let len = mp4.len();

        let resp = mp4.clone().into_response(&HeaderMap::new());
        assert_eq!(resp.status(), StatusCode::OK);
        let h = resp.headers();
        assert_eq!(h[header::CONTENT_TYPE], "video/mp4");
        assert_eq!(h[header::ACCEPT_RANGES], "bytes");
        assert_eq!(h[header::CONTENT_LENGTH], len.to_string().as_str());
        assert_eq!(h[header::ETAG], mp4.etag.as_str());
        assert!(mp4.etag.as_str().starts_with('"') && mp4.etag.as_str().len() == 34);
        assert_eq!(body_of(resp).await, full);

        // Consecutive 206 slices concatenate to the full body.
        let mut joined = Vec::new();
        let step = len / 3 + 1;
        for start in (0..len).step_by(step as usize) {
            let last = (start + step - 1).min(len - 1);
            let resp = mp4
                .clone()
                .into_response(&range_headers(&format!("bytes={start}-{last}")));
            assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT);
            assert_eq!(
                resp.headers()[header::CONTENT_RANGE],
                format!("bytes {start}-{last}/{len}").as_str()
            );
            assert_eq!(
                resp.headers()[header::CONTENT_LENGTH],
                (last - start + 1).to_string().as_str()
            );
            joined.extend(body_of(resp).await);
        }
        assert_eq!(joined, full);

        for (range, start, end) in [
            ("bytes=100-", 100, len),
            ("bytes=-500", len - 500, len),
            ("bytes=-99999999999", 0, len),
            ("bytes=5-99999999999", 5, len),
            ("Bytes = 7 - 8", 7, 9),
        ] {
            let resp = mp4.clone().into_response(&range_headers(range));
            assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT, "{range}");
            assert_eq!(
                body_of(resp).await,
                full[start as usize..end as usize],
                "{range}"
            );
        }

        for range in [
            format!("bytes={len}-"),
            format!("bytes={len}-{}", len + 5),
            "bytes=-0".to_owned(),
        ] {
            let resp = mp4.clone().into_response(&range_headers(&range));
            assert_eq!(resp.status(), StatusCode::RANGE_NOT_SATISFIABLE, "{range}");
            assert_eq!(
                resp.headers()[header::CONTENT_RANGE],
                format!("bytes */{len}").as_str()
            );
            assert!(body_of(resp).await.is_empty());
        }

        // Multi-range, malformed ranges and other units: the whole file.
        for range in [
            "bytes=0-1,5-6",
            "bytes=9-3",
            "bytes=abc",
            "items=0-5",
            "bytes=-",
            "bytes=+1-2",
        ] {
            let resp = mp4.clone().into_response(&range_headers(range));
            assert_eq!(resp.status(), StatusCode::OK, "{range}");
            assert_eq!(body_of(resp).await.len() as u64, len);
        }

        // If-Range: honoured only while the ETag matches.
        let mut h = range_headers("bytes=0-9");
        h.insert(
            header::IF_RANGE,
            HeaderValue::from_str(mp4.etag.as_str()).unwrap(),
        );
        assert_eq!(
            mp4.clone().into_response(&h).status(),
            StatusCode::PARTIAL_CONTENT
        );
        h.insert(header::IF_RANGE, HeaderValue::from_static("\"stale\""));
        assert_eq!(mp4.clone().into_response(&h).status(), StatusCode::OK);
    }

    #[test]
    fn etag_depends_on_content() {
        let a = |path: &str, size_bump: u32| {
            let mut p = synthetic_part(path.into(), &entry(0), 2, 3);
            p.index.fragments[1].samples[2].size += size_bump;
            VirtualMp4::build(vec![p]).unwrap().etag
        };
        assert_eq!(a("/a", 0), a("/a", 0));
        assert_ne!(a("/a", 0), a("/b", 0));
        assert_ne!(a("/a", 0), a("/a", 1));
    }

    async fn write_playback(mp4: VirtualMp4, path: &Path) {
        let mp4 = Arc::new(mp4);
        let bytes = collect(&mp4, 0, mp4.len()).await.unwrap();
        std::fs::write(path, bytes).unwrap();
    }

    #[tokio::test]
    async fn real_h264_playback_decodes() {
        let dir = tempfile::tempdir().unwrap();
        let (params, aus) = encode_h264(dir.path(), 320, 240, 6);
        let (a, b) = (dir.path().join("a.mp4"), dir.path().join("b.mp4"));
        let index_a = write_segment(&a, &params, &aus);
        let index_b = write_segment(&b, &params, &aus);
        // 1.5 s .. 4.2 s: starts at the 1 s key frame, ends before the frame starting at 4.2 s.
        let (trimmed, offset) = index_b.trim(135_000, 378_000);
        assert_eq!((offset, trimmed.frame_count()), (90_000, 80));

        let part = |path: &Path, index| PlaybackPart {
            path: path.to_owned(),
            sample_entry: params.sample_entry.clone(),
            width: params.width,
            height: params.height,
            index,
        };
        let mp4 = VirtualMp4::build(vec![part(&a, index_a), part(&b, trimmed)]).unwrap();
        assert_eq!((mp4.frame_count(), mp4.duration_90k()), (230, 230 * 3600));
        assert_eq!(stsd_entries(&mp4.header), 1);
        let out = dir.path().join("playback.mp4");
        write_playback(mp4, &out).await;

        let (frames, duration) = ffprobe(&out);
        assert_eq!(frames, 230);
        assert!((duration - 9.2).abs() < 0.001, "duration {duration}");
        assert_decodes_cleanly(&out);
    }

    #[tokio::test]
    async fn resolution_change_decodes() {
        let dir = tempfile::tempdir().unwrap();
        let mut parts = Vec::new();
        for (i, (w, h)) in [(320, 240), (480, 272), (320, 240)].into_iter().enumerate() {
            let (params, aus) = encode_h264(dir.path(), w, h, 2);
            let path = dir.path().join(format!("{i}.mp4"));
            let index = write_segment(&path, &params, &aus);
            parts.push(PlaybackPart {
                path,
                sample_entry: params.sample_entry,
                width: w,
                height: h,
                index,
            });
        }
        let mp4 = VirtualMp4::build(parts).unwrap();
        assert_eq!(stsd_entries(&mp4.header), 2);
        let out = dir.path().join("playback.mp4");
        write_playback(mp4, &out).await;

        let (frames, duration) = ffprobe(&out);
        assert_eq!(frames, 150);
        assert!((duration - 6.0).abs() < 0.001, "duration {duration}");
        assert_decodes_cleanly(&out);
    }
}
