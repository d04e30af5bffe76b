//! Fragmented MP4 recording segments: writing, crash-recovery scanning and the compact sample index.
//!
//! The boxes are serialised by hand rather than through an MP4 crate: this is the product's core
//! recording format, so every byte it stores must stay under our control, stable across
//! dependency upgrades, and verified against real decoders by the tests below.

use std::io::{Read, Seek, SeekFrom};

use crate::camera::VideoParams;

/// Time units per second of every track HallWatch writes.
pub const TIMESCALE: u32 = 90_000;

const TRACK_ID: u32 = 1;

/// Sample flags (ISO/IEC 14496-12 §8.8.3.1) of a sync sample that depends on no other sample.
const KEY_SAMPLE_FLAGS: u32 = 0x0200_0000;
/// Sample flags of a non-sync sample that depends on others.
const NON_KEY_SAMPLE_FLAGS: u32 = 0x0101_0000;
const SAMPLE_IS_NON_SYNC: u32 = 0x0001_0000;

const TFHD_BASE_DATA_OFFSET: u32 = 0x00_0001;
const TFHD_SAMPLE_DESCRIPTION_INDEX: u32 = 0x00_0002;
const TFHD_DEFAULT_DURATION: u32 = 0x00_0008;
const TFHD_DEFAULT_SIZE: u32 = 0x00_0010;
const TFHD_DEFAULT_FLAGS: u32 = 0x00_0020;
const TFHD_DEFAULT_BASE_IS_MOOF: u32 = 0x02_0000;

const TRUN_DATA_OFFSET: u32 = 0x00_0001;
const TRUN_FIRST_SAMPLE_FLAGS: u32 = 0x00_0004;
const TRUN_DURATION: u32 = 0x00_0100;
const TRUN_SIZE: u32 = 0x00_0200;
const TRUN_FLAGS: u32 = 0x00_0400;
const TRUN_COMPOSITION_OFFSET: u32 = 0x00_0800;

/// Largest moov/moof `scan` reads into memory; ours are a few KiB, so anything bigger is garbage.
const MAX_HEADER_BOX: u64 = 64 << 20;

/// Format version byte leading an encoded [`SegmentIndex`].
const INDEX_VERSION: u8 = 1;

/// One sample of a fragment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SampleInfo {
    /// Duration in [`TIMESCALE`] units.
    pub duration: u32,
    /// Size of the sample payload in bytes.
    pub size: u32,
    /// True if decoding can start at this sample.
    pub is_key: bool,
}

/// Where the samples of one fragment are and how long they last.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FragmentIndex {
    /// File offset of the first sample byte; the samples follow back to back.
    pub data_offset: u64,
    /// The fragment's samples in decode order.
    pub samples: Vec<SampleInfo>,
}

/// The sample index of one segment file, stored in the database so playback never parses files.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SegmentIndex {
    /// The segment's fragments in file order.
    pub fragments: Vec<FragmentIndex>,
}

/// Result of scanning a segment file written by this module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scanned {
    /// The track's sample entry box (`avc1`/`hvc1`), including its header.
    pub sample_entry: Vec<u8>,
    /// Index of every complete fragment.
    pub index: SegmentIndex,
    /// End of the last complete fragment (or of the init segment); bytes past it are debris.
    pub valid_len: u64,
}

/// Errors of segment writing, scanning and index decoding.
#[derive(Debug, thiserror::Error)]
pub enum Mp4Error {
    /// Reading the file failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The file does not start with a usable ftyp + moov written by HallWatch.
    #[error("invalid init segment: {0}")]
    InvalidInit(&'static str),
    /// An encoded segment index is truncated or corrupt.
    #[error("invalid segment index: {0}")]
    InvalidIndex(&'static str),
}

/// Big-endian box serialiser shared with the playback module.
#[derive(Debug, Default)]
pub(crate) struct BoxBuf {
    buf: Vec<u8>,
}

impl BoxBuf {
    /// An empty buffer with room for `capacity` bytes.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self {
            buf: Vec::with_capacity(capacity),
        }
    }

    /// Bytes written so far.
    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    /// The serialised bytes.
    pub(crate) fn into_vec(self) -> Vec<u8> {
        self.buf
    }

    /// Appends raw bytes.
    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    /// Appends a big-endian u16.
    pub(crate) fn u16(&mut self, v: u16) {
        self.bytes(&v.to_be_bytes());
    }

    /// Appends a big-endian u32.
    pub(crate) fn u32(&mut self, v: u32) {
        self.bytes(&v.to_be_bytes());
    }

    /// Appends a big-endian u64.
    pub(crate) fn u64(&mut self, v: u64) {
        self.bytes(&v.to_be_bytes());
    }

    /// Overwrites a big-endian u32 at `pos` (for values known only after their box is written).
    pub(crate) fn set_u32(&mut self, pos: usize, v: u32) {
        self.buf[pos..pos + 4].copy_from_slice(&v.to_be_bytes());
    }

    /// Overwrites a big-endian u64 at `pos`.
    pub(crate) fn set_u64(&mut self, pos: usize, v: u64) {
        self.buf[pos..pos + 8].copy_from_slice(&v.to_be_bytes());
    }

    /// Starts a box; returns the handle for [`BoxBuf::end`], which fills in the size.
    pub(crate) fn begin(&mut self, fourcc: &[u8; 4]) -> usize {
        let start = self.buf.len();
        self.u32(0);
        self.bytes(fourcc);
        start
    }

    /// Starts a full box (box header + version + flags).
    pub(crate) fn begin_full(&mut self, fourcc: &[u8; 4], version: u8, flags: u32) -> usize {
        let start = self.begin(fourcc);
        self.u32((u32::from(version) << 24) | (flags & 0x00ff_ffff));
        start
    }

    /// Ends the box started at `start`.
    ///
    /// Only 32-bit sizes are written: callers bound their content well below 4 GiB (the one box
    /// that can be larger, mdat, is written separately with a largesize).
    pub(crate) fn end(&mut self, start: usize) {
        let size = u32::try_from(self.buf.len() - start).expect("callers keep boxes below 4 GiB");
        self.set_u32(start, size);
    }
}

