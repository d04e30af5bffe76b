//! Decoding with real data: ffmpeg-made H.264 clips, demuxed to AVC access units (the form ingest
//! delivers) and fed through `LiveDecoder`, and decoded from file with `FileDecoder`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use hallwatch::camera::{Frame, VideoParams};
use hallwatch::vision::{DecodeConfig, DecodeError, DecodedFrame, FileDecoder, LiveDecoder};

/// Makes a `w`×`h` H.264 MP4 of `frames` frames at 25 fps, key frame every 10 frames.
fn clip(dir: &Path, name: &str, w: u32, h: u32, frames: u32) -> PathBuf {
    let path = dir.join(name);
    let st = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size={w}x{h}:rate=25"))
        .args(["-frames:v", &frames.to_string(), "-c:v", "libx264", "-preset", "ultrafast", "-g", "10", "-pix_fmt", "yuv420p"])
        .arg(&path)
        .status()
        .unwrap_or_else(|e| panic!("cannot run ffmpeg (apt install ffmpeg): {e}"));
    assert!(st.success(), "ffmpeg failed to make {name}");
    path
}

/// Demuxes an MP4 into (params with a hand-built avc1 sample entry, access units), as ingest has them.
fn access_units(path: &Path, w: u16, h: u16) -> (VideoParams, Vec<Frame>) {
    gst::init().expect("gst init");
    let desc = format!(
        "filesrc location={} ! parsebin ! h264parse ! video/x-h264,stream-format=avc,alignment=au ! appsink name=sink sync=false",
        path.display()
    );
    let pipeline = gst::parse::launch(&desc).expect("demux pipeline").downcast::<gst::Pipeline>().expect("pipeline");
    let sink = pipeline.by_name("sink").expect("sink").downcast::<gst_app::AppSink>().expect("appsink");
    pipeline.set_state(gst::State::Playing).expect("play");
    let mut frames = Vec::new();
    let mut avcc: Option<Vec<u8>> = None;
    while let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(5)) {
        if avcc.is_none() {
            let caps = sample.caps().expect("caps");
            let cd = caps.structure(0).expect("structure").get::<gst::Buffer>("codec_data").expect("codec_data");
            avcc = Some(cd.map_readable().expect("map").to_vec());
        }
        let buf = sample.buffer().expect("buffer");
        let pts = buf.pts().expect("pts").nseconds();
        frames.push(Frame {
            data: Bytes::copy_from_slice(&buf.map_readable().expect("map")),
            is_key: !buf.flags().contains(gst::BufferFlags::DELTA_UNIT),
            pts_90k: (pts * 9 / 100_000) as i64,
            wall_us: 1_700_000_000_000_000 + (pts / 1000) as i64,
        });
    }
    pipeline.set_state(gst::State::Null).expect("stop");
    let avcc = avcc.expect("no frames demuxed");
    // avc1 sample entry: box header, 78 bytes of VisualSampleEntry fields, then the avcC box.
    let mut entry = Vec::new();
    entry.extend_from_slice(&((8 + 78 + 8 + avcc.len()) as u32).to_be_bytes());
    entry.extend_from_slice(b"avc1");
    let mut fields = [0u8; 78];
    fields[24..26].copy_from_slice(&w.to_be_bytes());
    fields[26..28].copy_from_slice(&h.to_be_bytes());
    entry.extend_from_slice(&fields);
    entry.extend_from_slice(&((8 + avcc.len()) as u32).to_be_bytes());
    entry.extend_from_slice(b"avcC");
    entry.extend_from_slice(&avcc);
    (VideoParams { sample_entry: entry, codec: "avc1.42c01e".into(), width: w, height: h }, frames)
}

/// Pushes every frame and collects all output.
fn decode_all(dec: &mut LiveDecoder, frames: &[Frame]) -> Vec<DecodedFrame> {
    let mut out = Vec::new();
    for f in frames {
        dec.push(f).expect("push");
        while let Some(d) = dec.pull(Duration::from_millis(1)).expect("pull") {
            out.push(d);
        }
    }
    out.extend(dec.finish().expect("finish"));
    out
}

fn every_frame() -> DecodeConfig {
    DecodeConfig { analysis_fps: None, drop_when_slow: false, ..DecodeConfig::live() }
}

#[test]
fn live_decodes_avcc_access_units_and_survives_a_resolution_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (p1, f1) = access_units(&clip(dir.path(), "a.mp4", 320, 240, 50), 320, 240);
    assert_eq!(f1.len(), 50);
    let mut dec = LiveDecoder::new(&p1, &every_frame()).expect("decoder");
    let out = decode_all(&mut dec, &f1);
    assert_eq!(out.len(), 50, "every access unit decodes to one frame");
    assert!(out.iter().all(|f| f.image.dimensions() == (320, 240)));
    assert_eq!(out.iter().map(|f| f.index).collect::<Vec<_>>(), (0..50).collect::<Vec<_>>());
    assert!((out[25].pts_s - 1.0).abs() < 1e-3, "pts {}", out[25].pts_s);
    assert_eq!(out[25].wall_us, Some(f1[25].wall_us), "wall time follows the access unit");
    // The picture is real: testsrc2 is colourful, not a flat grey frame.
    let px = out[10].image.as_raw();
    assert!(px.iter().any(|&v| v > 200) && px.iter().any(|&v| v < 50));

    // New parameters with another resolution: the pipeline restarts cleanly on the next key frame.
    let (p2, f2) = access_units(&clip(dir.path(), "b.mp4", 160, 128, 20), 160, 128);
    dec.set_params(&p2).expect("new params");
    let out2 = decode_all(&mut dec, &f2);
    assert_eq!(out2.len(), 20);
    assert!(out2.iter().all(|f| f.image.dimensions() == (160, 128)));
    assert_eq!(dec.stats().restarts, 1);
}

