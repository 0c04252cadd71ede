//! Maps over 8- and 16-bit elements (`p[i] = 255 - p[i]`, saturating adds,
//! thresholds, `x[i] >> 1` on audio samples). The scalar code computes in `i32` on
//! zero- or sign-extended elements and stores the low bits; the kernel computes in
//! `i8x16` or `i16x8` lanes, each lane holding its element's `i32` value modulo 2^8
//! or 2^16.
//!
//! That is exact for every operation whose low bits depend only on its operands'
//! low bits (add, sub, mul, and, or, xor, shifts left, a select's arms) and, for the
//! others (comparisons, shifts right, `eqz`, a select's condition), wherever a
//! value-range analysis shows that the operands' `i32` values fit the lane, so that
//! the lane holds the value itself (as a signed or as an unsigned lane; both orders
//! agree with `i32`'s on those values). A comparison with a loop invariant of
//! unknown range clamps the invariant once per call to one past the other operand's
//! range, which changes no comparison's outcome: with `x` in `[lo, hi]`, `x < t` is
//! `x < clamp(t, lo - 1, hi + 1)`, and likewise for every ordered comparison and
//! for equality. Where one past the range does not fit the lane (bytes of every
//! value compared in `i8x16`, 16-bit samples), the invariant is compared as it is
//! and each call settles once what every element's comparison gives when the
//! invariant lies outside `[lo, hi]` (then the same as with `lo`); the lanes take
//! that outcome there (one `v128.bitselect` a comparison).
//!
//! Bytes whose expression needs no comparison or right shift run in `i8x16` lanes
//! (16 elements a vector); the rest in `i16x8` lanes, bytes widened on load
//! (`v128.load8x8_u/s`) and narrowed back with `i8x16.narrow_i16x8_u` after masking
//! each lane to its low byte (so the narrowing never saturates).

use super::map::{emit_cursor_loop_steps, KernelCx};
use crate::analysis::value_graph::{LoopBody, Node};
use crate::fingerprints::elementwise::MapMatch;
use crate::fingerprints::types::Lanes;
use petgraph::graph::NodeIndex;
use std::collections::HashMap;
use walrus::ir::{BinaryOp, ExtendedLoad, LoadKind, LoadSimdKind, MemArg, UnaryOp, Value};
use walrus::{
    FunctionBuilder, FunctionId, InstrSeqBuilder, LocalId, Module, ModuleLocals, ValType,
};

/// Fewest elements worth a narrow kernel's guard and call (see
/// `MapMatch::min_elements`).
pub const MIN_ELEMENTS: i64 = 64;

/// The lanes a narrow kernel computes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `i8x16`: each lane holds its value modulo 2^8.
    Bytes,
    /// `i16x8`: each lane holds its value modulo 2^16.
    Halves,
}

impl Mode {
    fn bits(self) -> u32 {
        match self {
            Mode::Bytes => 8,
            Mode::Halves => 16,
        }
    }

    /// `[-2^(B-1), 2^(B-1) - 1]`: values a lane holds exactly as a signed lane.
    fn signed(self) -> Range {
        let half = 1i64 << (self.bits() - 1);
        (-half, half - 1)
    }

    /// `[0, 2^B - 1]`: values a lane holds exactly as an unsigned lane.
    fn unsigned(self) -> Range {
        (0, (1i64 << self.bits()) - 1)
    }

    fn holds(self, r: Range) -> bool {
        inside(r, self.signed()) || inside(r, self.unsigned())
    }
}

/// An `i32` value range, both ends included.
type Range = (i64, i64);

fn inside(r: Range, outer: Range) -> bool {
    r.0 >= outer.0 && r.1 <= outer.1
}

/// How a shift by a constant is computed in lanes.
#[derive(Clone, Copy, Debug)]
enum ShiftForm {
    /// Every bit a lane keeps is shifted out.
    Zero,
    /// The lane shift with this operator and amount.
    Lane(BinaryOp, u32),
}

/// An invariant operand of a comparison, clamped once per call.
#[derive(Clone, Copy, Debug)]
struct Clamp {
    /// Which operand (0 or 1) is the invariant.
    operand: usize,
    /// The clamp's bounds (the unsigned form has `lo = 0` and takes the unsigned
    /// minimum with `hi`).
    lo: i32,
    hi: i32,
    unsigned: bool,
    /// Where one past the other operand's range `[lo, hi]` does not fit the lane
    /// (`x < t` on bytes or 16-bit samples of every value): the comparison's `i32`
    /// operator. The invariant is not clamped; outside `[lo, hi]` it compares the
    /// same with every element (as with `lo`), so each call computes that outcome
    /// and whether the invariant is inside once, and the lanes take the outcome
    /// where it is not (`v128.bitselect`).
    outside: Option<BinaryOp>,
}

/// How a comparison is computed in lanes.
#[derive(Clone, Copy, Debug)]
struct CompareForm {
    /// The lane comparison (its signedness chosen by the operands' ranges).
    op: BinaryOp,
    clamp: Option<Clamp>,
}

/// A narrow map's kernel plan.
#[derive(Clone, Debug)]
pub struct NarrowPlan {
    /// The lanes computed in.
    pub mode: Mode,
    /// Bytes per element (1 or 2).
    pub elem_bytes: u32,
    shifts: HashMap<NodeIndex, ShiftForm>,
    compares: HashMap<NodeIndex, CompareForm>,
    /// Saturating additions and subtractions: node -> the lane operator and its
    /// two operands (see [`saturation`]).
    sats: HashMap<NodeIndex, (BinaryOp, NodeIndex, NodeIndex)>,
}

impl NarrowPlan {
    /// The lane shape's name, for the report.
    pub fn lanes_name(&self) -> &'static str {
        match self.mode {
            Mode::Bytes => "i8x16",
            Mode::Halves => "i16x8",
        }
    }
}

