//! `sightline import`: backfill OpenMetrics text with timestamps — the input
//! `promtool tsdb create-blocks-from openmetrics` reads — or the output of
//! `promtool tsdb dump` (`{__name__="up", job="x"} 1 1700000000000`), which is
//! how a Prometheus data directory comes over.
//!
//! The input is streamed in chunks of a few megabytes, cut at line
//! boundaries (preferably where a metric family starts), so files larger
//! than memory import fine. A chunk cut inside a family repeats that
//! family's HELP/TYPE/UNIT lines so it parses the same. A line that does not
//! parse is reported by its number and left out; the rest is imported.

use crate::scrape::exposition::{self, Format};
use crate::tsdb::{Appendable, Labels, TsdbError};
use std::collections::HashSet;
use std::io::BufRead;

/// Samples per transaction while importing.
const BATCH: usize = 50_000;
/// A chunk is cut at the next family start once it is this large...
const CHUNK_BYTES: usize = 4 << 20;
/// ...or at any line once it is this large (one huge family).
const MAX_CHUNK_BYTES: usize = 16 << 20;
/// Past this many bad lines the input is not the format we think it is.
const MAX_BAD_LINES: usize = 1000;

/// What an import did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportStats {
    /// Distinct series that got at least one sample.
    pub series: usize,
    /// Samples written.
    pub samples: usize,
    /// Samples refused by the store (out of order or duplicate).
    pub rejected: usize,
    pub min_time: Option<i64>,
    pub max_time: Option<i64>,
    /// Lines left out because they did not parse: (1-based line, why).
    pub bad_lines: Vec<(usize, String)>,
    /// Samples left out because they had no timestamp.
    pub without_timestamp: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{file}: reading: {source}")]
    Read { file: String, source: std::io::Error },
    #[error("{file}: more than {MAX_BAD_LINES} lines do not parse (first: line {line}: {message}); is this OpenMetrics text?")]
    TooManyBadLines { file: String, line: usize, message: String },
    #[error("{file}: storing samples: {source}")]
    Store { file: String, source: TsdbError },
}

/// The formats `sightline import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    /// OpenMetrics text (timestamps in seconds), ending with `# EOF`.
    OpenMetrics,
    /// The Prometheus text format (timestamps in milliseconds).
    Text,
    /// `promtool tsdb dump` output: the metric name as a `__name__` label,
    /// timestamps in milliseconds.
    PromtoolDump,
}

/// Which format an input is, from its first and last bytes: a dump starts
/// with `{`, OpenMetrics ends with `# EOF`, anything else is the text format.
pub fn detect_format(head: &[u8], tail: &[u8]) -> InputFormat {
    if head.first() == Some(&b'{') {
        InputFormat::PromtoolDump
    } else if String::from_utf8_lossy(tail).trim_end().ends_with("# EOF") {
        InputFormat::OpenMetrics
    } else {
        InputFormat::Text
    }
}

/// Rewrites a `promtool tsdb dump` line into the text format:
/// `{__name__="up", job="x"} 1 1700000000000` → `up{job="x"} 1 1700000000000`.
/// Lines that are not in that shape come back unchanged (and fail to parse,
/// so they are reported).
fn dump_line_to_text(line: &str) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    let Some(body) = line.strip_prefix('{') else { return Cow::Borrowed(line) };
    let Some(close) = unquoted(body).find(|&(_, c)| c == '}').map(|(i, _)| i) else { return Cow::Borrowed(line) };
    let (labels, rest) = (&body[..close], &body[close + 1..]);
    // Split pairs at `, ` outside quotes; dump writes `name="value"` pairs.
    let mut pairs = Vec::new();
    let mut start = 0;
    for (i, _) in unquoted(labels).filter(|&(_, c)| c == ',') {
        pairs.push(labels[start..i].trim());
        start = i + 1;
    }
    pairs.push(labels[start..].trim());
    let Some(pos) = pairs.iter().position(|p| p.starts_with("__name__=\"") && p.ends_with('"')) else {
        return Cow::Borrowed(line);
    };
    let name = &pairs.remove(pos)["__name__=\"".len()..];
    let name = &name[..name.len() - 1];
    pairs.retain(|p| !p.is_empty());
    if pairs.is_empty() {
        return Cow::Owned(format!("{name}{rest}"));
    }
    Cow::Owned(format!("{name}{{{}}}{rest}", pairs.join(",")))
}

