//! Runs the real node_exporter (Debian's `prometheus-node-exporter`) beside
//! Sightline's host collector on this machine and checks that every `node_*`
//! family Sightline emits exists in node_exporter's output with the same type,
//! help and label names, and that key values agree.

mod util;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sightline::collect::{Family, FamilyKind, HostCollector, HostConfig};

const BINARY: &str = "/usr/bin/prometheus-node-exporter";

/// Families node_exporter added after the version Debian ships (1.5.0);
/// for these only the name pattern is checked, when the host has the data.
const NEWER_THAN_DEBIAN: &[&str] =
    &["node_pressure_irq_stalled_seconds_total", "node_netstat_TcpExt_TCPOFOQueue", "node_netstat_TcpExt_TCPRcvQDrop"];

/// One family as parsed from node_exporter's text output.
#[derive(Debug, Default)]
struct Parsed {
    kind: String,
    help: String,
    /// (labels with non-empty values, value) per sample.
    samples: Vec<(BTreeMap<String, String>, f64)>,
}

/// A tiny text-format parser: enough for node_exporter's output (the project's
/// exposition parser lives elsewhere and is not what this test is about).
fn parse_text(text: &str) -> BTreeMap<String, Parsed> {
    let mut fams: BTreeMap<String, Parsed> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            fams.entry(name.to_string()).or_default().help = help.replace("\\n", "\n").replace("\\\\", "\\");
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE line has a name and a type");
            fams.entry(name.to_string()).or_default().kind = kind.to_string();
        } else if line.starts_with('#') || line.trim().is_empty() {
            continue;
        } else {
            let (name, labels, rest) = match line.find('{') {
                Some(i) => {
                    let (labels, after) = parse_labels(&line[i + 1..]);
                    (&line[..i], labels, after)
                }
                None => {
                    let (n, r) = line.split_once(' ').expect("sample line has a value");
                    (n, BTreeMap::new(), r)
                }
            };
            let value = rest.split_whitespace().next().expect("sample value");
            let v: f64 = match value {
                "NaN" => f64::NAN,
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v.parse().unwrap_or_else(|_| panic!("bad value in {line:?}")),
            };
            fams.entry(name.to_string()).or_default().samples.push((labels, v));
        }
    }
    fams
}

/// Parses `a="x",b="y"} rest` into labels (empty values dropped: Prometheus
/// treats them as absent) and the text after the closing brace.
fn parse_labels(s: &str) -> (BTreeMap<String, String>, &str) {
    let mut labels = BTreeMap::new();
    let mut rest = s;
    loop {
        rest = rest.trim_start_matches([',', ' ']);
        if let Some(after) = rest.strip_prefix('}') {
            return (labels, after);
        }
        let eq = rest.find("=\"").expect("label has =\"");
        let name = rest[..eq].to_string();
        let mut value = String::new();
        let mut chars = rest[eq + 2..].char_indices();
        let end = loop {
            let (i, c) = chars.next().expect("unterminated label value");
            match c {
                '\\' => match chars.next().map(|(_, c)| c) {
                    Some('n') => value.push('\n'),
                    Some(c) => value.push(c),
                    None => panic!("dangling escape"),
                },
                '"' => break eq + 2 + i + 1,
                c => value.push(c),
            }
        };
        if !value.is_empty() {
            labels.insert(name, value);
        }
        rest = &rest[end..];
    }
}

/// Kills node_exporter when the test ends, however it ends.
struct Exporter(Child);

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// GET /metrics over a plain HTTP/1.0 connection; None until the server is up.
fn scrape(port: u16) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    let (head, body) = resp.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.").then_some(())?;
    head.contains(" 200 ").then(|| body.to_string())
}

