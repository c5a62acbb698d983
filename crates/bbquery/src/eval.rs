//! Evaluating an expression over a [`Graph`].

use std::collections::VecDeque;

use indexmap::IndexSet;
use rustc_hash::FxHashMap;

use crate::parse::{Expr, QueryError, SetOp};

/// Index of a node in a [`Graph`].
pub type NodeId = usize;

/// An ordered set of nodes: the value of every expression.
pub type NodeSet = IndexSet<NodeId>;

/// What queries run over: labelled nodes, their kinds and what each depends on.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    labels: Vec<String>,
    kinds: Vec<Vec<String>>,
    deps: Vec<Vec<NodeId>>,
    rdeps: Vec<Vec<NodeId>>,
    by_label: FxHashMap<String, NodeId>,
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Graph {
        Graph::default()
    }

    /// Adds a node (or returns the one with this label); `kinds` are what `kind()` matches
    /// (for a recipe: `recipe` and the classes it inherits).
    pub fn add_node(&mut self, label: &str, kinds: Vec<String>) -> NodeId {
        if let Some(&id) = self.by_label.get(label) {
            return id;
        }
        let id = self.labels.len();
        self.labels.push(label.to_owned());
        self.kinds.push(kinds);
        self.deps.push(Vec::new());
        self.rdeps.push(Vec::new());
        self.by_label.insert(label.to_owned(), id);
        id
    }

    /// Another name for a node (a PROVIDES name such as `virtual/kernel`).
    pub fn add_alias(&mut self, alias: &str, node: NodeId) {
        self.by_label.entry(alias.to_owned()).or_insert(node);
    }

    /// Records that `from` depends on `to`.
    pub fn add_edge(&mut self, from: NodeId, to: NodeId) {
        if from != to && !self.deps[from].contains(&to) {
            self.deps[from].push(to);
            self.rdeps[to].push(from);
        }
    }

    /// The node called `label` (or aliased so).
    pub fn find(&self, label: &str) -> Option<NodeId> {
        self.by_label.get(label).copied()
    }

    /// A node's label.
    pub fn label(&self, node: NodeId) -> &str {
        &self.labels[node]
    }

    /// A node's kinds.
    pub fn kinds(&self, node: NodeId) -> &[String] {
        &self.kinds[node]
    }

    /// What a node depends on.
    pub fn deps(&self, node: NodeId) -> &[NodeId] {
        &self.deps[node]
    }

    /// Nodes reachable from `start` along `edges` within `depth` steps (0: `start` itself).
    fn reach(&self, start: &NodeSet, depth: Option<usize>, forward: bool) -> NodeSet {
        let edges = if forward { &self.deps } else { &self.rdeps };
        let mut seen: NodeSet = start.clone();
        let mut queue: VecDeque<(NodeId, usize)> = start.iter().map(|&n| (n, 0)).collect();
        while let Some((node, distance)) = queue.pop_front() {
            if depth.is_some_and(|d| distance >= d) {
                continue;
            }
            for &next in &edges[node] {
                if seen.insert(next) {
                    queue.push_back((next, distance + 1));
                }
            }
        }
        seen
    }
}

/// Reads a variable of the recipe behind a node, for `attr()`.
pub trait Attributes {
    /// The value of `name` for `label`, if it has one.
    fn value(&self, label: &str, name: &str) -> Option<String>;
}

impl<F: Fn(&str, &str) -> Option<String>> Attributes for F {
    fn value(&self, label: &str, name: &str) -> Option<String> {
        self(label, name)
    }
}

fn regex(pattern: &str) -> Result<fancy_regex::Regex, QueryError> {
    fancy_regex::Regex::new(pattern).map_err(|e| QueryError {
        column: 0,
        message: format!("invalid regular expression '{pattern}': {e}"),
    })
}

fn matching(
    set: NodeSet,
    pattern: &str,
    test: impl Fn(&fancy_regex::Regex, NodeId) -> bool,
) -> Result<NodeSet, QueryError> {
    let regex = regex(pattern)?;
    Ok(set.into_iter().filter(|&n| test(&regex, n)).collect())
}

/// Evaluates `expr` over `graph`, reading variables through `attributes`.
pub fn evaluate(
    expr: &Expr,
    graph: &Graph,
    attributes: &dyn Attributes,
) -> Result<NodeSet, QueryError> {
    Evaluator {
        graph,
        attributes,
        variables: Vec::new(),
    }
    .eval(expr)
}

