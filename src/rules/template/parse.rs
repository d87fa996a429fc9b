//! Lexer and parser of the Go `text/template` subset: text, `{{- -}}` trim
//! markers, comments, pipelines with `|`, variables (`$x := ...`, `$x = ...`),
//! fields (`.A.b`, `$x.a`), literals, parenthesised pipelines, and
//! `if`/`else if`/`else`, `range` (with `else`, `break`, `continue`), `with`,
//! `define`, `template` and `block`. Errors read like Go's:
//! `template: NAME:LINE: message`.

use super::{TemplateError, Value};
use std::collections::{HashMap, HashSet};

/// One parsed node.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    Text(String),
    Action { line: usize, pipe: Pipe },
    If { line: usize, pipe: Pipe, then: Vec<Node>, els: Vec<Node> },
    Range { line: usize, pipe: Pipe, body: Vec<Node>, els: Vec<Node> },
    With { line: usize, pipe: Pipe, body: Vec<Node>, els: Vec<Node> },
    Template { line: usize, name: String, pipe: Option<Pipe> },
    Break,
    Continue,
}

/// `$a, $b := cmd | cmd`.
#[derive(Debug, Clone)]
pub(crate) struct Pipe {
    pub decl: Vec<String>,
    pub assign: bool,
    pub cmds: Vec<Cmd>,
}

/// One command of a pipeline: a function with arguments, or one operand.
#[derive(Debug, Clone)]
pub(crate) struct Cmd {
    pub args: Vec<Arg>,
}

/// An operand.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    /// `.a.b` (empty path: dot itself).
    Field(Vec<String>),
    /// `$x.a.b`.
    Var(String, Vec<String>),
    /// A function name.
    Func(String),
    /// A literal.
    Lit(Value),
    /// `(pipeline).a.b`.
    Sub(Box<Pipe>, Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Text(String),
    Open,  // {{
    Close, // }}
    Ident(String),
    Field(String),
    Var(String),
    Str(String),
    Num(String),
    Char(char),
    Pipe,
    LParen,
    RParen,
    Decl,
    Assign,
    Comma,
    Dot,
}

struct Lexed {
    toks: Vec<(Tok, usize)>,
}

