//! `diskstats`: node_disk_*{device} from /proc/diskstats, with node_exporter's
//! names, units (bytes, seconds) and default device exclusion (partitions,
//! ram, zram, loop and floppy devices).

use super::{compile, read, CollectError, Collector, Family, FamilyKind, Paths};

/// Sectors in /proc/diskstats are always 512 bytes, whatever the device.
const SECTOR_SIZE: f64 = 512.0;
/// Times in /proc/diskstats are milliseconds.
const MS: f64 = 0.001;

/// For each statistic column after the device name (kernel field order):
/// metric name, help, kind, scale.
const STATS: [(&str, &str, FamilyKind, f64); 17] = [
    ("node_disk_reads_completed_total", "The total number of reads completed successfully.", FamilyKind::Counter, 1.0),
    ("node_disk_reads_merged_total", "The total number of reads merged.", FamilyKind::Counter, 1.0),
    ("node_disk_read_bytes_total", "The total number of bytes read successfully.", FamilyKind::Counter, SECTOR_SIZE),
    ("node_disk_read_time_seconds_total", "The total number of seconds spent by all reads.", FamilyKind::Counter, MS),
    (
        "node_disk_writes_completed_total",
        "The total number of writes completed successfully.",
        FamilyKind::Counter,
        1.0,
    ),
    ("node_disk_writes_merged_total", "The number of writes merged.", FamilyKind::Counter, 1.0),
    (
        "node_disk_written_bytes_total",
        "The total number of bytes written successfully.",
        FamilyKind::Counter,
        SECTOR_SIZE,
    ),
    (
        "node_disk_write_time_seconds_total",
        "This is the total number of seconds spent by all writes.",
        FamilyKind::Counter,
        MS,
    ),
    ("node_disk_io_now", "The number of I/Os currently in progress.", FamilyKind::Gauge, 1.0),
    ("node_disk_io_time_seconds_total", "Total seconds spent doing I/Os.", FamilyKind::Counter, MS),
    (
        "node_disk_io_time_weighted_seconds_total",
        "The weighted # of seconds spent doing I/Os.",
        FamilyKind::Counter,
        MS,
    ),
    (
        "node_disk_discards_completed_total",
        "The total number of discards completed successfully.",
        FamilyKind::Counter,
        1.0,
    ),
    ("node_disk_discards_merged_total", "The total number of discards merged.", FamilyKind::Counter, 1.0),
    (
        "node_disk_discarded_sectors_total",
        "The total number of sectors discarded successfully.",
        FamilyKind::Counter,
        1.0,
    ),
    (
        "node_disk_discard_time_seconds_total",
        "This is the total number of seconds spent by all discards.",
        FamilyKind::Counter,
        MS,
    ),
    (
        "node_disk_flush_requests_total",
        "The total number of flush requests completed successfully",
        FamilyKind::Counter,
        1.0,
    ),
    (
        "node_disk_flush_requests_time_seconds_total",
        "This is the total number of seconds spent by all flush requests.",
        FamilyKind::Counter,
        MS,
    ),
];

pub(crate) struct DiskstatsCollector {
    exclude: Result<regex::Regex, String>,
}

impl DiskstatsCollector {
    pub fn new(exclude: &str) -> Self {
        DiskstatsCollector { exclude: compile("diskstats device_exclude", exclude).map_err(|e| e.to_string()) }
    }
}

/// One device: its name and the statistics present (11, 15 or 17 columns
/// depending on the kernel version).
pub(crate) fn parse_diskstats(text: &str, path: &std::path::Path) -> Result<Vec<(String, Vec<f64>)>, CollectError> {
    let mut out = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        if fields.len() < 14 {
            return Err(CollectError::parse(
                path,
                format!("line {line:?} has {} fields, expected at least 14", fields.len()),
            ));
        }
        let dev = fields[2];
        let vals = fields[3..]
            .iter()
            .take(STATS.len())
            .map(|f| f.parse::<u64>().map(|v| v as f64))
            .collect::<Result<Vec<f64>, _>>()
            .map_err(|_| CollectError::parse(path, format!("bad number in line for {dev}")))?;
        out.push((dev.to_string(), vals));
    }
    Ok(out)
}

impl Collector for DiskstatsCollector {
    fn update(&mut self, paths: &Paths, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let exclude = self.exclude.as_ref().map_err(|e| CollectError::parse(std::path::Path::new("config"), e))?;
        let path = paths.proc("diskstats");
        let devs = parse_diskstats(&read(&path)?, &path)?;
        let mut fams: Vec<Family> = STATS.iter().map(|(n, h, k, _)| Family::new(*n, *h, *k)).collect();
        for (dev, vals) in &devs {
            if exclude.is_match(dev) {
                continue;
            }
            for ((fam, stat), v) in fams.iter_mut().zip(STATS.iter()).zip(vals) {
                fam.push([("device", dev.as_str())], v * stat.3);
            }
        }
        out.append(&mut fams);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    fn collect() -> Vec<Family> {
        let mut out = Vec::new();
        DiskstatsCollector::new(crate::collect::DEFAULT_DISK_DEVICE_EXCLUDE)
            .update(&fixture_paths(), &mut out)
            .unwrap();
        out
    }

    #[test]
    fn golden_values_from_fixture() {
        let out = collect();
        let reads = family(&out, "node_disk_reads_completed_total");
        let devices: Vec<&str> = reads.samples.iter().filter_map(|(l, _)| l.get("device")).collect();
        // ram0, loop0, zram0, sda1 and nvme0n1p1 are excluded by default.
        assert_eq!(devices, ["sda", "nvme0n1", "dm-0"]);
        assert_eq!(value(&out, "node_disk_reads_completed_total", &[("device", "sda")]), Some(25354637.0));
        assert_eq!(value(&out, "node_disk_read_bytes_total", &[("device", "sda")]), Some(1003346126.0 * 512.0));
        assert_eq!(value(&out, "node_disk_read_time_seconds_total", &[("device", "sda")]), Some(18492.372));
        assert_eq!(value(&out, "node_disk_io_time_weighted_seconds_total", &[("device", "sda")]), Some(82621.804));
        assert_eq!(value(&out, "node_disk_io_now", &[("device", "nvme0n1")]), Some(0.0));
        assert_eq!(value(&out, "node_disk_discarded_sectors_total", &[("device", "nvme0n1")]), Some(70456.0));
        assert_eq!(value(&out, "node_disk_flush_requests_total", &[("device", "nvme0n1")]), Some(131.0));
        assert_eq!(value(&out, "node_disk_flush_requests_time_seconds_total", &[("device", "nvme0n1")]), Some(6.18));
        // An old kernel's 11 columns give no discard or flush samples.
        assert_eq!(value(&out, "node_disk_discards_completed_total", &[("device", "sda")]), None);
        // 15 columns: discards but no flushes.
        // ms * 0.001, the same float arithmetic as node_exporter, so values match bit for bit.
        assert_eq!(value(&out, "node_disk_discard_time_seconds_total", &[("device", "dm-0")]), Some(13.0 * 0.001));
        assert_eq!(value(&out, "node_disk_flush_requests_total", &[("device", "dm-0")]), None);
        assert_eq!(family(&out, "node_disk_io_now").kind, FamilyKind::Gauge);
    }

    #[test]
    fn garbage_is_an_error() {
        let p = std::path::Path::new("diskstats");
        assert!(parse_diskstats("8 0 sda 1 2\n", p).is_err());
        assert!(parse_diskstats("8 0 sda 1 2 3 4 5 6 7 8 9 10 x\n", p).is_err());
    }
}
