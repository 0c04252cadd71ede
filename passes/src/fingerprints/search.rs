//! `find`: search loops, which leave at the first element that meets a condition
//! (`strlen`, `memchr`, a key's index, the first difference of two buffers,
//! "any non-zero", "all equal", skipping ASCII).
//!
//! The loop does nothing but read memory and step induction variables until one
//! of its exits fires. So a block of `V` iterations in which no exit fires and no
//! load traps changes nothing but the induction variables, which it advances by
//! `V` steps. Whether that holds for a block is decided from `V` lanes at once:
//! each exit's condition on loaded elements is evaluated lane-wise (one SIMD128
//! lane an iteration), and each condition on the induction variables alone (the
//! count, `i != n`) in closed form. The rewrite skips such blocks in front of
//! the loop; the first block where anything might happen is left to the loop
//! itself, which finds the exit (or the trap) exactly where it did.
//!
//! What must hold, checked here:
//! - no stores, calls or other effects: the loop only reads (loads) and computes;
//! - every local carried from one iteration to the next is an induction variable
//!   with a constant step (nothing accumulates across iterations); a temporary
//!   written after an exit is not read after the loop (an early exit leaves it
//!   holding the previous iteration's value, which a skipped block would change);
//! - every load's address steps by a constant (its range is checked per block),
//!   and the loads an exit condition reads step by one element of one width, in
//!   the same direction, so that lane `l` of every vector is the same iteration;
//! - a condition on loaded elements has an exact lane form: comparisons (integer
//!   and float), `eqz`, logical `and`/`or`, masks, sign extension, float
//!   arithmetic; in 8- and 16-bit lanes a comparison holds only values the lane
//!   holds exactly (an invariant is checked to be in range once, in front);
//! - a condition without loads is a comparison of affine `i32` values.

use super::types::Lanes;
use super::NoMatch;
use crate::analysis::affine::{affine_i32, inductions, Affine};
use crate::analysis::value_graph::{is_boolean, LoopBody, Node, SearchBody};
use crate::report::Elem;
use petgraph::graph::NodeIndex;
use std::collections::HashMap;
use walrus::ir::{BinaryOp, ExtendedLoad, LoadKind, UnaryOp, Value};
use walrus::{LocalId, MemoryId, Module, ValType};

const PATTERN: &str = "find";

/// How a lane holds its iteration's `i32` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An 8- or 16-bit lane holding a value in `[0, 2^B - 1]`.
    Unsigned,
    /// An 8- or 16-bit lane holding a value in `[-2^(B-1), 2^(B-1) - 1]`.
    Signed,
    /// A full-width lane (32- or 64-bit, integer or float): the value itself.
    Full,
    /// A loop invariant of a narrow lane, not placed yet: it takes the kind of
    /// what it is compared with, and is checked to be in that range in front.
    Open,
}

/// A lane-wise value: lane `l` holds iteration `l`'s value of a node.
#[derive(Clone, Debug)]
pub enum LaneValue {
    /// Consecutive elements from the search's load number `.0`.
    Load(usize),
    /// Invariant number `.0`, splatted.
    Splat(usize),
    /// A lane-wise unary operator.
    Unop(UnaryOp, Box<LaneValue>),
    /// A lane-wise binary operator.
    Binop(BinaryOp, Box<LaneValue>, Box<LaneValue>),
    /// A lane-wise shift by a scalar amount (`i32.const`).
    Shift(BinaryOp, Box<LaneValue>, i32),
}

/// A lane-wise truth: all-ones in lanes where it holds, zero elsewhere.
#[derive(Clone, Debug)]
pub enum Truth {
    /// A lane comparison.
    Compare(BinaryOp, LaneValue, LaneValue),
    /// Lanes whose value is not zero.
    NonZero(LaneValue),
    /// Lanes where the truth does not hold.
    Not(Box<Truth>),
    /// Both.
    And(Box<Truth>, Box<Truth>),
    /// Either.
    Or(Box<Truth>, Box<Truth>),
}

/// A loop invariant the lanes read, splatted once in front of the loop.
#[derive(Clone, Debug)]
pub struct Invariant {
    /// Its node (a constant, or computed from locals the loop does not write).
    pub node: NodeIndex,
    /// Its scalar type.
    pub ty: ValType,
    /// For narrow lanes: the `i32` range a parameter must lie in for the lanes
    /// to hold it exactly (checked in front; outside it the loop runs as it
    /// was). Constants are checked by the match and have none.
    pub range: Option<(i64, i64)>,
}

