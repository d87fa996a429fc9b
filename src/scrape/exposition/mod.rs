//! The exposition parser: Prometheus text format 0.0.4 and OpenMetrics 1.0
//! text, accepted and rejected the way Prometheus 3.x's `model/textparse`
//! does (see `CASES.md` in the shared conformance directory).
//!
//! One hand-written pass over the bytes, with no regexes and no per-line
//! allocations beyond the label strings of each sample. A body either parses
//! completely or is rejected with the first error, which names the line and
//! what is wrong there (users see it on the targets page).
//!
//! Deliberate differences from upstream, all stricter or saner:
//! * a NUL byte at the start of a text-format line is an error (upstream
//!   silently stops reading there);
//! * duplicate label names, an empty metric name or an empty label name are
//!   parse errors (upstream fails the scrape later, at storage);
//! * in OpenMetrics only a *quoted* string followed by `,`/`}` names the
//!   metric (upstream also misreads a bare `{abc}` that way);
//! * hex floats in `le`/`quantile` values are left as written, not normalised.

mod floats;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use crate::tsdb::{Labels, METRIC_NAME};

use floats::FloatError;
pub use floats::NORMAL_NAN_BITS;

/// Which exposition grammar a body is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4 (`text/plain`).
    Text,
    /// OpenMetrics 1.0 text (`application/openmetrics-text`).
    OpenMetrics,
}

/// Picks the format from a Content-Type header (application/openmetrics-text → OpenMetrics, else Text).
pub fn format_from_content_type(ct: Option<&str>) -> Format {
    let media = ct.and_then(|ct| ct.split(';').next()).unwrap_or("").trim();
    if media.eq_ignore_ascii_case("application/openmetrics-text") {
        Format::OpenMetrics
    } else {
        Format::Text
    }
}

/// A metric family's type as declared by a `# TYPE` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    /// `counter`.
    Counter,
    /// `gauge`.
    Gauge,
    /// `histogram` (classic, with `_bucket`/`_sum`/`_count` series).
    Histogram,
    /// `gaugehistogram` (OpenMetrics only).
    GaugeHistogram,
    /// `summary`.
    Summary,
    /// `info` (OpenMetrics only).
    Info,
    /// `stateset` (OpenMetrics only).
    StateSet,
    /// `unknown` in OpenMetrics, `untyped` in the text format, or no TYPE line.
    Unknown,
}

impl MetricType {
    /// The name Prometheus's metadata API uses for the type.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
            MetricType::Unknown => "unknown",
        }
    }
}

/// What the HELP, TYPE and UNIT lines say about one metric family. Lines for
/// the same family are merged; a later line overrides an earlier one.
#[derive(Debug, Clone, PartialEq)]
pub struct Metadata {
    /// The family name as written on the metadata lines (unescaped if quoted).
    pub family: String,
    /// The declared type; `Unknown` without a TYPE line.
    pub kind: MetricType,
    /// The unescaped HELP text; empty without a HELP line.
    pub help: String,
    /// The UNIT (OpenMetrics only); empty otherwise.
    pub unit: String,
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedSample {
    /// The series' labels, including `__name__`; empty label values are dropped.
    pub labels: crate::tsdb::Labels,
    /// The value; every NaN has the bit pattern [`NORMAL_NAN_BITS`].
    pub value: f64,
    /// The explicit timestamp in milliseconds, if the line had one.
    pub timestamp_ms: Option<i64>,
}

/// Everything a body holds, in input order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exposition {
    /// Sample lines (OpenMetrics `_created` lines of counters, summaries and
    /// histograms are consumed, as Prometheus does, and not returned).
    pub samples: Vec<ParsedSample>,
    /// One entry per family that has metadata lines, in order of first mention.
    pub metadata: Vec<Metadata>,
}

/// Why a body was rejected: the 1-based line and a message meant for users.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// 1-based line number where the problem is.
    pub line: usize,
    /// What is wrong, quoting the offending line.
    pub message: String,
}

/// Identifies a sample line's series within one target's bodies: a hash of
/// the series text as written (name and label block) and of the family type
/// that decides how its labels are read (`le`/`quantile` normalisation).
pub type SeriesKey = u128;