/// Writes the ftyp box shared by recording segments and playback files.
pub(crate) fn write_ftyp(b: &mut BoxBuf) {
    let ftyp = b.begin(b"ftyp");
    b.bytes(b"isom");
    b.u32(0x200);
    for brand in [b"isom", b"iso2", b"iso6", b"mp41"] {
        b.bytes(brand);
    }
    b.end(ftyp);
}

/// Identity transformation matrix of mvhd/tkhd.
fn write_matrix(b: &mut BoxBuf) {
    for v in [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] {
        b.u32(v);
    }
}

/// Starts a full box that carries a duration; version 1 (64-bit times) only when it needs it.
fn begin_timed_box(b: &mut BoxBuf, fourcc: &[u8; 4], flags: u32, duration: u64) -> (usize, bool) {
    let long = duration > u64::from(u32::MAX);
    (b.begin_full(fourcc, u8::from(long), flags), long)
}

/// Writes mvhd for a one-track movie lasting `duration` (in [`TIMESCALE`] units).
pub(crate) fn write_mvhd(b: &mut BoxBuf, duration: u64) {
    let (mvhd, long) = begin_timed_box(b, b"mvhd", 0, duration);
    if long {
        b.u64(0); // creation time
        b.u64(0); // modification time
        b.u32(TIMESCALE);
        b.u64(duration);
    } else {
        b.u32(0);
        b.u32(0);
        b.u32(TIMESCALE);
        b.u32(duration as u32);
    }
    b.u32(0x0001_0000); // rate 1.0
    b.u16(0x0100); // volume 1.0
    b.bytes(&[0; 10]);
    write_matrix(b);
    b.bytes(&[0; 24]); // pre_defined
    b.u32(TRACK_ID + 1); // next_track_ID
    b.end(mvhd);
}

/// Writes tkhd of the video track.
pub(crate) fn write_tkhd(b: &mut BoxBuf, duration: u64, width: u16, height: u16) {
    // Flags: track enabled, in movie.
    let (tkhd, long) = begin_timed_box(b, b"tkhd", 0x3, duration);
    if long {
        b.u64(0);
        b.u64(0);
        b.u32(TRACK_ID);
        b.u32(0);
        b.u64(duration);
    } else {
        b.u32(0);
        b.u32(0);
        b.u32(TRACK_ID);
        b.u32(0);
        b.u32(duration as u32);
    }
    b.bytes(&[0; 8]);
    b.u16(0); // layer
    b.u16(0); // alternate_group
    b.u16(0); // volume: video track
    b.u16(0);
    write_matrix(b);
    b.u32(u32::from(width) << 16);
    b.u32(u32::from(height) << 16);
    b.end(tkhd);
}

/// Writes mdhd, hdlr and the start of minf (vmhd, dinf); returns the open mdia and minf handles.
pub(crate) fn begin_video_media(b: &mut BoxBuf, duration: u64) -> (usize, usize) {
    let mdia = b.begin(b"mdia");
    let (mdhd, long) = begin_timed_box(b, b"mdhd", 0, duration);
    if long {
        b.u64(0);
        b.u64(0);
        b.u32(TIMESCALE);
        b.u64(duration);
    } else {
        b.u32(0);
        b.u32(0);
        b.u32(TIMESCALE);
        b.u32(duration as u32);
    }
    b.u16(0x55c4); // language "und", packed ISO-639-2/T
    b.u16(0);
    b.end(mdhd);

    let hdlr = b.begin_full(b"hdlr", 0, 0);
    b.u32(0);
    b.bytes(b"vide");
    b.bytes(&[0; 12]);
    b.bytes(b"HallWatch video\0");
    b.end(hdlr);

    let minf = b.begin(b"minf");
    let vmhd = b.begin_full(b"vmhd", 0, 1);
    b.bytes(&[0; 8]); // graphicsmode, opcolor
    b.end(vmhd);
    let dinf = b.begin(b"dinf");
    let dref = b.begin_full(b"dref", 0, 0);
    b.u32(1);
    let url = b.begin_full(b"url ", 0, 1); // flag 1: media data is in this file
    b.end(url);
    b.end(dref);
    b.end(dinf);
    (mdia, minf)
}

/// ftyp + moov (mvhd, trak{tkhd,mdia{mdhd,hdlr vide,minf{vmhd,dinf/dref,stbl{stsd[sample_entry], empty stts,stsc,stsz,stco}}}}, mvex{trex}) for a fragmented file.
pub fn init_segment(params: &VideoParams) -> Vec<u8> {
    let mut b = BoxBuf::with_capacity(700 + params.sample_entry.len());
    write_ftyp(&mut b);
    let moov = b.begin(b"moov");
    write_mvhd(&mut b, 0);
    let trak = b.begin(b"trak");
    write_tkhd(&mut b, 0, params.width, params.height);
    let (mdia, minf) = begin_video_media(&mut b, 0);
    let stbl = b.begin(b"stbl");
    let stsd = b.begin_full(b"stsd", 0, 0);
    b.u32(1);
    b.bytes(&params.sample_entry);
    b.end(stsd);
    for fourcc in [b"stts", b"stsc", b"stco"] {
        let empty = b.begin_full(fourcc, 0, 0);
        b.u32(0); // entry_count
        b.end(empty);
    }
    let stsz = b.begin_full(b"stsz", 0, 0);
    b.u32(0); // sample_size: per sample
    b.u32(0); // sample_count
    b.end(stsz);
    b.end(stbl);
    b.end(minf);
    b.end(mdia);
    b.end(trak);
    let mvex = b.begin(b"mvex");
    let trex = b.begin_full(b"trex", 0, 0);
    b.u32(TRACK_ID);
    b.u32(1); // default_sample_description_index
    b.u32(0); // default_sample_duration
    b.u32(0); // default_sample_size
    b.u32(0); // default_sample_flags
    b.end(trex);
    b.end(mvex);
    b.end(moov);
    b.into_vec()
}

/// Writes an mdat header for `payload_len` bytes, switching to a largesize when 32 bits don't fit.
pub(crate) fn write_mdat_header(b: &mut BoxBuf, payload_len: u64) {
    match u32::try_from(payload_len + 8) {
        Ok(size) => {
            b.u32(size);
            b.bytes(b"mdat");
        }
        Err(_) => {
            b.u32(1);
            b.bytes(b"mdat");
            b.u64(payload_len + 16);
        }
    }
}

