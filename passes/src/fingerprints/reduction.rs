//! Reduction fingerprints (`dot`, `sum`, `sum_squares`, `cosine`): a counted loop
//! with no stores whose loop-carried locals are accumulators
//! `acc = acc + g(loads)` (several `g` terms when the compiler unrolled it).
//!
//! Accepted shapes, named in the match: `reduce-<op>-x<terms>`.
//! Float sums cannot be vectorized without changing the summation order, so they
//! are exact only as integer (wrapping) sums.

use super::elementwise::lane_text;
use super::types::node_type;
use super::NoMatch;
use crate::analysis::affine::{affine_i32, inductions};
use crate::analysis::trip_count::trip_count;
use crate::analysis::value_graph::{LoopBody, Node};
use crate::report::Elem;
use petgraph::graph::NodeIndex;
use walrus::ir::{BinaryOp, LoadKind, UnaryOp, Value};
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
    /// The accumulators (ordered by element when `interleaved`).
    pub accumulators: Vec<Accumulator>,
    /// The accumulators take consecutive elements (`acc_j += f(x[i + j])`,
    /// `i += m`): SIMD lane `j` then adds exactly what `acc_j` adds, in the same
    /// order, so even float sums stay bit-exact.
    pub interleaved: bool,
    /// A running minimum or maximum instead of a sum (see [`match_extremum`]).
    pub extremum: Option<Extremum>,
    /// With the extremum, the index of the element it came from (`argmax`).
    pub index: Option<ArgIndex>,
    /// With the extremum, how the loop normalizes the running value where it
    /// compares or keeps it (see [`Normalize`]).
    pub normalize: Option<Normalize>,
}

/// How a loop over 8- or 16-bit elements re-narrows its running extreme: rustc's
/// `iter().max()` over `u8` compares `(m & 255) > t`, clang's `uint8_t m` keeps
/// `m & 255`, an `i16` minimum compares `(m << 16) >> 16`. The normalization leaves
/// every element unchanged, so once the running value is one of them, or starts
/// as a value it leaves unchanged (the guard checks that at entry), the loop is a
/// plain extremum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Normalize {
    /// `x & mask` (255 or 65535).
    Mask(i32),
    /// Sign extension from this many bits (8 or 16).
    SignExtend(u32),
}

impl Normalize {
    /// `x` normalized (an `i32` as i64).
    pub fn apply(self, x: i64) -> i64 {
        match self {
            Normalize::Mask(m) => x & m as i64,
            Normalize::SignExtend(bits) => {
                let shift = 64 - bits;
                (x << shift) >> shift
            }
        }
    }
}

/// `node` as a normalization of another node: `(operand, how)`.
fn normalization(body: &LoopBody, node: NodeIndex) -> Option<(NodeIndex, Normalize)> {
    let ops = body.operands(node);
    match body.graph[node] {
        Node::Binop(BinaryOp::I32And) => {
            let (x, c) = match (&body.graph[ops[0]], &body.graph[ops[1]]) {
                (_, Node::Const(Value::I32(c))) => (ops[0], *c),
                (Node::Const(Value::I32(c)), _) => (ops[1], *c),
                _ => return None,
            };
            matches!(c, 255 | 65535).then_some((x, Normalize::Mask(c)))
        }
        Node::Unop(UnaryOp::I32Extend8S) => Some((ops[0], Normalize::SignExtend(8))),
        Node::Unop(UnaryOp::I32Extend16S) => Some((ops[0], Normalize::SignExtend(16))),
        Node::Binop(BinaryOp::I32ShrS) => {
            let Node::Const(Value::I32(k)) = body.graph[ops[1]] else {
                return None;
            };
            let Node::Binop(BinaryOp::I32Shl) = body.graph[ops[0]] else {
                return None;
            };
            let inner = body.operands(ops[0]);
            let Node::Const(Value::I32(j)) = body.graph[inner[1]] else {
                return None;
            };
            (j == k && matches!(k, 16 | 24))
                .then_some((inner[0], Normalize::SignExtend(32 - k as u32)))
        }
        _ => None,
    }
}

/// Whether `how` leaves every value of the element `t` unchanged.
fn keeps_element(body: &LoopBody, t: NodeIndex, how: Normalize) -> bool {
    let Node::Load { kind, .. } = body.graph[t] else {
        return false;
    };
    let (lo, hi): (i64, i64) = match kind {
        LoadKind::I32_8 {
            kind: walrus::ir::ExtendedLoad::ZeroExtend,
        } => (0, 255),
        LoadKind::I32_8 {
            kind: walrus::ir::ExtendedLoad::SignExtend,
        } => (-128, 127),
        LoadKind::I32_16 {
            kind: walrus::ir::ExtendedLoad::ZeroExtend,
        } => (0, 65535),
        LoadKind::I32_16 {
            kind: walrus::ir::ExtendedLoad::SignExtend,
        } => (-32768, 32767),
        _ => return false,
    };
    // (Monotone pieces: the ends suffice for a mask of a non-negative range and a
    // sign extension of a range inside its own.)
    how.apply(lo) == lo
        && how.apply(hi) == hi
        && (lo >= 0 || matches!(how, Normalize::SignExtend(_)))
}

/// The second carried value of an `argmax`/`argmin` loop: `k = C(t, m) ? idx : k`
/// beside `m = C(t, m) ? t : m`, for every element of the iteration.
#[derive(Clone, Debug)]
pub struct ArgIndex {
    /// The local carrying the index.
    pub local: LocalId,
    /// The index of the iteration's first element (in memory order): an affine
    /// `i32` of the inductions growing by one per element.
    pub first: NodeIndex,
    /// The extreme is not carried but read again through the index each iteration
    /// (`x[i] > x[best]`).
    pub reload: Option<Reload>,
    /// Those re-reads' load nodes.
    pub reloaded: Vec<NodeIndex>,
}

/// The load of `x[k]` in an argmax that re-reads its extreme through the index.
#[derive(Clone, Copy, Debug)]
pub struct Reload {
    /// The first step's reload address (an affine `i32` of the index's phi, with
    /// coefficient `width`, and of loop invariants).
    pub addr: NodeIndex,
    /// The load's static offset.
    pub offset: u64,
    /// The load.
    pub kind: LoadKind,
    /// The memory read.
    pub memory: walrus::MemoryId,
    /// Bytes per element.
    pub width: i64,
    /// The iteration's first element's own load: its address and static offset
    /// (the guard checks that the reload reads it when the index is its index).
    pub element: (NodeIndex, u64),
}

/// How a min/max reduction folds one element `t` into the running value `m`.
#[derive(Clone, Copy, Debug)]
pub enum Extremum {
    /// `m = C(t, m) ? t : m`, `C` an ordered comparison (`>`, `>=`, `<`, `<=`,
    /// signed or unsigned for integers) taking `t` first: what
    /// `if (x[i] > m) m = x[i]` compiles to.
    Select(BinaryOp),
    /// `m = op(m, t)`, `op` wasm's own float `min`/`max` (NaN-propagating:
    /// AssemblyScript's `Math.max`, C under -ffast-math).
    Op(BinaryOp),
}