/// The key of a label set built elsewhere (host collector, probes), so such
/// samples can go through the same [`SampleSink`] as parsed lines.
pub fn labels_key(labels: &Labels) -> SeriesKey {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for l in labels.iter() {
        h.update(l.name.as_bytes());
        h.update(&[0xff]);
        h.update(l.value.as_bytes());
        h.update(&[0xff]);
    }
    h.digest128()
}

/// Where the parser hands its samples. A sink that has seen a series before
/// takes the sample by key alone, so the parser never builds its labels; that
/// is the whole cost of a scrape of an unchanged target, as in Prometheus's
/// scrape cache.
pub trait SampleSink {
    /// A sample of the series `key`; false if the sink needs its labels, in
    /// which case [`SampleSink::sample`] follows with them.
    fn known(&mut self, key: SeriesKey, value: f64, timestamp_ms: Option<i64>) -> bool;
    /// A sample with its labels.
    fn sample(&mut self, key: SeriesKey, sample: ParsedSample);
}

/// Collecting every sample with its labels.
impl SampleSink for Vec<ParsedSample> {
    fn known(&mut self, _: SeriesKey, _: f64, _: Option<i64>) -> bool {
        false
    }
    fn sample(&mut self, _: SeriesKey, sample: ParsedSample) {
        self.push(sample);
    }
}

/// Parses a whole exposition body; any error rejects the whole body.
pub fn parse(body: &str, format: Format) -> Result<Exposition, ParseError> {
    parse_bytes(body.as_bytes(), format)
}

/// Like [`parse`] for a body that may not be valid UTF-8: invalid bytes are
/// allowed where Prometheus allows them (comments) and otherwise reported
/// where they occur.
pub fn parse_bytes(body: &[u8], format: Format) -> Result<Exposition, ParseError> {
    let mut samples = Vec::new();
    let metadata = parse_into(body, format, &mut samples)?;
    Ok(Exposition { samples, metadata })
}

/// Parses a body into `sink` and returns its metadata. On an error the sink
/// has seen the samples before it: the caller discards them.
pub fn parse_into(body: &[u8], format: Format, sink: &mut dyn SampleSink) -> Result<Vec<Metadata>, ParseError> {
    let mut p = Parser::new(body, format, sink);
    match format {
        Format::Text => p.parse_text()?,
        Format::OpenMetrics => p.parse_openmetrics()?,
    }
    Ok(p.metadata)
}

/// Byte classes, as lookup tables for the hot loops.
const fn class_table(kind: u8) -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        let letter = c.is_ascii_alphabetic() || c == b'_';
        t[i] = match kind {
            0 => letter || c == b':',                       // metric name start
            1 => letter || c == b':' || c.is_ascii_digit(), // metric name char
            2 => letter,                                    // label name start
            _ => letter || c.is_ascii_digit(),              // label name char
        };
        i += 1;
    }
    t
}
static NAME_START: [bool; 256] = class_table(0);
static NAME_CHAR: [bool; 256] = class_table(1);
static LABEL_START: [bool; 256] = class_table(2);
static LABEL_CHAR: [bool; 256] = class_table(3);

/// A name or value as it appears in the input (quotes stripped), unescaped
/// only when it is turned into a `String`.
#[derive(Clone, Copy)]
struct Piece<'a> {
    raw: &'a [u8],
    /// Where it starts, for error positions.
    at: usize,
    /// Holds a backslash, so escapes must be decoded.
    escaped: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum Keyword {
    Help,
    Type,
    Unit,
}

impl Keyword {
    fn as_str(self) -> &'static str {
        match self {
            Keyword::Help => "HELP",
            Keyword::Type => "TYPE",
            Keyword::Unit => "UNIT",
        }
    }
}

/// Which escapes a string type decodes.
#[derive(Clone, Copy, PartialEq)]
enum Escapes {
    /// `\\`, `\"`, `\n`: label values, quoted names, OpenMetrics HELP.
    Full,
    /// `\\`, `\n` only: text-format HELP.
    Help,
}

struct Parser<'a, 's> {
    b: &'a [u8],
    pos: usize,
    om: bool,
    /// The type from the most recent TYPE line; like upstream, it decides
    /// `le`/`quantile` normalisation and `_created` handling.
    mtype: MetricType,
    sink: &'s mut dyn SampleSink,
    metadata: Vec<Metadata>,
    meta_index: HashMap<String, usize>,
    /// Scratch for the current sample, reused across lines.
    name: Option<Piece<'a>>,
    labels: Vec<(Piece<'a>, Piece<'a>)>,
}