fn lex(name: &str, src: &str) -> Result<Lexed, TemplateError> {
    let err = |line: usize, msg: String| TemplateError(format!("template: {name}:{line}: {msg}"));
    let mut toks = Vec::new();
    let b = src.as_bytes();
    let mut i = 0;
    let mut line = 1;
    let mut text_start = 0;
    let count_lines = |s: &str| s.matches('\n').count();
    while i <= b.len() {
        let at_open = i + 1 < b.len() && b[i] == b'{' && b[i + 1] == b'{';
        if i == b.len() || at_open {
            let mut text = &src[text_start..i];
            let mut j = i + 2;
            let trim_left =
                at_open && j + 1 < b.len() && b[j] == b'-' && matches!(b[j + 1], b' ' | b'\t' | b'\n' | b'\r');
            if trim_left {
                text = text.trim_end();
                j += 1;
            }
            if !text.is_empty() {
                toks.push((Tok::Text(text.to_string()), line));
            }
            line += count_lines(&src[text_start..i]);
            if i == b.len() {
                break;
            }
            // Comments: {{/* ... */}}
            let rest = &src[j..];
            let ws = rest.len() - rest.trim_start().len();
            if rest[ws..].starts_with("/*") {
                let Some(end) = rest.find("*/") else {
                    return Err(err(line, "unclosed comment".into()));
                };
                let after = &rest[end + 2..];
                let (close_len, trim_right) =
                    if after.starts_with(" -}}") || after.starts_with("\t-}}") || after.starts_with("\n-}}") {
                        (4, true)
                    } else if after.starts_with("}}") {
                        (2, false)
                    } else {
                        return Err(err(line, "comment ends before closing delimiter".into()));
                    };
                line += count_lines(&rest[..end]);
                i = j + end + 2 + close_len;
                if trim_right {
                    while i < b.len() && (b[i] as char).is_ascii_whitespace() {
                        if b[i] == b'\n' {
                            line += 1;
                        }
                        i += 1;
                    }
                }
                text_start = i;
                continue;
            }
            toks.push((Tok::Open, line));
            i = j;
            // Inside an action.
            loop {
                if i >= b.len() {
                    return Err(err(line, "unclosed action".into()));
                }
                let c = b[i];
                if c == b'-'
                    && i + 2 < b.len()
                    && b[i + 1] == b'}'
                    && b.get(i + 2) == Some(&b'}')
                    && i > 0
                    && matches!(b[i - 1], b' ' | b'\t' | b'\n' | b'\r')
                {
                    toks.push((Tok::Close, line));
                    i += 3;
                    while i < b.len() && (b[i] as char).is_ascii_whitespace() {
                        if b[i] == b'\n' {
                            line += 1;
                        }
                        i += 1;
                    }
                    break;
                }
                if c == b'}' && b.get(i + 1) == Some(&b'}') {
                    toks.push((Tok::Close, line));
                    i += 2;
                    break;
                }
                match c {
                    b' ' | b'\t' | b'\r' => i += 1,
                    b'\n' => {
                        line += 1;
                        i += 1;
                    }
                    b'|' => {
                        toks.push((Tok::Pipe, line));
                        i += 1;
                    }
                    b'(' => {
                        toks.push((Tok::LParen, line));
                        i += 1;
                    }
                    b')' => {
                        toks.push((Tok::RParen, line));
                        i += 1;
                    }
                    b',' => {
                        toks.push((Tok::Comma, line));
                        i += 1;
                    }
                    b':' if b.get(i + 1) == Some(&b'=') => {
                        toks.push((Tok::Decl, line));
                        i += 2;
                    }
                    b'=' => {
                        toks.push((Tok::Assign, line));
                        i += 1;
                    }
                    b'"' => {
                        let mut s = String::new();
                        let mut k = i + 1;
                        let chars: Vec<char> = src[k..].chars().collect();
                        let mut ci = 0;
                        loop {
                            let Some(&ch) = chars.get(ci) else {
                                return Err(err(line, "unterminated quoted string".into()));
                            };
                            ci += 1;
                            match ch {
                                '"' => break,
                                '\n' => return Err(err(line, "unterminated quoted string".into())),
                                '\\' => {
                                    let Some(&e) = chars.get(ci) else {
                                        return Err(err(line, "unterminated quoted string".into()));
                                    };
                                    ci += 1;
                                    match e {
                                        'n' => s.push('\n'),
                                        't' => s.push('\t'),
                                        'r' => s.push('\r'),
                                        '\\' => s.push('\\'),
                                        '"' => s.push('"'),
                                        '\'' => s.push('\''),
                                        'a' => s.push('\x07'),
                                        'b' => s.push('\x08'),
                                        'f' => s.push('\x0c'),
                                        'v' => s.push('\x0b'),
                                        'x' | 'u' | 'U' => {
                                            let n = match e {
                                                'x' => 2,
                                                'u' => 4,
                                                _ => 8,
                                            };
                                            let hex: String = chars.iter().skip(ci).take(n).collect();
                                            let v = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32);
                                            let Some(v) = v.filter(|_| hex.len() == n) else {
                                                return Err(err(line, "invalid syntax".into()));
                                            };
                                            s.push(v);
                                            ci += n;
                                        }
                                        _ => return Err(err(line, format!("invalid syntax: unknown escape \\{e}"))),
                                    }
                                }
                                c => s.push(c),
                            }
                        }
                        k += chars[..ci].iter().map(|c| c.len_utf8()).sum::<usize>();
                        toks.push((Tok::Str(s), line));
                        i = k;
                    }
                    b'`' => {
                        let Some(end) = src[i + 1..].find('`') else {
                            return Err(err(line, "unterminated raw quoted string".into()));
                        };
                        let s = &src[i + 1..i + 1 + end];
                        toks.push((Tok::Str(s.to_string()), line));
                        line += count_lines(s);
                        i += end + 2;
                    }
                    b'\'' => {
                        let rest: Vec<char> = src[i + 1..].chars().take(3).collect();
                        if rest.len() >= 2 && rest[1] == '\'' && rest[0] != '\\' {
                            toks.push((Tok::Char(rest[0]), line));
                            i += 2 + rest[0].len_utf8();
                        } else {
                            return Err(err(line, "unterminated character constant".into()));
                        }
                    }
                    b'.' if !b.get(i + 1).is_some_and(|c| c.is_ascii_digit()) => {
                        let k = ident_end(b, i + 1);
                        if k == i + 1 {
                            toks.push((Tok::Dot, line));
                        } else {
                            toks.push((Tok::Field(src[i + 1..k].to_string()), line));
                        }
                        i = k;
                    }
                    b'$' => {
                        let k = ident_end(b, i + 1);
                        toks.push((Tok::Var(src[i..k].to_string()), line));
                        i = k;
                    }
                    c if c.is_ascii_digit()
                        || c == b'.'
                        || ((c == b'-' || c == b'+')
                            && b.get(i + 1).is_some_and(|d| d.is_ascii_digit() || *d == b'.')) =>
                    {
                        let mut k = i + 1;
                        while k < b.len()
                            && (b[k].is_ascii_alphanumeric()
                                || b[k] == b'.'
                                || b[k] == b'_'
                                || ((b[k] == b'+' || b[k] == b'-') && matches!(b[k - 1], b'e' | b'E' | b'p' | b'P')))
                        {
                            k += 1;
                        }
                        toks.push((Tok::Num(src[i..k].to_string()), line));
                        i = k;
                    }
                    c if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                        let k = ident_end(b, i);
                        toks.push((Tok::Ident(src[i..k].to_string()), line));
                        i = k;
                    }
                    _ => {
                        let ch = src[i..].chars().next().unwrap_or('?');
                        return Err(err(line, format!("unexpected {ch:?} in command")));
                    }
                }
            }
            text_start = i;
            continue;
        }
        i += 1;
    }
    Ok(Lexed { toks })
}

