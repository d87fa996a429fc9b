//! The routing tree: which receivers, with which grouping and timers, an
//! alert goes to (Alertmanager's `dispatch/route.go` semantics).

use super::config::{route_matchers, RouteConfig};
use super::matchers::format_matchers_sorted;
use crate::tsdb::{matches_all, Labels, Matcher};
use std::collections::BTreeMap;
use std::time::Duration;

/// A route with its options resolved against its parents.
#[derive(Clone, Debug)]
pub struct Route {
    pub receiver: String,
    /// Label names to group by (sorted); ignored when `group_by_all`.
    pub group_by: Vec<String>,
    pub group_by_all: bool,
    pub group_wait: Duration,
    pub group_interval: Duration,
    pub repeat_interval: Duration,
    pub matchers: Vec<Matcher>,
    pub continue_matching: bool,
    pub mute_time_intervals: Vec<String>,
    pub active_time_intervals: Vec<String>,
    /// Route labels merged from the root down.
    pub labels: BTreeMap<String, String>,
    pub routes: Vec<Route>,
    /// Parent key + this route's sorted matchers (not unique).
    pub key: String,
    /// Unique ID: the key plus the index among siblings.
    pub id: String,
    /// Post-order index, unique in `[0, N)`; the root gets `N-1`.
    pub index: usize,
    /// Human path from the root, e.g. `root › {team="a"} › {severity="page"}`.
    pub path: String,
}

impl Route {
    /// Builds the resolved tree from a validated root route.
    pub fn from_config(root: &RouteConfig) -> Route {
        let base = Route {
            receiver: String::new(),
            group_by: Vec::new(),
            group_by_all: false,
            group_wait: Duration::from_secs(30),
            group_interval: Duration::from_secs(300),
            repeat_interval: Duration::from_secs(4 * 3600),
            matchers: Vec::new(),
            continue_matching: false,
            mute_time_intervals: Vec::new(),
            active_time_intervals: Vec::new(),
            labels: BTreeMap::new(),
            routes: Vec::new(),
            key: String::new(),
            id: String::new(),
            index: 0,
            path: String::new(),
        };
        let mut counter = 0;
        build(root, &base, None, &mut counter)
    }

    /// The matching routes, in order, for an alert's labels (empty when the
    /// route's own matchers fail).
    pub fn matches(&self, labels: &Labels) -> Vec<&Route> {
        if !matches_all(&self.matchers, labels) {
            return Vec::new();
        }
        let mut all = Vec::new();
        for child in &self.routes {
            let m = child.matches(labels);
            let matched = !m.is_empty();
            all.extend(m);
            if matched && !child.continue_matching {
                break;
            }
        }
        if all.is_empty() {
            all.push(self);
        }
        all
    }

    /// Pre-order walk.
    pub fn walk<'a>(&'a self, f: &mut impl FnMut(&'a Route)) {
        f(self);
        for c in &self.routes {
            c.walk(f);
        }
    }

    /// The route with ID `id`.
    pub fn find(&self, id: &str) -> Option<&Route> {
        let mut found = None;
        self.walk(&mut |r| {
            if r.id == id && found.is_none() {
                found = Some(r);
            }
        });
        found
    }

    /// The labels an alert is grouped by on this route.
    pub fn group_labels(&self, labels: &Labels) -> Labels {
        if self.group_by_all {
            return labels.clone();
        }
        Labels::from_pairs(self.group_by.iter().filter_map(|n| labels.get(n).map(|v| (n.clone(), v.to_string()))))
    }
}