/// Plans the kernel of the narrow map storing `value` (elements of `elem_bytes`
/// bytes), with the match's loop-invariant leaves `invariants`: bytes lanes where
/// they do, else halves, else the reason neither does.
pub fn plan(
    body: &LoopBody,
    value: NodeIndex,
    elem_bytes: u32,
    invariants: &[(NodeIndex, ValType)],
) -> Result<NarrowPlan, &'static str> {
    if invariants.iter().any(|(_, ty)| *ty != ValType::I32) {
        return Err("a loop invariant that is not an i32");
    }
    let modes: &[Mode] = if elem_bytes == 1 {
        &[Mode::Bytes, Mode::Halves]
    } else {
        &[Mode::Halves]
    };
    let mut reason = "no exact SIMD form for an operation";
    for mode in modes {
        let mut planner = Planner {
            body,
            mode: *mode,
            ranges: HashMap::new(),
            plan: NarrowPlan {
                mode: *mode,
                elem_bytes,
                shifts: HashMap::new(),
                compares: HashMap::new(),
                sats: HashMap::new(),
            },
        };
        match planner.lanes(value, 0) {
            Ok(()) => return Ok(planner.plan),
            Err(r) => reason = r,
        }
    }
    Err(reason)
}

struct Planner<'a> {
    body: &'a LoopBody,
    mode: Mode,
    ranges: HashMap<NodeIndex, Option<Range>>,
    plan: NarrowPlan,
}

fn constant_amount(body: &LoopBody, node: NodeIndex) -> Option<u32> {
    match body.graph[node] {
        Node::Const(Value::I32(k)) => Some((k & 31) as u32),
        _ => None,
    }
}

fn within_i32(r: Range) -> Option<Range> {
    (r.0 >= i32::MIN as i64 && r.1 <= i32::MAX as i64).then_some(r)
}

/// The `i32` values `node` can take, when they can be bounded.
fn range(
    body: &LoopBody,
    node: NodeIndex,
    memo: &mut HashMap<NodeIndex, Option<Range>>,
) -> Option<Range> {
    if let Some(r) = memo.get(&node) {
        return *r;
    }
    // (A cycle cannot occur in a value graph; the entry guards deep recursion.)
    memo.insert(node, None);
    let ops = body.operands(node);
    let mut of = |n: NodeIndex| range(body, n, memo);
    use BinaryOp::*;
    let r = match &body.graph[node] {
        Node::Const(Value::I32(c)) => Some((*c as i64, *c as i64)),
        Node::Load { kind, .. } => match kind {
            LoadKind::I32_8 {
                kind: ExtendedLoad::ZeroExtend,
            } => Some((0, 255)),
            LoadKind::I32_8 {
                kind: ExtendedLoad::SignExtend,
            } => Some((-128, 127)),
            LoadKind::I32_16 {
                kind: ExtendedLoad::ZeroExtend,
            } => Some((0, 65535)),
            LoadKind::I32_16 {
                kind: ExtendedLoad::SignExtend,
            } => Some((-32768, 32767)),
            _ => None,
        },
        Node::Binop(op) => {
            let (a, b) = (of(ops[0]), of(ops[1]));
            let amount = constant_amount(body, ops[1]);
            match (op, a, b) {
                (I32Add, Some(a), Some(b)) => within_i32((a.0 + b.0, a.1 + b.1)),
                (I32Sub, Some(a), Some(b)) => within_i32((a.0 - b.1, a.1 - b.0)),
                (I32Mul, Some(a), Some(b)) => {
                    let p = [a.0 * b.0, a.0 * b.1, a.1 * b.0, a.1 * b.1];
                    within_i32((*p.iter().min()?, *p.iter().max()?))
                }
                (I32And, a, b) => {
                    let his: Vec<i64> = [a, b]
                        .into_iter()
                        .flatten()
                        .filter(|r| r.0 >= 0)
                        .map(|r| r.1)
                        .collect();
                    his.into_iter().min().map(|hi| (0, hi))
                }
                (I32Or | I32Xor, Some(a), Some(b)) if a.0 >= 0 && b.0 >= 0 => {
                    let top = ((a.1.max(b.1) + 1) as u64).next_power_of_two() as i64 - 1;
                    Some((0, top))
                }
                (I32Shl, Some(a), _) => amount.and_then(|k| within_i32((a.0 << k, a.1 << k))),
                (I32ShrS, a, _) => amount.map(|k| match a {
                    Some(a) => (a.0 >> k, a.1 >> k),
                    None => (-(1i64 << (31 - k)), (1i64 << (31 - k)) - 1),
                }),
                (I32ShrU, a, _) => amount.and_then(|k| match a {
                    Some(a) if a.0 >= 0 => Some((a.0 >> k, a.1 >> k)),
                    _ if k > 0 => Some((0, (1i64 << (32 - k)) - 1)),
                    _ => None,
                }),
                _ if comparison(*op).is_some() => Some((0, 1)),
                _ => None,
            }
        }
        Node::Unop(UnaryOp::I32Eqz) => Some((0, 1)),
        Node::Unop(UnaryOp::I32Extend8S) => Some((-128, 127)),
        Node::Unop(UnaryOp::I32Extend16S) => Some((-32768, 32767)),
        Node::Select => match saturation(body, node, memo) {
            Some(sat) if sat.exact => Some(sat.bounds),
            _ => match (range(body, ops[0], memo), range(body, ops[1], memo)) {
                (Some(a), Some(b)) => Some((a.0.min(b.0), a.1.max(b.1))),
                _ => None,
            },
        },
        _ => None,
    };
    memo.insert(node, r);
    r
}

/// A saturating addition or subtraction written as compares and selects:
/// `node` computes `clamp(a + b, lo, hi)` (or `a - b`) where `[lo, hi]` is the
/// signed or unsigned range of 8- or 16-bit lanes and `a`, `b` lie inside it, so
/// that the lane operator (`i16x8.add_sat_s`, ...) computes it from lanes holding
/// `a` and `b` themselves.
#[derive(Clone, Copy, Debug)]
struct Saturation {
    bits: u32,
    signed: bool,
    sub: bool,
    a: NodeIndex,
    b: NodeIndex,
    bounds: Range,
    /// `node` equals the clamp (else only modulo 2^bits, as a `-1` for 65535).
    exact: bool,
}