/// The folds of a reduction: additions, and the bitwise `or` and `xor` of
/// constant-time comparisons, parity and "any bit set" tests (integer folds are
/// exact in any order).
fn add_op(op: BinaryOp) -> bool {
    use BinaryOp::*;
    matches!(
        op,
        F32Add | F64Add | I32Add | I64Add | I32Or | I64Or | I32Xor | I64Xor
    )
}

/// The pattern of a bitwise fold (`None` for additions).
fn bitwise_pattern(op: BinaryOp) -> Option<&'static str> {
    use BinaryOp::*;
    match op {
        I32Or | I64Or => Some("reduce_or"),
        I32Xor | I64Xor => Some("reduce_xor"),
        _ => None,
    }
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

/// Names one term: a product of two loads (`dot`), of one load with itself
/// (`sum_squares`), or any other function of loads (`sum`).
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
            if let (Some(a), Some(b)) = (load_of(ops[0]), load_of(ops[1])) {
                let same = a.0 == b.0 || same_address(body, a.0, b.0);
                return Some((if same { "sum_squares" } else { "dot" }, a.1));
            }
        }
    }
    // Any other lane-wise function of the loads (`acc += x[i] * k`, `acc += x[i] & m`)
    // is a sum of that function; plan() checks that it vectorizes exactly.
    let first = *body.stream_loads_under(term).first()?;
    match body.graph[first] {
        Node::Load { kind, .. } => Some(("sum", load_elem(kind))),
        _ => None,
    }
}

fn same_address(body: &LoopBody, a: NodeIndex, b: NodeIndex) -> bool {
    let addr = |n: NodeIndex| crate::analysis::affine::affine_i32(body, body.operands(n)[0]);
    let offset = |n: NodeIndex| match body.graph[n] {
        Node::Load { arg, .. } => arg.offset,
        _ => 0,
    };
    addr(a).is_some() && addr(a) == addr(b) && offset(a) == offset(b)
}

