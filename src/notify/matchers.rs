//! Alertmanager's matcher syntax (`matchers:` in routes and inhibit rules,
//! amtool's silence and query filters): `name op value` with `=`, `!=`,
//! `=~`, `!~`, values quoted or bare, optionally wrapped in `{...}` with
//! several matchers separated by commas.

use crate::tsdb::{MatchKind, Matcher};

/// Parses one `matchers:` item (which may hold several comma-separated
/// matchers in braces).
pub fn parse_matchers(input: &str) -> Result<Vec<Matcher>, String> {
    let mut s = input.trim();
    if let Some(rest) = s.strip_prefix('{') {
        s = rest.strip_suffix('}').ok_or_else(|| format!("{input:?}: missing closing '}}'"))?.trim();
    }
    let mut out = Vec::new();
    let mut rest = s;
    while !rest.trim().is_empty() {
        let (m, after) = parse_one(rest.trim_start()).map_err(|e| format!("{input:?}: {e}"))?;
        out.push(m);
        let after = after.trim_start();
        rest = match after.strip_prefix(',') {
            Some(r) => r,
            None if after.is_empty() => after,
            None => return Err(format!("{input:?}: expected ',' or end of input before {after:?}")),
        };
    }
    Ok(out)
}

/// Parses exactly one matcher, e.g. a silence filter argument.
pub fn parse_matcher(input: &str) -> Result<Matcher, String> {
    let mut v = parse_matchers(input)?;
    match v.len() {
        1 => Ok(v.remove(0)),
        n => Err(format!("{input:?}: expected one matcher, found {n}")),
    }
}

fn parse_one(s: &str) -> Result<(Matcher, &str), String> {
    let (name, rest) = if let Some(q) = s.strip_prefix('"') {
        let (v, r) = parse_quoted(q)?;
        (v, r)
    } else {
        let end = s.find(|c: char| matches!(c, '=' | '!' | '~') || c.is_whitespace()).unwrap_or(s.len());
        (s[..end].to_string(), &s[end..])
    };
    if name.is_empty() {
        return Err("missing label name".into());
    }
    let rest = rest.trim_start();
    let (kind, rest) = if let Some(r) = rest.strip_prefix("=~") {
        (MatchKind::Regex, r)
    } else if let Some(r) = rest.strip_prefix("!~") {
        (MatchKind::NotRegex, r)
    } else if let Some(r) = rest.strip_prefix("!=") {
        (MatchKind::NotEqual, r)
    } else if let Some(r) = rest.strip_prefix('=') {
        (MatchKind::Equal, r)
    } else {
        return Err(format!("expected an operator (=, !=, =~, !~) after {name:?}"));
    };
    let rest = rest.trim_start();
    let (value, rest) = if let Some(q) = rest.strip_prefix('"') {
        parse_quoted(q)?
    } else {
        let end = rest.find(',').unwrap_or(rest.len());
        (rest[..end].trim_end().to_string(), &rest[end..])
    };
    let m = Matcher::new(kind, name, value).map_err(|e| format!("invalid regular expression: {e}"))?;
    Ok((m, rest))
}

/// Reads a double-quoted string body (after the opening quote) with Go escapes.
fn parse_quoted(s: &str) -> Result<(String, &str), String> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, &s[i + 1..])),
            '\\' => match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((_, 'r')) => out.push('\r'),
                Some((_, '\\')) => out.push('\\'),
                Some((_, '"')) => out.push('"'),
                Some((_, other)) => {
                    out.push('\\');
                    out.push(other)
                }
                None => break,
            },
            c => out.push(c),
        }
    }
    Err("unterminated quoted string".into())
}

/// The operator as Alertmanager prints it.
pub fn op_str(kind: MatchKind) -> &'static str {
    match kind {
        MatchKind::Equal => "=",
        MatchKind::NotEqual => "!=",
        MatchKind::Regex => "=~",
        MatchKind::NotRegex => "!~",
    }
}

/// `name="value"` with Go's `%q` quoting, as Alertmanager prints a matcher.
pub fn format_matcher(m: &Matcher) -> String {
    format!("{}{}{}", m.name, op_str(m.kind), go_quote(&m.value))
}

/// `{a="1",b=~"x"}`, sorted by label name, as in route keys.
pub fn format_matchers_sorted(ms: &[Matcher]) -> String {
    let mut v: Vec<&Matcher> = ms.iter().collect();
    v.sort_by(|a, b| a.name.cmp(&b.name).then(a.value.cmp(&b.value)));
    let parts: Vec<String> = v.iter().map(|m| format_matcher(m)).collect();
    format!("{{{}}}", parts.join(","))
}

/// Go's `%q` for the characters label values use.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_forms() {
        let m = parse_matchers(r#"{foo="bar", baz=~"a.*" , qux!=x,  q !~ "y\"z"}"#).unwrap();
        assert_eq!(m.len(), 4);
        assert_eq!(format_matcher(&m[0]), r#"foo="bar""#);
        assert_eq!(m[1].kind, MatchKind::Regex);
        assert!(m[1].matches("abc") && !m[1].matches("xabc"));
        assert_eq!(m[2].value, "x");
        assert_eq!(m[3].value, "y\"z");
        assert_eq!(parse_matcher("alertname=foo").unwrap().value, "foo");
    }

    #[test]
    fn rejects_bad_input() {
        assert!(parse_matchers("foo").is_err());
        assert!(parse_matchers(r#"foo="bar"#).is_err());
        assert!(parse_matchers("foo=~(").is_err());
        assert!(parse_matchers("{foo=bar").is_err());
        assert!(parse_matcher("a=1,b=2").is_err());
    }

    #[test]
    fn sorted_format() {
        let m = parse_matchers(r#"owner="team-A", level!="critical""#).unwrap();
        assert_eq!(format_matchers_sorted(&m), r#"{level!="critical",owner="team-A"}"#);
    }
}