fn build(cfg: &RouteConfig, parent: &Route, sibling: Option<(usize, &str)>, counter: &mut usize) -> Route {
    let mut r = parent.clone();
    r.routes = Vec::new();
    if let Some(rcv) = cfg.receiver.as_ref().filter(|s| !s.is_empty()) {
        r.receiver = rcv.clone();
    }
    if let Some(gb) = &cfg.group_by {
        if gb.len() == 1 && gb[0] == "..." {
            r.group_by_all = true;
            r.group_by = Vec::new();
        } else {
            r.group_by_all = false;
            r.group_by = gb.clone();
            r.group_by.sort();
        }
    }
    if let Some(d) = cfg.group_wait {
        r.group_wait = d.0;
    }
    if let Some(d) = cfg.group_interval {
        r.group_interval = d.0;
    }
    if let Some(d) = cfg.repeat_interval {
        r.repeat_interval = d.0;
    }
    r.matchers = route_matchers(cfg);
    r.continue_matching = cfg.continue_matching;
    // Time intervals belong to the route itself, not its children.
    r.mute_time_intervals = cfg.mute_time_intervals.clone();
    r.active_time_intervals = cfg.active_time_intervals.clone();
    for (k, v) in &cfg.labels {
        r.labels.insert(k.clone(), v.clone());
    }
    let own = format_matchers_sorted(&r.matchers);
    match sibling {
        None => {
            r.path = "root".into();
            r.key = own.clone();
            r.id = own;
        }
        Some((i, parent_id)) => {
            r.path = format!("{} › {own}", parent.path);
            r.key = format!("{}/{}", parent.key, own);
            r.id = format!("{parent_id}/{own}/{i}");
        }
    }
    let id = r.id.clone();
    let children: Vec<Route> =
        cfg.routes.iter().enumerate().map(|(i, c)| build(c, &r, Some((i, &id)), counter)).collect();
    r.routes = children;
    r.index = *counter;
    *counter += 1;
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::config::parse_str;

    fn tree(yaml: &str) -> Route {
        let cfg = parse_str(yaml, "t.yml").unwrap_or_else(|e| panic!("{e}"));
        Route::from_config(&cfg.route)
    }

    const RECEIVERS: &str = "receivers:\n  - name: notify-def\n  - name: notify-A\n  - name: notify-testing\n  - name: notify-productionA\n  - name: notify-productionB\n  - name: notify-BC\n";

    const T1: &str = r#"
route:
  receiver: notify-def
  routes:
  - match: {owner: team-A}
    receiver: notify-A
    routes:
    - match: {env: testing}
      receiver: notify-testing
      group_by: ['...']
    - match: {env: production}
      receiver: notify-productionA
      group_wait: 1m
      continue: true
    - match_re: {env: "produ.*", job: ".*"}
      receiver: notify-productionB
      group_wait: 30s
      group_interval: 5m
      repeat_interval: 1h
      group_by: [job]
  - match_re: {owner: "team-(B|C)"}
    group_by: [foo, bar]
    group_wait: 2m
    receiver: notify-BC
  - match: {group_by: role}
    group_by: [role]
    routes:
    - match: {env: testing}
      receiver: notify-testing
      routes:
      - match: {wait: long}
        group_wait: 2m
"#;

    fn l(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().map(|(a, b)| (*a, *b)))
    }

    fn summary(r: &Route) -> String {
        let gb = if r.group_by_all { "...".to_string() } else { r.group_by.join(",") };
        format!(
            "{};{};{}/{}/{};{}",
            r.receiver,
            gb,
            r.group_wait.as_secs(),
            r.group_interval.as_secs(),
            r.repeat_interval.as_secs(),
            r.key
        )
    }

    #[test]
    fn tree_t1() {
        let t = tree(&format!("{T1}{RECEIVERS}"));
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);
        let cases: &[Case<'_>] = &[
            (&[("owner", "team-A")], &[r#"notify-A;;30/300/14400;{}/{owner="team-A"}"#]),
            (&[("owner", "team-A"), ("env", "unset")], &[r#"notify-A;;30/300/14400;{}/{owner="team-A"}"#]),
            (&[("owner", "team-C")], &[r#"notify-BC;bar,foo;120/300/14400;{}/{owner=~"^(?:team-(B|C))$"}"#]),
            (
                &[("owner", "team-A"), ("env", "testing")],
                &[r#"notify-testing;...;30/300/14400;{}/{owner="team-A"}/{env="testing"}"#],
            ),
            (
                &[("owner", "team-A"), ("env", "production")],
                &[
                    r#"notify-productionA;;60/300/14400;{}/{owner="team-A"}/{env="production"}"#,
                    r#"notify-productionB;job;30/300/3600;{}/{owner="team-A"}/{env=~"^(?:produ.*)$",job=~"^(?:.*)$"}"#,
                ],
            ),
            (&[("group_by", "role")], &[r#"notify-def;role;30/300/14400;{}/{group_by="role"}"#]),
            (
                &[("env", "testing"), ("group_by", "role")],
                &[r#"notify-testing;role;30/300/14400;{}/{group_by="role"}/{env="testing"}"#],
            ),
            (
                &[("env", "testing"), ("group_by", "role"), ("wait", "long")],
                &[r#"notify-testing;role;120/300/14400;{}/{group_by="role"}/{env="testing"}/{wait="long"}"#],
            ),
        ];
        for (labels, want) in cases {
            let got: Vec<String> = t.matches(&l(labels)).iter().map(|r| summary(r)).collect();
            assert_eq!(got, *want, "labels {labels:?}");
        }
        let m = t.matches(&l(&[("owner", "team-A"), ("env", "testing")]));
        assert_eq!(m[0].path, r#"root › {owner="team-A"} › {env="testing"}"#);
        assert_eq!(t.path, "root");
        let mut walk = Vec::new();
        t.walk(&mut |r| walk.push(r.receiver.clone()));
        assert_eq!(
            walk,
            [
                "notify-def",
                "notify-A",
                "notify-testing",
                "notify-productionA",
                "notify-productionB",
                "notify-BC",
                "notify-def",
                "notify-testing",
                "notify-testing"
            ]
        );
        let mut idx = Vec::new();
        t.walk(&mut |r| idx.push(r.index));
        assert_eq!(t.index, 8);
        idx.sort();
        assert_eq!(idx, (0..9).collect::<Vec<_>>());
    }

    #[test]
    fn tree_t2_new_matchers() {
        let t2 = r#"
route:
  receiver: notify-def
  routes:
  - matchers: ['owner="team-A"', 'level!="critical"']
    receiver: notify-A
    routes:
    - matchers: ['env="testing"', 'baz!~".*quux"']
      receiver: notify-testing
      group_by: ['...']
    - matchers: ['env="production"']
      receiver: notify-productionA
      continue: true
    - matchers: [env=~"produ.*", job=~".*"]
      receiver: notify-productionB
  - matchers: ['owner=~"team-(B|C)"']
    receiver: notify-BC
"#;
        let t = tree(&format!("{t2}{RECEIVERS}"));
        let keys = |labels: &[(&str, &str)]| t.matches(&l(labels)).iter().map(|r| r.key.clone()).collect::<Vec<_>>();
        assert_eq!(keys(&[("owner", "team-A")]), [r#"{}/{level!="critical",owner="team-A"}"#]);
        assert_eq!(keys(&[("owner", "team-C")]), [r#"{}/{owner=~"team-(B|C)"}"#]);
        assert_eq!(
            keys(&[("owner", "team-A"), ("env", "testing")]),
            [r#"{}/{level!="critical",owner="team-A"}/{baz!~".*quux",env="testing"}"#]
        );
        assert_eq!(
            keys(&[("owner", "team-A"), ("env", "production")]),
            [
                r#"{}/{level!="critical",owner="team-A"}/{env="production"}"#,
                r#"{}/{level!="critical",owner="team-A"}/{env=~"produ.*",job=~".*"}"#
            ]
        );
        // level=critical fails R1, so the root matches.
        assert_eq!(keys(&[("owner", "team-A"), ("level", "critical")]), ["{}"]);
    }

    #[test]
    fn group_by_all_inheritance_and_labels() {
        let y = r#"
route:
  receiver: r
  routes:
  - matchers: [env="parent"]
    group_by: ['...']
    labels: {team: a}
    routes:
    - matchers: [env="child1"]
      labels: {team: b, sev: x}
    - matchers: [env="child2"]
      group_by: [foo]
receivers: [{name: r}]
"#;
        let t = tree(y);
        let p = &t.routes[0];
        assert!(p.group_by_all && p.routes[0].group_by_all && !p.routes[1].group_by_all);
        assert_eq!(p.routes[0].labels.get("team").map(String::as_str), Some("b"));
        assert_eq!(p.routes[0].labels.len(), 2);
    }

    #[test]
    fn route_ids_with_duplicates() {
        let y = r#"
route:
  receiver: default
  routes:
  - {matchers: [foo="bar"], continue: true, receiver: test1, routes: [{matchers: [bar="baz"]}]}
  - {matchers: [foo="bar"], continue: true, receiver: test1, routes: [{matchers: [bar="baz"]}]}
  - {matchers: [foo="bar"], continue: true, receiver: test2, routes: [{matchers: [bar="baz"]}]}
  - {matchers: [bar="baz"], continue: true, receiver: test3, routes: [{matchers: [baz="qux"]}, {matchers: [qux="corge"]}]}
  - {matchers: ['qux=~"[a-zA-Z0-9]+"'], continue: true}
  - {matchers: ['corge!~"[0-9]+"'], continue: true}
receivers: [{name: default}, {name: test1}, {name: test2}, {name: test3}]
"#;
        let t = tree(y);
        let mut ids = Vec::new();
        t.walk(&mut |r| ids.push(r.id.clone()));
        ids.sort();
        let mut want = vec![
            "{}",
            r#"{}/{foo="bar"}/0"#,
            r#"{}/{foo="bar"}/0/{bar="baz"}/0"#,
            r#"{}/{foo="bar"}/1"#,
            r#"{}/{foo="bar"}/1/{bar="baz"}/0"#,
            r#"{}/{foo="bar"}/2"#,
            r#"{}/{foo="bar"}/2/{bar="baz"}/0"#,
            r#"{}/{bar="baz"}/3"#,
            r#"{}/{bar="baz"}/3/{baz="qux"}/0"#,
            r#"{}/{bar="baz"}/3/{qux="corge"}/1"#,
            r#"{}/{qux=~"[a-zA-Z0-9]+"}/4"#,
            r#"{}/{corge!~"[0-9]+"}/5"#,
        ];
        want.sort();
        assert_eq!(ids, want);
    }
}