/// moof (mfhd seq, traf{tfhd default-base-is-moof, tfdt v1 base_decode_time, trun with data-offset, per-sample duration,size,flags}) followed by the 8-byte (or 16-byte largesize if needed) mdat header; the caller writes the concatenated sample payloads right after.
pub fn fragment_header(sequence: u32, base_decode_time: u64, samples: &[SampleInfo]) -> Vec<u8> {
    // Recording fragments last about a second, far below the 32-bit sample count and the
    // 2 GiB data offset trun can express.
    let count = u32::try_from(samples.len()).expect("fragment sample count fits in u32");
    let mut b = BoxBuf::with_capacity(128 + 12 * samples.len());
    let moof = b.begin(b"moof");
    let mfhd = b.begin_full(b"mfhd", 0, 0);
    b.u32(sequence);
    b.end(mfhd);
    let traf = b.begin(b"traf");
    let tfhd = b.begin_full(b"tfhd", 0, TFHD_DEFAULT_BASE_IS_MOOF);
    b.u32(TRACK_ID);
    b.end(tfhd);
    let tfdt = b.begin_full(b"tfdt", 1, 0);
    b.u64(base_decode_time);
    b.end(tfdt);
    let trun = b.begin_full(
        b"trun",
        0,
        TRUN_DATA_OFFSET | TRUN_DURATION | TRUN_SIZE | TRUN_FLAGS,
    );
    b.u32(count);
    let data_offset_pos = b.len();
    b.u32(0); // data_offset, patched below once the moof size is known
    let mut payload_len = 0u64;
    for s in samples {
        b.u32(s.duration);
        b.u32(s.size);
        b.u32(if s.is_key {
            KEY_SAMPLE_FLAGS
        } else {
            NON_KEY_SAMPLE_FLAGS
        });
        payload_len += u64::from(s.size);
    }
    b.end(trun);
    b.end(traf);
    b.end(moof);
    write_mdat_header(&mut b, payload_len);
    // With default-base-is-moof the data offset is relative to the moof start, i.e. it is the
    // length of everything written here.
    let data_offset = u32::try_from(b.len()).expect("moof of a fragment is below 2 GiB");
    b.set_u32(data_offset_pos, data_offset);
    b.into_vec()
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Sequential reader of an encoded [`SegmentIndex`].
struct IndexReader<'a> {
    data: &'a [u8],
}

impl IndexReader<'_> {
    fn varint(&mut self) -> Result<u64, Mp4Error> {
        let mut v = 0u64;
        for (i, &byte) in self.data.iter().enumerate().take(10) {
            let bits = u64::from(byte & 0x7f);
            if i == 9 && bits > 1 {
                return Err(Mp4Error::InvalidIndex("varint overflows 64 bits"));
            }
            v |= bits << (7 * i);
            if byte & 0x80 == 0 {
                self.data = &self.data[i + 1..];
                return Ok(v);
            }
        }
        Err(Mp4Error::InvalidIndex(if self.data.len() < 10 {
            "truncated"
        } else {
            "varint too long"
        }))
    }

    /// Reads an element count, rejecting counts the remaining bytes cannot possibly hold.
    fn count(&mut self) -> Result<usize, Mp4Error> {
        let n = self.varint()?;
        match usize::try_from(n) {
            Ok(n) if n <= self.data.len() => Ok(n),
            _ => Err(Mp4Error::InvalidIndex("count exceeds the remaining data")),
        }
    }
}

impl SegmentIndex {
    /// Serialises the index compactly: a version byte, then LEB128 varints (~2-4 bytes/sample).
    ///
    /// Per sample one varint holds `size << 2 | duration_changed << 1 | is_key`, followed by a
    /// zigzag duration delta only when the duration changed; fragment offsets are stored as
    /// the gap after the previous fragment's samples (the size of the moof + mdat header).
    pub fn encode(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(3 + self.fragments.len() * 4 + self.frame_count() as usize * 3);
        out.push(INDEX_VERSION);
        put_varint(&mut out, self.fragments.len() as u64);
        let mut prev_end = 0u64;
        let mut prev_duration = 0u32;
        for f in &self.fragments {
            // Wrapping arithmetic makes any offset sequence round-trip; in practice deltas are small.
            put_varint(
                &mut out,
                zigzag(f.data_offset.wrapping_sub(prev_end) as i64),
            );
            put_varint(&mut out, f.samples.len() as u64);
            let mut end = f.data_offset;
            for s in &f.samples {
                let changed = s.duration != prev_duration;
                put_varint(
                    &mut out,
                    (u64::from(s.size) << 2) | (u64::from(changed) << 1) | u64::from(s.is_key),
                );
                if changed {
                    put_varint(
                        &mut out,
                        zigzag(i64::from(s.duration) - i64::from(prev_duration)),
                    );
                    prev_duration = s.duration;
                }
                end = end.wrapping_add(u64::from(s.size));
            }
            prev_end = end;
        }
        out
    }

    /// Parses [`SegmentIndex::encode`] output; rejects truncated or garbage input.
    pub fn decode(b: &[u8]) -> Result<Self, Mp4Error> {
        let (&version, rest) = b.split_first().ok_or(Mp4Error::InvalidIndex("empty"))?;
        if version != INDEX_VERSION {
            return Err(Mp4Error::InvalidIndex("unknown version"));
        }
        let mut r = IndexReader { data: rest };
        let n_fragments = r.count()?;
        let mut fragments = Vec::with_capacity(n_fragments);
        let mut prev_end = 0u64;
        let mut prev_duration = 0u32;
        for _ in 0..n_fragments {
            let data_offset = prev_end.wrapping_add(unzigzag(r.varint()?) as u64);
            let n_samples = r.count()?;
            let mut samples = Vec::with_capacity(n_samples);
            let mut end = data_offset;
            for _ in 0..n_samples {
                let head = r.varint()?;
                let size = u32::try_from(head >> 2)
                    .map_err(|_| Mp4Error::InvalidIndex("sample size overflows u32"))?;
                if head & 2 != 0 {
                    let duration = i64::from(prev_duration) + unzigzag(r.varint()?);
                    prev_duration = u32::try_from(duration)
                        .map_err(|_| Mp4Error::InvalidIndex("sample duration out of range"))?;
                }
                samples.push(SampleInfo {
                    duration: prev_duration,
                    size,
                    is_key: head & 1 != 0,
                });
                end = end.wrapping_add(u64::from(size));
            }
            fragments.push(FragmentIndex {
                data_offset,
                samples,
            });
            prev_end = end;
        }
        if !r.data.is_empty() {
            return Err(Mp4Error::InvalidIndex("trailing bytes"));
        }
        Ok(Self { fragments })
    }