fn start_node_exporter() -> Option<(Exporter, String)> {
    if !util::peer_installed(BINARY, "Debian package prometheus-node-exporter") {
        return None;
    }
    let port = util::free_port();
    let child = Command::new(BINARY)
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start node_exporter");
    let exporter = Exporter(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(body) = scrape(port) {
            return Some((exporter, body));
        }
        assert!(Instant::now() < deadline, "node_exporter did not answer on 127.0.0.1:{port} within 20 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn kind_str(k: FamilyKind) -> &'static str {
    match k {
        FamilyKind::Counter => "counter",
        FamilyKind::Gauge => "gauge",
        FamilyKind::Untyped => "untyped",
    }
}

fn label_names(f: &Family) -> BTreeSet<String> {
    f.samples.iter().flat_map(|(l, _)| l.iter().map(|l| l.name.clone())).collect()
}

fn ours<'a>(fams: &'a [Family], name: &str) -> &'a Family {
    fams.iter().find(|f| f.name == name).unwrap_or_else(|| panic!("Sightline emitted no {name}"))
}

#[test]
fn families_types_and_labels_match_node_exporter() {
    let Some((_exporter, body)) = start_node_exporter() else { return };
    let theirs = parse_text(&body);
    let fams = HostCollector::new(HostConfig::default()).collect();
    assert!(fams.len() > 40, "expected a full host collection, got {} families", fams.len());

    let mut problems = Vec::new();
    let mut checked = 0;
    for f in fams.iter().filter(|f| f.name.starts_with("node_")) {
        if NEWER_THAN_DEBIAN.contains(&f.name.as_str()) {
            continue;
        }
        let Some(t) = theirs.get(&f.name) else {
            problems.push(format!("{}: node_exporter has no such family", f.name));
            continue;
        };
        checked += 1;
        if t.kind != kind_str(f.kind) {
            problems.push(format!("{}: type {} but node_exporter says {}", f.name, kind_str(f.kind), t.kind));
        }
        if t.help != f.help {
            problems.push(format!("{}: help {:?} but node_exporter says {:?}", f.name, f.help, t.help));
        }
        let theirs_names: BTreeSet<String> = t.samples.iter().flat_map(|(l, _)| l.keys().cloned()).collect();
        let our_names = label_names(f);
        if our_names != theirs_names {
            problems.push(format!("{}: labels {our_names:?} but node_exporter has {theirs_names:?}", f.name));
        }
    }
    assert!(problems.is_empty(), "{} mismatches:\n{}", problems.len(), problems.join("\n"));
    assert!(checked > 40, "only {checked} families compared");
}

#[test]
fn values_agree_with_node_exporter() {
    let Some((_exporter, body)) = start_node_exporter() else { return };
    let theirs = parse_text(&body);
    let fams = HostCollector::new(HostConfig::default()).collect();

    // Memory total is fixed for the life of the machine.
    let mem = ours(&fams, "node_memory_MemTotal_bytes").samples[0].1;
    let their_mem = theirs["node_memory_MemTotal_bytes"].samples[0].1;
    // Equal unless a memory balloon moved between the two reads.
    assert!((mem - their_mem).abs() <= their_mem * 0.01, "MemTotal {mem} vs node_exporter {their_mem}");

    // The same CPUs.
    let our_cpus: BTreeSet<&str> =
        ours(&fams, "node_cpu_seconds_total").samples.iter().filter_map(|(l, _)| l.get("cpu")).collect();
    let their_cpus: BTreeSet<&str> =
        theirs["node_cpu_seconds_total"].samples.iter().filter_map(|(l, _)| l.get("cpu").map(String::as_str)).collect();
    assert_eq!(our_cpus.len(), num_cpus_online(), "CPU count vs /sys");
    assert_eq!(our_cpus, their_cpus, "CPU ids");

    // Filesystem sizes agree for every mount point both report; / is among them.
    let size = |fs: Vec<(String, f64)>| fs.into_iter().collect::<BTreeMap<_, _>>();
    let our_fs = size(
        ours(&fams, "node_filesystem_size_bytes")
            .samples
            .iter()
            .filter_map(|(l, v)| l.get("mountpoint").map(|m| (m.to_string(), *v)))
            .collect(),
    );
    let their_fs = size(
        theirs["node_filesystem_size_bytes"]
            .samples
            .iter()
            .filter_map(|(l, v)| l.get("mountpoint").map(|m| (m.clone(), *v)))
            .collect(),
    );
    assert!(our_fs.contains_key("/") && their_fs.contains_key("/"), "both report /: {our_fs:?} {their_fs:?}");
    for (mp, v) in &our_fs {
        if let Some(t) = their_fs.get(mp) {
            assert!((v - t).abs() <= t * 0.01, "size of {mp}: {v} vs node_exporter {t}");
        }
    }

    // Boot time is the same line of /proc/stat.
    // (the kernel recomputes btime from the clock, so allow a second or two of drift).
    let boot = ours(&fams, "node_boot_time_seconds").samples[0].1;
    assert!((boot - theirs["node_boot_time_seconds"].samples[0].1).abs() <= 2.0, "boot time {boot}");

    // Time agrees within a few seconds (the two scrapes are not simultaneous).
    let t = ours(&fams, "node_time_seconds").samples[0].1;
    assert!((t - theirs["node_time_seconds"].samples[0].1).abs() < 10.0);

    // The kernel clock state is read with the same syscall.
    for name in ["node_timex_tick_seconds", "node_timex_sync_status", "node_timex_status"] {
        assert_eq!(ours(&fams, name).samples[0].1, theirs[name].samples[0].1, "{name}");
    }

    // Every collector that works for node_exporter here works for Sightline.
    let success = ours(&fams, "node_scrape_collector_success");
    for (labels, v) in &success.samples {
        let c = labels.get("collector").unwrap_or("");
        let theirs_ok = theirs["node_scrape_collector_success"]
            .samples
            .iter()
            .find(|(l, _)| l.get("collector").map(String::as_str) == Some(c))
            .map(|(_, v)| *v);
        if theirs_ok == Some(1.0) {
            assert_eq!(*v, 1.0, "collector {c} fails in Sightline but works in node_exporter");
        }
    }
}