#[test]
fn live_analysis_rate_selects_frames_before_conversion() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (p, f) = access_units(&clip(dir.path(), "a.mp4", 320, 240, 50), 320, 240);
    let cfg = DecodeConfig { drop_when_slow: false, ..DecodeConfig::live() }; // 5 fps of 25
    let mut dec = LiveDecoder::new(&p, &cfg).expect("decoder");
    let out = decode_all(&mut dec, &f);
    assert_eq!(out.len(), 10, "2 s at 5 fps");
    assert_eq!(out.iter().map(|f| f.index).collect::<Vec<_>>(), (0..50).step_by(5).collect::<Vec<_>>());
    let s = dec.stats();
    assert_eq!((s.decoded, s.skipped, s.delivered, s.dropped), (50, 40, 10, 0));
}

#[test]
fn live_garbage_gives_errors_not_panics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (p, f) = access_units(&clip(dir.path(), "a.mp4", 320, 240, 20), 320, 240);
    let mut dec = LiveDecoder::new(&p, &every_frame()).expect("decoder");
    // Not length-prefixed NAL data at all: refused before it reaches the decoder.
    let junk = Frame { data: Bytes::from_static(b"\xff\xff\xff\xffnot h264"), ..f[0].clone() };
    assert!(matches!(dec.push(&junk), Err(DecodeError::Corrupt(_))));
    // Well-framed NAL units full of noise, all claiming to be key frames: the decoder must fail
    // with an error (or decode nothing), and the process must not panic.
    let mut seed = 12345u64;
    let mut noise = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (seed >> 56) as u8
            })
            .collect()
    };
    let mut saw_error = false;
    let mut decoded = 0;
    for i in 0..60 {
        let body = noise(500);
        let mut data = (body.len() as u32).to_be_bytes().to_vec();
        data.extend_from_slice(&body);
        let fr = Frame { data: Bytes::from(data), is_key: true, pts_90k: i * 3600, wall_us: 0 };
        if dec.push(&fr).is_err() {
            saw_error = true;
        }
        loop {
            match dec.pull(Duration::from_millis(5)) {
                Ok(Some(_)) => decoded += 1,
                Ok(None) => break,
                Err(e) => {
                    saw_error = true;
                    assert!(e.to_string().contains("decod") || e.to_string().contains("stream"), "{e}");
                    break;
                }
            }
        }
    }
    match dec.finish() {
        Ok(v) => decoded += v.len(),
        Err(_) => saw_error = true,
    }
    assert!(saw_error, "noise went through the decoder without an error ({decoded} frames)");
    assert_eq!(decoded, 0, "noise decoded into frames");
    // After errors the decoder restarts at the next real key frame and decodes again.
    let mut dec2 = LiveDecoder::new(&p, &every_frame()).expect("decoder");
    assert_eq!(decode_all(&mut dec2, &f).len(), 20);
}

#[test]
fn file_decoder_every_frame_true_fps_and_slow_consumer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = clip(dir.path(), "a.mp4", 320, 240, 50);
    let cfg = DecodeConfig { true_fps: Some(10.0), ..DecodeConfig::file() };
    let mut dec = FileDecoder::open(&path, &cfg).expect("open");
    let mut n = 0u64;
    while let Some(f) = dec.next_frame().expect("decode") {
        assert_eq!(f.index, n);
        assert!((f.pts_s - n as f64 / 10.0).abs() < 1e-6, "true fps rewrites time: {}", f.pts_s);
        assert_eq!(f.image.dimensions(), (320, 240));
        n += 1;
    }
    assert_eq!(n, 50);
    assert_eq!(dec.stats().dropped, 0);

    // A consumer slower than decoding loses frames, counted, and never more than were decoded.
    let cfg = DecodeConfig { drop_when_slow: true, ..DecodeConfig::file() };
    let mut dec = FileDecoder::open(&path, &cfg).expect("open");
    let mut got = 0u64;
    while dec.next_frame().expect("decode").is_some() {
        got += 1;
        std::thread::sleep(Duration::from_millis(30));
    }
    let s = dec.stats();
    assert_eq!(s.decoded, 50, "{s:?} got {got}");
    assert!(s.dropped > 0, "{s:?}");
    assert_eq!(s.delivered, got);
    assert_eq!(s.delivered + s.dropped + s.skipped, s.decoded, "{s:?}");
}

#[test]
fn file_decoder_errors_are_clear() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = FileDecoder::open(&dir.path().join("nope.mp4"), &DecodeConfig::file());
    assert!(matches!(missing, Err(DecodeError::NotFound(_))));
    let junk = dir.path().join("junk.mp4");
    std::fs::write(&junk, vec![0x5au8; 100_000]).expect("write");
    let err = match FileDecoder::open(&junk, &DecodeConfig::file()) {
        Err(e) => e,
        Ok(mut d) => match d.next_frame() {
            Err(e) => e,
            Ok(Some(_)) => panic!("junk decoded into a frame"),
            Ok(None) => panic!("junk ended without an error"),
        },
    };
    assert!(matches!(err, DecodeError::Stream { .. } | DecodeError::NoVideo(_)), "{err}");
}