/// Recognizes [`Saturation`]s by what they compute: the expression between
/// `node` and the sum or difference `s` of two narrow values may use only `s`,
/// constants, and (for a difference) comparisons of its two operands; it is
/// evaluated at every value `s` can take and must equal the clamp there.
fn saturation(
    body: &LoopBody,
    node: NodeIndex,
    memo: &mut HashMap<NodeIndex, Option<Range>>,
) -> Option<Saturation> {
    use BinaryOp::*;
    // The sums and differences under `node`, through at most a few levels of
    // selects and comparisons.
    let mut work = vec![(node, 0u32)];
    let mut candidates = Vec::new();
    let mut seen = 0;
    while let Some((n, depth)) = work.pop() {
        seen += 1;
        if seen > 32 || depth > 6 {
            return None;
        }
        match body.graph[n] {
            Node::Binop(I32Add | I32Sub) => candidates.push(n),
            Node::Select | Node::Binop(_) | Node::Unop(_) => {
                work.extend(body.operands(n).into_iter().map(|o| (o, depth + 1)))
            }
            _ => {}
        }
    }
    candidates.sort();
    candidates.dedup();
    let [s] = candidates[..] else {
        return None;
    };
    let sub = matches!(body.graph[s], Node::Binop(I32Sub));
    let ops = body.operands(s);
    let (a, b) = (ops[0], ops[1]);
    let (ra, rb) = (range(body, a, memo)?, range(body, b, memo)?);
    let rs = range(body, s, memo)?;
    if rs.1 - rs.0 > 1 << 18 {
        return None;
    }
    // The expression over both operands, and over the sum or difference alone.
    let pairwise = Program::compile(body, node, &[a, b], None)?;
    let nonnegative = ra.0 >= 0 && rb.0 >= 0;
    let single = Program::compile(body, node, &[s], Some((a, b, sub, nonnegative)));
    for (bits, signed) in [(8u32, true), (8, false), (16, true), (16, false)] {
        let bounds = if signed {
            (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1)
        } else {
            (0, (1i64 << bits) - 1)
        };
        if !inside(ra, bounds) || !inside(rb, bounds) {
            continue;
        }
        let modulus = 1i64 << bits;
        let mut exact = true;
        let mut values = Vec::new();
        let mut check = |f: i64, v: i64| {
            let want = v.clamp(bounds.0, bounds.1);
            exact &= f == want;
            (f - want).rem_euclid(modulus) == 0
        };
        let value = |x: i64, y: i64| if sub { x - y } else { x + y };
        // A few telling points first (most selects are no clamp and fail there):
        // the ends of the operands' ranges, of the lanes' range, and zero.
        let points = |r: Range| {
            let mut p = vec![r.0, r.1, (r.0 + r.1) / 2, 0, bounds.0, bounds.1];
            p.retain(|v| (r.0..=r.1).contains(v));
            p
        };
        let sampled = points(ra).into_iter().all(|x| {
            points(rb)
                .into_iter()
                .all(|y| check(pairwise.run(&[x, y], &mut values), value(x, y)))
        });
        if !sampled {
            continue;
        }
        let pairs = (ra.1 - ra.0 + 1) * (rb.1 - rb.0 + 1);
        let all = if pairs <= 1 << 17 {
            // Every pair of operands (bytes): any use of `a` and `b` is allowed.
            (ra.0..=ra.1).all(|x| {
                (rb.0..=rb.1).all(|y| check(pairwise.run(&[x, y], &mut values), value(x, y)))
            })
        } else {
            let Some(single) = &single else {
                continue;
            };
            (rs.0..=rs.1).all(|v| check(single.run(&[v], &mut values), v))
        };
        if all {
            return Some(Saturation {
                bits,
                signed,
                sub,
                a,
                b,
                bounds,
                exact,
            });
        }
    }
    None
}

/// The expression between a clamp and its operands, flattened for evaluating it at
/// many points: each step's value from earlier steps' (`i32` values as i64).
struct Program {
    steps: Vec<Step>,
}

#[derive(Clone, Copy)]
enum Step {
    Const(i64),
    /// The `k`th input value.
    Input(usize),
    Bin(BinaryOp, usize, usize),
    /// A comparison of a difference's operands, as the signed comparison of the
    /// difference (input 0) with 0 (`direct`) or of 0 with it.
    DiffCompare(BinaryOp, bool),
    Select(usize, usize, usize),
    Eqz(usize),
}

impl Program {
    /// Flattens `node` over `inputs` (nodes whose values are given): constants,
    /// arithmetic, comparisons and selects. With `diff` = `(a, b, is a
    /// difference, both non-negative)` and the difference `s` as the only input,
    /// comparisons of `a` with `b` are those of `a - b` with 0 (no wrap: both are
    /// narrow values; an unsigned one only between non-negative values).
    fn compile(
        body: &LoopBody,
        node: NodeIndex,
        inputs: &[NodeIndex],
        diff: Option<(NodeIndex, NodeIndex, bool, bool)>,
    ) -> Option<Program> {
        let mut program = Program { steps: Vec::new() };
        let mut memo = HashMap::new();
        program.add(body, node, inputs, diff, &mut memo, 0)?;
        Some(program)
    }

    fn add(
        &mut self,
        body: &LoopBody,
        node: NodeIndex,
        inputs: &[NodeIndex],
        diff: Option<(NodeIndex, NodeIndex, bool, bool)>,
        memo: &mut HashMap<NodeIndex, usize>,
        depth: u32,
    ) -> Option<usize> {
        use BinaryOp::*;
        if let Some(at) = memo.get(&node) {
            return Some(*at);
        }
        if depth > 8 || self.steps.len() > 64 {
            return None;
        }
        let step = if let Some(k) = inputs.iter().position(|n| *n == node) {
            Step::Input(k)
        } else {
            let ops = body.operands(node);
            match body.graph[node] {
                Node::Const(Value::I32(c)) => Step::Const(c as i64),
                Node::Select => {
                    let x = self.add(body, ops[0], inputs, diff, memo, depth + 1)?;
                    let y = self.add(body, ops[1], inputs, diff, memo, depth + 1)?;
                    let c = self.add(body, ops[2], inputs, diff, memo, depth + 1)?;
                    Step::Select(x, y, c)
                }
                Node::Unop(UnaryOp::I32Eqz) => {
                    Step::Eqz(self.add(body, ops[0], inputs, diff, memo, depth + 1)?)
                }
                Node::Binop(op) => {
                    let (a, b, sub, nonnegative) = diff.unwrap_or((node, node, false, false));
                    let direct = ops[0] == a && ops[1] == b;
                    let swapped = ops[0] == b && ops[1] == a;
                    match comparison(op) {
                        Some((order, _)) if sub && (direct || swapped) => {
                            if order == Order::Unsigned && !nonnegative {
                                return None;
                            }
                            let signed = match op {
                                I32LtU => I32LtS,
                                I32GtU => I32GtS,
                                I32LeU => I32LeS,
                                I32GeU => I32GeS,
                                other => other,
                            };
                            Step::DiffCompare(signed, direct)
                        }
                        _ if matches!(op, I32Add | I32Sub | I32And | I32Or | I32Xor)
                            || comparison(op).is_some() =>
                        {
                            let x = self.add(body, ops[0], inputs, diff, memo, depth + 1)?;
                            let y = self.add(body, ops[1], inputs, diff, memo, depth + 1)?;
                            Step::Bin(op, x, y)
                        }
                        _ => return None,
                    }
                }
                _ => return None,
            }
        };
        self.steps.push(step);
        memo.insert(node, self.steps.len() - 1);
        Some(self.steps.len() - 1)
    }

