//! The time picker's state as it lives in the URL: `from`/`to` (Grafana's
//! spelling: `now-6h`, `now`, epoch milliseconds or an ISO date and time,
//! UTC) and `refresh` (`off`, `30s`, ...). The old `range=1h` still works.

use super::params::Params;
use crate::dashboards::{format_duration, parse_duration};

/// The relative ranges offered as one-click choices.
pub const PRESETS: [&str; 10] = ["5m", "15m", "1h", "3h", "6h", "12h", "24h", "2d", "7d", "30d"];
/// The auto-refresh choices.
pub const REFRESH: [&str; 7] = ["off", "5s", "10s", "30s", "1m", "5m", "15m"];
/// Longest range a page draws, so a typo cannot ask for a century of data.
const MAX_SPAN_MS: i64 = 400 * 86_400_000;

/// A resolved time selection.
#[derive(Clone, Debug, PartialEq)]
pub struct TimeSel {
    /// `from` as written in the URL.
    pub from: String,
    /// `to` as written in the URL.
    pub to: String,
    /// Start, ms since the epoch.
    pub start: i64,
    /// End, ms since the epoch.
    pub end: i64,
    /// Auto-refresh interval in ms; 0 is off.
    pub refresh_ms: i64,
    /// What was wrong with the asked-for range (the default was used instead).
    pub error: String,
}

/// Parses one end of a range: `now`, `now-6h`, `now+1h`, epoch ms, RFC 3339,
/// or `YYYY-MM-DDTHH:MM[:SS]` (UTC, what `<input type="datetime-local">` sends).
pub fn parse_point(s: &str, now: i64) -> Result<i64, String> {
    let s = s.trim();
    if let Some(rest) = s.strip_prefix("now") {
        if rest.is_empty() {
            return Ok(now);
        }
        let (sign, d) = match rest.split_at(1) {
            ("-", d) => (-1, d),
            ("+", d) => (1, d),
            _ => return Err(format!("{s:?}: expected now, now-<duration> or now+<duration>")),
        };
        return parse_duration(d).map(|ms| now + sign * ms).map_err(|e| format!("{s:?}: {e}"));
    }
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<i64>().map_err(|e| format!("{s:?}: {e}"));
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_millis());
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, fmt) {
            return Ok(t.and_utc().timestamp_millis());
        }
    }
    Err(format!("{s:?} is not a time: use now-6h, epoch milliseconds or 2026-01-31T12:00 (UTC)"))
}

/// Formats ms as `YYYY-MM-DDTHH:MM:SS` UTC, the value a datetime-local input takes.
pub fn input_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string()).unwrap_or_default()
}

impl TimeSel {
    /// The selection the URL asks for; `default_ms` is the look-back when it asks for none.
    pub fn from_params(p: &Params, default_ms: i64, now: i64) -> TimeSel {
        let default_from = format!("now-{}", format_duration(default_ms));
        let (from, to) = match (p.get("from"), p.get("to"), p.get("range")) {
            (Some(f), t, _) if !f.trim().is_empty() => (f.trim().to_string(), t.unwrap_or("now").trim().to_string()),
            (_, _, Some(r)) if !r.trim().is_empty() => (format!("now-{}", r.trim()), "now".to_string()),
            _ => (default_from.clone(), "now".to_string()),
        };
        let to = if to.is_empty() { "now".to_string() } else { to };
        let refresh_ms = p.get("refresh").filter(|r| *r != "off").and_then(|r| parse_duration(r).ok()).unwrap_or(0);
        let refresh_ms = if refresh_ms > 0 { refresh_ms.max(5_000) } else { 0 };
        let resolved =
            parse_point(&from, now).and_then(|s| parse_point(&to, now).map(|e| (s, e))).and_then(|(s, e)| {
                if s >= e {
                    Err(format!("the range must start before it ends ({from} .. {to})"))
                } else if e - s > MAX_SPAN_MS {
                    Err("the range is longer than 400 days".to_string())
                } else {
                    Ok((s, e))
                }
            });
        match resolved {
            Ok((start, end)) => TimeSel { from, to, start, end, refresh_ms, error: String::new() },
            Err(error) => {
                TimeSel { from: default_from, to: "now".into(), start: now - default_ms, end: now, refresh_ms, error }
            }
        }
    }

