//! A small position-marked YAML tree, built from `saphyr-parser` events.
//!
//! serde gives us typed values but forgets where they came from; this tree
//! remembers the line of every key and item so that errors found after the
//! typed parse (a timeout above its interval, a duplicate job) can still point
//! at `file:line`. It also cuts a document into pieces that keep their
//! original line numbers, so one bad scrape job does not hide the errors of
//! the others.

use saphyr_parser::{Event, Parser, ScalarStyle};

/// One node with where it starts and ends (character offsets) and its line.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub kind: Kind,
    /// 1-based line of the node's first character.
    pub line: usize,
    /// Character offsets `[start, end)` of the node in the source.
    pub start: usize,
    pub end: usize,
}

/// What a node holds.
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    /// A scalar with its text; `null` is true for a plain `~`, `null` or nothing.
    Scalar {
        text: String,
        null: bool,
    },
    Seq(Vec<Node>),
    /// Entries in document order, each a key node and a value node.
    Map(Vec<(Node, Node)>),
    /// `*anchor`: we do not resolve aliases, serde does.
    Alias,
}

/// A syntax error with its line.
#[derive(Debug, Clone)]
pub(crate) struct SyntaxError {
    pub line: usize,
    pub message: String,
}

/// One step of a dotted key path.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// Splits `a.b[2].c` into steps. Keys may not contain `.` or `[`.
pub(crate) fn split_path(path: &str) -> Vec<Step<'_>> {
    let mut steps = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            steps.push(Step::Key(key));
        }
        while let Some(close) = rest.find(']') {
            if let Ok(i) = rest[1..close].parse() {
                steps.push(Step::Index(i));
            }
            rest = &rest[close + 1..];
        }
    }
    steps
}

impl Node {
    /// The mapping value under `key`, if this node is a mapping that has it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|(_, v)| v)
    }

    /// The key node and value node under `key`.
    pub fn entry(&self, key: &str) -> Option<(&Node, &Node)> {
        match &self.kind {
            Kind::Map(entries) => entries.iter().find(|(k, _)| k.text() == Some(key)).map(|(k, v)| (k, v)),
            _ => None,
        }
    }

    /// The scalar text, if this is a scalar.
    pub fn text(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// True for an empty or explicit null value.
    pub fn is_null(&self) -> bool {
        matches!(self.kind, Kind::Scalar { null: true, .. })
    }

    /// Sequence items (empty for anything else).
    pub fn items(&self) -> &[Node] {
        match &self.kind {
            Kind::Seq(items) => items,
            _ => &[],
        }
    }

    /// Mapping entries (empty for anything else).
    pub fn entries(&self) -> &[(Node, Node)] {
        match &self.kind {
            Kind::Map(entries) => entries,
            _ => &[],
        }
    }

    /// The node at a dotted path such as `scrape_configs[1].basic_auth`.
    pub fn find(&self, path: &str) -> Option<&Node> {
        let mut node = self;
        for step in split_path(path) {
            node = match step {
                Step::Key(k) => node.get(k)?,
                Step::Index(i) => node.items().get(i)?,
            };
        }
        Some(node)
    }

    /// The line that best matches `path`: the line of the key (for a mapping
    /// entry) or item (for a sequence element) it names, or, when the path does
    /// not exist in the file (a default), the line of its deepest existing parent.
    pub fn line_of(&self, path: &str) -> Option<usize> {
        let mut node = self;
        let mut line = None;
        for step in split_path(path) {
            match step {
                Step::Key(k) => match node.entry(k) {
                    Some((key, value)) => {
                        line = Some(key.line);
                        node = value;
                    }
                    None => break,
                },
                Step::Index(i) => match node.items().get(i) {
                    Some(item) => {
                        line = Some(item.line);
                        node = item;
                    }
                    None => break,
                },
            }
        }
        line
    }
}