fn num_cpus_online() -> usize {
    // "0-3" or "0,2-5": count the CPUs in the ranges.
    let s = std::fs::read_to_string("/sys/devices/system/cpu/online").expect("read /sys/devices/system/cpu/online");
    s.trim()
        .split(',')
        .map(|r| match r.split_once('-') {
            Some((a, b)) => b.parse::<usize>().unwrap() - a.parse::<usize>().unwrap() + 1,
            None => 1,
        })
        .sum()
}

#[test]
fn tiny_parser_handles_escapes_and_empty_labels() {
    let text = "# HELP m A \\\\ help.\n# TYPE m gauge\nm{a=\"x\\\"y\",b=\"\",c=\"1,2}\"} 3.5e+09\nplain 1\n";
    let f = parse_text(text);
    assert_eq!(f["m"].help, "A \\ help.");
    assert_eq!(f["m"].kind, "gauge");
    let (labels, v) = &f["m"].samples[0];
    assert_eq!(labels.get("a").map(String::as_str), Some("x\"y"));
    assert_eq!(labels.get("c").map(String::as_str), Some("1,2}"));
    assert!(!labels.contains_key("b"));
    assert_eq!(*v, 3.5e9);
    assert_eq!(f["plain"].samples[0].1, 1.0);
}

#[test]
fn render_text_parses_back_to_the_same_families() {
    // Needs no node_exporter: checks our own text output with the same parser.
    let fams = HostCollector::new(HostConfig::default()).collect();
    let parsed = parse_text(&sightline::collect::render_text(&fams));
    assert_eq!(parsed.len(), fams.len());
    for f in &fams {
        let p = &parsed[&f.name];
        assert_eq!(p.kind, kind_str(f.kind), "{}", f.name);
        assert_eq!(p.help, f.help, "{}", f.name);
        assert_eq!(p.samples.len(), f.samples.len(), "{}", f.name);
        for ((labels, v), (plabels, pv)) in f.samples.iter().zip(&p.samples) {
            let ours: BTreeMap<String, String> = labels.iter().map(|l| (l.name.clone(), l.value.clone())).collect();
            assert_eq!(&ours, plabels, "{}", f.name);
            assert!(v == pv || (v.is_nan() && pv.is_nan()), "{}: {v} vs {pv}", f.name);
        }
    }
}
