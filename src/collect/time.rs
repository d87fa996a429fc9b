//! `time`: node_time_seconds, the local time zone offset and the clocksources.

use std::ffi::CStr;

use super::{CollectError, Collector, Family, FamilyKind, Paths};

pub(crate) struct TimeCollector;

extern "C" {
    // POSIX; not exported by the libc crate. Re-reads TZ so a changed zone is seen.
    fn tzset();
}

/// The local zone's abbreviation and offset from UTC in seconds, now.
fn zone(now: i64) -> Option<(String, f64)> {
    let t = now as libc::time_t;
    // SAFETY: tm is plain data and localtime_r fills it; tzset only reads TZ and zoneinfo.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    unsafe { tzset() };
    // SAFETY: both pointers are valid for the call.
    if unsafe { libc::localtime_r(&t, &mut tm) }.is_null() {
        return None;
    }
    let name = if tm.tm_zone.is_null() {
        String::new()
    } else {
        // SAFETY: glibc points tm_zone at a NUL-terminated static string.
        unsafe { CStr::from_ptr(tm.tm_zone) }.to_string_lossy().into_owned()
    };
    Some((name, tm.tm_gmtoff as f64))
}

/// (device number, available clocksources, current clocksource) per clocksource directory.
fn clocksources(paths: &Paths) -> Vec<(String, Vec<String>, String)> {
    let dir = paths.sys("devices/system/clocksource");
    let Ok(entries) = std::fs::read_dir(&dir) else { return Vec::new() };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(dev) = name.strip_prefix("clocksource") else { continue };
        let read = |f: &str| std::fs::read_to_string(e.path().join(f)).unwrap_or_default();
        let available = read("available_clocksource").split_whitespace().map(str::to_string).collect();
        out.push((dev.to_string(), available, read("current_clocksource").trim().to_string()));
    }
    out.sort();
    out
}

impl Collector for TimeCollector {
    fn update(&mut self, paths: &Paths, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| CollectError::Sys { call: "clock_gettime", source: std::io::Error::other(e) })?;
        out.push(Family::single(
            "node_time_seconds",
            "System time in seconds since epoch (1970).",
            FamilyKind::Gauge,
            now.as_secs_f64(),
        ));
        if let Some((name, offset)) = zone(now.as_secs() as i64) {
            let mut f =
                Family::new("node_time_zone_offset_seconds", "System time zone offset in seconds.", FamilyKind::Gauge);
            f.push([("time_zone", name.as_str())], offset);
            out.push(f);
        }
        let mut avail = Family::new(
            "node_time_clocksource_available_info",
            "Available clocksources read from '/sys/devices/system/clocksource'.",
            FamilyKind::Gauge,
        );
        let mut current = Family::new(
            "node_time_clocksource_current_info",
            "Current clocksource read from '/sys/devices/system/clocksource'.",
            FamilyKind::Gauge,
        );
        for (dev, available, cur) in clocksources(paths) {
            for a in &available {
                avail.push([("device", dev.as_str()), ("clocksource", a.as_str())], 1.0);
            }
            if !cur.is_empty() {
                current.push([("device", dev.as_str()), ("clocksource", cur.as_str())], 1.0);
            }
        }
        out.push(avail);
        out.push(current);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn time_and_clocksources_from_fixture() {
        let mut out = Vec::new();
        TimeCollector.update(&fixture_paths(), &mut out).unwrap();
        let t = value(&out, "node_time_seconds", &[]).unwrap();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
        assert!((now - t).abs() < 5.0, "{t} vs {now}");
        assert_eq!(family(&out, "node_time_clocksource_available_info").samples.len(), 3);
        assert_eq!(
            value(&out, "node_time_clocksource_available_info", &[("device", "0"), ("clocksource", "hpet")]),
            Some(1.0)
        );
        assert_eq!(
            value(&out, "node_time_clocksource_current_info", &[("device", "0"), ("clocksource", "tsc")]),
            Some(1.0)
        );
        let tz = family(&out, "node_time_zone_offset_seconds");
        assert!(tz.samples[0].0.get("time_zone").is_some());
    }
}