type Res<T> = Result<T, ParseError>;

impl<'a, 's> Parser<'a, 's> {
    fn new(b: &'a [u8], format: Format, sink: &'s mut dyn SampleSink) -> Self {
        Parser {
            b,
            pos: 0,
            om: format == Format::OpenMetrics,
            mtype: MetricType::Unknown,
            sink,
            metadata: Vec::new(),
            meta_index: HashMap::new(),
            name: None,
            labels: Vec::with_capacity(16),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    /// Advances over a run of bytes in `table`, returning how many.
    fn run(&mut self, table: &[bool; 256]) -> usize {
        let start = self.pos;
        while self.pos < self.b.len() && table[self.b[self.pos] as usize] {
            self.pos += 1;
        }
        self.pos - start
    }

    /// Advances over a sample value or timestamp: bytes other than the
    /// separators, newline and NUL (text format also stops at `{` and tab).
    fn value_run(&mut self) -> &'a [u8] {
        let start = self.pos;
        let om = self.om;
        while let Some(&c) = self.b.get(self.pos) {
            let stop = match c {
                b' ' | b'\n' | 0 => true,
                b'{' | b'\t' => !om,
                _ => false,
            };
            if stop {
                break;
            }
            self.pos += 1;
        }
        &self.b[start..self.pos]
    }

    /// Scans a double-quoted string starting at the current `"`. Returns
    /// `None` (position unspecified) if it is unterminated or holds a byte the
    /// grammar forbids there. A backslash escapes any byte except a newline.
    fn quoted(&mut self, allow_newline: bool, allow_nul: bool) -> Option<Piece<'a>> {
        let b = self.b;
        let start = self.pos + 1;
        let mut i = start;
        let mut escaped = false;
        while i < b.len() {
            match b[i] {
                b'"' => {
                    self.pos = i + 1;
                    return Some(Piece { raw: &b[start..i], at: start, escaped });
                }
                b'\\' => {
                    if matches!(b.get(i + 1), None | Some(b'\n')) {
                        return None;
                    }
                    escaped = true;
                    i += 2;
                }
                b'\n' if !allow_newline => return None,
                0 if !allow_nul => return None,
                _ => i += 1,
            }
        }
        None
    }

    // ----- errors -------------------------------------------------------------

    fn line_of(&self, at: usize) -> usize {
        let at = at.min(self.b.len());
        self.b[..at].iter().filter(|&&c| c == b'\n').count() + 1
    }

    /// The line holding `at`, shortened for display.
    fn excerpt(&self, at: usize) -> String {
        let at = at.min(self.b.len());
        let start = self.b[..at].iter().rposition(|&c| c == b'\n').map_or(0, |i| i + 1);
        let end = self.b[at..].iter().position(|&c| c == b'\n').map_or(self.b.len(), |i| at + i);
        const MAX: usize = 160;
        let mut s = String::from_utf8_lossy(&self.b[start..end.min(start + MAX)]).into_owned();
        if end > start + MAX {
            s.push('…');
        }
        s
    }

    /// An error whose message is used as is, plus the offending line.
    fn error(&self, at: usize, what: impl std::fmt::Display) -> ParseError {
        ParseError { line: self.line_of(at), message: format!("{what} in {:?}", self.excerpt(at)) }
    }

    /// An error that also says what was found at `at`.
    fn unexpected(&self, at: usize, expected: &str) -> ParseError {
        let found = match self.b.get(at) {
            None => "end of input".to_string(),
            Some(b'\n') => "end of line".to_string(),
            Some(0) => "a NUL byte".to_string(),
            Some(b' ') => "a space".to_string(),
            Some(b'\t') => "a tab".to_string(),
            Some(_) => {
                let rest = &self.b[at..];
                let n = rest.iter().position(|&c| matches!(c, b' ' | b'\t' | b'\n')).unwrap_or(rest.len()).min(24);
                format!("{:?}", String::from_utf8_lossy(&rest[..n]))
            }
        };
        self.error(at, format_args!("{expected}, found {found}"))
    }

    fn no_eof(&self) -> ParseError {
        ParseError { line: self.line_of(self.b.len()), message: "data does not end with # EOF".to_string() }
    }