/// `c` when `end` is `select(phi + 1, phi, c)` and `c` a comparison (0 or 1).
fn counted_condition(body: &LoopBody, end: NodeIndex, phi: NodeIndex) -> Option<NodeIndex> {
    if !matches!(body.graph[end], Node::Select) {
        return None;
    }
    let ops = body.operands(end);
    let (bumped, kept, cond) = (ops[0], ops[1], ops[2]);
    if kept != phi || !matches!(body.graph[bumped], Node::Binop(BinaryOp::I32Add)) {
        return None;
    }
    let add = body.operands(bumped);
    let one = |n: NodeIndex| matches!(body.graph[n], Node::Const(Value::I32(1)));
    if !((add[0] == phi && one(add[1])) || (add[1] == phi && one(add[0]))) {
        return None;
    }
    let boolean = match body.graph[cond] {
        Node::Binop(op) => {
            use BinaryOp::*;
            is_i32_compare(op)
                || matches!(
                    op,
                    F32Eq
                        | F32Ne
                        | F32Lt
                        | F32Gt
                        | F32Le
                        | F32Ge
                        | F64Eq
                        | F64Ne
                        | F64Lt
                        | F64Gt
                        | F64Le
                        | F64Ge
                        | I64Eq
                        | I64Ne
                        | I64LtS
                        | I64LtU
                        | I64GtS
                        | I64GtU
                        | I64LeS
                        | I64LeU
                        | I64GeS
                        | I64GeU
                )
        }
        Node::Unop(UnaryOp::I32Eqz | UnaryOp::I64Eqz) => true,
        _ => false,
    };
    boolean.then_some(cond)
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
        // A count written as a choice: `k = cond ? k + 1 : k` (AssemblyScript's
        // `if (..) k++`) adds the comparison's 0 or 1.
        if let Some(cond) = counted_condition(body, *end, *phi) {
            accumulators.push(Accumulator {
                local: *local,
                op: BinaryOp::I32Add,
                terms: vec![cond],
                pattern: "sum",
                elem: classify_term(body, cond).map(|(_, elem)| elem),
            });
            if accumulators.last().is_some_and(|a| a.elem.is_none()) {
                return Err(NoMatch::Unrelated);
            }
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
            pattern: bitwise_pattern(op).unwrap_or(pattern),
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
    let op = first.op;
    let terms = first.terms.len();
    let elem = first.elem;
    if let Some(ordered) = interleave(module, body, &accumulators, &steps) {
        return Ok(ReductionMatch {
            shape: format!("reduce-{op:?}-interleaved-x{}", ordered.len() * terms).to_lowercase(),
            pattern,
            elem,
            exact: true,
            accumulators: ordered,
            interleaved: true,
            extremum: None,
            index: None,
            normalize: None,
        });
    }
    Ok(ReductionMatch {
        shape: format!("reduce-{op:?}-x{terms}").to_lowercase(),
        pattern,
        elem,
        exact: !float,
        accumulators,
        interleaved: false,
        extremum: None,
        index: None,
        normalize: None,
    })
}

/// The lowest address offset of the loads under `term`: which element it reads.
fn term_offset(body: &LoopBody, term: NodeIndex) -> Option<i64> {
    body.stream_loads_under(term)
        .iter()
        .filter_map(|l| {
            let Node::Load { arg, .. } = body.graph[*l] else {
                return None;
            };
            affine_i32(body, body.operands(*l)[0]).map(|f| f.constant + arg.offset as i64)
        })
        .min()
}

/// How many of an accumulator's terms read the iteration's first element: more
/// than one where the compiler split an integer `s += f(x) + g(x)` into
/// `s + f(x) + g(x)` (exact in any grouping for wrapping adds and bitwise ors,
/// ands and xors); 1 otherwise.
fn same_element_terms(body: &LoopBody, acc: &Accumulator) -> usize {
    use BinaryOp::*;
    if !matches!(
        acc.op,
        I32Add | I64Add | I32Or | I64Or | I32And | I64And | I32Xor | I64Xor
    ) {
        return 1;
    }
    let offsets: Vec<Option<i64>> = acc.terms.iter().map(|t| term_offset(body, *t)).collect();
    let Some(first) = offsets.iter().flatten().min() else {
        return 1;
    };
    let group = offsets.iter().filter(|o| **o == Some(*first)).count();
    if group == 0 || !acc.terms.len().is_multiple_of(group) {
        1
    } else {
        group
    }
}

/// The width in bytes shared by every load under `terms`, if they share one.
fn load_width(body: &LoopBody, terms: &[NodeIndex]) -> Option<u32> {
    let mut width = None;
    for term in terms {
        for load in body.stream_loads_under(*term) {
            let Node::Load { kind, .. } = body.graph[load] else {
                continue;
            };
            if *width.get_or_insert(kind.width()) != kind.width() {
                return None;
            }
        }
    }
    width
}

/// The terms of `end` in the order they are added, when it is a chain
/// `((phi + t0) + t1) + ...` (each operand order allowed): the order a float sum
/// must keep.
fn ordered_chain(
    body: &LoopBody,
    end: NodeIndex,
    phi: NodeIndex,
    op: BinaryOp,
) -> Option<Vec<NodeIndex>> {
    let mut terms = Vec::new();
    let mut node = end;
    while node != phi {
        if !matches!(&body.graph[node], Node::Binop(o) if format!("{o:?}") == format!("{op:?}")) {
            return None;
        }
        let ops = body.operands(node);
        let (rest, term) = match (body.uses(ops[0], phi), body.uses(ops[1], phi)) {
            (true, false) => (ops[0], ops[1]),
            (false, true) => (ops[1], ops[0]),
            _ => return None,
        };
        terms.push(term);
        node = rest;
    }
    terms.reverse();
    Some(terms)
}

/// The accumulators ordered by element when they are interleaved partial sums:
/// `m` accumulators (a power of two, a multiple of the SIMD lane count), each
/// adding `u` terms per iteration as a chain, where term `k` of accumulator `j`
/// is the lane expression shifted by `k * m + j` elements, and every stream
/// advancing `m * u` elements per iteration. This is how hand-unrolled code with
/// several partial sums looks (and what clang makes of it when it unrolls again).
/// Vector lane `j` of every chunk then adds exactly what `acc_j` adds, in order.
/// Each returned accumulator lists its terms in the order they are added.
fn interleave(
    module: &Module,
    body: &LoopBody,
    accumulators: &[Accumulator],
    steps: &std::collections::HashMap<LocalId, i64>,
) -> Option<Vec<Accumulator>> {
    let m = accumulators.len();
    let first = accumulators.first()?;
    let u = first.terms.len();
    if m < 2
        || accumulators
            .iter()
            .any(|a| a.terms.len() != u || format!("{:?}", a.op) != format!("{:?}", first.op))
    {
        return None;
    }
    let all_terms: Vec<NodeIndex> = accumulators
        .iter()
        .flat_map(|a| a.terms.iter().copied())
        .collect();
    let width = load_width(body, &all_terms)?;
    let lane_bytes = match node_type(module, body, all_terms[0])? {
        ValType::F32 | ValType::I32 => 4,
        ValType::F64 | ValType::I64 => 8,
        _ => return None,
    };
    // (Powers of two: the kernel rounds the count down with a mask.)
    if width != lane_bytes || !(m * u).is_power_of_two() || !m.is_multiple_of((16 / width) as usize)
    {
        return None;
    }
    let mut ordered: Vec<(i64, Accumulator)> = Vec::new();
    for acc in accumulators {
        let phi = *body.phis.get(&acc.local)?;
        let end = *body.end_values.get(&acc.local)?;
        let terms = ordered_chain(body, end, phi, acc.op)?;
        let offset = term_offset(body, terms[0])?;
        ordered.push((
            offset,
            Accumulator {
                terms,
                ..acc.clone()
            },
        ));
    }
    ordered.sort_by_key(|(o, _)| *o);
    let base = ordered[0].0;
    let lane0 = lane_text(body, ordered[0].1.terms[0], 0, 0).ok()?;
    for (j, (_, acc)) in ordered.iter().enumerate() {
        for (k, term) in acc.terms.iter().enumerate() {
            let shift = (k * m + j) as i64 * width as i64;
            if term_offset(body, *term)? != base + shift
                || lane_text(body, *term, shift, 0).ok()? != lane0
            {
                return None;
            }
        }
    }
    let stride = (m * u) as i64 * width as i64;
    let contiguous = all_terms
        .iter()
        .flat_map(|t| body.stream_loads_under(*t))
        .all(|l| {
            affine_i32(body, body.operands(l)[0])
                .is_some_and(|f| f.exact_increment(body, steps).unwrap_or(i64::MIN) == stride)
        });
    contiguous.then(|| ordered.into_iter().map(|(_, a)| a).collect())
}

/// A term of a widening sum (8- or 16-bit elements added into 32-bit lanes).
#[derive(Clone, Debug)]
pub struct WideTerm {
    /// Per operand (one for a sum, two for a product): the index of its stream in
    /// [`ReductionPlan::loads`] and whether the load sign-extends.
    pub operands: Vec<(usize, bool)>,
    /// A count rather than a sum of elements: the term is `load OP other` (1 where
    /// it holds), `other` a constant or a loop invariant.
    pub compare: Option<WideCompare>,
}

/// The comparison of a counting term, its load on the left.
#[derive(Clone, Copy, Debug)]
pub struct WideCompare {
    /// The scalar i32 comparison, as the loop evaluates it with the load first.
    pub op: BinaryOp,
    /// The other operand.
    pub other: Compared,
}

/// What a counting term compares its load with.
#[derive(Clone, Copy, Debug)]
pub enum Compared {
    /// A constant (`i32.eqz` compares with 0).
    Const(i32),
    /// One of [`ReductionPlan::invariants`].
    Invariant(NodeIndex),
}

impl WideCompare {
    /// The values `other` may take for the narrow lanes to compare exactly as the
    /// loop's i32 comparison does: those of the load's own extension.
    pub fn range(bytes: u32, signed: bool) -> (i64, i64) {
        let bits = 8 * bytes;
        if signed {
            (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1)
        } else {
            (0, (1i64 << bits) - 1)
        }
    }
}

/// What rewriting a reduction needs: lane shape, streams, and one lane-0 term per
/// accumulator.
#[derive(Clone, Debug)]
pub struct ReductionPlan {
    /// Accepted shape name.
    pub shape: String,
    /// Lane shape (the accumulators' type).
    pub lanes: super::types::Lanes,
    /// Elements per iteration.
    pub unroll: u32,
    /// Bytes each stream advances per iteration.
    pub stride: i64,
    /// Bytes per element of the streams (less than the lane width when widening).
    pub elem_bytes: u32,
    /// The memory read.
    pub memory: walrus::MemoryId,
    /// Distinct lane-0 loads.
    pub loads: Vec<super::elementwise::MapLoad>,
    /// Loop invariants of the terms.
    pub invariants: Vec<(NodeIndex, ValType)>,
    /// Per accumulator: local, operator, lane-0 term.
    pub accumulators: Vec<(LocalId, BinaryOp, NodeIndex)>,
    /// Per accumulator, for widening sums: how its term combines its loads.
    pub wide: Vec<WideTerm>,
    /// Per accumulator, the further lane-0 terms it adds for the same element (an
    /// integer `s += a[i] + b[i]` that the compiler split into `s + a[i] + b[i]`);
    /// empty for most.
    pub more: Vec<Vec<NodeIndex>>,
    /// A widening sum whose terms are not all [`WideTerm`]s: every term is computed
    /// in i32x4 lanes from four elements read and extended as the loop's loads
    /// extend them (`wide` is then empty).
    pub widened: bool,
    /// Accumulator `j` takes element `j` of each group of `unroll` (see
    /// [`ReductionMatch::interleaved`]): the kernel starts from the accumulators'
    /// values and returns their final values.
    pub interleaved: bool,
    /// A minimum or maximum: the kernel starts from the accumulator's value and
    /// returns its final value.
    pub extremum: Option<Extremum>,
    /// With the extremum, the index carried beside it (the kernel also starts from
    /// it and returns it).
    pub index: Option<ArgIndex>,
    /// Trip count.
    pub trip: crate::analysis::trip_count::TripCount,
    /// Induction steps.
    pub steps: std::collections::HashMap<LocalId, i64>,
}

/// Why a matched reduction is not rewritten.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlanError {
    /// barq could rewrite it but has no kernel for it yet (reported `detected`).
    NotYet(String),
    /// Something rules the rewrite out (reported `declined`, like elementwise near misses).
    RuledOut(String),
}

