//! Bazel's query language over BitBake recipes and tasks.
//!
//! A [`Graph`] holds labelled nodes (`zlib` for a recipe, `zlib:do_compile` for a task),
//! their kinds (for a recipe: `recipe` and every class it inherits) and their
//! dependencies; [`parse`] reads an expression and [`evaluate`] computes its set of nodes.
//! Variables for `attr()` come from the caller through [`Attributes`].
//!
//! Functions: `deps(x[, depth])`, `rdeps(universe, x[, depth])`, `allpaths(from, to)`,
//! `somepath(from, to)`, `kind(pattern, x)`, `filter(pattern, x)`,
//! `attr(VAR, pattern, x)` (patterns are unanchored regular expressions), `set(a b c)`;
//! set operators `+`/`union`, `-`/`except`, `^`/`intersect` (left-associative, equal
//! precedence); `let v = e in e2` with `$v`.
//!
//! ```
//! use bbquery::{Graph, evaluate, parse};
//!
//! let mut graph = Graph::new();
//! let image = graph.add_node("core-image", vec!["recipe".into(), "image".into()]);
//! let busybox = graph.add_node("busybox", vec!["recipe".into()]);
//! let zlib = graph.add_node("zlib", vec!["recipe".into(), "autotools".into()]);
//! graph.add_edge(image, busybox);
//! graph.add_edge(busybox, zlib);
//! let licence = |label: &str, var: &str| (var == "LICENSE").then(|| {
//!     if label == "zlib" { "Zlib".to_owned() } else { "GPL-2.0-only".to_owned() }
//! });
//! let labels = |query: &str| -> Vec<String> {
//!     let set = evaluate(&parse(query).unwrap(), &graph, &licence).unwrap();
//!     set.iter().map(|&n| graph.label(n).to_owned()).collect()
//! };
//! assert_eq!(labels("deps(core-image) - core-image"), ["busybox", "zlib"]);
//! assert_eq!(labels("rdeps(core-image, zlib, 1)"), ["zlib", "busybox"]);
//! assert_eq!(labels("kind(autotools, deps(core-image))"), ["zlib"]);
//! assert_eq!(labels("attr(LICENSE, GPL, deps(core-image))"), ["core-image", "busybox"]);
//! assert_eq!(labels("let d = deps(busybox) in $d ^ filter('^z', $d)"), ["zlib"]);
//! let error = parse("deps(core-image").unwrap_err();
//! assert_eq!((error.column, error.message.as_str()), (16, "expected ')', found the end of the expression"));
//! ```

mod eval;
mod parse;

pub use eval::{Attributes, Graph, NodeId, NodeSet, evaluate};
pub use parse::{Expr, QueryError, SetOp, parse};

impl Graph {
    /// The nodes of `set` and the edges among them, as a dot graph (Bazel's
    /// `--output=graph`).
    pub fn to_dot(&self, set: &NodeSet) -> String {
        let mut labels: Vec<(&str, NodeId)> = set.iter().map(|&n| (self.label(n), n)).collect();
        labels.sort();
        let mut out = String::from("digraph mygraph {\n  node [shape=box];\n");
        for (label, node) in &labels {
            out.push_str(&format!("  \"{label}\"\n"));
            let mut deps: Vec<&str> = self
                .deps(*node)
                .iter()
                .filter(|d| set.contains(*d))
                .map(|&d| self.label(d))
                .collect();
            deps.sort();
            for dep in deps {
                out.push_str(&format!("  \"{label}\" -> \"{dep}\"\n"));
            }
        }
        out.push_str("}\n");
        out
    }
}