fn ident_end(b: &[u8], mut k: usize) -> usize {
    while k < b.len() && (b[k].is_ascii_alphanumeric() || b[k] == b'_' || b[k] >= 0x80) {
        k += 1;
    }
    k
}

/// Deepest nesting of `if`/`range`/`with` and parentheses we accept.
const MAX_NESTING: usize = 100;

/// The main node list and the `define`d templates of a source.
pub(crate) type Parsed = (Vec<Node>, HashMap<String, Vec<Node>>);
/// Nodes up to a closing keyword, and that keyword with its line.
type ListEnd = (Vec<Node>, Option<(String, usize)>);

/// Parses `src` into its main node list and its `define`d templates.
pub(crate) fn parse(name: &str, src: &str, funcs: &HashSet<String>) -> Result<Parsed, TemplateError> {
    let lexed = lex(name, src)?;
    let mut p = P {
        name,
        toks: lexed.toks,
        pos: 0,
        funcs,
        vars: vec!["$".to_string()],
        defines: HashMap::new(),
        range_depth: 0,
        depth: 0,
    };
    let (nodes, end) = p.list()?;
    if let Some((kw, line)) = end {
        return Err(p.err_at(line, format!("unexpected {{{{{kw}}}}}")));
    }
    Ok((nodes, p.defines))
}