impl From<&str> for PlanError {
    fn from(reason: &str) -> Self {
        PlanError::RuledOut(reason.to_string())
    }
}

impl From<String> for PlanError {
    fn from(reason: String) -> Self {
        PlanError::RuledOut(reason)
    }
}

/// The operands of a widening term: `load`, `load * load`, or a comparison
/// `load OP other` counted as 0 or 1 (`other` a constant or a loop invariant), every
/// load an extending 8- or 16-bit load into i32 (or one explicitly sign-extended).
type WideOperands = (Vec<(NodeIndex, bool)>, Option<WideCompare>);

fn wide_operands(body: &LoopBody, term: NodeIndex) -> Option<WideOperands> {
    let operand = |n: NodeIndex| -> Option<(NodeIndex, bool)> {
        let (load, extend) = match body.graph[n] {
            Node::Unop(op @ (UnaryOp::I32Extend8S | UnaryOp::I32Extend16S)) => {
                (body.operands(n)[0], Some(op))
            }
            _ => (n, None),
        };
        let Node::Load { kind, .. } = body.graph[load] else {
            return None;
        };
        let signed = match kind {
            LoadKind::I32_8 { kind } | LoadKind::I32_16 { kind } => {
                matches!(kind, walrus::ir::ExtendedLoad::SignExtend)
            }
            _ => return None,
        };
        match (extend, kind.width()) {
            (None, _) => Some((load, signed)),
            (Some(UnaryOp::I32Extend8S), 1) | (Some(UnaryOp::I32Extend16S), 2) => {
                Some((load, true))
            }
            _ => None,
        }
    };
    match body.graph[term] {
        Node::Binop(BinaryOp::I32Mul) => {
            let ops = body.operands(term);
            Some((vec![operand(ops[0])?, operand(ops[1])?], None))
        }
        Node::Binop(op) if is_i32_compare(op) => {
            let ops = body.operands(term);
            let compared = |n: NodeIndex| match body.graph[n] {
                Node::Const(Value::I32(c)) => Some(Compared::Const(c)),
                _ if body.is_invariant(n) && body.loads_under(n).is_empty() => {
                    Some(Compared::Invariant(n))
                }
                _ => None,
            };
            let (load, other, op) = match (operand(ops[0]), operand(ops[1])) {
                (Some(load), None) => (load, compared(ops[1])?, op),
                (None, Some(load)) => {
                    let op = match op {
                        BinaryOp::I32Eq | BinaryOp::I32Ne => op,
                        _ => swapped(op)?,
                    };
                    (load, compared(ops[0])?, op)
                }
                _ => return None,
            };
            Some((vec![load], Some(WideCompare { op, other })))
        }
        // The sign bit shifted down: `x < 0` of the narrow value read as signed
        // (rustc and clang write `(v < 0) as u32` so).
        Node::Binop(BinaryOp::I32ShrU) => {
            let ops = body.operands(term);
            let Node::Const(Value::I32(k)) = body.graph[ops[1]] else {
                return None;
            };
            let (load, signed) = operand(ops[0])?;
            let Node::Load { kind, .. } = body.graph[load] else {
                return None;
            };
            let sign_bit = if signed {
                31
            } else {
                8 * kind.width() as i32 - 1
            };
            (k == sign_bit).then(|| {
                (
                    vec![(load, true)],
                    Some(WideCompare {
                        op: BinaryOp::I32LtS,
                        other: Compared::Const(0),
                    }),
                )
            })
        }
        Node::Unop(UnaryOp::I32Eqz) => {
            let load = operand(body.operands(term)[0])?;
            Some((
                vec![load],
                Some(WideCompare {
                    op: BinaryOp::I32Eq,
                    other: Compared::Const(0),
                }),
            ))
        }
        _ => Some((vec![operand(term)?], None)),
    }
}

fn is_i32_compare(op: BinaryOp) -> bool {
    use BinaryOp::*;
    matches!(
        op,
        I32Eq | I32Ne | I32LtS | I32LtU | I32GtS | I32GtU | I32LeS | I32LeU | I32GeS | I32GeU
    )
}

