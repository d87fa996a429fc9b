//! A small position-marked YAML tree for rule files and rule unit tests.
//!
//! Rule files use anchors, aliases and `<<:` merge keys, and errors must say
//! `file:line:col`; serde forgets positions, so we build our own tree from
//! `saphyr-parser` events, resolving aliases and merges as yaml.v3 does.

use saphyr_parser::{Event, Parser, ScalarStyle};
use std::collections::HashMap;

/// One YAML node with the position of its first character (1-based).
#[derive(Debug, Clone)]
pub struct Node {
    /// What the node holds.
    pub kind: Kind,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
}

/// The content of a node.
#[derive(Debug, Clone)]
pub enum Kind {
    /// A scalar: its text, and whether it is a plain null (`~`, `null`, empty).
    Scalar { text: String, null: bool, plain: bool },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, entries in document order (merge keys already applied).
    Map(Vec<(Node, Node)>),
}

/// A YAML syntax error.
#[derive(Debug, Clone)]
pub struct SyntaxError {
    /// 1-based line.
    pub line: usize,
    /// The parser's message.
    pub message: String,
}

impl Node {
    /// The scalar text, if this is a scalar.
    pub fn text(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// True for an empty or explicit null.
    pub fn is_null(&self) -> bool {
        matches!(self.kind, Kind::Scalar { null: true, .. })
    }

    /// Mapping entries (empty for anything else).
    pub fn entries(&self) -> &[(Node, Node)] {
        match &self.kind {
            Kind::Map(e) => e,
            _ => &[],
        }
    }

    /// Sequence items (empty for anything else).
    pub fn items(&self) -> &[Node] {
        match &self.kind {
            Kind::Seq(i) => i,
            _ => &[],
        }
    }

    /// The value under `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entries().iter().find(|(k, _)| k.text() == Some(key)).map(|(_, v)| v)
    }

    /// What yaml.v3 calls the node's kind, for error messages.
    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            Kind::Scalar { null: true, .. } => "null",
            Kind::Scalar { .. } => "!!str",
            Kind::Seq(_) => "!!seq",
            Kind::Map(_) => "!!map",
        }
    }
}

/// Applies `<<` merge keys: entries of the merged mapping(s) that the mapping
/// does not set itself are added, in order.
fn apply_merge(entries: Vec<(Node, Node)>) -> Vec<(Node, Node)> {
    if !entries.iter().any(|(k, _)| is_merge_key(k)) {
        return entries;
    }
    let mut own: Vec<(Node, Node)> = Vec::new();
    let mut merged: Vec<(Node, Node)> = Vec::new();
    for (k, v) in entries {
        if is_merge_key(&k) {
            let sources: Vec<Node> = match v.kind {
                Kind::Seq(items) => items,
                _ => vec![v],
            };
            for s in sources {
                for (mk, mv) in s.entries() {
                    if !merged.iter().any(|(x, _)| x.text() == mk.text()) {
                        merged.push((mk.clone(), mv.clone()));
                    }
                }
            }
        } else {
            own.push((k, v));
        }
    }
    for (mk, mv) in merged {
        if !own.iter().any(|(x, _)| x.text() == mk.text()) {
            own.push((mk, mv));
        }
    }
    own
}

fn is_merge_key(k: &Node) -> bool {
    matches!(&k.kind, Kind::Scalar { text, plain: true, .. } if text == "<<")
}

/// Parses the first document of `source`. An empty document is a null scalar.
pub fn parse(source: &str) -> Result<Node, SyntaxError> {
    enum Frame {
        Seq(Node, usize),
        Map(Node, usize, Option<Node>),
    }
    let mut parser = Parser::new_from_str(source);
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    let mut root: Option<Node> = None;

    fn attach(stack: &mut [Frame], root: &mut Option<Node>, node: Node) {
        match stack.last_mut() {
            Some(Frame::Seq(seq, _)) => {
                if let Kind::Seq(items) = &mut seq.kind {
                    items.push(node);
                }
            }
            Some(Frame::Map(map, _, pending)) => match pending.take() {
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
            Some(Err(e)) => return Err(SyntaxError { line: e.marker().line(), message: e.info().to_string() }),
        };
        let (line, col) = (span.start.line(), span.start.col() + 1);
        match event {
            Event::StreamEnd => break,
            Event::DocumentEnd => {
                if root.is_some() {
                    break;
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let plain = matches!(style, ScalarStyle::Plain);
                let null = tag.is_none() && plain && matches!(&*text, "" | "~" | "null" | "Null" | "NULL");
                let node = Node { kind: Kind::Scalar { text: text.into_owned(), null, plain }, line, col };
                if anchor != 0 {
                    anchors.insert(anchor, node.clone());
                }
                attach(&mut stack, &mut root, node);
            }
            Event::Alias(id) => {
                let Some(target) = anchors.get(&id) else {
                    return Err(SyntaxError { line, message: "unknown anchor".into() });
                };
                // Keep the alias's own position so errors point where it is used.
                let mut node = target.clone();
                node.line = line;
                node.col = col;
                attach(&mut stack, &mut root, node);
            }
            Event::SequenceStart(anchor, _) => {
                stack.push(Frame::Seq(Node { kind: Kind::Seq(Vec::new()), line, col }, anchor));
            }
            Event::MappingStart(anchor, _) => {
                stack.push(Frame::Map(Node { kind: Kind::Map(Vec::new()), line, col }, anchor, None));
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (mut node, anchor) = match stack.pop() {
                    Some(Frame::Seq(n, a)) | Some(Frame::Map(n, a, _)) => (n, a),
                    None => continue,
                };
                if let Kind::Map(entries) = node.kind {
                    node.kind = Kind::Map(apply_merge(entries));
                }
                if anchor != 0 {
                    anchors.insert(anchor, node.clone());
                }
                attach(&mut stack, &mut root, node);
            }
            Event::Nothing | Event::StreamStart | Event::DocumentStart(_) => {}
        }
    }
    Ok(root.unwrap_or(Node { kind: Kind::Scalar { text: String::new(), null: true, plain: true }, line: 0, col: 0 }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let src = "a: &x\n  k: 1\n  j: 2\nb:\n  <<: *x\n  k: 3\nc: *x\n";
        let root = parse(src).unwrap();
        let b = root.get("b").unwrap();
        assert_eq!(b.get("k").and_then(Node::text), Some("3"));
        assert_eq!(b.get("j").and_then(Node::text), Some("2"));
        assert_eq!(root.get("c").and_then(|c| c.get("j")).and_then(Node::text), Some("2"));
        assert_eq!(root.get("c").unwrap().line, 7);
    }

    #[test]
    fn positions_and_errors() {
        let root = parse("groups:\n  - name: x\n").unwrap();
        let g = &root.get("groups").unwrap().items()[0];
        let name = g.get("name").unwrap();
        assert_eq!((name.line, name.col), (2, 11));
        assert!(parse("a: [1, 2\nb: 3\n").is_err());
        assert!(parse("").unwrap().is_null());
    }
}
