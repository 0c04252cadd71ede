//! Reduction fingerprints (`dot`, `sum`, `sum_squares`, `cosine`): a counted loop
//! with no stores whose loop-carried locals are accumulators
//! `acc = acc + g(loads)` (several `g` terms when the compiler unrolled it).
//!
//! Accepted shapes, named in the match: `reduce-<op>-x<terms>`.
//! Float sums cannot be vectorized without changing the summation order, so they
//! are exact only as integer (wrapping) sums.

use super::types::node_type;
use super::NoMatch;
use crate::analysis::affine::inductions;
use crate::analysis::trip_count::trip_count;
use crate::analysis::value_graph::{LoopBody, Node};
use crate::report::Elem;
use petgraph::graph::NodeIndex;
use walrus::ir::{BinaryOp, LoadKind, UnaryOp};
use walrus::{LocalId, Module, ValType};

/// One accumulator of a reduction loop.
#[derive(Clone, Debug)]
pub struct Accumulator {
    /// The local carrying the sum.
    pub local: LocalId,
    /// The addition used.
    pub op: BinaryOp,
    /// The terms added per iteration (one per unrolled copy).
    pub terms: Vec<NodeIndex>,
    /// What one term computes.
    pub pattern: &'static str,
    /// The element type of the loads.
    pub elem: Option<Elem>,
}

/// A matched reduction loop.
#[derive(Clone, Debug)]
pub struct ReductionMatch {
    /// The accepted shape's name.
    pub shape: String,
    /// The report's pattern (`cosine` when one loop holds a dot and two squares).
    pub pattern: &'static str,
    /// Element type.
    pub elem: Option<Elem>,
    /// Whether vectorizing keeps the result bit-exact (integer sums).
    pub exact: bool,
    /// The accumulators.
    pub accumulators: Vec<Accumulator>,
}

fn add_op(op: BinaryOp) -> bool {
    matches!(
        op,
        BinaryOp::F32Add | BinaryOp::F64Add | BinaryOp::I32Add | BinaryOp::I64Add
    )
}

/// Flattens `acc + t1 + t2 + ...` (any association) into its terms, if `phi`
/// occurs exactly once as a leaf.
fn sum_terms(
    body: &LoopBody,
    end: NodeIndex,
    phi: NodeIndex,
    op: BinaryOp,
) -> Option<Vec<NodeIndex>> {
    let mut terms = Vec::new();
    let mut phi_seen = 0;
    let mut work = vec![end];
    while let Some(n) = work.pop() {
        if n == phi {
            phi_seen += 1;
            continue;
        }
        match &body.graph[n] {
            Node::Binop(o) if format!("{o:?}") == format!("{op:?}") => {
                work.extend(body.operands(n))
            }
            _ => {
                if body.uses(n, phi) {
                    return None;
                }
                terms.push(n);
            }
        }
    }
    (phi_seen == 1).then_some(terms)
}

fn strip_extend(body: &LoopBody, n: NodeIndex) -> NodeIndex {
    match &body.graph[n] {
        Node::Unop(UnaryOp::I64ExtendSI32 | UnaryOp::I64ExtendUI32 | UnaryOp::F64PromoteF32) => {
            body.operands(n)[0]
        }
        _ => n,
    }
}

fn load_elem(kind: LoadKind) -> Elem {
    match kind {
        LoadKind::I32_8 {
            kind: walrus::ir::ExtendedLoad::SignExtend,
        }
        | LoadKind::I64_8 {
            kind: walrus::ir::ExtendedLoad::SignExtend,
        } => Elem::I8,
        LoadKind::I32_8 { .. } | LoadKind::I64_8 { .. } => Elem::U8,
        LoadKind::I32_16 { .. } | LoadKind::I64_16 { .. } => Elem::I16,
        LoadKind::I32 { .. } | LoadKind::I64_32 { .. } => Elem::I32,
        LoadKind::I64 { .. } => Elem::I64,
        LoadKind::F32 => Elem::F32,
        LoadKind::F64 => Elem::F64,
        LoadKind::V128 => Elem::I8,
    }
}