/// Checks that a matched reduction can be vectorized lane for lane, and gathers
/// what the rewrite needs.
pub fn plan(
    module: &Module,
    body: &LoopBody,
    r: &ReductionMatch,
) -> Result<ReductionPlan, PlanError> {
    use super::elementwise::{Access, MapLoad};
    use super::types::Lanes;
    use std::collections::HashSet;

    let steps = inductions(body);
    let trip = trip_count(body, &steps).map_err(String::from)?;
    let ty = node_type(module, body, r.accumulators[0].terms[0]).ok_or("unknown type")?;
    let lanes = match ty {
        ValType::F32 => Lanes::F32x4,
        ValType::I32 => Lanes::I32x4,
        ValType::F64 => Lanes::F64x2,
        ValType::I64 => Lanes::I64x2,
        _ => return Err("unsupported accumulator type".into()),
    };
    let all_terms: Vec<NodeIndex> = r
        .accumulators
        .iter()
        .flat_map(|a| a.terms.iter().copied())
        .collect();
    let elem_bytes = load_width(body, &all_terms).ok_or("loads of different widths")?;
    let widening = elem_bytes < lanes.width();
    if widening && (lanes != Lanes::I32x4 || elem_bytes > 2) {
        return Err(PlanError::NotYet(
            "widening into 64-bit sums is not implemented yet".into(),
        ));
    }
    let unroll = if r.interleaved {
        (r.accumulators.len() * r.accumulators[0].terms.len()) as u32
    } else {
        (r.accumulators[0].terms.len() / same_element_terms(body, &r.accumulators[0])) as u32
    };
    let stride = unroll as i64 * elem_bytes as i64;
    let mut memory = None;
    let mut loads: Vec<MapLoad> = Vec::new();
    let mut seen: Vec<(String, i64, String)> = Vec::new();
    let mut accumulators = Vec::new();
    let mut wide = Vec::new();
    let mut invariants: Vec<(NodeIndex, ValType)> = Vec::new();
    let mut counted_against: Vec<NodeIndex> = Vec::new();
    let mut generic = false;
    let mut more: Vec<Vec<NodeIndex>> = Vec::new();
    for (index, acc) in r.accumulators.iter().enumerate() {
        if node_type(module, body, acc.terms[0]) != Some(ty) {
            return Err("accumulators of different shapes".into());
        }
        let folds = match r.extremum {
            None => crate::rewrite::simd::binop(acc.op, lanes).is_some(),
            Some(Extremum::Select(compare)) => matches!(
                crate::rewrite::simd::binop(compare, lanes),
                Some(crate::rewrite::simd::VectorBinop::Compare(_))
            ),
            Some(Extremum::Op(op)) => matches!(
                crate::rewrite::simd::binop(op, lanes),
                Some(crate::rewrite::simd::VectorBinop::Plain(_))
            ),
        };
        if !folds {
            return Err("no SIMD form for the accumulation".into());
        }
        let term = if r.interleaved {
            // match_reduction checked that every term is the lane-0 term shifted
            // by its element; the kernel evaluates the lane-0 term only.
            accumulators.push((acc.local, acc.op, acc.terms[0]));
            more.push(Vec::new());
            if index > 0 {
                continue;
            }
            acc.terms[0]
        } else {
            let group = same_element_terms(body, acc);
            if acc.terms.len() != unroll as usize * group {
                return Err("accumulators of different shapes".into());
            }
            // Order the unrolled terms by their first load's offset: group u (of
            // `group` terms) reads element u of the iteration.
            let mut terms: Vec<(i64, NodeIndex)> = acc
                .terms
                .iter()
                .map(|t| {
                    term_offset(body, *t)
                        .map(|o| (o, *t))
                        .ok_or("non-affine load")
                })
                .collect::<Result<_, _>>()?;
            terms.sort();
            let texts = |u: usize| -> Result<Vec<String>, PlanError> {
                let mut texts = terms[u * group..(u + 1) * group]
                    .iter()
                    .map(|(_, t)| lane_text(body, *t, u as i64 * elem_bytes as i64, 0))
                    .collect::<Result<Vec<_>, _>>()?;
                texts.sort();
                Ok(texts)
            };
            let lane0 = texts(0)?;
            for u in 1..unroll as usize {
                if texts(u)? != lane0 {
                    return Err("unrolled terms differ".into());
                }
            }
            // A group's terms, in one lane-0 order (each copy's group is the same
            // multiset of terms shifted by its element).
            let mut first: Vec<(String, NodeIndex)> = terms[..group]
                .iter()
                .map(|(_, t)| Ok((lane_text(body, *t, 0, 0)?, *t)))
                .collect::<Result<_, &str>>()?;
            first.sort();
            more.push(first[1..].iter().map(|(_, t)| *t).collect::<Vec<_>>());
            if group > 1 && widening {
                // The narrow kernels take one term per sum.
                generic = true;
            }
            first[0].1
        };
        let group_terms: Vec<NodeIndex> = if r.interleaved {
            vec![term]
        } else {
            std::iter::once(term)
                .chain(more.last().into_iter().flatten().copied())
                .collect()
        };
        let operands = if widening {
            // (The narrow kernels add; other folds take i32 lanes.)
            let narrow = match acc.op {
                BinaryOp::I32Add => wide_operands(body, term),
                _ => None,
            };
            match narrow {
                Some(operands) => Some(operands),
                // Any other term of the extended elements, in i32 lanes as the loop
                // computes it (exact: each lane is one element's i32 value).
                None if !r.interleaved
                    && crate::rewrite::simd::vectorizes(body, term, Lanes::I32x4) =>
                {
                    generic = true;
                    None
                }
                None => {
                    return Err(PlanError::NotYet(
                        "this widening term is not implemented yet".into(),
                    ))
                }
            }
        } else if !group_terms
            .iter()
            .all(|t| crate::rewrite::simd::vectorizes(body, *t, lanes))
        {
            return Err("no exact SIMD form for a term".into());
        } else {
            None
        };
        let mut stream_of = std::collections::HashMap::new();
        for load in group_terms.iter().flat_map(|t| body.stream_loads_under(*t)) {
            let Node::Load {
                kind,
                memory: m,
                arg,
                ..
            } = body.graph[load]
            else {
                continue;
            };
            if *memory.get_or_insert(m) != m {
                return Err("loads from several memories".into());
            }
            let addr = body.operands(load)[0];
            let form = affine_i32(body, addr).ok_or("non-affine load")?;
            if form.exact_increment(body, &steps).unwrap_or(i64::MIN) != stride {
                return Err("non-contiguous load".into());
            }
            let access = Access {
                addr,
                offset: arg.offset,
                form,
            };
            let key = (
                format!("{:?}", access.form.key()),
                access.total_offset(),
                format!("{kind:?}"),
            );
            let position = match seen.iter().position(|k| *k == key) {
                Some(p) => p,
                None => {
                    seen.push(key);
                    loads.push(MapLoad {
                        node: load,
                        access,
                        in_place: false,
                        width: kind.width(),
                    });
                    loads.len() - 1
                }
            };
            stream_of.insert(load, position);
        }
        if let Some((operands, compare)) = operands {
            match compare.map(|c| c.other) {
                Some(Compared::Const(c)) => {
                    let (lo, hi) = WideCompare::range(elem_bytes, operands[0].1);
                    if !(lo..=hi).contains(&(c as i64)) {
                        // Compared in i32 lanes instead.
                        if crate::rewrite::simd::vectorizes(body, term, Lanes::I32x4) {
                            generic = true;
                        } else {
                            return Err(PlanError::NotYet(
                                "a count compared with a constant outside the elements' range"
                                    .into(),
                            ));
                        }
                    }
                }
                Some(Compared::Invariant(n)) => counted_against.push(n),
                None => {}
            }
            wide.push(WideTerm {
                operands: operands
                    .iter()
                    .map(|(load, signed)| (stream_of[load], *signed))
                    .collect(),
                compare,
            });
        }
        for t in &group_terms {
            super::elementwise::collect_invariants(module, body, *t, &mut invariants)?;
        }
        if !r.interleaved {
            accumulators.push((acc.local, acc.op, term));
        }
    }
    // Once one term needs i32 lanes, every term takes them (one loop reads the
    // elements for all).
    if generic {
        if r.interleaved
            || r.accumulators.iter().any(|a| {
                !a.terms
                    .iter()
                    .all(|t| crate::rewrite::simd::vectorizes(body, *t, Lanes::I32x4))
            })
        {
            return Err(PlanError::NotYet(
                "this widening term is not implemented yet".into(),
            ));
        }
        wide.clear();
    }
    // A counting term compares against its invariant in narrow lanes; invariants
    // anywhere else in a widening term are not handled.
    if widening && !generic && invariants.iter().any(|(n, _)| !counted_against.contains(n)) {
        return Err(PlanError::NotYet(
            "widening terms with invariants are not implemented yet".into(),
        ));
    }
    // Every load of the iteration must be one the kernel performs (or, for an
    // argmax re-reading its extreme through the index, one of those re-reads: the
    // kernel carries the value).
    let mut performed: HashSet<NodeIndex> = all_terms
        .iter()
        .flat_map(|t| body.stream_loads_under(*t))
        .collect();
    if let Some(index) = &r.index {
        performed.extend(index.reloaded.iter().copied());
    }
    if body.graph.node_indices().any(|n| {
        matches!(body.graph[n], Node::Load { .. })
                && !performed.contains(&n)
                // (A hoisted invariant load: read once, by the guard.)
                && !(body.hoist_loads && body.is_invariant(n))
    }) {
        return Err("load whose value is not accumulated".into());
    }
    let entry = invariants
        .iter()
        .map(|(n, _)| *n)
        .chain([trip.x, trip.bound])
        .chain(loads.iter().map(|l| l.access.addr));
    if super::elementwise::any_may_trap(body, entry) {
        return Err("loop-invariant value that may trap".into());
    }
    invariants.sort_by_key(|(n, _)| n.index());
    let memory = memory.ok_or("no loads")?;
    Ok(ReductionPlan {
        shape: {
            let per_element = more.iter().map(|m| m.len() + 1).max().unwrap_or(1);
            let mut shape = r.shape.clone();
            if per_element > 1 {
                shape = format!("{shape}-{per_element}-terms-per-element");
            }
            if generic {
                shape = format!("{shape}-widened-i32x4");
            }
            shape
        },
        lanes,
        unroll,
        stride,
        elem_bytes,
        memory,
        loads,
        invariants,
        accumulators,
        wide,
        more,
        widened: generic,
        interleaved: r.interleaved,
        extremum: r.extremum,
        index: r.index.clone(),
        trip,
        steps,
    })
}

