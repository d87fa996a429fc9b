//! Runs a parsed template.

use super::parse::{Arg, Cmd, Node, Pipe};
use super::{FuncMap, TemplateError, Value};
use std::collections::HashMap;

/// Go stops runaway `template` recursion at depth 100000; we stop far earlier.
const MAX_DEPTH: usize = 200;
/// Longest `range` over an integer.
const MAX_RANGE: i64 = 100_000;
/// Bound on output size so a loop cannot eat memory.
const MAX_OUTPUT: usize = 1 << 20;

struct Ex<'a> {
    name: &'a str,
    defines: &'a HashMap<String, Vec<Node>>,
    funcs: &'a FuncMap,
    vars: Vec<(String, Value)>,
    out: String,
    depth: usize,
    line: usize,
}

enum Flow {
    Normal,
    Break,
    Continue,
}

pub(crate) fn execute(
    name: &str,
    root: &[Node],
    defines: &HashMap<String, Vec<Node>>,
    dot: &Value,
    funcs: &FuncMap,
) -> Result<String, TemplateError> {
    let mut ex =
        Ex { name, defines, funcs, vars: vec![("$".into(), dot.clone())], out: String::new(), depth: 0, line: 1 };
    ex.list(root, dot)?;
    Ok(ex.out)
}

