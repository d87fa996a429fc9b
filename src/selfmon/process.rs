//! process_* metrics (CPU, memory, file descriptors, start time) read from
//! /proc/self, with the names Prometheus client libraries use.

use std::fmt::Write;

pub struct ProcessCollector {
    start_time_seconds: f64,
    ticks_per_second: f64,
    page_size: f64,
}

impl ProcessCollector {
    pub fn new() -> Self {
        // Linux reports in USER_HZ (100 on every mainstream architecture) and 4 KiB pages.
        let start_time_seconds =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
        ProcessCollector { start_time_seconds, ticks_per_second: 100.0, page_size: 4096.0 }
    }

    /// Appends the process families to `out`; figures that cannot be read are left out.
    pub fn encode(&self, out: &mut String) {
        if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
            // Fields after the command name, which is in parentheses and may contain spaces.
            if let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) {
                let f: Vec<&str> = rest.split_whitespace().collect();
                let num = |i: usize| f.get(i).and_then(|s| s.parse::<f64>().ok());
                if let (Some(utime), Some(stime)) = (num(11), num(12)) {
                    family(out, "process_cpu_seconds", "counter", "Total user and system CPU time spent in seconds.");
                    let _ = writeln!(out, "process_cpu_seconds_total {}", (utime + stime) / self.ticks_per_second);
                }
                if let Some(vsize) = num(20) {
                    family(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
                    let _ = writeln!(out, "process_virtual_memory_bytes {vsize}");
                }
                if let Some(rss) = num(21) {
                    family(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
                    let _ = writeln!(out, "process_resident_memory_bytes {}", rss * self.page_size);
                }
            }
        }
        if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
            family(out, "process_open_fds", "gauge", "Number of open file descriptors.");
            let _ = writeln!(out, "process_open_fds {}", fds.count());
        }
        family(out, "process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.");
        let _ = writeln!(out, "process_start_time_seconds {}", self.start_time_seconds);
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}