/// Parses the first document of `source` into a tree. An empty document is a
/// null scalar.
pub(crate) fn parse(source: &str) -> Result<Node, SyntaxError> {
    let mut parser = Parser::new_from_str(source);
    // A stack of nodes under construction: collections and pending map keys.
    enum Frame {
        Seq(Node),
        Map(Node, Option<Node>),
    }
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<Node> = None;

    // Attaches a finished node to its parent (or makes it the root).
    fn attach(stack: &mut [Frame], root: &mut Option<Node>, node: Node) {
        match stack.last_mut() {
            Some(Frame::Seq(seq)) => {
                if let Kind::Seq(items) = &mut seq.kind {
                    items.push(node);
                }
            }
            Some(Frame::Map(map, pending)) => match pending.take() {
                None => *pending = Some(node),
                Some(key) => {
                    if let Kind::Map(entries) = &mut map.kind {
                        entries.push((key, node));
                    }
                }
            },
            None => {
                if root.is_none() {
                    *root = Some(node);
                }
            }
        }
    }

    loop {
        let (event, span) = match parser.next_event() {
            None => break,
            Some(Ok(ev)) => ev,
            Some(Err(e)) => {
                return Err(SyntaxError { line: e.marker().line(), message: e.info().to_string() });
            }
        };
        let start = span.start.index();
        let line = span.start.line();
        match event {
            Event::StreamEnd => break,
            Event::DocumentEnd => {
                if root.is_some() {
                    break;
                }
            }
            Event::Scalar(text, style, _, tag) => {
                let null = tag.is_none()
                    && matches!(style, ScalarStyle::Plain)
                    && matches!(&*text, "" | "~" | "null" | "Null" | "NULL");
                let node =
                    Node { kind: Kind::Scalar { text: text.into_owned(), null }, line, start, end: span.end.index() };
                attach(&mut stack, &mut root, node);
            }
            Event::Alias(_) => {
                let node = Node { kind: Kind::Alias, line, start, end: span.end.index() };
                attach(&mut stack, &mut root, node);
            }
            Event::SequenceStart(..) => {
                stack.push(Frame::Seq(Node { kind: Kind::Seq(Vec::new()), line, start, end: start }));
            }
            Event::MappingStart(..) => {
                stack.push(Frame::Map(Node { kind: Kind::Map(Vec::new()), line, start, end: start }, None));
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let mut node = match stack.pop() {
                    Some(Frame::Seq(n)) | Some(Frame::Map(n, _)) => n,
                    None => continue,
                };
                node.end = span.end.index().max(node.start);
                attach(&mut stack, &mut root, node);
            }
            Event::Nothing | Event::StreamStart | Event::DocumentStart(_) => {}
        }
    }
    Ok(root.unwrap_or(Node { kind: Kind::Scalar { text: String::new(), null: true }, line: 1, start: 0, end: 0 }))
}

/// A copy of `source` where every character outside the node's span is blanked
/// (newlines kept), so the node parses alone with its original line numbers.
pub(crate) fn isolate(source: &str, node: &Node) -> String {
    source
        .chars()
        .enumerate()
        .map(|(i, c)| if (node.start..node.end).contains(&i) || c == '\n' || c == '\r' { c } else { ' ' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
global:
  scrape_interval: 15s   # comment
scrape_configs:
  - job_name: a
    static_configs:
      - targets: ['x:1', \"y:2\"]
  - job_name: b
    honor_labels: yes please

  - {job_name: c, scheme: https}
";

    #[test]
    fn lines_of_keys_and_items() {
        let root = parse(DOC).expect("parses");
        assert_eq!(root.line_of("global.scrape_interval"), Some(2));
        assert_eq!(root.line_of("scrape_configs[1]"), Some(7));
        assert_eq!(root.line_of("scrape_configs[1].honor_labels"), Some(8));
        assert_eq!(root.line_of("scrape_configs[0].static_configs[0].targets[1]"), Some(6));
        assert_eq!(root.line_of("scrape_configs[2].scheme"), Some(10));
        // A path that is not in the file falls back to its deepest parent.
        assert_eq!(root.line_of("scrape_configs[1].scrape_timeout"), Some(7));
        assert_eq!(root.find("scrape_configs[2].job_name").and_then(Node::text), Some("c"));
    }

    #[test]
    fn isolated_piece_keeps_lines() {
        let root = parse(DOC).expect("parses");
        let item = root.find("scrape_configs[1]").expect("item");
        let piece = isolate(DOC, item);
        assert_eq!(piece.lines().count(), DOC.lines().count());
        let err = serde_yaml_ng::from_str::<std::collections::BTreeMap<String, bool>>(&piece).unwrap_err();
        assert_eq!(err.location().map(|l| l.line()), Some(7), "{err}");
        let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(&piece).expect("piece parses");
        assert_eq!(v.get("honor_labels").and_then(|v| v.as_str()), Some("yes please"));
        assert!(v.get("scheme").is_none());
    }

    #[test]
    fn syntax_error_has_line() {
        let err = parse("a: 1\nb: [1, 2\nc: 3\n").unwrap_err();
        assert!(err.line >= 2, "{err:?}");
    }

    #[test]
    fn nulls_and_empty() {
        let root = parse("global:\nweb: ~\nx: ''\n").expect("parses");
        assert!(root.get("global").is_some_and(Node::is_null));
        assert!(root.get("web").is_some_and(Node::is_null));
        assert!(!root.get("x").is_some_and(Node::is_null));
        assert!(parse("").expect("empty parses").is_null());
    }

    #[test]
    fn split_paths() {
        assert_eq!(split_path("a[1].b"), vec![Step::Key("a"), Step::Index(1), Step::Key("b")]);
        assert_eq!(split_path("x[0][2]"), vec![Step::Key("x"), Step::Index(0), Step::Index(2)]);
    }
}