    /// Decodes a piece into a String, reporting invalid UTF-8 as `what`.
    fn string(&self, p: Piece<'a>, esc: Escapes, what: &str) -> Res<String> {
        let s = std::str::from_utf8(p.raw).map_err(|_| self.error(p.at, format_args!("invalid UTF-8 {what}")))?;
        Ok(if p.escaped { unescape(s, esc) } else { s.to_string() })
    }

    // ----- metadata -----------------------------------------------------------

    fn metadata_entry(&mut self, family: String) -> &mut Metadata {
        let idx = match self.meta_index.get(&family) {
            Some(&i) => i,
            None => {
                let i = self.metadata.len();
                self.meta_index.insert(family.clone(), i);
                self.metadata.push(Metadata {
                    family,
                    kind: MetricType::Unknown,
                    help: String::new(),
                    unit: String::new(),
                });
                i
            }
        };
        &mut self.metadata[idx]
    }

    /// Reads the family name after `# HELP ` etc.: a legacy name or a quoted one.
    fn meta_name(&mut self, kw: Keyword) -> Res<String> {
        let at = self.pos;
        let piece = match self.peek() {
            Some(c) if NAME_START[c as usize] => {
                self.run(&NAME_CHAR);
                Piece { raw: &self.b[at..self.pos], at, escaped: false }
            }
            Some(b'"') => {
                self.quoted(true, false).ok_or_else(|| self.unexpected(at, "unterminated quoted metric name"))?
            }
            _ => return Err(self.unexpected(at, &format!("expected metric name after {}", kw.as_str()))),
        };
        self.string(piece, Escapes::Full, "in metric name")
    }

    /// Records one HELP/TYPE/UNIT line whose name and raw text are known.
    fn metadata(&mut self, kw: Keyword, family: String, text: &'a [u8], text_at: usize) -> Res<()> {
        match kw {
            Keyword::Type => {
                let kind = match (text, self.om) {
                    (b"counter", _) => MetricType::Counter,
                    (b"gauge", _) => MetricType::Gauge,
                    (b"histogram", _) => MetricType::Histogram,
                    (b"summary", _) => MetricType::Summary,
                    (b"untyped", false) | (b"unknown", true) => MetricType::Unknown,
                    (b"gaugehistogram", true) => MetricType::GaugeHistogram,
                    (b"info", true) => MetricType::Info,
                    (b"stateset", true) => MetricType::StateSet,
                    _ => {
                        let allowed = if self.om {
                            "counter, gauge, histogram, gaugehistogram, summary, info, stateset or unknown"
                        } else {
                            "counter, gauge, histogram, summary or untyped"
                        };
                        return Err(self.error(
                            text_at,
                            format_args!(
                                "invalid metric type {:?} (expected {allowed})",
                                String::from_utf8_lossy(text)
                            ),
                        ));
                    }
                };
                self.mtype = kind;
                self.metadata_entry(family).kind = kind;
            }
            Keyword::Help => {
                let esc = if self.om { Escapes::Full } else { Escapes::Help };
                let piece = Piece { raw: text, at: text_at, escaped: text.contains(&b'\\') };
                let help = self.string(piece, esc, "in HELP text")?;
                self.metadata_entry(family).help = help;
            }
            Keyword::Unit => {
                let unit = self.string(Piece { raw: text, at: text_at, escaped: false }, Escapes::Full, "in UNIT")?;
                if !unit.is_empty() {
                    let ok = family.len() > unit.len()
                        && family.ends_with(unit.as_str())
                        && family.as_bytes()[family.len() - unit.len() - 1] == b'_';
                    if !ok {
                        return Err(self.error(
                            text_at,
                            format_args!(
                                "unit {unit:?} is not a suffix of metric {family:?} (the name must end in \"_{unit}\")"
                            ),
                        ));
                    }
                }
                self.metadata_entry(family).unit = unit;
            }
        }
        Ok(())
    }

    // ----- samples ------------------------------------------------------------