/// Names one term: a load (`sum`), a product of two loads (`dot`), or of one load
/// with itself (`sum_squares`).
fn classify_term(body: &LoopBody, term: NodeIndex) -> Option<(&'static str, Elem)> {
    let term = strip_extend(body, term);
    let load_of = |n: NodeIndex| -> Option<(NodeIndex, Elem)> {
        let n = strip_extend(body, n);
        match body.graph[n] {
            Node::Load { kind, .. } => Some((n, load_elem(kind))),
            _ => None,
        }
    };
    if let Some((_, elem)) = load_of(term) {
        return Some(("sum", elem));
    }
    if let Node::Binop(op) = body.graph[term] {
        if format!("{op:?}").ends_with("Mul") {
            let ops = body.operands(term);
            let (a, b) = (load_of(ops[0])?, load_of(ops[1])?);
            let same = a.0 == b.0 || same_address(body, a.0, b.0);
            return Some((if same { "sum_squares" } else { "dot" }, a.1));
        }
    }
    None
}

fn same_address(body: &LoopBody, a: NodeIndex, b: NodeIndex) -> bool {
    let addr = |n: NodeIndex| crate::analysis::affine::affine_i32(body, body.operands(n)[0]);
    let offset = |n: NodeIndex| match body.graph[n] {
        Node::Load { arg, .. } => arg.offset,
        _ => 0,
    };
    addr(a).is_some() && addr(a) == addr(b) && offset(a) == offset(b)
}

/// Matches a reduction loop.
pub fn match_reduction(module: &Module, body: &LoopBody) -> Result<ReductionMatch, NoMatch> {
    // Cheap reject: reductions do not store, and carry at least one non-induction local.
    if !body.stores.is_empty() {
        return Err(NoMatch::Unrelated);
    }
    let steps = inductions(body);
    let mut accumulators = Vec::new();
    let mut carried: Vec<(&LocalId, &NodeIndex)> = body.end_values.iter().collect();
    carried.sort_by_key(|(local, _)| local.index());
    for (local, end) in carried {
        let Some(phi) = body.phis.get(local) else {
            continue;
        };
        if steps.contains_key(local) {
            continue;
        }
        let Node::Binop(op) = body.graph[*end] else {
            return Err(NoMatch::Unrelated);
        };
        if !add_op(op) {
            return Err(NoMatch::Unrelated);
        }
        let Some(terms) = sum_terms(body, *end, *phi, op) else {
            return Err(NoMatch::Unrelated);
        };
        let mut kinds = terms.iter().map(|t| classify_term(body, *t));
        let Some(Some((pattern, elem))) = kinds.next() else {
            return Err(NoMatch::Unrelated);
        };
        if kinds.any(|k| k.map(|k| k.0) != Some(pattern)) {
            return Err(NoMatch::Unrelated);
        }
        accumulators.push(Accumulator {
            local: *local,
            op,
            terms,
            pattern,
            elem: Some(elem),
        });
    }
    if accumulators.is_empty() {
        return Err(NoMatch::Unrelated);
    }
    let first = &accumulators[0];
    let pattern = if accumulators.len() == 3
        && accumulators.iter().filter(|a| a.pattern == "dot").count() == 1
        && accumulators
            .iter()
            .filter(|a| a.pattern == "sum_squares")
            .count()
            == 2
    {
        "cosine"
    } else {
        first.pattern
    };
    if let Some(blocker) = body.blockers.first() {
        return Err(NoMatch::declined(pattern, blocker.clone()));
    }
    trip_count(body, &steps).map_err(|reason| NoMatch::declined(pattern, reason))?;
    let float = accumulators.iter().any(|a| {
        matches!(
            node_type(module, body, a.terms[0]),
            Some(ValType::F32 | ValType::F64)
        )
    });
    Ok(ReductionMatch {
        shape: format!("reduce-{:?}-x{}", first.op, first.terms.len()).to_lowercase(),
        pattern,
        elem: first.elem,
        exact: !float,
        accumulators,
    })
}