    /// The value of the last step given the inputs' (`values` is scratch space).
    fn run(&self, inputs: &[i64], values: &mut Vec<i64>) -> i64 {
        use BinaryOp::*;
        values.clear();
        let wrap = |x: i64| x as i32 as i64;
        let compare = |op: BinaryOp, x: i64, y: i64| -> i64 {
            let (xs, ys) = (wrap(x), wrap(y));
            let (xu, yu) = (xs as u32, ys as u32);
            (match op {
                I32Eq => xs == ys,
                I32Ne => xs != ys,
                I32LtS => xs < ys,
                I32LtU => xu < yu,
                I32GtS => xs > ys,
                I32GtU => xu > yu,
                I32LeS => xs <= ys,
                I32LeU => xu <= yu,
                I32GeS => xs >= ys,
                _ => xu >= yu,
            }) as i64
        };
        for step in &self.steps {
            let v = match *step {
                Step::Const(c) => c,
                Step::Input(k) => inputs[k],
                Step::Eqz(x) => (wrap(values[x]) == 0) as i64,
                Step::Select(x, y, c) => {
                    if wrap(values[c]) != 0 {
                        values[x]
                    } else {
                        values[y]
                    }
                }
                Step::DiffCompare(op, direct) => {
                    if direct {
                        compare(op, inputs[0], 0)
                    } else {
                        compare(op, 0, inputs[0])
                    }
                }
                Step::Bin(op, x, y) => {
                    let (x, y) = (values[x], values[y]);
                    match op {
                        I32Add => wrap(x + y),
                        I32Sub => wrap(x - y),
                        I32And => wrap(x) & wrap(y),
                        I32Or => wrap(x) | wrap(y),
                        I32Xor => wrap(x) ^ wrap(y),
                        _ => compare(op, x, y),
                    }
                }
            };
            values.push(v);
        }
        values.last().copied().unwrap_or(0)
    }
}

/// An `i32` comparison: (signed, unsigned or neither, lane operators for bytes and
/// halves as (signed, unsigned)).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Order {
    Signed,
    Unsigned,
    Equality,
}

fn comparison(op: BinaryOp) -> Option<(Order, [(BinaryOp, BinaryOp); 2])> {
    use BinaryOp::*;
    Some(match op {
        I32Eq => (Order::Equality, [(I8x16Eq, I8x16Eq), (I16x8Eq, I16x8Eq)]),
        I32Ne => (Order::Equality, [(I8x16Ne, I8x16Ne), (I16x8Ne, I16x8Ne)]),
        I32LtS | I32LtU => (
            if matches!(op, I32LtS) {
                Order::Signed
            } else {
                Order::Unsigned
            },
            [(I8x16LtS, I8x16LtU), (I16x8LtS, I16x8LtU)],
        ),
        I32GtS | I32GtU => (
            if matches!(op, I32GtS) {
                Order::Signed
            } else {
                Order::Unsigned
            },
            [(I8x16GtS, I8x16GtU), (I16x8GtS, I16x8GtU)],
        ),
        I32LeS | I32LeU => (
            if matches!(op, I32LeS) {
                Order::Signed
            } else {
                Order::Unsigned
            },
            [(I8x16LeS, I8x16LeU), (I16x8LeS, I16x8LeU)],
        ),
        I32GeS | I32GeU => (
            if matches!(op, I32GeS) {
                Order::Signed
            } else {
                Order::Unsigned
            },
            [(I8x16GeS, I8x16GeU), (I16x8GeS, I16x8GeU)],
        ),
        _ => return None,
    })
}

const TOO_WIDE: &str = "a comparison or shift of values wider than 16 bits";

