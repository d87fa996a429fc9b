//! `timex`: the kernel clock discipline state from adjtimex(2) (NTP sync
//! status, offset, frequency, PPS counters) as node_timex_* metrics.

use super::{CollectError, Collector, Family, FamilyKind, Paths};

/// adjtimex's return value when the clock is not synchronized.
const TIME_ERROR: i32 = 5;
/// Status bit: offsets and jitter are in nanoseconds rather than microseconds.
const STA_NANO: i32 = 0x2000;
/// Frequencies are in parts per million with a 16-bit fraction (see adjtimex(2) NOTES).
const PPM16FRAC: f64 = 1_000_000.0 * 65536.0;
const MICROS: f64 = 1_000_000.0;

pub(crate) struct TimexCollector;

/// The fields we read, so the conversion can be tested without the syscall.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Timex {
    pub state: i32,
    pub status: i32,
    pub offset: i64,
    pub freq: i64,
    pub maxerror: i64,
    pub esterror: i64,
    pub constant: i64,
    pub tick: i64,
    pub ppsfreq: i64,
    pub jitter: i64,
    pub shift: i32,
    pub stabil: i64,
    pub jitcnt: i64,
    pub calcnt: i64,
    pub errcnt: i64,
    pub stbcnt: i64,
    pub tai: i32,
}

fn read_timex() -> Result<Timex, CollectError> {
    // SAFETY: timex is plain data; modes = 0 (zeroed) makes adjtimex read-only.
    let mut t: libc::timex = unsafe { std::mem::zeroed() };
    // SAFETY: t is a valid, writable timex.
    let state = unsafe { libc::adjtimex(&mut t) };
    if state < 0 {
        return Err(CollectError::Sys { call: "adjtimex", source: std::io::Error::last_os_error() });
    }
    // The libc field types vary by target (c_long vs i64), hence the casts.
    #[allow(clippy::unnecessary_cast)]
    Ok(Timex {
        state,
        status: t.status as i32,
        offset: t.offset as i64,
        freq: t.freq as i64,
        maxerror: t.maxerror as i64,
        esterror: t.esterror as i64,
        constant: t.constant as i64,
        tick: t.tick as i64,
        ppsfreq: t.ppsfreq as i64,
        jitter: t.jitter as i64,
        shift: t.shift as i32,
        stabil: t.stabil as i64,
        jitcnt: t.jitcnt as i64,
        calcnt: t.calcnt as i64,
        errcnt: t.errcnt as i64,
        stbcnt: t.stbcnt as i64,
        tai: t.tai as i32,
    })
}

/// Converts to node_exporter's units.
pub(crate) fn families(t: &Timex) -> Vec<Family> {
    let divisor = if t.status & STA_NANO != 0 { 1e9 } else { MICROS };
    let g = |name: &str, help: &str, v: f64| Family::single(name, help, FamilyKind::Gauge, v);
    let c = |name: &str, help: &str, v: f64| Family::single(name, help, FamilyKind::Counter, v);
    vec![
        g(
            "node_timex_sync_status",
            "Is clock synchronized to a reliable server (1 = yes, 0 = no).",
            if t.state == TIME_ERROR { 0.0 } else { 1.0 },
        ),
        g(
            "node_timex_offset_seconds",
            "Time offset in between local system and reference clock.",
            t.offset as f64 / divisor,
        ),
        g(
            "node_timex_frequency_adjustment_ratio",
            "Local clock frequency adjustment.",
            1.0 + t.freq as f64 / PPM16FRAC,
        ),
        g("node_timex_maxerror_seconds", "Maximum error in seconds.", t.maxerror as f64 / MICROS),
        g("node_timex_estimated_error_seconds", "Estimated error in seconds.", t.esterror as f64 / MICROS),
        g("node_timex_status", "Value of the status array bits.", t.status as f64),
        g("node_timex_loop_time_constant", "Phase-locked loop time constant.", t.constant as f64),
        g("node_timex_tick_seconds", "Seconds between clock ticks.", t.tick as f64 / MICROS),
        g("node_timex_pps_frequency_hertz", "Pulse per second frequency.", t.ppsfreq as f64 / PPM16FRAC),
        g("node_timex_pps_jitter_seconds", "Pulse per second jitter.", t.jitter as f64 / divisor),
        g("node_timex_pps_shift_seconds", "Pulse per second interval duration.", t.shift as f64),
        g(
            "node_timex_pps_stability_hertz",
            "Pulse per second stability, average of recent frequency changes.",
            t.stabil as f64 / PPM16FRAC,
        ),
        c("node_timex_pps_jitter_total", "Pulse per second count of jitter limit exceeded events.", t.jitcnt as f64),
        c("node_timex_pps_calibration_total", "Pulse per second count of calibration intervals.", t.calcnt as f64),
        c("node_timex_pps_error_total", "Pulse per second count of calibration errors.", t.errcnt as f64),
        c(
            "node_timex_pps_stability_exceeded_total",
            "Pulse per second count of stability limit exceeded events.",
            t.stbcnt as f64,
        ),
        g("node_timex_tai_offset_seconds", "International Atomic Time (TAI) offset.", t.tai as f64),
    ]
}

impl Collector for TimexCollector {
    fn update(&mut self, _paths: &Paths, out: &mut Vec<Family>) -> Result<(), CollectError> {
        out.extend(families(&read_timex()?));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn conversion_golden_values() {
        let t = Timex {
            state: 0,
            status: 0x2001, // STA_PLL | STA_NANO
            offset: 1_500_000,
            freq: 655_360, // 10 ppm
            maxerror: 16_000,
            esterror: 250,
            constant: 7,
            tick: 10_000,
            jitter: 2_000,
            jitcnt: 3,
            tai: 37,
            ..Timex::default()
        };
        let f = families(&t);
        assert_eq!(value(&f, "node_timex_sync_status", &[]), Some(1.0));
        assert_eq!(value(&f, "node_timex_offset_seconds", &[]), Some(0.0015));
        assert_eq!(value(&f, "node_timex_frequency_adjustment_ratio", &[]), Some(1.00001));
        assert_eq!(value(&f, "node_timex_maxerror_seconds", &[]), Some(0.016));
        assert_eq!(value(&f, "node_timex_tick_seconds", &[]), Some(0.01));
        assert_eq!(value(&f, "node_timex_pps_jitter_seconds", &[]), Some(0.000002));
        assert_eq!(value(&f, "node_timex_pps_jitter_total", &[]), Some(3.0));
        assert_eq!(value(&f, "node_timex_tai_offset_seconds", &[]), Some(37.0));
        assert_eq!(family(&f, "node_timex_pps_error_total").kind, FamilyKind::Counter);
        let unsynced = families(&Timex { state: TIME_ERROR, offset: 1500, ..Timex::default() });
        assert_eq!(value(&unsynced, "node_timex_sync_status", &[]), Some(0.0));
        assert_eq!(value(&unsynced, "node_timex_offset_seconds", &[]), Some(0.0015), "microseconds without STA_NANO");
    }

    #[test]
    fn reads_this_kernel() {
        let t = read_timex().unwrap();
        assert!(t.tick > 0, "{t:?}");
    }
}
