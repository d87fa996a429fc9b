//! Prometheus text exposition (format 0.0.4) of collected families.

use std::fmt::Write;

use super::Family;

/// Renders families in the Prometheus text format, `# HELP` and `# TYPE`
/// before each family's samples. Meant for debugging and tests.
pub fn render_text(families: &[Family]) -> String {
    let mut out = String::new();
    for f in families {
        out.push_str("# HELP ");
        out.push_str(&f.name);
        out.push(' ');
        escape_into(&mut out, &f.help, false);
        out.push('\n');
        let _ = writeln!(out, "# TYPE {} {}", f.name, f.kind.as_str());
        for (labels, v) in &f.samples {
            out.push_str(&f.name);
            if !labels.is_empty() {
                out.push('{');
                for (i, l) in labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&l.name);
                    out.push_str("=\"");
                    escape_into(&mut out, &l.value, true);
                    out.push('"');
                }
                out.push('}');
            }
            out.push(' ');
            format_value(&mut out, *v);
            out.push('\n');
        }
    }
    out
}

/// Backslash and newline are escaped everywhere; double quotes only in label values.
fn escape_into(out: &mut String, s: &str, quote: bool) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

fn format_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v == f64::INFINITY {
        out.push_str("+Inf");
    } else if v == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else {
        // Rust's shortest round-trip form, which every Prometheus parser accepts.
        let _ = write!(out, "{v}");
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Family, FamilyKind};
    use super::*;

    #[test]
    fn renders_help_type_labels_and_escapes() {
        let mut f = Family::new("node_x", "Help with \\ and\nnewline.", FamilyKind::Gauge);
        f.push([("b", "q\"uote"), ("a", "back\\slash\nnl")], 1.5);
        let c = Family::single("node_c_total", "A counter.", FamilyKind::Counter, f64::INFINITY);
        let u = Family::single("node_u", "Untyped.", FamilyKind::Untyped, f64::NAN);
        let text = render_text(&[f, c, u]);
        assert_eq!(
            text,
            "# HELP node_x Help with \\\\ and\\nnewline.\n# TYPE node_x gauge\n\
             node_x{a=\"back\\\\slash\\nnl\",b=\"q\\\"uote\"} 1.5\n\
             # HELP node_c_total A counter.\n# TYPE node_c_total counter\nnode_c_total +Inf\n\
             # HELP node_u Untyped.\n# TYPE node_u untyped\nnode_u NaN\n"
        );
    }

    #[test]
    fn large_integers_round_trip() {
        let f = Family::single("node_big", "h", FamilyKind::Gauge, 270553174016.0);
        let text = render_text(&[f]);
        let v: f64 = text.lines().last().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).unwrap_or(0.0);
        assert_eq!(v, 270553174016.0);
    }
}