/// The characters of `s` outside double-quoted strings (which may hold
/// backslash escapes), with their byte positions.
fn unquoted(s: &str) -> impl Iterator<Item = (usize, char)> + '_ {
    let (mut in_quotes, mut escaped) = (false, false);
    s.char_indices().filter(move |&(_, c)| {
        let inside = in_quotes;
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            _ => {}
        }
        !inside && c != '"'
    })
}

/// Imports everything `input` holds (in `format`), calling `progress` with
/// the bytes consumed so far after each chunk.
pub fn import(
    input: impl BufRead,
    format: InputFormat,
    file: &str,
    store: &dyn Appendable,
    progress: &mut dyn FnMut(u64),
) -> Result<ImportStats, ImportError> {
    import_chunked(input, format, file, store, progress, CHUNK_BYTES, MAX_CHUNK_BYTES)
}

/// [`import`] with the chunk sizes as parameters, so tests can cut small chunks.
fn import_chunked(
    input: impl BufRead,
    format: InputFormat,
    file: &str,
    store: &dyn Appendable,
    progress: &mut dyn FnMut(u64),
    chunk_bytes: usize,
    max_chunk_bytes: usize,
) -> Result<ImportStats, ImportError> {
    let dump = format == InputFormat::PromtoolDump;
    let format = if format == InputFormat::OpenMetrics { Format::OpenMetrics } else { Format::Text };
    let mut imp = Importer { format, file, store, stats: ImportStats::default(), series: HashSet::new() };
    let mut chunk = Chunk::default();
    // The current family's metadata lines, with their line numbers.
    let mut family: Vec<(usize, String)> = Vec::new();
    let mut family_open = false;
    let (mut consumed, mut line_no) = (0u64, 0usize);
    for line in input.lines() {
        let line = line.map_err(|source| ImportError::Read { file: file.into(), source })?;
        line_no += 1;
        consumed += line.len() as u64 + 1;
        let line = if dump { dump_line_to_text(&line).into_owned() } else { line };
        let is_meta = is_metadata(&line);
        if is_meta && !family_open {
            // A new family's first metadata line: a good place to cut.
            if chunk.text.len() >= chunk_bytes {
                imp.flush(&mut chunk)?;
                progress(consumed);
            }
            family.clear();
        }
        if !is_meta && chunk.text.len() >= max_chunk_bytes {
            imp.flush(&mut chunk)?;
            progress(consumed);
            // Cut inside a family: the next chunk restates its metadata.
            for (n, l) in &family {
                chunk.push(*n, l);
            }
        }
        family_open = is_meta;
        if is_meta {
            family.push((line_no, line.clone()));
        }
        chunk.push(line_no, &line);
    }
    imp.flush(&mut chunk)?;
    progress(consumed);
    imp.stats.series = imp.series.len();
    Ok(imp.stats)
}

/// `# HELP`, `# TYPE` and `# UNIT` lines start (or describe) a family.
fn is_metadata(line: &str) -> bool {
    line.starts_with("# HELP ") || line.starts_with("# TYPE ") || line.starts_with("# UNIT ")
}

/// Lines waiting to be parsed, each with its number in the input.
#[derive(Default)]
struct Chunk {
    text: String,
    lines: Vec<usize>,
}

impl Chunk {
    fn push(&mut self, line_no: usize, line: &str) {
        self.text.push_str(line);
        self.text.push('\n');
        self.lines.push(line_no);
    }

    /// Drops the chunk's `i`-th (0-based) line.
    fn remove(&mut self, i: usize) {
        let mut text = String::with_capacity(self.text.len());
        for (j, l) in self.text.lines().enumerate() {
            if j != i {
                text.push_str(l);
                text.push('\n');
            }
        }
        self.text = text;
        self.lines.remove(i);
    }
}