impl Planner<'_> {
    fn range(&mut self, node: NodeIndex) -> Option<Range> {
        range(self.body, node, &mut self.ranges)
    }

    /// Whether `node` can be computed with each lane holding its value modulo 2^B.
    fn lanes(&mut self, node: NodeIndex, depth: u32) -> Result<(), &'static str> {
        use BinaryOp::*;
        if depth > 64 {
            return Err("expression too deep");
        }
        let body = self.body;
        if body.is_invariant(node) {
            return match body.graph[node] {
                Node::Const(Value::I32(_)) => Ok(()),
                Node::Const(_) => Err("a constant that is not an i32"),
                _ => Ok(()),
            };
        }
        let ops = body.operands(node);
        match body.graph[node].clone() {
            Node::Load { kind, .. } => {
                let width_ok = match kind {
                    // (Bytes lanes read bytes; halves lanes either width.)
                    LoadKind::I32_8 {
                        kind: ExtendedLoad::ZeroExtend | ExtendedLoad::SignExtend,
                    } => true,
                    LoadKind::I32_16 {
                        kind: ExtendedLoad::ZeroExtend | ExtendedLoad::SignExtend,
                    } => self.mode == Mode::Halves,
                    _ => false,
                };
                width_ok
                    .then_some(())
                    .ok_or("a load that is not an 8- or 16-bit i32 load")
            }
            Node::Binop(op) => match op {
                I32Add | I32Sub | I32And | I32Or | I32Xor => {
                    self.lanes(ops[0], depth + 1)?;
                    self.lanes(ops[1], depth + 1)
                }
                I32Mul if self.mode == Mode::Halves => {
                    self.lanes(ops[0], depth + 1)?;
                    self.lanes(ops[1], depth + 1)
                }
                I32Shl | I32ShrS | I32ShrU => {
                    let k = constant_amount(body, ops[1]).ok_or("a shift by a variable amount")?;
                    let form = self.shift(op, ops[0], k)?;
                    self.plan.shifts.insert(node, form);
                    self.lanes(ops[0], depth + 1)
                }
                _ if comparison(op).is_some() => self.compare(node, op, &ops, depth),
                _ => Err("no exact SIMD form for an operation"),
            },
            Node::Unop(UnaryOp::I32Eqz) => {
                let r = self.range(ops[0]).ok_or(TOO_WIDE)?;
                if !self.mode.holds(r) {
                    return Err(TOO_WIDE);
                }
                self.lanes(ops[0], depth + 1)
            }
            Node::Unop(UnaryOp::I32Extend8S | UnaryOp::I32Extend16S) => {
                self.lanes(ops[0], depth + 1)
            }
            Node::Select => {
                let plain = self
                    .lanes(ops[0], depth + 1)
                    .and_then(|()| self.lanes(ops[1], depth + 1))
                    .and_then(|()| self.mask(ops[2], depth + 1));
                match plain {
                    Err(reason) => self.saturating(node, depth).map_err(|_| reason),
                    ok => ok,
                }
            }
            _ => Err("no exact SIMD form for an operation"),
        }
    }

    /// A select that saturates a sum or difference to the lanes' range: the lane
    /// operator.
    fn saturating(&mut self, node: NodeIndex, depth: u32) -> Result<(), &'static str> {
        use BinaryOp::*;
        let sat = saturation(self.body, node, &mut self.ranges).ok_or(TOO_WIDE)?;
        if sat.bits != self.mode.bits() {
            return Err(TOO_WIDE);
        }
        let op = match (sat.bits, sat.signed, sat.sub) {
            (8, true, false) => I8x16AddSatS,
            (8, false, false) => I8x16AddSatU,
            (8, true, true) => I8x16SubSatS,
            (8, false, true) => I8x16SubSatU,
            (_, true, false) => I16x8AddSatS,
            (_, false, false) => I16x8AddSatU,
            (_, true, true) => I16x8SubSatS,
            (_, false, true) => I16x8SubSatU,
        };
        self.lanes(sat.a, depth + 1)?;
        self.lanes(sat.b, depth + 1)?;
        self.plan.sats.insert(node, (op, sat.a, sat.b));
        Ok(())
    }

    /// Whether `node`'s truth (non-zero or not) can be computed as a lane mask.
    fn mask(&mut self, node: NodeIndex, depth: u32) -> Result<(), &'static str> {
        let is_test = match self.body.graph[node] {
            Node::Binop(op) => comparison(op).is_some(),
            Node::Unop(UnaryOp::I32Eqz) => true,
            _ => false,
        };
        if !is_test {
            let r = self.range(node).ok_or(TOO_WIDE)?;
            if !self.mode.holds(r) {
                return Err(TOO_WIDE);
            }
        }
        self.lanes(node, depth)
    }

    fn shift(
        &mut self,
        op: BinaryOp,
        operand: NodeIndex,
        k: u32,
    ) -> Result<ShiftForm, &'static str> {
        let bits = self.mode.bits();
        let (shl, shr_s, shr_u) = match self.mode {
            Mode::Bytes => (BinaryOp::I8x16Shl, BinaryOp::I8x16ShrS, BinaryOp::I8x16ShrU),
            Mode::Halves => (BinaryOp::I16x8Shl, BinaryOp::I16x8ShrS, BinaryOp::I16x8ShrU),
        };
        if k == 0 {
            return Ok(ShiftForm::Lane(shl, 0));
        }
        if matches!(op, BinaryOp::I32Shl) {
            return Ok(if k < bits {
                ShiftForm::Lane(shl, k)
            } else {
                ShiftForm::Zero
            });
        }
        let r = self.range(operand).ok_or(TOO_WIDE)?;
        if inside(r, self.mode.unsigned()) {
            // The lane holds the (non-negative) value: both shifts are logical.
            return Ok(if k < bits {
                ShiftForm::Lane(shr_u, k)
            } else {
                ShiftForm::Zero
            });
        }
        if inside(r, self.mode.signed()) {
            // The lane holds the value, bits B-1 and up all its sign. An arithmetic
            // shift keeps that; a logical one brings the i32's sign bits down into
            // the low B bits, which an arithmetic lane shift also does while the
            // shift leaves no zero from above bit 31 in them (k + B - 1 <= 31).
            return match op {
                BinaryOp::I32ShrS => Ok(ShiftForm::Lane(shr_s, k.min(bits - 1))),
                _ if k + bits - 1 <= 31 => Ok(ShiftForm::Lane(shr_s, k.min(bits - 1))),
                _ => Err(TOO_WIDE),
            };
        }
        Err(TOO_WIDE)
    }

    fn compare(
        &mut self,
        node: NodeIndex,
        op: BinaryOp,
        ops: &[NodeIndex],
        depth: u32,
    ) -> Result<(), &'static str> {
        let (order, lane_ops) = comparison(op).ok_or("no exact SIMD form for an operation")?;
        let (signed_op, unsigned_op) = lane_ops[usize::from(self.mode == Mode::Halves)];
        let (ra, rb) = (self.range(ops[0]), self.range(ops[1]));
        let (s, u) = (self.mode.signed(), self.mode.unsigned());
        let form = match (ra, rb) {
            (Some(a), Some(b)) if inside(a, s) && inside(b, s) => CompareForm {
                // Both orders of i32 agree with the lane's on values that fit it.
                op: match order {
                    Order::Unsigned => unsigned_op,
                    _ => signed_op,
                },
                clamp: None,
            },
            (Some(a), Some(b)) if inside(a, u) && inside(b, u) => CompareForm {
                // Non-negative: signed and unsigned order are the same.
                op: match order {
                    Order::Equality => signed_op,
                    _ => unsigned_op,
                },
                clamp: None,
            },
            (Some(known), None) | (None, Some(known)) => {
                let operand = usize::from(ra.is_some());
                if !self.body.is_invariant(ops[operand]) {
                    return Err(TOO_WIDE);
                }
                let (lo, hi) = (known.0 - 1, known.1 + 1);
                // (The other operand's range is an interval of the comparison's
                // order: signed, or unsigned when it holds no negative value.)
                let masked = self.mode.holds(known) && (order != Order::Unsigned || known.0 >= 0);
                match order {
                    Order::Unsigned if known.0 >= 0 && hi <= u.1 => CompareForm {
                        op: unsigned_op,
                        clamp: Some(Clamp {
                            operand,
                            lo: 0,
                            hi: hi as i32,
                            unsigned: true,
                            outside: None,
                        }),
                    },
                    Order::Signed | Order::Equality
                        if inside((lo, hi), s) || inside((lo, hi), u) =>
                    {
                        let fits_signed = inside((lo, hi), s);
                        CompareForm {
                            op: match (order, fits_signed) {
                                (Order::Equality, _) | (_, true) => signed_op,
                                _ => unsigned_op,
                            },
                            clamp: Some(Clamp {
                                operand,
                                lo: lo as i32,
                                hi: hi as i32,
                                unsigned: false,
                                outside: None,
                            }),
                        }
                    }
                    _ if masked => CompareForm {
                        op: match order {
                            Order::Equality => signed_op,
                            Order::Signed if inside(known, s) => signed_op,
                            _ => unsigned_op,
                        },
                        clamp: Some(Clamp {
                            operand,
                            lo: known.0 as i32,
                            hi: known.1 as i32,
                            unsigned: false,
                            outside: Some(op),
                        }),
                    },
                    _ => return Err(TOO_WIDE),
                }
            }
            _ => return Err(TOO_WIDE),
        };
        self.plan.compares.insert(node, form);
        for (i, operand) in ops.iter().enumerate().take(2) {
            if form.clamp.map(|c| c.operand) != Some(i) {
                self.lanes(*operand, depth + 1)?;
            }
        }
        Ok(())
    }
}