/// A load of the loop.
#[derive(Clone, Debug)]
pub struct SearchLoad {
    /// Its node.
    pub node: NodeIndex,
    /// Its address operand.
    pub addr: NodeIndex,
    /// Bytes it reads.
    pub width: u32,
    /// Its static offset.
    pub offset: u64,
    /// Bytes its address moves per iteration.
    pub step: i64,
    /// Whether an exit's lanes read it (a v128 load); else only its range is
    /// checked.
    pub lanes: bool,
}

/// An exit condition on induction variables and invariants only:
/// `op(a, b)` (`b` absent: zero), which the loop stays on while its truth is
/// `stay`.
#[derive(Clone, Debug)]
pub struct CountExit {
    /// The `i32` comparison.
    pub op: BinaryOp,
    /// Its first operand.
    pub a: Option<NodeIndex>,
    /// Its second operand (`None`: the constant 0).
    pub b: Option<NodeIndex>,
    /// How much `a` grows per iteration (wrapping `i32`).
    pub step_a: i64,
    /// How much `b` grows per iteration.
    pub step_b: i64,
    /// The truth the loop continues on.
    pub stay: bool,
}

/// An exit on loaded elements: it may fire in a block when its truth holds in
/// a lane and (if it has one) its gate, a count exit, may fire in the block.
#[derive(Clone, Debug)]
pub struct LaneExit {
    /// The lanes where it fires.
    pub truth: Truth,
    /// A condition on counters it also needs.
    pub gate: Option<CountExit>,
}

/// A search loop the rewrite can skip through, `iterations` at a time.
#[derive(Clone, Debug)]
pub struct FindMatch {
    /// The memory read.
    pub memory: MemoryId,
    /// The element type the exits' lanes read.
    pub elem: Elem,
    /// Bytes per element of the lanes (1, 2, 4 or 8).
    pub width: u32,
    /// Iterations a block skips (`16 / width` lanes a vector, several vectors).
    pub iterations: u32,
    /// Every load of the iteration.
    pub loads: Vec<SearchLoad>,
    /// The invariants the lanes splat.
    pub invariants: Vec<Invariant>,
    /// The exits on loaded elements.
    pub lane_exits: Vec<LaneExit>,
    /// The exits on induction variables alone.
    pub count_exits: Vec<CountExit>,
    /// Induction variables and their constant steps.
    pub steps: Vec<(LocalId, i64)>,
}

/// Iterations a block covers: 16 (one vector of bytes, eight of 64-bit
/// elements).
pub const BLOCK: u32 = 16;

