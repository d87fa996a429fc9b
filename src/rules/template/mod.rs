//! A hand-written subset of Go's `text/template`, with the functions
//! Prometheus gives alert templates (`humanize`, `query`, `reReplaceAll`, ...).
//!
//! Rules expand labels and annotations with [`expand_alert_template`]; the
//! notify module can use [`Template`] and [`FuncMap`] directly.

mod exec;
mod funcs;
pub mod gofmt;
mod parse;

pub use funcs::{humanize, humanize_1024, humanize_duration, humanize_percentage, humanize_timestamp, QueryFn};

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

/// A template parse or execution error, worded like Go's.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(pub String);

/// A value a template works on.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Go's nil; prints as `<no value>`.
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// A `map[string]string` (labels): a missing key reads as "".
    StrMap(BTreeMap<String, String>),
    /// A struct or `map[string]interface{}`: a missing key is an error.
    Map(BTreeMap<String, Value>),
    List(Vec<Value>),
}

impl Value {
    /// Go's truthiness: zero values and empty collections are false.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::StrMap(m) => !m.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::List(l) => !l.is_empty(),
        }
    }

    /// The Go type name, for error messages.
    pub fn go_type(&self) -> &'static str {
        match self {
            Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::StrMap(_) => "map[string]string",
            Value::Map(_) => "map[string]interface {}",
            Value::List(_) => "[]interface {}",
        }
    }

    /// A labels value from pairs.
    pub fn labels<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Value {
        Value::StrMap(pairs.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => f.write_str("<no value>"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(v) => f.write_str(&gofmt::fmt_g(*v, None)),
            Value::Str(s) => f.write_str(s),
            Value::StrMap(m) => {
                f.write_str("map[")?;
                let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}:{v}")).collect();
                f.write_str(&parts.join(" "))?;
                f.write_str("]")
            }
            Value::Map(m) => {
                f.write_str("map[")?;
                let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}:{v}")).collect();
                f.write_str(&parts.join(" "))?;
                f.write_str("]")
            }
            Value::List(l) => {
                f.write_str("[")?;
                let parts: Vec<String> = l.iter().map(|v| v.to_string()).collect();
                f.write_str(&parts.join(" "))?;
                f.write_str("]")
            }
        }
    }
}

/// A template function: arguments in, value or error message out.
pub type Func = Arc<dyn Fn(&[Value]) -> Result<Value, String> + Send + Sync>;

/// The functions a template may call, by name.
#[derive(Clone)]
pub struct FuncMap(pub HashMap<String, Func>);

impl FuncMap {
    /// Go's built-in template functions (`and`, `or`, `not`, `eq`, `len`,
    /// `index`, `print`, `printf`, ...).
    pub fn builtins() -> Self {
        FuncMap(funcs::builtins())
    }

    /// The builtins plus Prometheus's template functions. `query` runs
    /// PromQL at the evaluation time; without it, `query` fails when called.
    pub fn prometheus(query: Option<QueryFn>, external_url: &str) -> Self {
        let mut m = funcs::builtins();
        m.extend(funcs::prometheus(query, external_url));
        FuncMap(m)
    }

    /// Adds or replaces one function.
    pub fn insert(&mut self, name: &str, f: Func) {
        self.0.insert(name.to_string(), f);
    }
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    name: String,
    root: Vec<parse::Node>,
    defines: HashMap<String, Vec<parse::Node>>,
}

impl Template {
    /// Parses `text`; every function used must be in `funcs` and every
    /// variable declared, as Go checks at parse time.
    pub fn parse(name: &str, text: &str, funcs: &FuncMap) -> Result<Template, TemplateError> {
        let names = funcs.0.keys().cloned().collect();
        let (root, defines) = parse::parse(name, text, &names)?;
        Ok(Template { name: name.to_string(), root, defines })
    }

    /// Adds the `define`d templates of `other` (later definitions win).
    pub fn add_defines(&mut self, other: &Template) {
        for (k, v) in &other.defines {
            self.defines.insert(k.clone(), v.clone());
        }
    }

    /// Runs the template with `dot` as data.
    pub fn execute(&self, dot: &Value, funcs: &FuncMap) -> Result<String, TemplateError> {
        exec::execute(&self.name, &self.root, &self.defines, dot, funcs)
    }

    /// Runs one `define`d template by name.
    pub fn execute_named(&self, name: &str, dot: &Value, funcs: &FuncMap) -> Result<String, TemplateError> {
        let body = self.defines.get(name).ok_or_else(|| {
            TemplateError(format!("template: no template {name:?} associated with template {:?}", self.name))
        })?;
        exec::execute(&self.name, body, &self.defines, dot, funcs)
    }
}

/// What Prometheus puts in front of every alert label/annotation template.
const ALERT_PREFIX: &str =
    "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

/// Data of an alert template.
pub struct AlertData<'a> {
    pub labels: &'a crate::tsdb::Labels,
    pub external_labels: &'a crate::tsdb::Labels,
    pub external_url: &'a str,
    pub value: f64,
}

fn labels_value(l: &crate::tsdb::Labels) -> Value {
    Value::StrMap(l.iter().map(|l| (l.name.clone(), l.value.clone())).collect())
}

/// Parses an alert label/annotation template the way `promtool check rules`
/// does (with `$labels`, `$value`, `$externalLabels`, `$externalURL` defined).
pub fn check_alert_template(name: &str, text: &str) -> Result<(), TemplateError> {
    let funcs = FuncMap::prometheus(None, "");
    Template::parse(name, &format!("{ALERT_PREFIX}{text}"), &funcs).map(|_| ())
}

/// Expands one alert label/annotation template as Prometheus does. Prometheus
/// keeps the error text as the value when expansion fails; callers decide.
pub fn expand_alert_template(
    name: &str,
    text: &str,
    data: &AlertData<'_>,
    funcs: &FuncMap,
) -> Result<String, TemplateError> {
    // Prometheus skips the template engine for text without actions.
    if !text.contains("{{") {
        return Ok(text.to_string());
    }
    let t = Template::parse(name, &format!("{ALERT_PREFIX}{text}"), funcs)?;
    let mut dot = BTreeMap::new();
    dot.insert("Labels".to_string(), labels_value(data.labels));
    dot.insert("ExternalLabels".to_string(), labels_value(data.external_labels));
    dot.insert("ExternalURL".to_string(), Value::Str(data.external_url.to_string()));
    dot.insert("Value".to_string(), Value::Float(data.value));
    t.execute(&Value::Map(dot), funcs)
}

#[cfg(test)]
mod tests;