    fn samples(&self) -> impl Iterator<Item = &SampleInfo> {
        self.fragments.iter().flat_map(|f| f.samples.iter())
    }

    /// Number of samples (video frames).
    pub fn frame_count(&self) -> u64 {
        self.fragments.iter().map(|f| f.samples.len() as u64).sum()
    }

    /// Total duration in [`TIMESCALE`] units.
    pub fn duration_90k(&self) -> u64 {
        self.samples().map(|s| u64::from(s.duration)).sum()
    }

    /// Sum of sample sizes in bytes.
    pub fn bytes(&self) -> u64 {
        self.samples().map(|s| u64::from(s.size)).sum()
    }

    /// Keeps the samples from the last key frame at or before `start_90k` to the first sample starting at or after `end_90k` (times relative to the segment start). Returns the kept index and the time offset (90k) of its first sample from the segment start.
    ///
    /// If no key frame is at or before `start_90k`, decoding starts at the first key frame; a
    /// segment without key frames yields an empty index (nothing in it is decodable).
    pub fn trim(&self, start_90k: u64, end_90k: u64) -> (SegmentIndex, u64) {
        // Find the (fragment, sample, time) where decoding must start.
        let mut first = None;
        let mut t = 0u64;
        'find: for (fi, f) in self.fragments.iter().enumerate() {
            for (si, s) in f.samples.iter().enumerate() {
                if t > start_90k && first.is_some() {
                    break 'find;
                }
                if s.is_key && (t <= start_90k || first.is_none()) {
                    first = Some((fi, si, t));
                }
                t += u64::from(s.duration);
            }
        }
        let Some((first_fragment, first_sample, start_time)) = first else {
            return (SegmentIndex::default(), 0);
        };

        let mut fragments = Vec::new();
        let mut t = start_time;
        for (fi, f) in self.fragments.iter().enumerate().skip(first_fragment) {
            let skip = if fi == first_fragment {
                first_sample
            } else {
                0
            };
            let data_offset = f.data_offset
                + f.samples[..skip]
                    .iter()
                    .map(|s| u64::from(s.size))
                    .sum::<u64>();
            let mut samples = Vec::new();
            for s in &f.samples[skip..] {
                if t >= end_90k {
                    break;
                }
                samples.push(*s);
                t += u64::from(s.duration);
            }
            let done = samples.len() < f.samples.len() - skip;
            if !samples.is_empty() {
                fragments.push(FragmentIndex {
                    data_offset,
                    samples,
                });
            }
            if done {
                break;
            }
        }
        (SegmentIndex { fragments }, start_time)
    }
}

/// A box header located in a file.
struct BoxHeader {
    fourcc: [u8; 4],
    start: u64,
    /// Offset of the first byte after the header.
    body: u64,
    end: u64,
}

/// Reads the box header at `pos`; `None` if the file ends inside it or it is malformed.
fn read_box_header<R: Read + Seek>(
    r: &mut R,
    pos: u64,
    file_len: u64,
) -> std::io::Result<Option<BoxHeader>> {
    if file_len.saturating_sub(pos) < 8 {
        return Ok(None);
    }
    r.seek(SeekFrom::Start(pos))?;
    let mut h = [0u8; 8];
    r.read_exact(&mut h)?;
    let (size, fourcc) = h.split_at(4);
    let fourcc: [u8; 4] = [fourcc[0], fourcc[1], fourcc[2], fourcc[3]];
    let size = u32::from_be_bytes([size[0], size[1], size[2], size[3]]);
    let (size, header_len) = match size {
        // Size 0 ("to end of file") is never written by this module.
        0 => return Ok(None),
        1 => {
            if file_len - pos < 16 {
                return Ok(None);
            }
            let mut large = [0u8; 8];
            r.read_exact(&mut large)?;
            (u64::from_be_bytes(large), 16)
        }
        n => (u64::from(n), 8),
    };
    if size < header_len {
        return Ok(None);
    }
    let Some(end) = pos.checked_add(size) else {
        return Ok(None);
    };
    Ok(Some(BoxHeader {
        fourcc,
        start: pos,
        body: pos + header_len,
        end,
    }))
}

/// Reads a whole (bounded-size) box body into memory.
fn read_body<R: Read + Seek>(r: &mut R, h: &BoxHeader) -> std::io::Result<Vec<u8>> {
    r.seek(SeekFrom::Start(h.body))?;
    let mut body = vec![0; (h.end - h.body) as usize];
    r.read_exact(&mut body)?;
    Ok(body)
}

/// Bounds-checked big-endian reader over an in-memory box body.
struct BoxReader<'a> {
    data: &'a [u8],
}

impl<'a> BoxReader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.data.len() < n {
            return None;
        }
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        Some(head)
    }

    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Option<u64> {
        let hi = self.u32()?;
        let lo = self.u32()?;
        Some((u64::from(hi) << 32) | u64::from(lo))
    }

    /// Splits off the next child box: (fourcc, whole box bytes, body bytes).
    fn child(&mut self) -> Option<([u8; 4], &'a [u8], &'a [u8])> {
        let all = self.data;
        let size = u64::from(self.u32()?);
        let fourcc = self.take(4)?;
        let fourcc = [fourcc[0], fourcc[1], fourcc[2], fourcc[3]];
        let (size, header_len) = match size {
            1 => (self.u64()?, 16),
            n => (n, 8),
        };
        let size = usize::try_from(size)
            .ok()
            .filter(|&s| s >= header_len && s <= all.len())?;
        self.data = &all[size..];
        Some((fourcc, &all[..size], &all[header_len..size]))
    }
}

/// Body of the first child box of type `fourcc` inside `parent_body`.
fn find_child<'a>(parent_body: &'a [u8], fourcc: &[u8; 4]) -> Option<&'a [u8]> {
    let mut r = BoxReader { data: parent_body };
    while let Some((t, _, body)) = r.child() {
        if &t == fourcc {
            return Some(body);
        }
    }
    None
}