/// Matches a search loop (see the module docs).
pub fn match_find(module: &Module, search: &SearchBody) -> Result<FindMatch, NoMatch> {
    let body = &search.body;
    // Only loops that read memory and leave on something read: the rest are
    // other passes' loops (or nothing barq knows).
    if !body.stores.is_empty()
        || body
            .blockers
            .iter()
            .any(|b| b.contains("call") || b.contains("global written") || b.contains("grow"))
    {
        return Err(NoMatch::Unrelated);
    }
    let reads_memory = |n: NodeIndex| !body.loads_under(n).is_empty();
    if !search.exits.iter().any(|e| reads_memory(e.cond)) {
        return Err(NoMatch::Unrelated);
    }
    let declined = |reason: &str| NoMatch::Declined {
        pattern: PATTERN,
        reason: reason.to_string(),
    };
    if let Some(b) = body.blockers.first() {
        return Err(declined(b));
    }
    // What the iterations carry: induction variables only.
    let steps = inductions(body);
    for (local, end) in &body.end_values {
        let carried = body.phis.contains_key(local);
        if carried && !steps.contains_key(local) && body.phis.get(local) != Some(end) {
            // A counter that steps on some paths only (two back edges) is a
            // search's near miss; a value accumulated as the loop goes (a sum, a
            // hash, a parser's state) is another computation: not reported.
            return Err(match body.graph[*end] {
                Node::Select => declined("a counter that changes on some iterations only"),
                _ => NoMatch::Unrelated,
            });
        }
    }
    // (A local the continuing paths leave alone is never changed by a skipped
    // block: only one the exit paths write is, in the iteration the loop runs.)
    if search
        .unsettled
        .iter()
        .any(|l| !steps.contains_key(l) && body.end_values.contains_key(l))
    {
        return Err(declined(
            "a value written on some paths only is read after the loop",
        ));
    }
    let mut loads = Vec::new();
    let mut memory = None;
    for node in body.graph.node_indices() {
        let Node::Load {
            memory: m,
            kind,
            arg,
            ..
        } = body.graph[node]
        else {
            continue;
        };
        if memory.is_some_and(|x| x != m) {
            return Err(declined("loads from two memories"));
        }
        memory = Some(m);
        let addr = body.operands(node)[0];
        let step = affine_i32(body, addr)
            .and_then(|a| a.exact_increment(body, &steps))
            // (Pointer chasing, a table lookup: not a search over memory.)
            .ok_or(NoMatch::Unrelated)?;
        if matches!(kind, LoadKind::V128) {
            return Err(NoMatch::Unrelated);
        }
        loads.push(SearchLoad {
            node,
            addr,
            width: kind.width(),
            offset: arg.offset,
            step,
            lanes: false,
        });
    }
    let memory = memory.ok_or(NoMatch::Unrelated)?;
    // The lanes' width: that of the elements the exits read.
    let mut widths: Vec<u32> = search
        .exits
        .iter()
        .flat_map(|e| body.loads_under(e.cond))
        .filter_map(|n| loads.iter().find(|l| l.node == n).map(|l| l.width))
        .collect();
    widths.sort_unstable();
    widths.dedup();
    let [width] = widths[..] else {
        return Err(declined("exits reading elements of two widths"));
    };
    let mut planner = Planner {
        body,
        module,
        loads: &mut loads,
        invariants: Vec::new(),
        width,
        signed_load: None,
    };
    let mut lane_exits = Vec::new();
    let mut count_exits = Vec::new();
    // Each exit, as a disjunction of conjunctions. A block may be skipped only
    // if no term can hold in any of its iterations. A later exit's predicate
    // says "no earlier exit fired" (`eqz` of an earlier term): under the
    // union of all exits that conjunct adds nothing, so it is dropped (exact).
    // Leaving the block to the loop when a term might hold is always right, so
    // a term keeps only conjuncts with an exact form, its elements' lanes
    // gated by one of its counts (both must be able to hold in the block).
    let mut earlier: Vec<NodeIndex> = Vec::new();
    for exit in &search.exits {
        let mut terms = Vec::new();
        split(body, exit.cond, BinaryOp::I32Or, &mut terms);
        for term in terms.iter().copied() {
            let mut conjuncts = Vec::new();
            split(body, term, BinaryOp::I32And, &mut conjuncts);
            conjuncts.retain(|c| !earlier.iter().any(|e| negates(body, *e, *c)));
            let (on_elements, on_counts): (Vec<_>, Vec<_>) =
                conjuncts.into_iter().partition(|c| reads_memory(*c));
            let mut first_error = None;
            let gate = on_counts
                .iter()
                .find_map(|c| match count_exit(body, *c, false, &steps) {
                    Ok(x) => Some(x),
                    Err(e) => {
                        first_error.get_or_insert(e);
                        None
                    }
                });
            if on_elements.is_empty() {
                match gate {
                    Some(x) => count_exits.push(x),
                    None => return Err(first_error.unwrap_or(NoMatch::Unrelated)),
                }
                continue;
            }
            let mut truth: Option<Truth> = None;
            let mut first_error = None;
            for c in on_elements {
                match planner.truth(c) {
                    Ok(t) => {
                        truth = Some(match truth {
                            None => t,
                            Some(u) => Truth::And(Box::new(u), Box::new(t)),
                        })
                    }
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
            match truth {
                Some(truth) => lane_exits.push(LaneExit { truth, gate }),
                None => return Err(declined(first_error.unwrap_or("no exact SIMD form"))),
            }
        }
        earlier.extend(terms);
    }
    let invariants = planner.invariants;
    let signed_load = planner.signed_load;
    let iterations = BLOCK;
    // Lanes of one block must not wrap: every lane load moves `width` bytes an
    // iteration, in one direction.
    let lane_steps: Vec<i64> = loads.iter().filter(|l| l.lanes).map(|l| l.step).collect();
    if lane_steps.iter().any(|s| s.abs() != width as i64)
        || lane_steps.windows(2).any(|w| w[0] != w[1])
    {
        return Err(declined(
            "the elements an exit reads are not consecutive in one direction",
        ));
    }
    for l in &loads {
        if l.step.unsigned_abs() * iterations as u64 >= 1 << 31 {
            return Err(declined("an address that steps too far per iteration"));
        }
    }
    for c in count_exits
        .iter()
        .chain(lane_exits.iter().filter_map(|l| l.gate.as_ref()))
    {
        let d = (c.step_a - c.step_b).unsigned_abs();
        if d * iterations as u64 >= 1 << 31 {
            return Err(declined("a count that steps too far per iteration"));
        }
    }
    let elem = match (width, signed_load, lane_type(body, &loads)) {
        (1, Some(false), _) => Elem::U8,
        (1, _, _) => Elem::I8,
        (2, _, _) => Elem::I16,
        (4, _, Some(ValType::F32)) => Elem::F32,
        (4, _, _) => Elem::I32,
        (8, _, Some(ValType::F64)) => Elem::F64,
        _ => Elem::I64,
    };
    let mut steps: Vec<(LocalId, i64)> = steps.into_iter().collect();
    steps.sort_by_key(|(l, _)| l.index());
    Ok(FindMatch {
        memory,
        elem,
        width,
        iterations,
        loads,
        invariants,
        lane_exits,
        count_exits,
        steps,
    })
}

/// The value type of the first lane load.
fn lane_type(body: &LoopBody, loads: &[SearchLoad]) -> Option<ValType> {
    let load = loads.iter().find(|l| l.lanes)?;
    match body.graph[load.node] {
        Node::Load { kind, .. } => Some(super::types::load_type(kind)),
        _ => None,
    }
}

/// The truth that holds exactly where `t` does not.
pub fn negate(t: Truth) -> Truth {
    use BinaryOp::*;
    match t {
        Truth::Not(inner) => *inner,
        Truth::Compare(op, a, b) => {
            // Integer comparisons have exact inverses; float ones do not (NaN).
            let inverse = match op {
                I8x16Eq => Some(I8x16Ne),
                I8x16Ne => Some(I8x16Eq),
                I16x8Eq => Some(I16x8Ne),
                I16x8Ne => Some(I16x8Eq),
                I32x4Eq => Some(I32x4Ne),
                I32x4Ne => Some(I32x4Eq),
                I64x2Eq => Some(I64x2Ne),
                I64x2Ne => Some(I64x2Eq),
                _ => None,
            };
            match inverse {
                Some(inv) => Truth::Compare(inv, a, b),
                None => Truth::Not(Box::new(Truth::Compare(op, a, b))),
            }
        }
        other => Truth::Not(Box::new(other)),
    }
}

/// An exit on induction variables and invariants: `cmp(a, b)`, `eqz(a)` or `a`.
fn count_exit(
    body: &LoopBody,
    cond: NodeIndex,
    stay: bool,
    steps: &HashMap<LocalId, i64>,
) -> Result<CountExit, NoMatch> {
    use BinaryOp::*;
    let declined = || NoMatch::Declined {
        pattern: PATTERN,
        reason: "an exit test on counters that is not a comparison of affine values".to_string(),
    };
    // `eqz(b)` and `b != 0` of a boolean `b` are `b` with the polarity set.
    let (mut cond, mut stay) = (cond, stay);
    loop {
        let ops = body.operands(cond);
        match &body.graph[cond] {
            Node::Unop(UnaryOp::I32Eqz) if is_boolean(body, ops[0]) => {
                cond = ops[0];
                stay = !stay;
            }
            Node::Binop(I32Ne)
                if is_boolean(body, ops[0])
                    && matches!(body.graph[ops[1]], Node::Const(Value::I32(0))) =>
            {
                cond = ops[0];
            }
            _ => break,
        }
    }
    let (op, a, b) = match &body.graph[cond] {
        Node::Binop(
            op @ (I32Eq | I32Ne | I32LtS | I32LtU | I32GtS | I32GtU | I32LeS | I32LeU | I32GeS
            | I32GeU),
        ) => {
            let ops = body.operands(cond);
            (*op, Some(ops[0]), Some(ops[1]))
        }
        Node::Unop(UnaryOp::I32Eqz) => (I32Eq, Some(body.operands(cond)[0]), None),
        _ => (I32Ne, Some(cond), None),
    };
    let step = |n: Option<NodeIndex>| -> Result<i64, NoMatch> {
        match n {
            None => Ok(0),
            Some(n) => affine_i32(body, n)
                .as_ref()
                .and_then(|f: &Affine| f.exact_increment(body, steps))
                .ok_or_else(declined),
        }
    };
    let (step_a, step_b) = (step(a)?, step(b)?);
    let moving = crate::analysis::affine::wrap32(step_a - step_b) != 0;
    let equality = matches!(op, I32Eq | I32Ne);
    if moving && equality && (matches!(op, I32Eq) == stay) {
        return Err(NoMatch::Declined {
            pattern: PATTERN,
            reason: "a loop that stays only while a counter equals a value".to_string(),
        });
    }
    // (Two moving sides of an ordered comparison may cross a wrap at different
    // iterations even when they step alike: only one side may move.)
    if !equality && step_a != 0 && step_b != 0 {
        return Err(declined());
    }
    Ok(CountExit {
        op,
        a,
        b,
        step_a,
        step_b,
        stay,
    })
}

struct Planner<'a> {
    body: &'a LoopBody,
    loads: &'a mut Vec<SearchLoad>,
    invariants: Vec<Invariant>,
    module: &'a Module,
    /// The lane width: bytes of every element an exit reads.
    width: u32,
    /// For narrow lanes: whether the loads sign-extend (all must agree).
    signed_load: Option<bool>,
}

impl Planner<'_> {
    fn narrow(&self) -> bool {
        self.width <= 2
    }

    fn lanes(&self) -> Lanes {
        match self.width {
            8 => Lanes::I64x2,
            _ => Lanes::I32x4,
        }
    }

    /// The lanes where `node` (an `i32` used as a condition) is not zero.
    fn truth(&mut self, node: NodeIndex) -> Result<Truth, &'static str> {
        use BinaryOp::*;
        let ops = self.body.operands(node);
        match self.body.graph[node].clone() {
            Node::Unop(UnaryOp::I32Eqz) if is_boolean(self.body, ops[0]) => {
                Ok(negate(self.truth(ops[0])?))
            }
            Node::Unop(UnaryOp::I32Eqz | UnaryOp::I64Eqz) => {
                let (v, _) = self.value(ops[0])?;
                Ok(negate(Truth::NonZero(v)))
            }
            Node::Binop(I32And) if is_boolean(self.body, node) => Ok(Truth::And(
                Box::new(self.truth(ops[0])?),
                Box::new(self.truth(ops[1])?),
            )),
            Node::Binop(I32Or) if is_boolean(self.body, node) => Ok(Truth::Or(
                Box::new(self.truth(ops[0])?),
                Box::new(self.truth(ops[1])?),
            )),
            Node::Binop(I32Xor)
                if is_boolean(self.body, ops[0])
                    && matches!(self.body.graph[ops[1]], Node::Const(Value::I32(1))) =>
            {
                Ok(negate(self.truth(ops[0])?))
            }
            Node::Binop(op) if is_boolean(self.body, node) => self.compare(op, ops[0], ops[1]),
            _ => {
                let (v, kind) = self.value(node)?;
                if kind == Kind::Open {
                    return Err("a condition that does not read the elements");
                }
                Ok(Truth::NonZero(v))
            }
        }
    }

    fn compare(&mut self, op: BinaryOp, a: NodeIndex, b: NodeIndex) -> Result<Truth, &'static str> {
        use BinaryOp::*;
        let (va, ka) = self.value(a)?;
        let (vb, kb) = self.value(b)?;
        if !self.narrow() {
            return match super::super::rewrite::simd::binop(op, self.lanes()) {
                Some(crate::rewrite::simd::VectorBinop::Compare(vop)) => {
                    Ok(Truth::Compare(vop, va, vb))
                }
                _ => Err("a comparison with no exact SIMD form"),
            };
        }
        let kind = match (ka, kb) {
            (Kind::Open, Kind::Open) => return Err("a comparison of two invariants"),
            (Kind::Open, k) | (k, Kind::Open) => k,
            (x, y) if x == y => x,
            _ => return Err("a comparison of signed and unsigned elements"),
        };
        // Place the invariants: in range for `kind`, or the loop runs as it was.
        let range = match (self.width, kind) {
            (1, Kind::Unsigned) => (0, 255),
            (1, _) => (-128, 127),
            (_, Kind::Unsigned) => (0, 65535),
            _ => (-32768, 32767),
        };
        for (v, k) in [(&va, ka), (&vb, kb)] {
            if k == Kind::Open {
                self.place(v, range)?;
            }
        }
        let byte = self.width == 1;
        let pick = |b8: BinaryOp, b16: BinaryOp| if byte { b8 } else { b16 };
        // Values in an unsigned lane's range are non-negative: signed and
        // unsigned `i32` orders agree, and the lane's unsigned order is theirs.
        // Values in a signed lane's range keep both orders in the lane (the
        // unsigned one puts negatives above, as `i32` does).
        let unsigned = kind == Kind::Unsigned;
        let lane = match op {
            I32Eq => pick(I8x16Eq, I16x8Eq),
            I32Ne => pick(I8x16Ne, I16x8Ne),
            I32LtS if !unsigned => pick(I8x16LtS, I16x8LtS),
            I32GtS if !unsigned => pick(I8x16GtS, I16x8GtS),
            I32LeS if !unsigned => pick(I8x16LeS, I16x8LeS),
            I32GeS if !unsigned => pick(I8x16GeS, I16x8GeS),
            I32LtS | I32LtU => pick(I8x16LtU, I16x8LtU),
            I32GtS | I32GtU => pick(I8x16GtU, I16x8GtU),
            I32LeS | I32LeU => pick(I8x16LeU, I16x8LeU),
            I32GeS | I32GeU => pick(I8x16GeU, I16x8GeU),
            _ => return Err("a comparison with no exact SIMD form"),
        };
        Ok(Truth::Compare(lane, va, vb))
    }

    /// Requires the splatted invariant `v` to lie in `range`.
    fn place(&mut self, v: &LaneValue, range: (i64, i64)) -> Result<(), &'static str> {
        let LaneValue::Splat(index) = v else {
            return Err("an invariant inside an expression");
        };
        let inv = &mut self.invariants[*index];
        if let Node::Const(Value::I32(c)) = self.body.graph[inv.node] {
            // A constant is checked here, once and for all.
            return if (c as i64) < range.0 || (c as i64) > range.1 {
                Err("a constant outside the elements' range")
            } else {
                Ok(())
            };
        }
        match inv.range {
            Some(r) if r != range => Err("an invariant compared in two ranges"),
            _ => {
                inv.range = Some(range);
                Ok(())
            }
        }
    }

    fn splat(&mut self, node: NodeIndex, ty: ValType) -> LaneValue {
        if let Some(i) = self.invariants.iter().position(|i| i.node == node) {
            return LaneValue::Splat(i);
        }
        self.invariants.push(Invariant {
            node,
            ty,
            range: None,
        });
        LaneValue::Splat(self.invariants.len() - 1)
    }

    /// `node`'s values in lanes, and how the lanes hold them.
    fn value(&mut self, node: NodeIndex) -> Result<(LaneValue, Kind), &'static str> {
        use BinaryOp::*;
        let body = self.body;
        // (Loads are never invariant here: `hoist_loads` is off.)
        if body.is_invariant(node) {
            let ty = super::types::node_type(self.module, body, node)
                .filter(|t| *t != ValType::V128)
                .ok_or("an invariant of unknown type")?;
            let kind = if self.narrow() {
                Kind::Open
            } else {
                Kind::Full
            };
            return Ok((self.splat(node, ty), kind));
        }
        let ops = body.operands(node);
        match body.graph[node].clone() {
            Node::Load { kind, .. } => {
                let (width, signed) = match kind {
                    LoadKind::I32_8 { kind } => (1, Some(matches!(kind, ExtendedLoad::SignExtend))),
                    LoadKind::I32_16 { kind } => {
                        (2, Some(matches!(kind, ExtendedLoad::SignExtend)))
                    }
                    LoadKind::I32 { atomic: false } | LoadKind::F32 => (4, None),
                    LoadKind::I64 { atomic: false } | LoadKind::F64 => (8, None),
                    _ => return Err("an element load of a width not implemented yet"),
                };
                if self.width != width {
                    return Err("exits reading elements of two widths");
                }
                if let Some(s) = signed {
                    if self.signed_load.is_some_and(|x| x != s) {
                        return Err("exits reading signed and unsigned elements");
                    }
                    self.signed_load = Some(s);
                }
                let index = self
                    .loads
                    .iter()
                    .position(|l| l.node == node)
                    .expect("every load is listed");
                self.loads[index].lanes = true;
                let kind = match signed {
                    Some(true) => Kind::Signed,
                    Some(false) => Kind::Unsigned,
                    None => Kind::Full,
                };
                Ok((LaneValue::Load(index), kind))
            }
            Node::Unop(UnaryOp::I32Extend8S) => {
                let (v, k) = self.value(ops[0])?;
                match (k, self.width) {
                    (Kind::Unsigned | Kind::Signed, 1) => Ok((v, Kind::Signed)),
                    _ => Err("a sign extension with no exact lane form"),
                }
            }
            Node::Unop(UnaryOp::I32Extend16S) => {
                let (v, k) = self.value(ops[0])?;
                match (k, self.width) {
                    (Kind::Unsigned | Kind::Signed, 2) => Ok((v, Kind::Signed)),
                    _ => Err("a sign extension with no exact lane form"),
                }
            }
            Node::Binop(I32And) if self.narrow() => {
                // A mask of narrow elements by a constant that keeps them
                // non-negative and inside the lane.
                let (x, mask) = match (&body.graph[ops[0]], &body.graph[ops[1]]) {
                    (_, Node::Const(Value::I32(k))) => (ops[0], *k),
                    (Node::Const(Value::I32(k)), _) => (ops[1], *k),
                    _ => return Err("a mask that is not a constant"),
                };
                let (v, k) = self.value(x)?;
                let limit = if self.width == 1 { 0xff } else { 0xffff };
                if !(0..=limit).contains(&mask) || k == Kind::Open {
                    return Err("a mask with no exact lane form");
                }
                let m = self.splat(
                    body.operands(node)[if x == ops[0] { 1 } else { 0 }],
                    ValType::I32,
                );
                Ok((
                    LaneValue::Binop(V128And, Box::new(v), Box::new(m)),
                    Kind::Unsigned,
                ))
            }
            Node::Unop(op) if !self.narrow() => {
                let (v, _) = self.value(ops[0])?;
                match crate::rewrite::simd::unop(op, self.lanes()) {
                    Some(crate::rewrite::simd::VectorUnop::Plain(vop)) => {
                        Ok((LaneValue::Unop(vop, Box::new(v)), Kind::Full))
                    }
                    Some(crate::rewrite::simd::VectorUnop::Identity) => Ok((v, Kind::Full)),
                    _ => Err("an operation with no exact SIMD form"),
                }
            }
            Node::Binop(op) if !self.narrow() => {
                let vop = crate::rewrite::simd::binop(op, self.lanes());
                match vop {
                    Some(crate::rewrite::simd::VectorBinop::Plain(vop)) => {
                        let (a, _) = self.value(ops[0])?;
                        let (b, _) = self.value(ops[1])?;
                        Ok((LaneValue::Binop(vop, Box::new(a), Box::new(b)), Kind::Full))
                    }
                    Some(crate::rewrite::simd::VectorBinop::Shift(vop)) => {
                        let Node::Const(Value::I32(amount)) = body.graph[ops[1]] else {
                            return Err("a shift by a variable amount");
                        };
                        let (a, _) = self.value(ops[0])?;
                        Ok((LaneValue::Shift(vop, Box::new(a), amount), Kind::Full))
                    }
                    _ => Err("an operation with no exact SIMD form"),
                }
            }
            _ => Err("an operation with no exact SIMD form in narrow lanes"),
        }
    }
}

/// The operands of `node` joined by the boolean `op` (`i32.and` or `i32.or`),
/// flattened.
fn split(body: &LoopBody, node: NodeIndex, op: BinaryOp, out: &mut Vec<NodeIndex>) {
    let joined = match body.graph[node] {
        Node::Binop(o) => std::mem::discriminant(&o) == std::mem::discriminant(&op),
        _ => false,
    };
    if joined && is_boolean(body, node) {
        for o in body.operands(node) {
            split(body, o, op, out);
        }
    } else {
        out.push(node);
    }
}

/// Whether boolean `c` is the negation of `e` (`c == eqz(e)` or `e == eqz(c)`).
fn negates(body: &LoopBody, e: NodeIndex, c: NodeIndex) -> bool {
    let eqz_of = |x: NodeIndex, y: NodeIndex| {
        matches!(body.graph[x], Node::Unop(UnaryOp::I32Eqz)) && body.operands(x)[0] == y
    };
    eqz_of(c, e) || eqz_of(e, c)
}