/// `C(b, a)` given `C(a, b)`.
fn swapped(op: BinaryOp) -> Option<BinaryOp> {
    use BinaryOp::*;
    Some(match op {
        I32GtS => I32LtS,
        I32LtS => I32GtS,
        I32GeS => I32LeS,
        I32LeS => I32GeS,
        I32GtU => I32LtU,
        I32LtU => I32GtU,
        I32GeU => I32LeU,
        I32LeU => I32GeU,
        I64GtS => I64LtS,
        I64LtS => I64GtS,
        I64GeS => I64LeS,
        I64LeS => I64GeS,
        I64GtU => I64LtU,
        I64LtU => I64GtU,
        I64GeU => I64LeU,
        I64LeU => I64GeU,
        F32Gt => F32Lt,
        F32Lt => F32Gt,
        F32Ge => F32Le,
        F32Le => F32Ge,
        F64Gt => F64Lt,
        F64Lt => F64Gt,
        F64Ge => F64Le,
        F64Le => F64Ge,
        _ => return None,
    })
}

/// `!C(a, b)` as a comparison, for integers only (a float comparison's negation is
/// true for NaN: no ordered comparison).
fn negated(op: BinaryOp) -> Option<BinaryOp> {
    use BinaryOp::*;
    Some(match op {
        I32GtS => I32LeS,
        I32LeS => I32GtS,
        I32GeS => I32LtS,
        I32LtS => I32GeS,
        I32GtU => I32LeU,
        I32LeU => I32GtU,
        I32GeU => I32LtU,
        I32LtU => I32GeU,
        I64GtS => I64LeS,
        I64LeS => I64GtS,
        I64GeS => I64LtS,
        I64LtS => I64GeS,
        I64GtU => I64LeU,
        I64LeU => I64GtU,
        I64GeU => I64LtU,
        I64LtU => I64GeU,
        _ => return None,
    })
}

/// Whether the comparison `C(t, m)` taking `t` makes a maximum (`t > m`, `t >= m`).
fn takes_larger(op: BinaryOp) -> bool {
    let name = format!("{op:?}");
    name.contains("Gt") || name.contains("Ge")
}

/// One step of a min/max chain: `(rest, t, how)` for a node folding the element
/// `t` into `rest` (the running value so far).
fn extremum_step(
    body: &LoopBody,
    node: NodeIndex,
    phi: NodeIndex,
    norm: &mut Option<Normalize>,
) -> Option<(NodeIndex, NodeIndex, Extremum)> {
    match body.graph[node] {
        Node::Binop(
            op @ (BinaryOp::F32Max | BinaryOp::F32Min | BinaryOp::F64Max | BinaryOp::F64Min),
        ) => {
            let ops = body.operands(node);
            match (body.uses(ops[0], phi), body.uses(ops[1], phi)) {
                (true, false) => Some((ops[0], ops[1], Extremum::Op(op))),
                (false, true) => Some((ops[1], ops[0], Extremum::Op(op))),
                _ => None,
            }
        }
        Node::Select => {
            let ops = body.operands(node);
            let (rest, t, take_when_true) = match (body.uses(ops[0], phi), body.uses(ops[1], phi)) {
                (false, true) => (ops[1], ops[0], true),
                (true, false) => (ops[0], ops[1], false),
                _ => return None,
            };
            // The condition, through any number of `eqz`s.
            let mut cond = ops[2];
            let mut take_when_true = take_when_true;
            while let Node::Unop(UnaryOp::I32Eqz) = body.graph[cond] {
                cond = body.operands(cond)[0];
                take_when_true = !take_when_true;
            }
            let Node::Binop(op) = body.graph[cond] else {
                return None;
            };
            let c = body.operands(cond);
            // The running value as compared: itself, or normalized (one way for
            // the whole chain).
            let mut is_rest = |n: NodeIndex| {
                n == rest
                    || match normalization(body, n) {
                        Some((x, how)) if x == rest && norm.is_none_or(|h| h == how) => {
                            *norm = Some(how);
                            true
                        }
                        _ => false,
                    }
            };
            // Written as C(t, m) or C(m, t), over exactly the selected values.
            let compare = if c[0] == t && is_rest(c[1]) {
                op
            } else if is_rest(c[0]) && c[1] == t {
                swapped(op)?
            } else {
                return None;
            };
            let compare = if take_when_true {
                swapped(compare).map(|_| compare)?
            } else {
                negated(compare)?
            };
            Some((rest, t, Extremum::Select(compare)))
        }
        _ => None,
    }
}