    /// Whether the range ends now (relative), so auto-refresh makes sense.
    pub fn is_relative(&self) -> bool {
        self.to == "now" && self.from.starts_with("now")
    }

    /// Length in ms.
    pub fn span(&self) -> i64 {
        self.end - self.start
    }

    /// A short caption: `Last 6h` or the two UTC times.
    pub fn label(&self) -> String {
        match self.from.strip_prefix("now-") {
            Some(d) if self.to == "now" => format!("Last {d}"),
            _ => format!(
                "{} to {} UTC",
                input_time(self.start).replace('T', " "),
                input_time(self.end).replace('T', " ")
            ),
        }
    }

    /// The refresh choice as written in the URL.
    pub fn refresh_name(&self) -> String {
        if self.refresh_ms == 0 {
            "off".into()
        } else {
            format_duration(self.refresh_ms)
        }
    }
}

/// A link in the picker: (text, href, current).
pub type Link = (String, String, bool);

/// Everything the picker partial draws.
#[derive(Clone, Debug, Default)]
pub struct Picker {
    /// The page path the picker's links and form go to.
    pub base: String,
    /// `Last 6h` or the absolute range.
    pub label: String,
    /// One-click relative ranges.
    pub presets: Vec<Link>,
    /// Earlier / zoom out / later.
    pub moves: Vec<Link>,
    /// Auto-refresh choices (only offered for ranges ending now).
    pub refresh: Vec<Link>,
    /// The absolute form's values.
    pub from_input: String,
    /// The absolute form's values.
    pub to_input: String,
    /// Other parameters the form carries along (variables, query, tab).
    pub hidden: Vec<(String, String)>,
    /// Auto-refresh in seconds (0 off); the script and the no-script meta refresh read it.
    pub refresh_secs: i64,
    /// What was wrong with the URL's range.
    pub error: String,
}

/// The page URL with `set` replacing those keys (an empty value removes the
/// key) and every other parameter kept.
pub fn link(base: &str, p: &Params, set: &[(&str, &str)]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in p.0.iter().filter(|(k, _)| !set.iter().any(|(s, _)| s == k)) {
        q.append_pair(k, v);
    }
    for (k, v) in set {
        if !v.is_empty() {
            q.append_pair(k, v);
        }
    }
    let q = q.finish();
    if q.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{q}")
    }
}