/// Body of the box reached by following `path` from `body`.
fn find_path<'a>(mut body: &'a [u8], path: &[&[u8; 4]]) -> Option<&'a [u8]> {
    for fourcc in path {
        body = find_child(body, fourcc)?;
    }
    Some(body)
}

/// Extracts the sample entry from moov, checking it describes one video track at [`TIMESCALE`].
fn parse_moov(moov: &[u8]) -> Result<Vec<u8>, Mp4Error> {
    let mdia = find_path(moov, &[b"trak", b"mdia"]).ok_or(Mp4Error::InvalidInit("no trak/mdia"))?;
    let mut mdhd = BoxReader {
        data: find_child(mdia, b"mdhd").ok_or(Mp4Error::InvalidInit("no mdhd"))?,
    };
    let version = mdhd.u32().ok_or(Mp4Error::InvalidInit("short mdhd"))? >> 24;
    mdhd.take(if version == 1 { 16 } else { 8 })
        .ok_or(Mp4Error::InvalidInit("short mdhd"))?;
    if mdhd.u32() != Some(TIMESCALE) {
        return Err(Mp4Error::InvalidInit("timescale is not 90 kHz"));
    }
    let stsd =
        find_path(mdia, &[b"minf", b"stbl", b"stsd"]).ok_or(Mp4Error::InvalidInit("no stsd"))?;
    let mut stsd = BoxReader { data: stsd };
    stsd.take(4).ok_or(Mp4Error::InvalidInit("short stsd"))?;
    if stsd.u32().unwrap_or(0) == 0 {
        return Err(Mp4Error::InvalidInit("stsd has no entries"));
    }
    let (_, entry, _) = stsd
        .child()
        .ok_or(Mp4Error::InvalidInit("malformed sample entry"))?;
    Ok(entry.to_vec())
}

/// Samples of a moof and the absolute file offset of their data.
fn parse_moof(moof: &[u8], moof_start: u64) -> Result<(u64, Vec<SampleInfo>), &'static str> {
    let traf = find_child(moof, b"traf").ok_or("no traf")?;
    let mut tfhd = BoxReader {
        data: find_child(traf, b"tfhd").ok_or("no tfhd")?,
    };
    let tfhd_flags = tfhd.u32().ok_or("short tfhd")?;
    if tfhd.u32() != Some(TRACK_ID) {
        return Err("unexpected track");
    }
    let field = |flag: u32, r: &mut BoxReader| -> Result<Option<u32>, &'static str> {
        if tfhd_flags & flag == 0 {
            return Ok(None);
        }
        r.u32().map(Some).ok_or("short tfhd")
    };
    let base = if tfhd_flags & TFHD_BASE_DATA_OFFSET != 0 {
        tfhd.u64().ok_or("short tfhd")?
    } else {
        moof_start // also the base when default-base-is-moof is set
    };
    field(TFHD_SAMPLE_DESCRIPTION_INDEX, &mut tfhd)?;
    let default_duration = field(TFHD_DEFAULT_DURATION, &mut tfhd)?;
    let default_size = field(TFHD_DEFAULT_SIZE, &mut tfhd)?;
    let default_flags = field(TFHD_DEFAULT_FLAGS, &mut tfhd)?;

    let mut trun = BoxReader {
        data: find_child(traf, b"trun").ok_or("no trun")?,
    };
    let trun_flags = trun.u32().ok_or("short trun")?;
    let count = trun.u32().ok_or("short trun")?;
    let data_offset = if trun_flags & TRUN_DATA_OFFSET != 0 {
        // The field is signed; the cast reinterprets its bits.
        base.checked_add_signed(i64::from(trun.u32().ok_or("short trun")? as i32))
            .ok_or("negative data offset")?
    } else {
        base
    };
    let first_flags = if trun_flags & TRUN_FIRST_SAMPLE_FLAGS != 0 {
        Some(trun.u32().ok_or("short trun")?)
    } else {
        None
    };
    let mut samples = Vec::with_capacity((count as usize).min(trun.data.len() / 4));
    for i in 0..count {
        let mut get = |flag: u32, default: Option<u32>| {
            if trun_flags & flag != 0 {
                trun.u32()
            } else {
                default
            }
        };
        let duration = get(TRUN_DURATION, default_duration).ok_or("no sample duration")?;
        let size = get(TRUN_SIZE, default_size).ok_or("no sample size")?;
        let flags_default = if i == 0 {
            first_flags.or(default_flags)
        } else {
            default_flags
        };
        let flags = get(TRUN_FLAGS, flags_default).ok_or("no sample flags")?;
        get(TRUN_COMPOSITION_OFFSET, Some(0)).ok_or("short trun")?;
        samples.push(SampleInfo {
            duration,
            size,
            is_key: flags & SAMPLE_IS_NON_SYNC == 0,
        });
    }
    Ok((data_offset, samples))
}