/// The v128 of constant `c`'s low B bits in every lane.
fn splat_bits(mode: Mode, c: i64) -> u128 {
    match mode {
        Mode::Bytes => (c as u8 as u128) * 0x0101_0101_0101_0101_0101_0101_0101_0101,
        Mode::Halves => (c as u16 as u128) * 0x0001_0001_0001_0001_0001_0001_0001_0001,
    }
}

/// Emission state of a narrow kernel's vector loop.
struct Emit<'a> {
    body: &'a LoopBody,
    plan: &'a NarrowPlan,
    memory: walrus::MemoryId,
    load_base: &'a HashMap<NodeIndex, LocalId>,
    /// Invariant node -> splatted local.
    invariants: HashMap<NodeIndex, LocalId>,
    /// Comparison node -> its clamped, splatted invariant operand.
    clamped: HashMap<NodeIndex, LocalId>,
    /// Comparison node -> masks of its outcome with an invariant outside the other
    /// operand's range, and of whether it is inside (see `Clamp::outside`).
    outside: HashMap<NodeIndex, (LocalId, LocalId)>,
    /// Splatted constants: bits -> local.
    constants: HashMap<u128, LocalId>,
    use_counts: HashMap<NodeIndex, u32>,
    shared: HashMap<(NodeIndex, bool), LocalId>,
    /// Elements from the current ones to the first the lanes compute.
    element: u32,
}