/// Matches a min/max reduction: no stores, one carried value `m` (besides the
/// inductions) folded with every element of the iteration in memory order,
/// `m = C(t, m) ? t : m` (an ordered comparison, the same for every element) or
/// `m = max(m, t)` with wasm's float `max`/`min`.
///
/// Vectorizing is exact: integer extremes do not depend on the order; float ones
/// differ only in which of `+0` and `-0` wins a tie (equal non-NaN floats are
/// otherwise the same bits), and the kernel redoes the fold in order when the
/// extreme is zero. NaN elements are never taken by an ordered comparison, and a
/// NaN start value is kept by every lane. A comparison taking `t` when it is false
/// (`!(t <= m)`, true for NaN) makes the result depend on where NaNs sit: floats
/// written so are not matched.
pub fn match_extremum(body: &LoopBody) -> Result<ReductionMatch, NoMatch> {
    if !body.stores.is_empty() {
        return Err(NoMatch::Unrelated);
    }
    let steps = inductions(body);
    let mut carried: Vec<(&LocalId, &NodeIndex)> = body
        .end_values
        .iter()
        .filter(|(local, _)| {
            body.phis.contains_key(*local)
                && !steps.contains_key(*local)
                && body.end_values.get(*local) != body.phis.get(*local)
        })
        .collect();
    carried.sort_by_key(|(local, _)| local.index());
    // One carried value (the extreme), or two: the extreme and its index.
    let (local, end, index_of) = match carried[..] {
        [(local, end)] => (local, end, None),
        [a, b] => {
            let chain = |(l, e): (&LocalId, &NodeIndex)| extremum_chain(body, body.phis[l], *e);
            match (chain(a), chain(b)) {
                (Some(_), None) => (a.0, a.1, Some(b)),
                (None, Some(_)) => (b.0, b.1, Some(a)),
                _ => return Err(NoMatch::Unrelated),
            }
        }
        _ => return Err(NoMatch::Unrelated),
    };
    let phi = body.phis[local];
    let Some((mut terms, selects, how, normalize)) = extremum_chain(body, phi, *end) else {
        return match index_of {
            None => match_reloaded_index(body, *local, *end, &steps),
            Some(_) => Err(NoMatch::Unrelated),
        };
    };
    if normalize.is_some() && index_of.is_some() {
        return Err(NoMatch::Unrelated);
    }
    let index = match index_of {
        None => None,
        Some((k, k_end)) => Some(index_chain(body, *k, *k_end, &selects, &terms, &steps)?),
    };
    terms.reverse();
    let larger = match how {
        Extremum::Select(op) => takes_larger(op),
        Extremum::Op(op) => matches!(op, BinaryOp::F32Max | BinaryOp::F64Max),
    };
    let pattern = match (larger, index.is_some()) {
        (true, false) => "reduce_max",
        (false, false) => "reduce_min",
        (true, true) => "argmax",
        (false, true) => "argmin",
    };
    let first_load = *body
        .stream_loads_under(terms[0])
        .first()
        .ok_or(NoMatch::Unrelated)?;
    let elem = match body.graph[first_load] {
        Node::Load { kind, .. } => load_elem(kind),
        _ => return Err(NoMatch::Unrelated),
    };
    if let Some(blocker) = body.blockers.first() {
        return Err(NoMatch::declined(pattern, blocker.clone()));
    }
    trip_count(body, &steps).map_err(|reason| NoMatch::declined(pattern, reason))?;
    // The elements are folded in memory order (the kernel's tail and its redo run
    // in memory order).
    let offsets: Vec<i64> = terms
        .iter()
        .map(|t| term_offset(body, *t).ok_or_else(|| NoMatch::declined(pattern, "non-affine load")))
        .collect::<Result<_, _>>()?;
    if offsets.windows(2).any(|w| w[0] >= w[1]) {
        return Err(NoMatch::declined(
            pattern,
            "elements folded out of memory order",
        ));
    }
    let op = match how {
        Extremum::Select(op) | Extremum::Op(op) => op,
    };
    let name = match how {
        Extremum::Select(op) => format!("select-{op:?}"),
        Extremum::Op(op) => format!("{op:?}"),
    };
    Ok(ReductionMatch {
        shape: format!(
            "extremum-{name}-x{}{}",
            terms.len(),
            if index.is_some() { "-with-index" } else { "" }
        )
        .to_lowercase()
            + if normalize.is_some() {
                "-normalized"
            } else {
                ""
            },
        pattern,
        elem: Some(elem),
        exact: true,
        accumulators: vec![Accumulator {
            local: *local,
            op,
            terms,
            pattern,
            elem: Some(elem),
        }],
        interleaved: false,
        extremum: Some(how),
        index,
        normalize,
    })
}

/// An extremum chain: its elements, its selects (the last first), how it folds,
/// and how it re-narrows the running value.
type ExtremumChain = (Vec<NodeIndex>, Vec<NodeIndex>, Extremum, Option<Normalize>);

/// The chain `m = fold(fold(m, t0), t1)...` ending at `end`, from the last step
/// back: its elements, its select nodes (the last first), how it folds, and the
/// normalization (`m & 255`, ...) applied to the running value where it is
/// compared or kept, if any (one for the whole chain).
fn extremum_chain(body: &LoopBody, phi: NodeIndex, end: NodeIndex) -> Option<ExtremumChain> {
    let mut terms = Vec::new();
    let mut selects = Vec::new();
    let mut how: Option<Extremum> = None;
    let mut norm: Option<Normalize> = None;
    let mut node = end;
    while node != phi {
        // (The running value kept normalized: `m = C(t, m & 255) ? t : m & 255`.)
        if let Some((x, n)) = normalization(body, node) {
            if norm.is_none_or(|h| h == n)
                && (x == phi || extremum_step(body, x, phi, &mut None).is_some())
            {
                norm = Some(n);
                node = x;
                continue;
            }
        }
        let (rest, t, step) = extremum_step(body, node, phi, &mut norm)?;
        if how.is_some_and(|h| format!("{h:?}") != format!("{step:?}")) || body.uses(t, phi) {
            return None;
        }
        how = Some(step);
        terms.push(t);
        selects.push(node);
        node = rest;
    }
    // (Elements read from memory: an index chain is no extremum.)
    if terms.iter().any(|t| body.stream_loads_under(*t).is_empty()) {
        return None;
    }
    if let Some(n) = norm {
        if !terms.iter().all(|t| keeps_element(body, *t, n)) {
            return None;
        }
    }
    Some((terms, selects, how?, norm))
}

/// The index chain beside an extremum chain: for each of the extreme's selects
/// (the last first), `k = select` of an index and the rest of the chain on the same
/// condition, the index taken exactly when the element is. The indices grow by one
/// per element in memory order and by the element count per iteration.
fn index_chain(
    body: &LoopBody,
    local: LocalId,
    end: NodeIndex,
    selects: &[NodeIndex],
    terms: &[NodeIndex],
    steps: &std::collections::HashMap<LocalId, i64>,
) -> Result<ArgIndex, NoMatch> {
    let phi = body.phis[&local];
    let mut node = end;
    let mut indices = Vec::new();
    for (select, t) in selects.iter().zip(terms) {
        if !matches!(body.graph[node], Node::Select) || !matches!(body.graph[*select], Node::Select)
        {
            return Err(NoMatch::Unrelated);
        }
        let (k_ops, m_ops) = (body.operands(node), body.operands(*select));
        if !same_value(body, k_ops[2], m_ops[2], None) {
            return Err(NoMatch::Unrelated);
        }
        // The index sits where the element sits.
        let taken = usize::from(m_ops[1] == *t);
        let (idx, rest) = (k_ops[taken], k_ops[1 - taken]);
        if body.uses(idx, phi) || !body.uses(rest, phi) && rest != phi {
            return Err(NoMatch::Unrelated);
        }
        indices.push(idx);
        node = rest;
    }
    if node != phi {
        return Err(NoMatch::Unrelated);
    }
    Ok(ArgIndex {
        local,
        first: first_index(body, terms, &indices, steps)?,
        reload: None,
        reloaded: Vec::new(),
    })
}

/// The index of the iteration's first element, given each element's index (in the
/// order of `terms`): checks that the indices count the elements in memory order
/// and by the element count per iteration.
fn first_index(
    body: &LoopBody,
    terms: &[NodeIndex],
    indices: &[NodeIndex],
    steps: &std::collections::HashMap<LocalId, i64>,
) -> Result<NodeIndex, NoMatch> {
    let declined = |reason: &str| NoMatch::declined("argmax", reason);
    // Index j of the iteration's elements in memory order is the first plus j.
    let mut by_offset: Vec<(i64, NodeIndex)> = terms
        .iter()
        .zip(indices)
        .map(|(t, idx)| term_offset(body, *t).map(|o| (o, *idx)))
        .collect::<Option<_>>()
        .ok_or_else(|| declined("non-affine load"))?;
    by_offset.sort_by_key(|(o, _)| *o);
    let forms: Vec<_> = by_offset
        .iter()
        .map(|(_, idx)| affine_i32(body, *idx))
        .collect::<Option<_>>()
        .ok_or_else(|| declined("an index that is not affine"))?;
    let count = forms.len() as i64;
    let regular = forms.iter().enumerate().all(|(j, f)| {
        f.key() == forms[0].key()
            && crate::analysis::affine::wrap32(f.constant - forms[0].constant) == j as i64
            && f.exact_increment(body, steps) == Some(count)
    });
    if !regular {
        return Err(declined("an index that does not count the elements"));
    }
    Ok(by_offset[0].1)
}