/// Outcome of looking for a fragment at some offset.
enum FragmentScan {
    Complete(FragmentIndex, u64),
    EndOfFile,
    Incomplete(&'static str),
}

fn scan_fragment<R: Read + Seek>(
    r: &mut R,
    pos: u64,
    file_len: u64,
) -> std::io::Result<FragmentScan> {
    use FragmentScan::Incomplete;
    if pos == file_len {
        return Ok(FragmentScan::EndOfFile);
    }
    let Some(moof) = read_box_header(r, pos, file_len)? else {
        return Ok(Incomplete("truncated or malformed box header"));
    };
    if &moof.fourcc != b"moof" {
        return Ok(Incomplete("expected moof"));
    }
    if moof.end > file_len {
        return Ok(Incomplete("truncated moof"));
    }
    if moof.end - moof.body > MAX_HEADER_BOX {
        return Ok(Incomplete("implausibly large moof"));
    }
    let body = read_body(r, &moof)?;
    let (data_offset, samples) = match parse_moof(&body, moof.start) {
        Ok(parsed) => parsed,
        Err(why) => return Ok(Incomplete(why)),
    };
    let Some(mdat) = read_box_header(r, moof.end, file_len)? else {
        return Ok(Incomplete("truncated mdat header"));
    };
    if &mdat.fourcc != b"mdat" {
        return Ok(Incomplete("expected mdat"));
    }
    if mdat.end > file_len {
        return Ok(Incomplete("truncated mdat"));
    }
    let data_len: u64 = samples.iter().map(|s| u64::from(s.size)).sum();
    if data_offset < mdat.body
        || data_offset
            .checked_add(data_len)
            .is_none_or(|e| e > mdat.end)
    {
        return Ok(Incomplete("samples lie outside mdat"));
    }
    Ok(FragmentScan::Complete(
        FragmentIndex {
            data_offset,
            samples,
        },
        mdat.end,
    ))
}

/// Reads ftyp/moov and then every complete moof+mdat; stops at the first incomplete or malformed fragment (a crash mid-write) and reports valid_len = end of the last complete fragment, so the caller can truncate. Errors only if the init segment itself is missing/invalid.
pub fn scan<R: Read + Seek>(mut r: R) -> Result<Scanned, Mp4Error> {
    let file_len = r.seek(SeekFrom::End(0))?;
    let ftyp = read_box_header(&mut r, 0, file_len)?
        .filter(|h| &h.fourcc == b"ftyp" && h.end <= file_len)
        .ok_or(Mp4Error::InvalidInit("missing ftyp"))?;
    let moov = read_box_header(&mut r, ftyp.end, file_len)?
        .filter(|h| &h.fourcc == b"moov" && h.end <= file_len)
        .ok_or(Mp4Error::InvalidInit("missing or truncated moov"))?;
    if moov.end - moov.body > MAX_HEADER_BOX {
        return Err(Mp4Error::InvalidInit("implausibly large moov"));
    }
    let sample_entry = parse_moov(&read_body(&mut r, &moov)?)?;

    let mut index = SegmentIndex::default();
    let mut valid_len = moov.end;
    loop {
        match scan_fragment(&mut r, valid_len, file_len)? {
            FragmentScan::Complete(fragment, end) => {
                index.fragments.push(fragment);
                valid_len = end;
            }
            FragmentScan::EndOfFile => break,
            FragmentScan::Incomplete(why) => {
                tracing::debug!(offset = valid_len, file_len, why, "segment scan stopped");
                break;
            }
        }
    }
    Ok(Scanned {
        sample_entry,
        index,
        valid_len,
    })
}

/// Helpers shared by the tests of this module and of playback: real H.264 from ffmpeg.
#[cfg(test)]
pub(crate) mod test_support {
    use super::*;
    use std::path::Path;
    use std::process::Command;

    /// One H.264 access unit in MP4 sample form.
    pub(crate) struct AccessUnit {
        pub(crate) data: Vec<u8>,
        pub(crate) is_key: bool,
    }

    /// Encodes `seconds` of 25 fps test pattern with a key frame every second.
    pub(crate) fn encode_h264(
        dir: &Path,
        width: u16,
        height: u16,
        seconds: u32,
    ) -> (VideoParams, Vec<AccessUnit>) {
        let out = dir.join(format!("{width}x{height}.h264"));
        let status = Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
            .arg(format!("testsrc=size={width}x{height}:rate=25"))
            .args([
                "-t",
                &seconds.to_string(),
                "-c:v",
                "libx264",
                "-pix_fmt",
                "yuv420p",
            ])
            .args(["-g", "25", "-bf", "0", "-sc_threshold", "0", "-f", "h264"])
            .arg(&out)
            .status()
            .expect("run ffmpeg");
        assert!(status.success(), "ffmpeg failed");
        let annexb = std::fs::read(&out).unwrap();
        let (sps, pps, aus) = split_access_units(&annexb);
        let params = VideoParams {
            sample_entry: avc1_sample_entry(&sps, &pps, width, height),
            codec: format!("avc1.{:02x}{:02x}{:02x}", sps[1], sps[2], sps[3]),
            width,
            height,
        };
        (params, aus)
    }

    fn nal_units(annexb: &[u8]) -> Vec<&[u8]> {
        let mut starts = Vec::new();
        let mut i = 0;
        while i + 3 <= annexb.len() {
            if annexb[i..i + 3] == [0, 0, 1] {
                starts.push(i + 3);
                i += 3;
            } else {
                i += 1;
            }
        }
        starts
            .iter()
            .enumerate()
            .map(|(k, &s)| {
                let mut e = starts.get(k + 1).map_or(annexb.len(), |&n| n - 3);
                while e > s && annexb[e - 1] == 0 {
                    e -= 1; // the zero_byte of a 4-byte start code, or trailing zeros
                }
                &annexb[s..e]
            })
            .collect()
    }

    /// Splits Annex B into access units of length-prefixed NALs; SPS/PPS go to the sample entry.
    fn split_access_units(annexb: &[u8]) -> (Vec<u8>, Vec<u8>, Vec<AccessUnit>) {
        let (mut sps, mut pps) = (None, None);
        let mut aus: Vec<AccessUnit> = Vec::new();
        let mut has_vcl = false;
        for nal in nal_units(annexb) {
            let t = nal[0] & 0x1f;
            let vcl = t == 1 || t == 5;
            // first_mb_in_slice == 0 (ue(v) "1") marks the first slice of a picture.
            let new_au = has_vcl && ((6..=9).contains(&t) || (vcl && nal[1] & 0x80 != 0));
            if new_au || aus.is_empty() {
                aus.push(AccessUnit {
                    data: Vec::new(),
                    is_key: false,
                });
                has_vcl = false;
            }
            let au = aus.last_mut().unwrap();
            match t {
                7 => sps = Some(nal.to_vec()),
                8 => pps = Some(nal.to_vec()),
                9 => {}
                _ => {
                    au.data.extend_from_slice(&(nal.len() as u32).to_be_bytes());
                    au.data.extend_from_slice(nal);
                    au.is_key |= t == 5;
                    has_vcl |= vcl;
                }
            }
        }
        (sps.unwrap(), pps.unwrap(), aus)
    }

    fn avc1_sample_entry(sps: &[u8], pps: &[u8], width: u16, height: u16) -> Vec<u8> {
        let mut b = BoxBuf::default();
        let avc1 = b.begin(b"avc1");
        b.bytes(&[0; 6]);
        b.u16(1); // data_reference_index
        b.bytes(&[0; 16]);
        b.u16(width);
        b.u16(height);
        b.u32(0x0048_0000); // 72 dpi
        b.u32(0x0048_0000);
        b.u32(0);
        b.u16(1); // frame_count
        b.bytes(&[0; 32]); // compressorname
        b.u16(0x0018); // depth
        b.u16(0xffff); // pre_defined = -1
        let avcc = b.begin(b"avcC");
        b.bytes(&[1, sps[1], sps[2], sps[3], 0xff, 0xe1]);
        b.u16(sps.len() as u16);
        b.bytes(sps);
        b.bytes(&[1]);
        b.u16(pps.len() as u16);
        b.bytes(pps);
        b.end(avcc);
        b.end(avc1);
        b.into_vec()
    }