impl Emit<'_> {
    fn constant(&self, seq: &mut InstrSeqBuilder, bits: u128) {
        match self.constants.get(&bits) {
            Some(local) => seq.local_get(*local),
            None => seq.const_(Value::V128(bits)),
        };
    }

    fn splat(&self, c: i64) -> u128 {
        splat_bits(self.plan.mode, c)
    }

    /// Pushes the 16 bytes that chunk `chunk` of the current elements stores: one
    /// vector of lanes, or, for bytes computed in halves, two of eight lanes
    /// masked to their low bytes and narrowed.
    fn chunk(
        &mut self,
        locals: &mut ModuleLocals,
        seq: &mut InstrSeqBuilder,
        value: NodeIndex,
        chunk: u32,
    ) {
        let first = chunk * 16 / self.plan.elem_bytes;
        if self.plan.mode == Mode::Halves && self.plan.elem_bytes == 1 {
            for half in 0..2u32 {
                self.shared.clear();
                self.element = first + 8 * half;
                self.emit(locals, seq, value, false);
                self.constant(seq, splat_bits(Mode::Halves, 0xff));
                seq.binop(BinaryOp::V128And);
            }
            seq.binop(BinaryOp::I8x16NarrowI16x8U);
        } else {
            self.shared.clear();
            self.element = first;
            self.emit(locals, seq, value, false);
        }
    }

    /// Pushes `node` as lanes (`mask`: false) or as a mask of its truth.
    fn emit(
        &mut self,
        locals: &mut ModuleLocals,
        seq: &mut InstrSeqBuilder,
        node: NodeIndex,
        mask: bool,
    ) {
        if let Some(local) = self.shared.get(&(node, mask)) {
            seq.local_get(*local);
            return;
        }
        self.emit_uncached(locals, seq, node, mask);
        if self.use_counts.get(&node).copied().unwrap_or(0) > 1 {
            let local = locals.add(ValType::V128);
            seq.local_tee(local);
            self.shared.insert((node, mask), local);
        }
    }

    fn emit_uncached(
        &mut self,
        locals: &mut ModuleLocals,
        seq: &mut InstrSeqBuilder,
        node: NodeIndex,
        mask: bool,
    ) {
        use BinaryOp::*;
        let body = self.body;
        let halves = self.plan.mode == Mode::Halves;
        let (eq, ne) = if halves {
            (I16x8Eq, I16x8Ne)
        } else {
            (I8x16Eq, I8x16Ne)
        };
        let ops = body.operands(node);
        // A mask from a comparison; lanes of 0/1 from a mask.
        let test = |this: &mut Self, seq: &mut InstrSeqBuilder, lane_op: BinaryOp| {
            seq.binop(lane_op);
            if !mask {
                this.constant(seq, this.splat(1));
                seq.binop(V128And);
            }
        };
        // Lanes -> a mask of lanes != 0.
        let to_mask = |this: &mut Self, seq: &mut InstrSeqBuilder| {
            if mask {
                this.constant(seq, 0);
                seq.binop(ne);
            }
        };
        if let Some(local) = self.invariants.get(&node).copied() {
            seq.local_get(local);
            to_mask(self, seq);
            return;
        }
        if let Some((op, a, b)) = self.plan.sats.get(&node).copied() {
            self.emit(locals, seq, a, false);
            self.emit(locals, seq, b, false);
            seq.binop(op);
            to_mask(self, seq);
            return;
        }
        match body.graph[node].clone() {
            Node::Const(Value::I32(c)) => {
                self.constant(seq, self.splat(c as i64));
                to_mask(self, seq);
            }
            Node::Load { kind, .. } => {
                let arg = MemArg {
                    align: 1,
                    offset: (self.element * kind.width()) as u64,
                };
                seq.local_get(self.load_base[&node]);
                let signed = matches!(
                    kind,
                    LoadKind::I32_8 {
                        kind: ExtendedLoad::SignExtend
                    }
                );
                if halves && kind.width() == 1 {
                    let widen = if signed {
                        LoadSimdKind::V128Load8x8S
                    } else {
                        LoadSimdKind::V128Load8x8U
                    };
                    seq.load_simd(self.memory, widen, arg);
                } else {
                    seq.load(self.memory, LoadKind::V128, arg);
                }
                to_mask(self, seq);
            }
            Node::Binop(op) => {
                if let Some(form) = self.plan.compares.get(&node).copied() {
                    for (i, operand) in ops.iter().enumerate().take(2) {
                        if form.clamp.map(|c| c.operand) == Some(i) {
                            seq.local_get(self.clamped[&node]);
                        } else {
                            self.emit(locals, seq, *operand, false);
                        }
                    }
                    seq.binop(form.op);
                    if let Some((outcome, inside)) = self.outside.get(&node) {
                        seq.local_get(*outcome).local_get(*inside).v128_bitselect();
                    }
                    if !mask {
                        self.constant(seq, self.splat(1));
                        seq.binop(V128And);
                    }
                    return;
                }
                if let Some(form) = self.plan.shifts.get(&node).copied() {
                    match form {
                        ShiftForm::Zero => self.constant(seq, 0),
                        ShiftForm::Lane(_, 0) => self.emit(locals, seq, ops[0], false),
                        ShiftForm::Lane(lane_op, k) => {
                            self.emit(locals, seq, ops[0], false);
                            seq.i32_const(k as i32).binop(lane_op);
                        }
                    }
                    to_mask(self, seq);
                    return;
                }
                let lane_op = match (op, halves) {
                    (I32Add, true) => I16x8Add,
                    (I32Add, false) => I8x16Add,
                    (I32Sub, true) => I16x8Sub,
                    (I32Sub, false) => I8x16Sub,
                    (I32Mul, _) => I16x8Mul,
                    (I32And, _) => V128And,
                    (I32Or, _) => V128Or,
                    _ => V128Xor,
                };
                self.emit(locals, seq, ops[0], false);
                self.emit(locals, seq, ops[1], false);
                seq.binop(lane_op);
                to_mask(self, seq);
            }
            Node::Unop(UnaryOp::I32Eqz) => {
                self.emit(locals, seq, ops[0], false);
                self.constant(seq, 0);
                test(self, seq, eq);
            }
            Node::Unop(UnaryOp::I32Extend8S) if halves => {
                self.emit(locals, seq, ops[0], false);
                seq.i32_const(8)
                    .binop(I16x8Shl)
                    .i32_const(8)
                    .binop(I16x8ShrS);
                to_mask(self, seq);
            }
            Node::Unop(_) => {
                // extend16_s, and extend8_s on bytes: the low B bits are the operand's.
                self.emit(locals, seq, ops[0], false);
                to_mask(self, seq);
            }
            Node::Select => {
                self.emit(locals, seq, ops[0], false);
                self.emit(locals, seq, ops[1], false);
                self.emit(locals, seq, ops[2], true);
                seq.v128_bitselect();
                to_mask(self, seq);
            }
            _ => {
                // (Planning admits nothing else.)
                seq.unreachable();
            }
        }
    }
}