    /// Hands the scratch name and labels, the series text `line_at..series_end`, to the sink.
    fn emit(&mut self, line_at: usize, series_end: usize, value: f64, timestamp_ms: Option<i64>) -> Res<()> {
        let Some(name_piece) = self.name else {
            return Err(self.error(line_at, "metric name not set"));
        };
        // Prometheus consumes these as start timestamps of the family's other
        // series; they are not samples of their own.
        if self.om && matches!(self.mtype, MetricType::Counter | MetricType::Summary | MetricType::Histogram) {
            let created = if name_piece.escaped {
                self.string(name_piece, Escapes::Full, "in metric name")?.ends_with("_created")
            } else {
                name_piece.raw.ends_with(b"_created")
            };
            if created {
                return Ok(());
            }
        }
        let key = xxhash_rust::xxh3::xxh3_128_with_seed(&self.b[line_at..series_end], self.mtype as u64);
        if self.sink.known(key, value, timestamp_ms) {
            return Ok(());
        }
        let labels = self.labels_of_line(line_at, name_piece)?;
        self.sink.sample(key, ParsedSample { labels, value, timestamp_ms });
        Ok(())
    }

    /// The label set of the current line, from the scratch name and labels.
    fn labels_of_line(&self, line_at: usize, name_piece: Piece<'a>) -> Res<Labels> {
        let name = self.string(name_piece, Escapes::Full, "in metric name")?;
        if name.is_empty() {
            return Err(self.error(line_at, "metric name is empty"));
        }
        let normalise = match self.mtype {
            MetricType::Histogram => Some("le"),
            MetricType::Summary => Some("quantile"),
            _ => None,
        };
        let mut pairs: Vec<(String, String)> = Vec::with_capacity(self.labels.len() + 1);
        pairs.push((METRIC_NAME.to_string(), name));
        for &(n, v) in &self.labels {
            let lname = self.string(n, Escapes::Full, "in label name")?;
            if lname.is_empty() {
                return Err(self.error(n.at, "label name is empty"));
            }
            if pairs.iter().any(|(existing, _)| *existing == lname) {
                return Err(self.error(n.at, format_args!("label name {lname:?} is not unique")));
            }
            let mut lvalue = self.string(v, Escapes::Full, "label value")?;
            if normalise == Some(lname.as_str()) {
                if let Some(f) = floats::parse_go_float(lvalue.as_bytes()) {
                    lvalue = floats::format_openmetrics_float(f);
                }
            }
            pairs.push((lname, lvalue));
        }
        Ok(Labels::from_pairs(pairs))
    }

    fn sample_value(&self, raw: &[u8], at: usize, what: &str) -> Res<f64> {
        floats::parse_value(raw).map_err(|e| self.float_error(e, raw, at, what))
    }

    fn float_error(&self, e: FloatError, raw: &[u8], at: usize, what: &str) -> ParseError {
        let raw = String::from_utf8_lossy(raw);
        let why = match e {
            FloatError::Unsupported => "unsupported character in float (no digit separators or hex floats)",
            FloatError::Syntax => "not a number",
            FloatError::Range => "out of range for a 64-bit float",
        };
        // A common cause worth naming: Prometheus does not accept CRLF line ends.
        let hint = if raw.contains('\r') { " (Windows line endings are not allowed)" } else { "" };
        self.error(at, format_args!("invalid {what} {raw:?}: {why}{hint}"))
    }

    // ----- Prometheus text format 0.0.4 ------------------------------------------

    fn parse_text(&mut self) -> Res<()> {
        loop {
            self.skip_ws();
            let Some(c) = self.peek() else { return Ok(()) };
            match c {
                b'\n' => self.pos += 1,
                b'#' => self.text_comment()?,
                b'{' => self.text_series()?,
                c if NAME_START[c as usize] => self.text_series()?,
                _ => return Err(self.unexpected(self.pos, "expected a metric name, '{' or '#' at the start of a line")),
            }
        }
    }

    /// Moves past the end of the current line.
    fn next_line(&mut self) {
        match self.b[self.pos..].iter().position(|&c| c == b'\n') {
            Some(i) => self.pos += i + 1,
            None => self.pos = self.b.len(),
        }
    }