struct P<'a> {
    name: &'a str,
    toks: Vec<(Tok, usize)>,
    pos: usize,
    funcs: &'a HashSet<String>,
    vars: Vec<String>,
    defines: HashMap<String, Vec<Node>>,
    range_depth: usize,
    /// Nesting of control structures and parentheses, bounded so that deep
    /// input cannot overflow the stack.
    depth: usize,
}

impl P<'_> {
    fn err_at(&self, line: usize, msg: String) -> TemplateError {
        TemplateError(format!("template: {}:{line}: {msg}", self.name))
    }
    fn line(&self) -> usize {
        self.toks.get(self.pos).or(self.toks.last()).map_or(1, |t| t.1)
    }
    fn err(&self, msg: impl Into<String>) -> TemplateError {
        self.err_at(self.line(), msg.into())
    }
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.0)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).map(|t| t.0.clone());
        self.pos += 1;
        t
    }
    fn expect_close(&mut self, ctx: &str) -> Result<(), TemplateError> {
        match self.next() {
            Some(Tok::Close) => Ok(()),
            Some(t) => Err(self.err(format!("unexpected {} in {ctx}", show(&t)))),
            None => Err(self.err("unexpected EOF")),
        }
    }

    /// Parses nodes until EOF or an `{{end}}`/`{{else ...}}`, which is
    /// returned (keyword, line) with the position just after the keyword.
    fn list(&mut self) -> Result<ListEnd, TemplateError> {
        let mut out = Vec::new();
        while let Some(t) = self.next() {
            match t {
                Tok::Text(s) => out.push(Node::Text(s)),
                Tok::Open => {
                    let line = self.line();
                    match self.peek().cloned() {
                        Some(Tok::Ident(kw)) if matches!(kw.as_str(), "end" | "else") => {
                            self.pos += 1;
                            return Ok((out, Some((kw, line))));
                        }
                        Some(Tok::Ident(kw)) if matches!(kw.as_str(), "if" | "range" | "with") => {
                            self.pos += 1;
                            out.push(self.control(&kw, line)?);
                        }
                        Some(Tok::Ident(kw)) if kw == "define" || kw == "block" => {
                            self.pos += 1;
                            let Some(Tok::Str(tname)) = self.next() else {
                                return Err(self.err(format!("unexpected token in {kw} clause")));
                            };
                            let pipe = if kw == "block" {
                                Some(self.pipeline("block", true)?)
                            } else {
                                self.expect_close("define clause").map(|_| None)?
                            };
                            let saved = std::mem::replace(&mut self.vars, vec!["$".to_string()]);
                            let (body, end) = self.list()?;
                            self.vars = saved;
                            match end {
                                Some((e, _)) if e == "end" => self.expect_close("end")?,
                                _ => return Err(self.err("unexpected EOF")),
                            }
                            self.defines.insert(tname.clone(), body);
                            if kw == "block" {
                                out.push(Node::Template { line, name: tname, pipe });
                            }
                        }
                        Some(Tok::Ident(kw)) if kw == "template" => {
                            self.pos += 1;
                            let Some(Tok::Str(tname)) = self.next() else {
                                return Err(self.err("unexpected token in template clause"));
                            };
                            let pipe = if self.peek() == Some(&Tok::Close) {
                                self.pos += 1;
                                None
                            } else {
                                Some(self.pipeline("template clause", true)?)
                            };
                            out.push(Node::Template { line, name: tname, pipe });
                        }
                        Some(Tok::Ident(kw)) if kw == "break" || kw == "continue" => {
                            self.pos += 1;
                            if self.range_depth == 0 {
                                return Err(self.err(format!("{{{{{kw}}}}} outside {{{{range}}}}")));
                            }
                            self.expect_close(&kw)?;
                            out.push(if kw == "break" { Node::Break } else { Node::Continue });
                        }
                        _ => {
                            let pipe = self.pipeline("command", true)?;
                            out.push(Node::Action { line, pipe });
                        }
                    }
                }
                t => return Err(self.err(format!("unexpected {}", show(&t)))),
            }
        }
        Ok((out, None))
    }

    fn control(&mut self, kw: &str, line: usize) -> Result<Node, TemplateError> {
        self.enter()?;
        let r = self.control_inner(kw, line);
        self.depth -= 1;
        r
    }

    fn enter(&mut self) -> Result<(), TemplateError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            self.depth -= 1;
            return Err(self.err(format!("template nested more than {MAX_NESTING} levels")));
        }
        Ok(())
    }

    fn control_inner(&mut self, kw: &str, line: usize) -> Result<Node, TemplateError> {
        let mark = self.vars.len();
        let pipe = self.pipeline(kw, true)?;
        if kw == "range" {
            self.range_depth += 1;
        }
        let (body, end) = self.list()?;
        if kw == "range" {
            self.range_depth -= 1;
        }
        let mut els = Vec::new();
        match end {
            Some((e, _)) if e == "end" => self.expect_close("end")?,
            Some((e, _)) if e == "else" => {
                // `{{else if ...}}` / `{{else with ...}}` chain into a nested node.
                if matches!(self.peek(), Some(Tok::Ident(k)) if (k == "if" && kw == "if") || (k == "with" && kw == "with"))
                {
                    let l = self.line();
                    self.pos += 1;
                    els.push(self.control(kw, l)?);
                } else {
                    self.expect_close("else")?;
                    let (e2, end2) = self.list()?;
                    els = e2;
                    match end2 {
                        Some((e, _)) if e == "end" => self.expect_close("end")?,
                        Some((e, l)) => return Err(self.err_at(l, format!("unexpected {{{{{e}}}}}"))),
                        None => return Err(self.err("unexpected EOF")),
                    }
                }
            }
            _ => return Err(self.err("unexpected EOF")),
        }
        self.vars.truncate(mark);
        Ok(match kw {
            "if" => Node::If { line, pipe, then: body, els },
            "range" => Node::Range { line, pipe, body, els },
            _ => Node::With { line, pipe, body, els },
        })
    }

    /// Parses a pipeline up to `}}` (when `top`) or `)`.
    fn pipeline(&mut self, ctx: &str, top: bool) -> Result<Pipe, TemplateError> {
        let mut decl = Vec::new();
        let mut assign = false;
        // Declarations: `$x :=`, `$x =`, `$i, $e :=`.
        let save = self.pos;
        if let Some(Tok::Var(v)) = self.peek().cloned() {
            self.pos += 1;
            match self.peek() {
                Some(Tok::Decl) | Some(Tok::Assign) => {
                    assign = self.peek() == Some(&Tok::Assign);
                    self.pos += 1;
                    decl.push(v);
                }
                Some(Tok::Comma) if ctx == "range" => {
                    self.pos += 1;
                    if let Some(Tok::Var(v2)) = self.next() {
                        if matches!(self.next(), Some(Tok::Decl) | Some(Tok::Assign)) {
                            decl.push(v);
                            decl.push(v2);
                        } else {
                            return Err(self.err("range can only initialize variables"));
                        }
                    } else {
                        return Err(self.err("range can only initialize variables"));
                    }
                }
                _ => self.pos = save,
            }
        }
        if assign && !self.vars.contains(&decl[0]) {
            return Err(self.err(format!("undefined variable {:?}", decl[0])));
        }
        let mut cmds = Vec::new();
        loop {
            let cmd = self.command()?;
            cmds.push(cmd);
            match self.next() {
                Some(Tok::Pipe) => continue,
                Some(Tok::Close) if top => break,
                Some(Tok::RParen) if !top => break,
                Some(t) => return Err(self.err(format!("unexpected {} in {ctx}", show(&t)))),
                None => return Err(self.err("unexpected EOF")),
            }
        }
        if !assign {
            for d in &decl {
                self.vars.push(d.clone());
            }
        }
        Ok(Pipe { decl, assign, cmds })
    }

    fn command(&mut self) -> Result<Cmd, TemplateError> {
        let mut args = Vec::new();
        loop {
            match self.peek().cloned() {
                None => return Err(self.err("unexpected EOF")),
                Some(Tok::Close) | Some(Tok::Pipe) | Some(Tok::RParen) => break,
                Some(_) => args.push(self.operand()?),
            }
        }
        if args.is_empty() {
            return Err(self.err("missing value for command"));
        }
        Ok(Cmd { args })
    }

    fn fields(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(Tok::Field(f)) = self.peek().cloned() {
            self.pos += 1;
            out.push(f);
        }
        out
    }

    fn operand(&mut self) -> Result<Arg, TemplateError> {
        let t = self.next().ok_or_else(|| self.err("unexpected EOF"))?;
        Ok(match t {
            Tok::Dot => Arg::Field(Vec::new()),
            Tok::Field(f) => {
                let mut path = vec![f];
                path.extend(self.fields());
                Arg::Field(path)
            }
            Tok::Var(v) => {
                if !self.vars.contains(&v) {
                    return Err(self.err(format!("undefined variable {v:?}")));
                }
                Arg::Var(v, self.fields())
            }
            Tok::Str(s) => Arg::Lit(Value::Str(s)),
            Tok::Char(c) => Arg::Lit(Value::Int(c as i64)),
            Tok::Num(n) => Arg::Lit(parse_number(&n).ok_or_else(|| self.err(format!("bad number syntax: {n:?}")))?),
            Tok::Ident(id) => match id.as_str() {
                "true" => Arg::Lit(Value::Bool(true)),
                "false" => Arg::Lit(Value::Bool(false)),
                "nil" => Arg::Lit(Value::Nil),
                _ => {
                    if !self.funcs.contains(&id) {
                        return Err(self.err(format!("function {id:?} not defined")));
                    }
                    Arg::Func(id)
                }
            },
            Tok::LParen => {
                self.enter()?;
                let p = self.pipeline("parenthesized pipeline", false);
                self.depth -= 1;
                Arg::Sub(Box::new(p?), self.fields())
            }
            t => return Err(self.err(format!("unexpected {} in operand", show(&t)))),
        })
    }
}