    /// Writes a segment file with one fragment per key frame; returns the index the writer knows.
    pub(crate) fn write_segment(
        path: &Path,
        params: &VideoParams,
        aus: &[AccessUnit],
    ) -> SegmentIndex {
        let mut file = init_segment(params);
        let mut index = SegmentIndex::default();
        let mut decode_time = 0;
        let mut groups: Vec<&[AccessUnit]> = Vec::new();
        let mut start = 0;
        for i in 1..=aus.len() {
            if i == aus.len() || aus[i].is_key {
                groups.push(&aus[start..i]);
                start = i;
            }
        }
        for (seq, group) in groups.iter().enumerate() {
            let samples: Vec<SampleInfo> = group
                .iter()
                .map(|au| SampleInfo {
                    duration: 3600,
                    size: au.data.len() as u32,
                    is_key: au.is_key,
                })
                .collect();
            file.extend(fragment_header(seq as u32 + 1, decode_time, &samples));
            index.fragments.push(FragmentIndex {
                data_offset: file.len() as u64,
                samples: samples.clone(),
            });
            for au in *group {
                file.extend_from_slice(&au.data);
            }
            decode_time += 3600 * group.len() as u64;
        }
        std::fs::write(path, &file).unwrap();
        index
    }

    /// Runs ffprobe, returning (decoded frame count, stream duration in seconds).
    pub(crate) fn ffprobe(path: &Path) -> (u64, f64) {
        let out = Command::new("ffprobe")
            .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
            .args([
                "-show_entries",
                "stream=nb_read_frames,duration",
                "-of",
                "default=nw=1",
            ])
            .arg(path)
            .output()
            .expect("run ffprobe");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.is_empty(),
            "ffprobe: {stderr}"
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let field = |name: &str| {
            stdout
                .lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
                .unwrap_or_else(|| panic!("no {name} in {stdout}"))
                .to_string()
        };
        (
            field("nb_read_frames").parse().unwrap(),
            field("duration").parse().unwrap(),
        )
    }

    /// Decodes the whole file with ffmpeg and asserts it reports no error at all.
    pub(crate) fn assert_decodes_cleanly(path: &Path) {
        let out = Command::new("ffmpeg")
            .args(["-v", "error", "-xerror", "-i"])
            .arg(path)
            .args(["-f", "null", "-"])
            .output()
            .expect("run ffmpeg");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.is_empty(),
            "ffmpeg decode: {stderr}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;

    fn synthetic_index() -> SegmentIndex {
        let mut fragments = Vec::new();
        let mut offset = 1000;
        for f in 0..4u32 {
            let samples: Vec<SampleInfo> = (0..25u32)
                .map(|i| SampleInfo {
                    duration: if i % 7 == 3 { 3599 } else { 3600 },
                    size: if i == 0 { 40_000 + f } else { 3_000 + 13 * i },
                    is_key: i == 0,
                })
                .collect();
            let bytes: u64 = samples.iter().map(|s| u64::from(s.size)).sum();
            fragments.push(FragmentIndex {
                data_offset: offset,
                samples,
            });
            offset += bytes + 340;
        }
        SegmentIndex { fragments }
    }

    #[test]
    fn index_round_trip() {
        let index = synthetic_index();
        let encoded = index.encode();
        assert_eq!(SegmentIndex::decode(&encoded).unwrap(), index);
        let per_sample = encoded.len() as f64 / index.frame_count() as f64;
        assert!(per_sample < 4.0, "{per_sample} bytes/sample");

        // Out-of-order offsets and extreme values still round-trip.
        let odd = SegmentIndex {
            fragments: vec![
                FragmentIndex {
                    data_offset: u64::MAX - 3,
                    samples: vec![SampleInfo {
                        duration: u32::MAX,
                        size: u32::MAX,
                        is_key: true,
                    }],
                },
                FragmentIndex {
                    data_offset: 0,
                    samples: vec![],
                },
                FragmentIndex {
                    data_offset: 7,
                    samples: vec![SampleInfo {
                        duration: 0,
                        size: 0,
                        is_key: false,
                    }],
                },
            ],
        };
        assert_eq!(SegmentIndex::decode(&odd.encode()).unwrap(), odd);
        assert_eq!(
            SegmentIndex::decode(&SegmentIndex::default().encode()).unwrap(),
            SegmentIndex::default()
        );
    }

    #[test]
    fn index_decode_rejects_bad_input() {
        let encoded = synthetic_index().encode();
        for len in 0..encoded.len() {
            assert!(
                SegmentIndex::decode(&encoded[..len]).is_err(),
                "truncated to {len}"
            );
        }
        let mut trailing = encoded.clone();
        trailing.push(0);
        assert!(SegmentIndex::decode(&trailing).is_err());
        let mut version = encoded.clone();
        version[0] = 99;
        assert!(SegmentIndex::decode(&version).is_err());
        assert!(SegmentIndex::decode(&[
            INDEX_VERSION,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0x01
        ])
        .is_err());
        // Pseudo-random garbage must never panic.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for len in 0..2000 {
            let garbage: Vec<u8> = (0..len % 64)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .chain(std::iter::once(INDEX_VERSION))
                .rev()
                .collect();
            let _ = SegmentIndex::decode(&garbage);
        }
    }

    #[test]
    fn totals() {
        let index = synthetic_index();
        assert_eq!(index.frame_count(), 100);
        assert_eq!(index.duration_90k(), 100 * 3600 - 4 * 4);
        assert_eq!(
            index.bytes(),
            index.samples().map(|s| u64::from(s.size)).sum::<u64>()
        );
    }