    fn text_comment(&mut self) -> Res<()> {
        self.pos += 1; // '#'
        let ws_start = self.pos;
        self.skip_ws();
        if self.pos > ws_start {
            let rest = &self.b[self.pos..];
            let kw = if rest.starts_with(b"HELP") {
                Some(Keyword::Help)
            } else if rest.starts_with(b"TYPE") {
                Some(Keyword::Type)
            } else {
                None
            };
            if let Some(kw) = kw {
                if matches!(rest.get(4), Some(b' ' | b'\t')) {
                    self.pos += 4;
                    self.skip_ws();
                    return self.text_meta(kw);
                }
            }
        }
        // Any other line starting with '#' is a free comment.
        self.next_line();
        Ok(())
    }

    fn text_meta(&mut self, kw: Keyword) -> Res<()> {
        let family = self.meta_name(kw)?;
        let eol = self.b[self.pos..].iter().position(|&c| c == b'\n').map_or(self.b.len(), |i| self.pos + i);
        let rest = &self.b[self.pos..eol];
        // Like upstream's lexer: the first byte after the name is dropped (it is
        // normally the separating space) unless the rest is only blanks.
        let (text, text_at) =
            if rest.iter().all(|&c| c == b' ' || c == b'\t') { (&rest[..0], eol) } else { (&rest[1..], self.pos + 1) };
        self.pos = (eol + 1).min(self.b.len());
        self.metadata(kw, family, text, text_at)
    }

