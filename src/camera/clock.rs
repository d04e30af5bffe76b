//! RTP time → wall-clock time.
//!
//! A camera's RTCP sender reports pair an RTP timestamp with the camera's NTP time;
//! when the camera sends them and its clock agrees with ours to within `max_skew`,
//! they anchor wall time (the camera knows when it captured a frame better than we
//! know when the packet arrived). Otherwise the first frame's receive time anchors it.
//! Between anchors, wall time advances with the RTP clock, so a step of the server's
//! own clock (an NTP correction) cannot bend a recording; a drift past `max_skew`
//! re-anchors and counts a clock jump.

use crate::time::WallUs;

/// Where a stream's wall-clock times come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockSource {
    /// RTCP sender reports from the camera.
    Rtcp,
    /// Local receive time.
    Receive,
}

impl ClockSource {
    /// Name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            ClockSource::Rtcp => "rtcp",
            ClockSource::Receive => "receive",
        }
    }
}

/// Maps RTP timestamps of one stream to wall-clock microseconds.
#[derive(Debug)]
pub struct WallClock {
    clock_rate: i64,
    max_skew_us: i64,
    /// (RTP timestamp, wall time at that timestamp).
    anchor: Option<(i64, WallUs)>,
    source: ClockSource,
    jumps: u64,
    rejected_reports: u64,
}

/// RTCP NTP timestamps count from 1900; this is 1970 in that scale.
const NTP_UNIX_EPOCH_SECS: u64 = 2_208_988_800;

impl WallClock {
    /// A clock for a stream with the given RTP clock rate.
    pub fn new(clock_rate: u32, max_skew_us: i64) -> Self {
        WallClock {
            clock_rate: i64::from(clock_rate.max(1)),
            max_skew_us,
            anchor: None,
            source: ClockSource::Receive,
            jumps: 0,
            rejected_reports: 0,
        }
    }

    /// Current source of wall time.
    pub fn source(&self) -> ClockSource {
        self.source
    }

    /// How many times the mapping had to be re-anchored because the clocks diverged.
    pub fn jumps(&self) -> u64 {
        self.jumps
    }

    /// Sender reports ignored because the camera clock disagreed with ours.
    pub fn rejected_reports(&self) -> u64 {
        self.rejected_reports
    }

    /// Feeds an RTCP sender report: `rtp_ts` (extended), the raw 64-bit NTP time, and
    /// when it arrived.
    pub fn on_sender_report(&mut self, rtp_ts: i64, ntp: u64, received_us: WallUs) {
        let secs = (ntp >> 32).wrapping_sub(NTP_UNIX_EPOCH_SECS) as i64;
        let frac_us = (((ntp & 0xFFFF_FFFF) * 1_000_000) >> 32) as i64;
        let ntp_us = secs.saturating_mul(1_000_000).saturating_add(frac_us);
        if (ntp_us - received_us).abs() > self.max_skew_us {
            self.rejected_reports += 1;
            return;
        }
        self.anchor = Some((rtp_ts, ntp_us));
        self.source = ClockSource::Rtcp;
    }

    /// Wall time of a frame with (extended) RTP timestamp `ts`, received at `received_us`.
    pub fn frame_wall(&mut self, ts: i64, received_us: WallUs) -> WallUs {
        let Some((a_ts, a_wall)) = self.anchor else {
            self.anchor = Some((ts, received_us));
            return received_us;
        };
        let wall = a_wall + (ts - a_ts) * 1_000_000 / self.clock_rate;
        if (wall - received_us).abs() > self.max_skew_us {
            // The RTP clock and ours disagree by more than any network delay explains:
            // the camera's timestamps jumped, or our clock was stepped. Trust receive time.
            self.jumps += 1;
            self.anchor = Some((ts, received_us));
            self.source = ClockSource::Receive;
            return received_us;
        }
        wall
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ntp_of(us: i64) -> u64 {
        let secs = (us / 1_000_000) as u64 + NTP_UNIX_EPOCH_SECS;
        let frac = (((us % 1_000_000) as u64) << 32) / 1_000_000;
        (secs << 32) | frac
    }

    #[test]
    fn receive_anchor_then_rtp_advance() {
        let mut c = WallClock::new(90_000, 5_000_000);
        let t0 = 1_800_000_000_000_000;
        assert_eq!(c.frame_wall(1000, t0), t0);
        // 1 s later in RTP time; arrival jittered by 30 ms: wall follows RTP.
        assert_eq!(c.frame_wall(91_000, t0 + 1_030_000), t0 + 1_000_000);
        assert_eq!(c.source(), ClockSource::Receive);
    }

    #[test]
    fn sender_report_anchors() {
        let mut c = WallClock::new(90_000, 5_000_000);
        let t0 = 1_800_000_000_000_000;
        c.frame_wall(0, t0);
        // The camera says RTP 90_000 was captured at t0 + 0.8 s.
        c.on_sender_report(90_000, ntp_of(t0 + 800_000), t0 + 900_000);
        assert_eq!(c.source(), ClockSource::Rtcp);
        let w = c.frame_wall(180_000, t0 + 1_900_000);
        assert!((w - (t0 + 1_800_000)).abs() < 2, "{w}");
    }

    #[test]
    fn wrong_camera_clock_is_ignored() {
        let mut c = WallClock::new(90_000, 5_000_000);
        let t0 = 1_800_000_000_000_000;
        c.on_sender_report(0, ntp_of(0), t0); // camera thinks it is 1970
        assert_eq!(c.source(), ClockSource::Receive);
        assert_eq!(c.rejected_reports(), 1);
    }

    #[test]
    fn jump_reanchors() {
        let mut c = WallClock::new(90_000, 5_000_000);
        let t0 = 1_800_000_000_000_000;
        c.frame_wall(0, t0);
        // Our clock was stepped forward by an hour.
        let w = c.frame_wall(90_000, t0 + 3_601_000_000);
        assert_eq!(w, t0 + 3_601_000_000);
        assert_eq!(c.jumps(), 1);
    }
}