impl Picker {
    /// Builds the picker for a page at `base` whose parameters are `p`.
    pub fn new(base: &str, p: &Params, t: &TimeSel) -> Picker {
        let presets = PRESETS
            .iter()
            .map(|d| {
                // `range=6h` is the short form of from=now-6h&to=now.
                let current = t.to == "now" && t.from == format!("now-{d}");
                (d.to_string(), link(base, p, &[("from", ""), ("to", ""), ("range", d)]), current)
            })
            .collect();
        let span = t.span();
        let earlier = ((t.start - span / 2).to_string(), (t.end - span / 2).to_string());
        let later = ((t.start + span / 2).to_string(), (t.end + span / 2).to_string());
        let out = ((t.start - span / 2).to_string(), (t.end + span / 2).to_string());
        let mut moves = vec![
            ("← Earlier".to_string(), link(base, p, &[("range", ""), ("from", &earlier.0), ("to", &earlier.1)]), false),
            ("Zoom out".to_string(), link(base, p, &[("range", ""), ("from", &out.0), ("to", &out.1)]), false),
        ];
        if !t.is_relative() {
            moves.push((
                "Later →".to_string(),
                link(base, p, &[("range", ""), ("from", &later.0), ("to", &later.1)]),
                false,
            ));
        }
        let refresh = if t.is_relative() {
            REFRESH
                .iter()
                .map(|r| {
                    (
                        r.to_string(),
                        link(base, p, &[("refresh", if *r == "off" { "" } else { r })]),
                        *r == t.refresh_name(),
                    )
                })
                .collect()
        } else {
            Vec::new()
        };
        let hidden = p.0.iter().filter(|(k, _)| !matches!(k.as_str(), "from" | "to" | "range")).cloned().collect();
        Picker {
            base: base.to_string(),
            label: t.label(),
            presets,
            moves,
            refresh,
            from_input: input_time(t.start),
            to_input: input_time(t.end),
            hidden,
            refresh_secs: if t.is_relative() { t.refresh_ms / 1000 } else { 0 },
            error: t.error.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(q: &str) -> Params {
        Params(form_urlencoded::parse(q.as_bytes()).into_owned().collect())
    }

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn points() {
        assert_eq!(parse_point("now", NOW), Ok(NOW));
        assert_eq!(parse_point("now-6h", NOW), Ok(NOW - 21_600_000));
        assert_eq!(parse_point("now+1m", NOW), Ok(NOW + 60_000));
        assert_eq!(parse_point("1700000000000", NOW), Ok(1_700_000_000_000));
        assert_eq!(parse_point("2015-07-01T20:10:51.781Z", NOW), Ok(1_435_781_451_781));
        assert_eq!(parse_point("2015-07-01T20:10", NOW), Ok(1_435_781_400_000));
        assert!(parse_point("now*2", NOW).is_err());
        assert!(parse_point("yesterday", NOW).unwrap_err().contains("not a time"));
        assert_eq!(input_time(1_435_781_400_000), "2015-07-01T20:10:00");
    }

    #[test]
    fn selections() {
        let t = TimeSel::from_params(&params(""), 3_600_000, NOW);
        assert_eq!((t.from.as_str(), t.start, t.end), ("now-1h", NOW - 3_600_000, NOW));
        assert_eq!(t.label(), "Last 1h");
        let t = TimeSel::from_params(&params("range=6h"), 3_600_000, NOW);
        assert_eq!(t.start, NOW - 21_600_000);
        let t = TimeSel::from_params(&params("from=1000&to=61000&refresh=30s"), 3_600_000, NOW);
        assert_eq!((t.start, t.end, t.refresh_ms), (1000, 61_000, 30_000));
        assert!(!t.is_relative());
        assert_eq!(t.label(), "1970-01-01 00:00:01 to 1970-01-01 00:01:01 UTC");
        let t = TimeSel::from_params(&params("from=now&to=now-1h"), 3_600_000, NOW);
        assert!(t.error.contains("start before it ends"), "{}", t.error);
        assert_eq!(t.start, NOW - 3_600_000);
        let t = TimeSel::from_params(&params("from=garbage"), 3_600_000, NOW);
        assert!(t.error.contains("not a time"));
        let t = TimeSel::from_params(&params("refresh=1s"), 3_600_000, NOW);
        assert_eq!(t.refresh_ms, 5_000, "refresh is never faster than 5s");
    }

    #[test]
    fn picker_links_keep_other_state() {
        let p = params("var-job=node&from=now-6h&to=now&refresh=1m");
        let t = TimeSel::from_params(&p, 3_600_000, NOW);
        let pk = Picker::new("/d/host", &p, &t);
        let six = pk.presets.iter().find(|l| l.0 == "6h").unwrap();
        assert!(six.2);
        assert_eq!(six.1, "/d/host?var-job=node&refresh=1m&range=6h");
        let off = pk.refresh.iter().find(|l| l.0 == "off").unwrap();
        assert_eq!(off.1, "/d/host?var-job=node&from=now-6h&to=now");
        assert!(pk.refresh.iter().any(|l| l.0 == "1m" && l.2));
        assert_eq!(pk.refresh_secs, 60);
        assert_eq!(pk.hidden, vec![("var-job".to_string(), "node".to_string()), ("refresh".into(), "1m".into())]);
    }
}