/// Adds the kernel of a narrow map to the module (parameters as
/// [`super::map::build_kernel`]'s: store base, one base per distinct non-in-place
/// load, the invariants, the element count) and returns it.
pub fn build_kernel(
    module: &mut Module,
    body: &LoopBody,
    m: &MapMatch,
    plan: &NarrowPlan,
    serial: usize,
) -> FunctionId {
    let (params, distinct_loads) = super::map::kernel_params(m);
    let mut builder = FunctionBuilder::new(&mut module.types, &params, &[]);
    builder.name(format!(
        "barq_{}_{}_x{}_{serial}",
        m.pattern,
        plan.lanes_name(),
        m.unroll
    ));
    let args: Vec<LocalId> = params.iter().map(|ty| module.locals.add(*ty)).collect();
    let store_base = args[0];
    let count = *args.last().unwrap_or(&store_base);
    let width = plan.elem_bytes as i32;
    let store_cursor = module.locals.add(ValType::I32);
    let load_cursors: Vec<LocalId> = distinct_loads
        .iter()
        .map(|_| module.locals.add(ValType::I32))
        .collect();
    let vector_end = module.locals.add(ValType::I32);
    let chunk_end = module.locals.add(ValType::I32);
    let end = module.locals.add(ValType::I32);
    let invariant_args: Vec<LocalId> = args[1 + distinct_loads.len()..args.len() - 1].to_vec();

    // The scalar tail's context (i32 arithmetic, as the original).
    let (mut cx, _) = KernelCx::new(
        body,
        Lanes::I32x4,
        &[m.value],
        &distinct_loads,
        &load_cursors,
        store_cursor,
    );
    let mut entry = builder.func_body();
    let mut emit = Emit {
        body,
        plan,
        memory: m.memory,
        load_base: &cx.load_base,
        invariants: HashMap::new(),
        clamped: HashMap::new(),
        outside: HashMap::new(),
        constants: HashMap::new(),
        use_counts: cx.use_counts.clone(),
        shared: HashMap::new(),
        element: 0,
    };
    // Constants: 0, 1, the low-byte mask, and every constant of the expression.
    let mut bits: Vec<u128> = vec![0, emit.splat(1), splat_bits(Mode::Halves, 0xff)];
    for n in body.graph.node_indices() {
        if let Node::Const(Value::I32(c)) = body.graph[n] {
            if body.uses(m.value, n) || n == m.value {
                bits.push(emit.splat(c as i64));
            }
        }
    }
    for b in bits {
        if let std::collections::hash_map::Entry::Vacant(slot) = emit.constants.entry(b) {
            let local = module.locals.add(ValType::V128);
            entry.const_(Value::V128(b)).local_set(local);
            slot.insert(local);
        }
    }
    let lane_splat = match plan.mode {
        Mode::Bytes => UnaryOp::I8x16Splat,
        Mode::Halves => UnaryOp::I16x8Splat,
    };
    for ((node, _), scalar) in m.invariants.iter().zip(&invariant_args) {
        let splatted = module.locals.add(ValType::V128);
        entry
            .local_get(*scalar)
            .unop(lane_splat)
            .local_set(splatted);
        emit.invariants.insert(*node, splatted);
    }
    let mut compares: Vec<(&NodeIndex, &CompareForm)> = plan.compares.iter().collect();
    compares.sort_by_key(|(n, _)| n.index());
    for (compare, form) in compares {
        let Some(clamp) = form.clamp else {
            continue;
        };
        let operand = body.operands(*compare)[clamp.operand];
        let Some(at) = m.invariants.iter().position(|(n, _)| *n == operand) else {
            continue;
        };
        let t = invariant_args[at];
        let clamped = module.locals.add(ValType::V128);
        if let Some(op) = clamp.outside {
            // All lanes of `t op lo` (or `lo op t`), and of `lo <= t <= hi`.
            let (outcome, inside) = (
                module.locals.add(ValType::V128),
                module.locals.add(ValType::V128),
            );
            entry.i32_const(0);
            if clamp.operand == 0 {
                entry.local_get(t).i32_const(clamp.lo);
            } else {
                entry.i32_const(clamp.lo).local_get(t);
            }
            entry
                .binop(op)
                .binop(BinaryOp::I32Sub)
                .unop(lane_splat)
                .local_set(outcome);
            entry
                .i32_const(0)
                .local_get(t)
                .i32_const(clamp.lo)
                .binop(BinaryOp::I32GeS)
                .local_get(t)
                .i32_const(clamp.hi)
                .binop(BinaryOp::I32LeS)
                .binop(BinaryOp::I32And)
                .binop(BinaryOp::I32Sub)
                .unop(lane_splat)
                .local_set(inside);
            entry.local_get(t);
            emit.outside.insert(*compare, (outcome, inside));
        } else if clamp.unsigned {
            // min_u(t, hi)
            entry
                .local_get(t)
                .i32_const(clamp.hi)
                .local_get(t)
                .i32_const(clamp.hi)
                .binop(BinaryOp::I32LtU)
                .select(None);
        } else {
            // max_s(min_s(t, hi), lo)
            let low = module.locals.add(ValType::I32);
            entry
                .local_get(t)
                .i32_const(clamp.hi)
                .local_get(t)
                .i32_const(clamp.hi)
                .binop(BinaryOp::I32LtS)
                .select(None)
                .local_tee(low)
                .i32_const(clamp.lo)
                .local_get(low)
                .i32_const(clamp.lo)
                .binop(BinaryOp::I32GtS)
                .select(None);
        }
        entry.unop(lane_splat).local_set(clamped);
        emit.clamped.insert(*compare, clamped);
    }
    entry.local_get(store_base).local_set(store_cursor);
    for (cursor, base) in load_cursors.iter().zip(&args[1..]) {
        entry.local_get(*base).local_set(*cursor);
    }
    // 32 bytes a pass of the vector loop, then one 16-byte chunk if that much is
    // left (a 3x3 stencil's rows of 31 bytes take it).
    let bytes = |entry: &mut InstrSeqBuilder| {
        if width != 1 {
            entry.i32_const(width).binop(BinaryOp::I32Mul);
        }
    };
    for (bytes_per_pass, local) in [(32, vector_end), (16, chunk_end)] {
        entry
            .local_get(store_base)
            .local_get(count)
            .i32_const(-(bytes_per_pass / width))
            .binop(BinaryOp::I32And);
        bytes(&mut entry);
        entry.binop(BinaryOp::I32Add).local_set(local);
    }
    entry.local_get(store_base).local_get(count);
    bytes(&mut entry);
    entry.binop(BinaryOp::I32Add).local_set(end);

    let memory = m.memory;
    // Each cursor advances by its own element width (the store's, or a read's).
    let cursors: Vec<(LocalId, i32)> = std::iter::once((store_cursor, width))
        .chain(
            load_cursors
                .iter()
                .zip(&distinct_loads)
                .map(|(c, l)| (*c, l.width as i32)),
        )
        .collect();
    let scaled = |elements: i32| -> Vec<(LocalId, i32)> {
        cursors.iter().map(|(c, w)| (*c, w * elements)).collect()
    };
    let store_arg = |offset: u32| MemArg {
        align: 1,
        offset: offset as u64,
    };
    for (end_of_part, chunks) in [(vector_end, 2u32), (chunk_end, 1)] {
        emit_cursor_loop_steps(
            &mut entry,
            store_cursor,
            end_of_part,
            &scaled(16 * chunks as i32 / width),
            |repeat| {
                for chunk in 0..chunks {
                    repeat.local_get(store_cursor);
                    emit.chunk(&mut module.locals, repeat, m.value, chunk);
                    repeat.store(memory, walrus::ir::StoreKind::V128, store_arg(16 * chunk));
                }
            },
        );
    }
    // The scalar tail: the original expression, one element at a time.
    for ((node, _), scalar) in m.invariants.iter().zip(&invariant_args) {
        cx.invariants.insert(*node, (*scalar, *scalar));
    }
    let store_kind = m.store_kind;
    emit_cursor_loop_steps(&mut entry, store_cursor, end, &scaled(1), |repeat| {
        cx.shared.clear();
        repeat.local_get(store_cursor);
        cx.emit(
            &mut module.locals,
            repeat,
            m.value,
            false,
            super::simd::Repr::Value,
        );
        repeat.store(memory, store_kind, store_arg(0));
    });
    builder.finish(args, &mut module.funcs)
}