/// An index of the extreme that re-reads the extreme through the index each
/// iteration instead of carrying it: `k = C(x[i], x[k]) ? i : k` (the textbook
/// `if (x[i] > x[best]) best = i`). Nothing is stored, so `x[k]` is the element last
/// taken (or, before any, `x[k0]`): the carried form's running value, provided the
/// reload of `x[idx]` reads the element the stream reads for index `idx`. The
/// reload's address must be `invariants + width * k`; the guard checks at run time
/// that it meets the stream at the first element (a pointer walk beside an index
/// into a base, as clang writes it, is not known statically).
fn match_reloaded_index(
    body: &LoopBody,
    local: LocalId,
    end: NodeIndex,
    steps: &std::collections::HashMap<LocalId, i64>,
) -> Result<ReductionMatch, NoMatch> {
    let phi = body.phis[&local];
    let mut node = end;
    let (mut terms, mut indices) = (Vec::new(), Vec::new());
    let mut how: Option<BinaryOp> = None;
    let mut reload: Option<Reload> = None;
    let mut reloaded_loads = Vec::new();
    // (Per step: the re-read's address, the index it re-reads at, its offset.)
    let mut bases: Vec<(NodeIndex, NodeIndex, u64)> = Vec::new();
    while node != phi {
        if !matches!(body.graph[node], Node::Select) {
            return Err(NoMatch::Unrelated);
        }
        let ops = body.operands(node);
        let (rest, idx, mut take) = match (body.uses(ops[0], phi), body.uses(ops[1], phi)) {
            (false, true) => (ops[1], ops[0], true),
            (true, false) => (ops[0], ops[1], false),
            _ => return Err(NoMatch::Unrelated),
        };
        let mut cond = ops[2];
        while let Node::Unop(UnaryOp::I32Eqz) = body.graph[cond] {
            cond = body.operands(cond)[0];
            take = !take;
        }
        let Node::Binop(op) = body.graph[cond] else {
            return Err(NoMatch::Unrelated);
        };
        let c = body.operands(cond);
        let reads_through_rest = |n: NodeIndex| {
            matches!(body.graph[n], Node::Load { .. }) && body.uses(body.operands(n)[0], rest)
        };
        let (t, reloaded, compare) = if reads_through_rest(c[1]) && !body.uses(c[0], phi) {
            (c[0], c[1], op)
        } else if reads_through_rest(c[0]) && !body.uses(c[1], phi) {
            (c[1], c[0], swapped(op).ok_or(NoMatch::Unrelated)?)
        } else {
            return Err(NoMatch::Unrelated);
        };
        let compare = if take {
            swapped(compare).map(|_| compare)
        } else {
            negated(compare)
        }
        .ok_or(NoMatch::Unrelated)?;
        if how.is_some_and(|h| format!("{h:?}") != format!("{compare:?}")) {
            return Err(NoMatch::Unrelated);
        }
        how = Some(compare);
        let (
            Node::Load {
                kind, memory, arg, ..
            },
            Node::Load {
                kind: reload_kind,
                memory: reload_memory,
                arg: reload_arg,
                ..
            },
        ) = (body.graph[t].clone(), body.graph[reloaded].clone())
        else {
            return Err(NoMatch::Unrelated);
        };
        if format!("{kind:?}") != format!("{reload_kind:?}") || memory != reload_memory {
            return Err(NoMatch::Unrelated);
        }
        let width = kind.width() as i64;
        let addr = body.operands(reloaded)[0];
        bases.push((addr, rest, reload_arg.offset));
        reloaded_loads.push(reloaded);
        terms.push(t);
        indices.push(idx);
        if rest == phi {
            reload = Some(Reload {
                addr,
                offset: reload_arg.offset,
                kind,
                memory,
                width,
                element: (body.operands(t)[0], arg.offset),
            });
        }
        node = rest;
    }
    let (Some(compare), Some(mut reload)) = (how, reload) else {
        return Err(NoMatch::Unrelated);
    };
    // The first step's re-read is at `invariants + width * k`; the others compute
    // the same address from the index they see.
    let declined = |reason| NoMatch::declined("argmax", reason);
    let form = affine_i32(body, reload.addr).ok_or_else(|| declined("non-affine load"))?;
    let mut others = form.terms.clone();
    if others.remove(&phi) != Some(reload.width)
        || others.keys().any(|atom| !body.is_invariant(*atom))
    {
        return Err(declined(
            "an element re-read at an address that is not the index's",
        ));
    }
    if bases.iter().any(|(addr, rest, offset)| {
        *offset != reload.offset || !same_value(body, *addr, reload.addr, Some((*rest, phi)))
    }) {
        return Err(declined("elements re-read from different arrays"));
    }
    // (The guard compares the reload with the iteration's first element.)
    let first_term = terms
        .iter()
        .copied()
        .min_by_key(|t| term_offset(body, *t).unwrap_or(i64::MAX))
        .ok_or(NoMatch::Unrelated)?;
    let Node::Load { arg, .. } = body.graph[first_term] else {
        return Err(NoMatch::Unrelated);
    };
    reload.element = (body.operands(first_term)[0], arg.offset);
    let first = first_index(body, &terms, &indices, steps)?;
    terms.reverse();
    let pattern = if takes_larger(compare) {
        "argmax"
    } else {
        "argmin"
    };
    if let Some(blocker) = body.blockers.first() {
        return Err(NoMatch::declined(pattern, blocker.clone()));
    }
    trip_count(body, steps).map_err(|reason| NoMatch::declined(pattern, reason))?;
    let elem = load_elem(reload.kind);
    Ok(ReductionMatch {
        shape: format!(
            "extremum-select-{compare:?}-x{}-with-reloaded-index",
            terms.len()
        )
        .to_lowercase(),
        pattern,
        elem: Some(elem),
        exact: true,
        accumulators: vec![Accumulator {
            local,
            op: compare,
            terms,
            pattern,
            elem: Some(elem),
        }],
        interleaved: false,
        extremum: Some(Extremum::Select(compare)),
        index: Some(ArgIndex {
            local,
            first,
            reload: Some(reload),
            reloaded: reloaded_loads,
        }),
        normalize: None,
    })
}

/// Whether `a` computes what `b` computes (with `at.1` replaced by `at.0`, if
/// given): the same node, or the same operator over operands that do.
fn same_value(
    body: &LoopBody,
    a: NodeIndex,
    b: NodeIndex,
    at: Option<(NodeIndex, NodeIndex)>,
) -> bool {
    match at {
        Some(pair) if (a, b) == pair => return true,
        Some((_, from)) if a == b && !body.uses(a, from) => return true,
        None if a == b => return true,
        _ => {}
    }
    let (na, nb) = (&body.graph[a], &body.graph[b]);
    let plain = |n: &Node| {
        matches!(
            n,
            Node::Unop(_) | Node::Binop(_) | Node::Select | Node::Const(_)
        )
    };
    plain(na)
        && format!("{na:?}") == format!("{nb:?}")
        && body
            .operands(a)
            .iter()
            .zip(body.operands(b))
            .all(|(x, y)| same_value(body, *x, y, at))
}