    #[test]
    fn trim_starts_at_key_frame() {
        let index = synthetic_index();
        let durations: Vec<u64> = index.samples().map(|s| u64::from(s.duration)).collect();
        let time_of = |n: usize| durations[..n].iter().sum::<u64>();

        // Start inside the second fragment, end inside the third.
        let (trimmed, offset) = index.trim(time_of(30), time_of(60) + 1);
        assert_eq!(offset, time_of(25));
        assert_eq!(trimmed.frame_count(), 61 - 25);
        assert_eq!(trimmed.fragments.len(), 2);
        assert_eq!(trimmed.fragments[0], index.fragments[1]);
        assert_eq!(
            trimmed.fragments[1].samples,
            index.fragments[2].samples[..11]
        );
        assert_eq!(
            trimmed.fragments[1].data_offset,
            index.fragments[2].data_offset
        );

        // Start exactly on a key frame; end exactly on a sample start excludes that sample.
        let (trimmed, offset) = index.trim(time_of(50), time_of(55));
        assert_eq!((offset, trimmed.frame_count()), (time_of(50), 5));

        // Everything.
        let (trimmed, offset) = index.trim(0, u64::MAX);
        assert_eq!((offset, &trimmed), (0, &index));

        // A segment whose first frame is not a key frame starts at its first key frame.
        let mut no_leading_key = index.clone();
        no_leading_key.fragments[0].samples[0].is_key = false;
        let (trimmed, offset) = no_leading_key.trim(0, time_of(27));
        assert_eq!(offset, time_of(25));
        assert_eq!(trimmed.frame_count(), 2);

        // Trimming mid-fragment adjusts the data offset when the kept part starts later.
        let mut mid_key = index.clone();
        mid_key.fragments[0].samples[10].is_key = true;
        let (trimmed, offset) = mid_key.trim(time_of(12), time_of(15));
        assert_eq!(offset, time_of(10));
        let skipped: u64 = index.fragments[0].samples[..10]
            .iter()
            .map(|s| u64::from(s.size))
            .sum();
        assert_eq!(
            trimmed.fragments[0].data_offset,
            index.fragments[0].data_offset + skipped
        );

        let mut no_key = index.clone();
        no_key
            .fragments
            .iter_mut()
            .for_each(|f| f.samples.iter_mut().for_each(|s| s.is_key = false));
        assert_eq!(no_key.trim(0, u64::MAX), (SegmentIndex::default(), 0));
    }

    fn synthetic_params() -> VideoParams {
        let mut b = BoxBuf::default();
        let entry = b.begin(b"avc1");
        b.bytes(&[0xab; 90]);
        b.end(entry);
        VideoParams {
            sample_entry: b.into_vec(),
            codec: "avc1.640028".into(),
            width: 1920,
            height: 1080,
        }
    }

    #[test]
    fn scan_recovers_complete_fragments() {
        let params = synthetic_params();
        let mut file = init_segment(&params);
        let mut expected = SegmentIndex::default();
        let mut fragment_starts = Vec::new();
        let mut decode_time = 0;
        for f in synthetic_index().fragments {
            fragment_starts.push(file.len() as u64);
            file.extend(fragment_header(
                fragment_starts.len() as u32,
                decode_time,
                &f.samples,
            ));
            expected.fragments.push(FragmentIndex {
                data_offset: file.len() as u64,
                samples: f.samples.clone(),
            });
            for (i, s) in f.samples.iter().enumerate() {
                file.extend(std::iter::repeat_n(i as u8, s.size as usize));
            }
            decode_time += f.samples.iter().map(|s| u64::from(s.duration)).sum::<u64>();
        }

        let scanned = scan(std::io::Cursor::new(&file)).unwrap();
        assert_eq!(scanned.sample_entry, params.sample_entry);
        assert_eq!(scanned.index, expected);
        assert_eq!(scanned.valid_len, file.len() as u64);

        // A crash in the middle of the last fragment's samples, or of its moof.
        let last_start = *fragment_starts.last().unwrap();
        for cut in [file.len() as u64 - 1000, last_start + 30, last_start + 3] {
            let scanned = scan(std::io::Cursor::new(&file[..cut as usize])).unwrap();
            assert_eq!(scanned.index.fragments, expected.fragments[..3]);
            assert_eq!(scanned.valid_len, last_start);
        }

        // Only the init segment survived.
        let init_len = init_segment(&params).len();
        let scanned = scan(std::io::Cursor::new(&file[..init_len + 5])).unwrap();
        assert_eq!(
            (scanned.index, scanned.valid_len),
            (SegmentIndex::default(), init_len as u64)
        );

        // A damaged init segment is an error.
        assert!(matches!(
            scan(std::io::Cursor::new(&file[..init_len - 1])),
            Err(Mp4Error::InvalidInit(_))
        ));
        assert!(matches!(
            scan(std::io::Cursor::new(&file[4..])),
            Err(Mp4Error::InvalidInit(_))
        ));
        assert!(matches!(
            scan(std::io::Cursor::new(Vec::new())),
            Err(Mp4Error::InvalidInit(_))
        ));
    }

    #[test]
    fn large_fragment_uses_mdat_largesize() {
        let samples = [SampleInfo {
            duration: 3600,
            size: u32::MAX,
            is_key: true,
        }; 2];
        let header = fragment_header(1, 0, &samples);
        let mdat = &header[header.len() - 16..];
        assert_eq!(&mdat[..8], &[0, 0, 0, 1, b'm', b'd', b'a', b't']);
        assert_eq!(
            u64::from_be_bytes(mdat[8..].try_into().unwrap()),
            2 * u64::from(u32::MAX) + 16
        );
        let (offset, parsed) = parse_moof(&header[8..header.len() - 16], 0).unwrap();
        assert_eq!(
            (offset, parsed.as_slice()),
            (header.len() as u64, &samples[..])
        );
    }

    #[test]
    fn real_h264_fragmented_file_decodes() {
        let dir = tempfile::tempdir().unwrap();
        let (params, aus) = encode_h264(dir.path(), 320, 240, 6);
        assert_eq!(aus.len(), 150);
        assert_eq!(aus.iter().filter(|au| au.is_key).count(), 6);
        let path = dir.path().join("segment.mp4");
        let written = write_segment(&path, &params, &aus);
        assert_eq!(written.fragments.len(), 6);

        let scanned = scan(std::fs::File::open(&path).unwrap()).unwrap();
        assert_eq!(scanned.index, written);
        assert_eq!(scanned.sample_entry, params.sample_entry);

        let (frames, duration) = ffprobe(&path);
        assert_eq!(frames, 150);
        assert!((duration - 6.0).abs() < 0.001, "duration {duration}");
        assert_decodes_cleanly(&path);
    }
}