struct Importer<'a> {
    format: Format,
    file: &'a str,
    store: &'a dyn Appendable,
    stats: ImportStats,
    /// Hashes of the series seen, to count them without keeping label sets.
    series: HashSet<u64>,
}

impl Importer<'_> {
    /// Parses and stores one chunk, leaving out (and recording) lines that do not parse.
    fn flush(&mut self, chunk: &mut Chunk) -> Result<(), ImportError> {
        if chunk.lines.is_empty() {
            return Ok(());
        }
        let parsed = loop {
            let mut text = std::mem::take(&mut chunk.text);
            let eof_added = self.format == Format::OpenMetrics && !text.trim_end().ends_with("# EOF");
            if eof_added {
                // Only the last chunk carries the real end marker.
                text.push_str("# EOF\n");
            }
            let result = exposition::parse(&text, self.format);
            if eof_added {
                text.truncate(text.len() - "# EOF\n".len());
            }
            chunk.text = text;
            match result {
                Ok(p) => break p,
                Err(e) => {
                    let i = e.line.saturating_sub(1).min(chunk.lines.len().saturating_sub(1));
                    let line = chunk.lines.get(i).copied().unwrap_or(0);
                    if self.stats.bad_lines.len() >= MAX_BAD_LINES {
                        let (line, message) = self.stats.bad_lines[0].clone();
                        return Err(ImportError::TooManyBadLines { file: self.file.into(), line, message });
                    }
                    self.stats.bad_lines.push((line, e.message.clone()));
                    chunk.remove(i);
                    if chunk.lines.is_empty() {
                        break exposition::Exposition::default();
                    }
                }
            }
        };
        *chunk = Chunk::default();

        let total = parsed.samples.len();
        let mut samples: Vec<_> =
            parsed.samples.into_iter().filter_map(|s| Some((s.labels, s.timestamp_ms?, s.value))).collect();
        self.stats.without_timestamp += total - samples.len();
        // Series may be interleaved; ordering by series then time lets the
        // store accept every in-order sample.
        samples.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
        for batch in samples.chunks(BATCH) {
            self.append(batch)?;
        }
        Ok(())
    }

    fn append(&mut self, batch: &[(Labels, i64, f64)]) -> Result<(), ImportError> {
        let mut app = self.store.appender();
        for (labels, t, v) in batch {
            match app.append(labels, *t, *v) {
                Ok(()) => {
                    let s = &mut self.stats;
                    s.samples += 1;
                    s.min_time = Some(s.min_time.map_or(*t, |m| m.min(*t)));
                    s.max_time = Some(s.max_time.map_or(*t, |m| m.max(*t)));
                    self.series.insert(labels.stable_hash());
                }
                Err(e) if e.is_sample_error() => self.stats.rejected += 1,
                Err(source) => return Err(ImportError::Store { file: self.file.into(), source }),
            }
        }
        app.commit().map_err(|source| ImportError::Store { file: self.file.into(), source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsdb::{Matcher, MemStore, Querier, METRIC_NAME};

    fn run(body: &str, chunk: usize, max_chunk: usize, store: &MemStore) -> Result<ImportStats, ImportError> {
        let format = detect_format(body.as_bytes(), body.as_bytes());
        import_chunked(body.as_bytes(), format, "x.om", store, &mut |_| {}, chunk, max_chunk)
    }

    #[test]
    fn imports_with_timestamps_and_counts_missing_ones() {
        let store = MemStore::new();
        let body = "# TYPE m gauge\nm{a=\"1\"} 1 10\nm{a=\"2\"} 5 10\nm{a=\"1\"} 2 20\nm{a=\"3\"} 7\n# EOF\n";
        let stats = run(body, CHUNK_BYTES, MAX_CHUNK_BYTES, &store).unwrap();
        assert_eq!((stats.series, stats.samples, stats.rejected, stats.without_timestamp), (2, 3, 0, 1));
        assert_eq!((stats.min_time, stats.max_time), (Some(10_000), Some(20_000)));
        let got = store.select(&[Matcher::equal("a", "1")], 0, 30_000).unwrap();
        assert_eq!(got[0].samples.len(), 2);
    }

    #[test]
    fn text_format_timestamps_are_milliseconds() {
        let store = MemStore::new();
        let stats = run("# TYPE m gauge\nm 1 1500\n", CHUNK_BYTES, MAX_CHUNK_BYTES, &store).unwrap();
        assert_eq!(stats.min_time, Some(1500));
    }

    #[test]
    fn bad_lines_are_reported_by_number_and_the_rest_imported() {
        let store = MemStore::new();
        let body = "# TYPE m gauge\nm 1 10\nm{ 2 20\nm 3 30\nm 4 forty\nm 5 50\n# EOF\n";
        let stats = run(body, CHUNK_BYTES, MAX_CHUNK_BYTES, &store).unwrap();
        assert_eq!(stats.bad_lines.iter().map(|b| b.0).collect::<Vec<_>>(), [3, 5], "{:?}", stats.bad_lines);
        assert_eq!(stats.samples, 3);
        let got = store.select(&[Matcher::equal(METRIC_NAME, "m")], 0, 60_000).unwrap();
        assert_eq!(got[0].samples.iter().map(|s| s.v).collect::<Vec<_>>(), [1.0, 3.0, 5.0]);
    }

    #[test]
    fn chunks_cut_at_families_and_inside_big_ones_give_the_same_result() {
        let mut body = String::new();
        for f in 0..5 {
            body.push_str(&format!("# HELP c{f} A counter.\n# TYPE c{f} counter\n"));
            for t in 1..=40 {
                body.push_str(&format!("c{f}_total{{i=\"{}\"}} {t} {t}\n", t % 3));
                body.push_str(&format!("c{f}_created{{i=\"{}\"}} 0.5 {t}\n", t % 3));
            }
        }
        body.push_str("# EOF\n");
        let whole = MemStore::new();
        let a = run(&body, CHUNK_BYTES, MAX_CHUNK_BYTES, &whole).unwrap();
        let tiny = MemStore::new();
        let mut ticks = 0;
        let format = detect_format(body.as_bytes(), body.as_bytes());
        let b = import_chunked(body.as_bytes(), format, "x.om", &tiny, &mut |_| ticks += 1, 64, 256).unwrap();
        assert!(ticks > 10, "cut into many chunks: {ticks}");
        assert_eq!(a, b);
        assert_eq!(a.samples, 5 * 40, "_created lines are consumed, not stored");
        assert!(a.bad_lines.is_empty());
        let all = [Matcher::new(crate::tsdb::MatchKind::Regex, METRIC_NAME, ".+").unwrap()];
        assert_eq!(whole.select(&all, 0, 100_000).unwrap(), tiny.select(&all, 0, 100_000).unwrap());
    }

    #[test]
    fn promtool_dump_lines_import_like_the_text_format() {
        assert_eq!(dump_line_to_text(r#"{__name__="up", job="a,b}"} 1 1500"#), r#"up{job="a,b}"} 1 1500"#);
        assert_eq!(dump_line_to_text(r#"{Zone="x", __name__="m"} 2 10"#), r#"m{Zone="x"} 2 10"#);
        assert_eq!(dump_line_to_text(r#"{__name__="m"} 2 10"#), "m 2 10");
        assert_eq!(dump_line_to_text(r#"{job="no name"} 2 10"#), r#"{job="no name"} 2 10"#);

        let store = MemStore::new();
        let body = "{__name__=\"m\", i=\"1\"} 1 1000\n{__name__=\"m\", i=\"1\"} 2 2000\n{__name__=\"n\"} 5 1000\n";
        let stats = run(body, CHUNK_BYTES, MAX_CHUNK_BYTES, &store).unwrap();
        assert_eq!((stats.series, stats.samples, stats.min_time), (2, 3, Some(1000)));
        assert!(stats.bad_lines.is_empty());
    }

    #[test]
    fn garbage_input_stops_with_a_clear_error() {
        let store = MemStore::new();
        let body: String = (0..MAX_BAD_LINES + 5).map(|i| format!("not a metric line {i} x y\n")).collect();
        let err = run(&body, CHUNK_BYTES, MAX_CHUNK_BYTES, &store).unwrap_err();
        assert!(err.to_string().contains("line 1:"), "{err}");
    }
}