fn parse_number(n: &str) -> Option<Value> {
    let clean = n.replace('_', "");
    let (neg, body) = match clean.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, clean.strip_prefix('+').unwrap_or(&clean)),
    };
    let sign = if neg { -1 } else { 1 };
    let int = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()
    } else if let Some(o) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
        i64::from_str_radix(o, 8).ok()
    } else if let Some(bn) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
        i64::from_str_radix(bn, 2).ok()
    } else if body.len() > 1 && body.starts_with('0') && body.bytes().all(|c| c.is_ascii_digit()) {
        i64::from_str_radix(&body[1..], 8).ok()
    } else {
        body.parse::<i64>().ok()
    };
    if let Some(i) = int {
        return Some(Value::Int(sign * i));
    }
    body.parse::<f64>().ok().filter(|f| f.is_finite()).map(|f| Value::Float(sign as f64 * f))
}

fn show(t: &Tok) -> String {
    match t {
        Tok::Text(_) => "text".into(),
        Tok::Open => "\"{{\"".into(),
        Tok::Close => "\"}}\"".into(),
        Tok::Ident(s) | Tok::Num(s) | Tok::Var(s) => format!("<{s}>"),
        Tok::Field(s) => format!("<.{s}>"),
        Tok::Str(s) => format!("{s:?}"),
        Tok::Char(c) => format!("{c:?}"),
        Tok::Pipe => "\"|\"".into(),
        Tok::LParen => "\"(\"".into(),
        Tok::RParen => "\")\"".into(),
        Tok::Decl => "\":=\"".into(),
        Tok::Assign => "\"=\"".into(),
        Tok::Comma => "\",\"".into(),
        Tok::Dot => "<.>".into(),
    }
}