    fn text_series(&mut self) -> Res<()> {
        let line_at = self.pos;
        self.labels.clear();
        self.name = None;
        if self.peek().is_some_and(|c| NAME_START[c as usize]) {
            self.run(&NAME_CHAR);
            self.name = Some(Piece { raw: &self.b[line_at..self.pos], at: line_at, escaped: false });
            self.skip_ws();
        }
        if self.peek() == Some(b'{') {
            self.pos += 1;
            self.text_labels()?;
            self.skip_ws();
        }
        if self.name.is_none() {
            return Err(self.error(line_at, "metric name not set"));
        }
        let value_at = self.pos;
        let raw = self.value_run();
        if raw.is_empty() {
            return Err(self.unexpected(value_at, "expected value after metric"));
        }
        let value = self.sample_value(raw, value_at, "value")?;
        self.skip_ws();
        let timestamp = match self.peek() {
            None | Some(b'\n') => None,
            Some(c) if c.is_ascii_digit() => {
                let ts_at = self.pos;
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.pos += 1;
                }
                let digits = &self.b[ts_at..self.pos];
                // ASCII digits only, so from_utf8 cannot fail; parse fails on overflow.
                let ts = std::str::from_utf8(digits).ok().and_then(|s| s.parse::<i64>().ok()).ok_or_else(|| {
                    self.error(ts_at, format_args!("timestamp {:?} is out of range", String::from_utf8_lossy(digits)))
                })?;
                self.skip_ws();
                if !matches!(self.peek(), None | Some(b'\n')) {
                    return Err(self.unexpected(self.pos, "expected end of line after timestamp"));
                }
                Some(ts)
            }
            Some(_) => {
                return Err(
                    self.unexpected(self.pos, "expected timestamp (integer milliseconds) or end of line after value")
                )
            }
        };
        if self.peek() == Some(b'\n') {
            self.pos += 1;
        }
        self.emit(line_at, value_at, value, timestamp)
    }

    fn text_labels(&mut self) -> Res<()> {
        loop {
            self.skip_ws();
            let at = self.pos;
            let (piece, quoted) = match self.peek() {
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(c) if LABEL_START[c as usize] => {
                    self.run(&LABEL_CHAR);
                    (Piece { raw: &self.b[at..self.pos], at, escaped: false }, false)
                }
                Some(b'"') => match self.quoted(true, false) {
                    Some(p) => (p, true),
                    None => return Err(self.unexpected(at, "expected label name (unterminated quoted string)")),
                },
                _ => return Err(self.unexpected(at, "expected label name")),
            };
            self.skip_ws();
            if quoted && matches!(self.peek(), Some(b',' | b'}')) {
                if self.name.is_some() {
                    return Err(self.error(at, "metric name already set"));
                }
                self.name = Some(piece);
                if self.peek() == Some(b',') {
                    self.pos += 1;
                }
                continue;
            }
            if self.peek() != Some(b'=') {
                return Err(self.unexpected(self.pos, "expected '=' after label name"));
            }
            self.pos += 1;
            self.skip_ws();
            let value_at = self.pos;
            if self.peek() != Some(b'"') {
                return Err(self.unexpected(value_at, "expected label value (a double-quoted string)"));
            }
            let Some(value) = self.quoted(true, true) else {
                return Err(self.unexpected(value_at, "expected label value: unterminated quoted string"));
            };
            self.labels.push((piece, value));
            self.skip_ws();
            if self.peek() == Some(b',') {
                self.pos += 1;
            }
        }
    }

    // ----- OpenMetrics 1.0 ------------------------------------------------------

    fn parse_openmetrics(&mut self) -> Res<()> {
        loop {
            let Some(c) = self.peek() else { return Err(self.no_eof()) };
            match c {
                b'#' => {
                    if self.om_hash_line()? {
                        return Ok(());
                    }
                }
                b'{' => self.om_series()?,
                c if NAME_START[c as usize] => self.om_series()?,
                _ => return Err(self.unexpected(self.pos, "expected a metric name, '{' or '#' at the start of a line")),
            }
        }
    }

    /// Handles a line starting with '#'; returns true on `# EOF`.
    fn om_hash_line(&mut self) -> Res<bool> {
        let at = self.pos;
        let rest = &self.b[at..];
        let kw = if rest.starts_with(b"# HELP ") {
            Keyword::Help
        } else if rest.starts_with(b"# TYPE ") {
            Keyword::Type
        } else if rest.starts_with(b"# UNIT ") {
            Keyword::Unit
        } else if rest.starts_with(b"# EOF") {
            self.pos += 5;
            if self.peek() == Some(b'\n') {
                self.pos += 1;
            }
            if self.pos != self.b.len() {
                return Err(self.error(self.pos, "unexpected data after # EOF"));
            }
            return Ok(true);
        } else {
            return Err(self.error(
                at,
                "expected \"# HELP \", \"# TYPE \", \"# UNIT \" or \"# EOF\" (OpenMetrics has no free comments)",
            ));
        };
        self.pos += 7;
        let family = self.meta_name(kw)?;
        let text_at = self.pos + 1;
        let eol = self.b[self.pos..].iter().position(|&c| c == b'\n').map(|i| self.pos + i);
        let eol = match (self.peek(), eol) {
            (Some(b' '), Some(eol)) => eol,
            (Some(b' '), None) => return Err(self.no_eof()),
            _ => return Err(self.unexpected(self.pos, &format!("expected a space and text in {}", kw.as_str()))),
        };
        let text = &self.b[text_at..eol];
        self.pos = eol + 1;
        self.metadata(kw, family, text, text_at)?;
        Ok(false)
    }

    fn om_series(&mut self) -> Res<()> {
        let line_at = self.pos;
        self.labels.clear();
        self.name = None;
        if self.peek().is_some_and(|c| NAME_START[c as usize]) {
            self.run(&NAME_CHAR);
            self.name = Some(Piece { raw: &self.b[line_at..self.pos], at: line_at, escaped: false });
        }
        if self.peek() == Some(b'{') {
            self.pos += 1;
            self.om_labels(false)?;
        }
        if self.name.is_none() {
            return Err(self.error(line_at, "metric name not set"));
        }
        let series_end = self.pos;
        let value = self.om_spaced_value("expected a single space and the value after metric", "value")?;
        let mut timestamp = None;
        match self.peek() {
            None => return Err(self.no_eof()),
            Some(b'\n') => self.pos += 1,
            Some(b' ') if self.at_exemplar() => self.om_exemplar()?,
            Some(b' ') => {
                let ts_at = self.pos + 1;
                let secs = self.om_spaced_value("expected timestamp or exemplar", "timestamp")?;
                timestamp = Some(self.om_timestamp(secs, ts_at, "timestamp")?);
                match self.peek() {
                    None => return Err(self.no_eof()),
                    Some(b'\n') => self.pos += 1,
                    Some(b' ') if self.at_exemplar() => self.om_exemplar()?,
                    _ => return Err(self.unexpected(self.pos, "expected end of line or exemplar after timestamp")),
                }
            }
            Some(_) => return Err(self.unexpected(self.pos, "expected timestamp, exemplar or end of line after value")),
        }
        self.emit(line_at, series_end, value, timestamp)
    }

    /// Reads ` <number>`: exactly one space, then a float.
    fn om_spaced_value(&mut self, expected: &str, what: &str) -> Res<f64> {
        if self.peek() != Some(b' ') {
            return Err(self.unexpected(self.pos, expected));
        }
        self.pos += 1;
        let at = self.pos;
        let raw = self.value_run();
        if raw.is_empty() {
            return Err(self.unexpected(at, expected));
        }
        self.sample_value(raw, at, what)
    }

    /// Float seconds to integer milliseconds, truncating like Go's `int64(ts*1000)`.
    fn om_timestamp(&self, secs: f64, at: usize, what: &str) -> Res<i64> {
        if !secs.is_finite() {
            return Err(self.error(at, format_args!("invalid {what} {secs}")));
        }
        let ms = secs * 1000.0;
        // i64::MIN is exactly representable; i64::MAX is not, so compare with 2^63.
        if !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&ms) {
            return Err(self.error(at, format_args!("{what} {secs} is out of range")));
        }
        Ok(ms as i64)
    }

    fn at_exemplar(&self) -> bool {
        self.b[self.pos..].starts_with(b" # {")
    }

    /// Validates ` # {labels} value [timestamp]` and the line end; exemplars
    /// are not stored.
    fn om_exemplar(&mut self) -> Res<()> {
        self.pos += 4;
        self.om_labels(true)?;
        self.om_spaced_value("expected a single space and the value after exemplar labels", "exemplar value")?;
        match self.peek() {
            None => return Err(self.no_eof()),
            Some(b'\n') => {}
            Some(b' ') => {
                let at = self.pos + 1;
                let secs = self.om_spaced_value("expected exemplar timestamp", "exemplar timestamp")?;
                self.om_timestamp(secs, at, "exemplar timestamp")?;
                match self.peek() {
                    None => return Err(self.no_eof()),
                    Some(b'\n') => {}
                    _ => return Err(self.unexpected(self.pos, "expected end of line after exemplar timestamp")),
                }
            }
            _ => return Err(self.unexpected(self.pos, "expected exemplar timestamp or end of line")),
        }
        self.pos += 1;
        Ok(())
    }

    /// Labels inside `{}` with no whitespace allowed; the opening brace is
    /// already consumed. Exemplar labels are checked but not kept.
    fn om_labels(&mut self, exemplar: bool) -> Res<()> {
        loop {
            let at = self.pos;
            let (piece, quoted) = match self.peek() {
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(c) if LABEL_START[c as usize] => {
                    self.run(&LABEL_CHAR);
                    (Piece { raw: &self.b[at..self.pos], at, escaped: false }, false)
                }
                // Exemplar label names, like label values, may not span lines.
                Some(b'"') => match self.quoted(!exemplar, false) {
                    Some(p) => (p, true),
                    None => return Err(self.unexpected(at, "expected label name (unterminated quoted string)")),
                },
                _ => return Err(self.unexpected(at, "expected label name")),
            };
            if quoted && matches!(self.peek(), Some(b',' | b'}')) {
                if exemplar {
                    return Err(self.unexpected(self.pos, "expected '=' after exemplar label name"));
                }
                if self.name.is_some() {
                    return Err(self.error(at, "metric name already set"));
                }
                self.name = Some(piece);
                if self.peek() == Some(b',') {
                    self.pos += 1;
                }
                continue;
            }
            if self.peek() != Some(b'=') {
                return Err(self.unexpected(self.pos, "expected '=' after label name"));
            }
            self.pos += 1;
            let value_at = self.pos;
            if self.peek() != Some(b'"') {
                return Err(self.unexpected(value_at, "expected label value (a double-quoted string)"));
            }
            let Some(value) = self.quoted(false, !exemplar) else {
                return Err(self.unexpected(value_at, "expected label value: unterminated or malformed quoted string"));
            };
            if exemplar {
                if std::str::from_utf8(value.raw).is_err() {
                    return Err(self.error(value.at, "invalid UTF-8 exemplar label value"));
                }
            } else {
                self.labels.push((piece, value));
            }
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {}
                _ => return Err(self.unexpected(self.pos, "expected ',' or '}' after label value")),
            }
        }
    }
}

/// Decodes backslash escapes left to right; unknown sequences stay as written.
fn unescape(s: &str, esc: Escapes) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.peek() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if esc == Escapes::Full => out.push('"'),
            _ => {
                out.push('\\');
                continue;
            }
        }
        chars.next();
    }
    out
}