struct Evaluator<'a> {
    graph: &'a Graph,
    attributes: &'a dyn Attributes,
    variables: Vec<(String, NodeSet)>,
}

impl Evaluator<'_> {
    fn target(&self, word: &str) -> Result<NodeId, QueryError> {
        self.graph.find(word).ok_or_else(|| QueryError {
            column: 0,
            message: format!("no such target '{word}'"),
        })
    }

    fn eval(&mut self, expr: &Expr) -> Result<NodeSet, QueryError> {
        let graph = self.graph;
        Ok(match expr {
            Expr::Target(word) => NodeSet::from_iter([self.target(word)?]),
            Expr::Set(words) => words
                .iter()
                .map(|w| self.target(w))
                .collect::<Result<_, _>>()?,
            Expr::Variable(name) => self
                .variables
                .iter()
                .rev()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .ok_or_else(|| QueryError {
                    column: 0,
                    message: format!("undefined variable '${name}'"),
                })?,
            Expr::Let(name, value, body) => {
                let value = self.eval(value)?;
                self.variables.push((name.clone(), value));
                let result = self.eval(body);
                self.variables.pop();
                result?
            }
            Expr::Binary(op, left, right) => {
                let left = self.eval(left)?;
                let right = self.eval(right)?;
                match op {
                    SetOp::Union => left.union(&right).copied().collect(),
                    SetOp::Except => left.difference(&right).copied().collect(),
                    SetOp::Intersect => left.intersection(&right).copied().collect(),
                }
            }
            Expr::Deps(x, depth) => graph.reach(&self.eval(x)?, *depth, true),
            Expr::Rdeps(universe, x, depth) => {
                let closure = graph.reach(&self.eval(universe)?, None, true);
                let start: NodeSet = self
                    .eval(x)?
                    .into_iter()
                    .filter(|n| closure.contains(n))
                    .collect();
                graph
                    .reach(&start, *depth, false)
                    .into_iter()
                    .filter(|n| closure.contains(n))
                    .collect()
            }
            Expr::AllPaths(from, to) => {
                let down = graph.reach(&self.eval(from)?, None, true);
                let up = graph.reach(&self.eval(to)?, None, false);
                down.into_iter().filter(|n| up.contains(n)).collect()
            }
            Expr::SomePath(from, to) => {
                let from = self.eval(from)?;
                let to = self.eval(to)?;
                some_path(graph, &from, &to)
            }
            Expr::Kind(pattern, x) => matching(self.eval(x)?, pattern, |r, n| {
                graph
                    .kinds(n)
                    .iter()
                    .any(|k| r.is_match(k).unwrap_or(false))
            })?,
            Expr::Filter(pattern, x) => matching(self.eval(x)?, pattern, |r, n| {
                r.is_match(graph.label(n)).unwrap_or(false)
            })?,
            Expr::Attr(name, pattern, x) => {
                let attributes = self.attributes;
                matching(self.eval(x)?, pattern, |r, n| {
                    attributes
                        .value(graph.label(n), name)
                        .is_some_and(|v| r.is_match(&v).unwrap_or(false))
                })?
            }
        })
    }
}

/// One path from any node of `from` to any of `to` (breadth first, so a shortest one), in
/// order from start to end; empty if there is none.
fn some_path(graph: &Graph, from: &NodeSet, to: &NodeSet) -> NodeSet {
    let mut parent: FxHashMap<NodeId, Option<NodeId>> = FxHashMap::default();
    let mut queue: VecDeque<NodeId> = VecDeque::new();
    for &start in from {
        parent.insert(start, None);
        queue.push_back(start);
    }
    while let Some(node) = queue.pop_front() {
        if to.contains(&node) {
            let mut path = vec![node];
            let mut at = node;
            while let Some(Some(previous)) = parent.get(&at) {
                path.push(*previous);
                at = *previous;
            }
            return path.into_iter().rev().collect();
        }
        for &next in graph.deps(node) {
            if let std::collections::hash_map::Entry::Vacant(entry) = parent.entry(next) {
                entry.insert(Some(node));
                queue.push_back(next);
            }
        }
    }
    NodeSet::new()
}