impl Ex<'_> {
    fn err(&self, msg: impl std::fmt::Display) -> TemplateError {
        TemplateError(format!("template: {}:{}: {msg}", self.name, self.line))
    }

    fn list(&mut self, nodes: &[Node], dot: &Value) -> Result<Flow, TemplateError> {
        for n in nodes {
            match self.node(n, dot)? {
                Flow::Normal => {}
                f => return Ok(f),
            }
            if self.out.len() > MAX_OUTPUT {
                return Err(self.err("output too large"));
            }
        }
        Ok(Flow::Normal)
    }

    fn node(&mut self, n: &Node, dot: &Value) -> Result<Flow, TemplateError> {
        match n {
            Node::Text(t) => self.out.push_str(t),
            Node::Action { line, pipe } => {
                self.line = *line;
                let v = self.pipe(pipe, dot)?;
                if pipe.decl.is_empty() {
                    let s = v.to_string();
                    self.out.push_str(&s);
                }
            }
            Node::If { line, pipe, then, els } => {
                self.line = *line;
                let mark = self.vars.len();
                let v = self.pipe(pipe, dot)?;
                let f = if v.truthy() { self.list(then, dot)? } else { self.list(els, dot)? };
                self.vars.truncate(mark);
                return Ok(f);
            }
            Node::With { line, pipe, body, els } => {
                self.line = *line;
                let mark = self.vars.len();
                let v = self.pipe(pipe, dot)?;
                let f = if v.truthy() { self.list(body, &v)? } else { self.list(els, dot)? };
                self.vars.truncate(mark);
                return Ok(f);
            }
            Node::Range { line, pipe, body, els } => {
                self.line = *line;
                let mark = self.vars.len();
                let v = self.pipe(pipe, dot)?;
                // The declared variables are set per element, not to the whole value.
                self.vars.truncate(mark);
                let items: Vec<(Value, Value)> = match &v {
                    Value::List(l) => l.iter().enumerate().map(|(i, v)| (Value::Int(i as i64), v.clone())).collect(),
                    Value::StrMap(m) => m.iter().map(|(k, v)| (Value::Str(k.clone()), Value::Str(v.clone()))).collect(),
                    Value::Map(m) => m.iter().map(|(k, v)| (Value::Str(k.clone()), v.clone())).collect(),
                    Value::Int(n) if *n > MAX_RANGE => return Err(self.err(format!("range over {n} is too long"))),
                    Value::Int(n) => (0..*n).map(|i| (Value::Int(i), Value::Int(i))).collect(),
                    Value::Nil => Vec::new(),
                    other => return Err(self.err(format!("range can't iterate over {other}"))),
                };
                if items.is_empty() {
                    let f = self.list(els, dot)?;
                    self.vars.truncate(mark);
                    return Ok(f);
                }
                for (k, e) in items {
                    match pipe.decl.len() {
                        1 => self.vars.push((pipe.decl[0].clone(), e.clone())),
                        2 => {
                            self.vars.push((pipe.decl[0].clone(), k));
                            self.vars.push((pipe.decl[1].clone(), e.clone()));
                        }
                        _ => {}
                    }
                    let f = self.list(body, &e)?;
                    self.vars.truncate(mark);
                    if matches!(f, Flow::Break) {
                        break;
                    }
                }
            }
            Node::Template { line, name, pipe } => {
                self.line = *line;
                let body = self.defines.get(name).ok_or_else(|| self.err(format!("no such template {name:?}")))?;
                let data = match pipe {
                    Some(p) => self.pipe(p, dot)?,
                    None => Value::Nil,
                };
                if self.depth >= MAX_DEPTH {
                    return Err(self.err("exceeded maximum template depth"));
                }
                self.depth += 1;
                let saved = std::mem::replace(&mut self.vars, vec![("$".into(), data.clone())]);
                let r = self.list(body, &data);
                self.vars = saved;
                self.depth -= 1;
                r?;
            }
            Node::Break => return Ok(Flow::Break),
            Node::Continue => return Ok(Flow::Continue),
        }
        Ok(Flow::Normal)
    }

    fn pipe(&mut self, p: &Pipe, dot: &Value) -> Result<Value, TemplateError> {
        let mut prev: Option<Value> = None;
        for c in &p.cmds {
            prev = Some(self.cmd(c, dot, prev)?);
        }
        let v = prev.unwrap_or(Value::Nil);
        if p.assign {
            if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| *n == p.decl[0]) {
                slot.1 = v.clone();
            }
        } else if p.decl.len() == 1 {
            self.vars.push((p.decl[0].clone(), v.clone()));
        }
        Ok(v)
    }

    fn cmd(&mut self, c: &Cmd, dot: &Value, piped: Option<Value>) -> Result<Value, TemplateError> {
        if let Arg::Func(name) = &c.args[0] {
            let mut args = Vec::with_capacity(c.args.len());
            for a in &c.args[1..] {
                args.push(self.arg(a, dot)?);
            }
            if let Some(p) = piped {
                args.push(p);
            }
            let f = self.funcs.0.get(name).ok_or_else(|| self.err(format!("function {name:?} not defined")))?;
            return f(&args).map_err(|e| self.err(format!("error calling {name}: {e}")));
        }
        if c.args.len() > 1 || piped.is_some() {
            return Err(self.err(format!("can't give argument to non-function {}", show_arg(&c.args[0]))));
        }
        self.arg(&c.args[0], dot)
    }

    fn arg(&mut self, a: &Arg, dot: &Value) -> Result<Value, TemplateError> {
        match a {
            Arg::Lit(v) => Ok(v.clone()),
            Arg::Field(path) => self.fields(dot.clone(), path),
            Arg::Var(name, path) => {
                let v = self
                    .vars
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| self.err(format!("undefined variable: {name}")))?;
                self.fields(v, path)
            }
            Arg::Func(name) => {
                let f = self.funcs.0.get(name).ok_or_else(|| self.err(format!("function {name:?} not defined")))?;
                f(&[]).map_err(|e| self.err(format!("error calling {name}: {e}")))
            }
            Arg::Sub(p, path) => {
                let mark = self.vars.len();
                let v = self.pipe(p, dot)?;
                self.vars.truncate(mark);
                self.fields(v, path)
            }
        }
    }

    fn fields(&self, mut v: Value, path: &[String]) -> Result<Value, TemplateError> {
        for f in path {
            v = match v {
                Value::StrMap(m) => Value::Str(m.get(f).cloned().unwrap_or_default()),
                Value::Map(m) => match m.get(f) {
                    Some(x) => x.clone(),
                    None => Value::Nil,
                },
                Value::Nil => return Err(self.err(format!("nil pointer evaluating interface {{}}.{f}"))),
                other => return Err(self.err(format!("can't evaluate field {f} in type {}", other.go_type()))),
            };
        }
        Ok(v)
    }
}

fn show_arg(a: &Arg) -> String {
    match a {
        Arg::Field(p) if p.is_empty() => ".".into(),
        Arg::Field(p) => format!(".{}", p.join(".")),
        Arg::Var(n, p) => format!("{n}{}", p.iter().map(|f| format!(".{f}")).collect::<String>()),
        Arg::Lit(v) => v.to_string(),
        Arg::Func(n) => n.clone(),
        Arg::Sub(..) => "(...)".into(),
    }
}
