//! Trip counts of counted loops, as a description the rewriter turns into code.
//!
//! The exit test compares an affine value `X` (`X_k = X_0 + inc * k` in iteration
//! `k`) with a loop-invariant bound `B`. The number of iterations is the first `k`
//! where the test fails (plus one for bottom-tested loops). Every form below is
//! evaluated at run time in 64-bit arithmetic, with the conditions under which the
//! closed form is exact (no wrap-around before the exit); when they fail, the
//! rewritten code falls back to the original loop.

use super::affine::{affine_i32, Affine};
use super::value_graph::{ExitTest, LoopBody, Node};
use petgraph::graph::NodeIndex;
use std::collections::HashMap;
use walrus::ir::{BinaryOp, UnaryOp, Value};
use walrus::LocalId;

/// A normalized continue-condition `X <op> B`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Predicate {
    /// `X != B`
    Ne,
    /// `X == B`
    Eq,
    /// `X < B`, unsigned
    LtU,
    /// `X < B`, signed
    LtS,
    /// `X > B`, unsigned
    GtU,
    /// `X > B`, signed
    GtS,
    /// `X <= B`, unsigned
    LeU,
    /// `X <= B`, signed
    LeS,
    /// `X >= B`, unsigned
    GeU,
    /// `X >= B`, signed
    GeS,
}

impl Predicate {
    fn negate(self) -> Predicate {
        use Predicate::*;
        match self {
            Ne => Eq,
            Eq => Ne,
            LtU => GeU,
            LtS => GeS,
            GtU => LeU,
            GtS => LeS,
            LeU => GtU,
            LeS => GtS,
            GeU => LtU,
            GeS => LtS,
        }
    }

    /// The predicate with its operands swapped (`B op X` as `X op' B`).
    fn swap(self) -> Predicate {
        use Predicate::*;
        match self {
            Ne | Eq => self,
            LtU => GtU,
            LtS => GtS,
            GtU => LtU,
            GtS => LtS,
            LeU => GeU,
            LeS => GeS,
            GeU => LeU,
            GeS => LeS,
        }
    }

    /// Whether the predicate compares signed values.
    pub fn is_signed(self) -> bool {
        matches!(
            self,
            Predicate::LtS | Predicate::GtS | Predicate::LeS | Predicate::GeS
        )
    }

    fn of(op: BinaryOp) -> Option<Predicate> {
        use Predicate::*;
        Some(match op {
            BinaryOp::I32Ne => Ne,
            BinaryOp::I32Eq => Eq,
            BinaryOp::I32LtU => LtU,
            BinaryOp::I32LtS => LtS,
            BinaryOp::I32GtU => GtU,
            BinaryOp::I32GtS => GtS,
            BinaryOp::I32LeU => LeU,
            BinaryOp::I32LeS => LeS,
            BinaryOp::I32GeU => GeU,
            BinaryOp::I32GeS => GeS,
            _ => return None,
        })
    }
}

/// How to compute the trip count at loop entry.
#[derive(Clone, Debug)]
pub struct TripCount {
    /// The loop continues while `x <pred> bound`.
    pub pred: Predicate,
    /// The varying side, in terms of the iteration's phis.
    pub x: NodeIndex,
    /// Its growth per iteration (non-zero).
    pub inc: i64,
    /// The invariant side.
    pub bound: NodeIndex,
    /// Where the test sits.
    pub test: ExitTest,
}

/// Derives the trip count of a loop from its exit test and induction steps.
pub fn trip_count(
    body: &LoopBody,
    steps: &HashMap<LocalId, i64>,
) -> Result<TripCount, &'static str> {
    let exit = body.exit.ok_or("no loop exit test")?;
    // `eqz` of a comparison (`t = i == last; i += 1; br_if !t`, clang -O2) is the
    // negated comparison; `eqz` of `eqz`, the value itself.
    let mut cond = exit.cond;
    let mut negated = false;
    while matches!(body.graph[cond], Node::Unop(UnaryOp::I32Eqz)) {
        let inner = body.operands(cond)[0];
        let is_test = match &body.graph[inner] {
            Node::Binop(op) => Predicate::of(*op).is_some(),
            Node::Unop(UnaryOp::I32Eqz) => true,
            _ => false,
        };
        if !is_test {
            break;
        }
        cond = inner;
        negated = !negated;
    }
    let (mut pred, x, bound) = match &body.graph[cond] {
        Node::Binop(op) => match Predicate::of(*op) {
            Some(pred) => {
                let ops = body.operands(cond);
                (pred, ops[0], ops[1])
            }
            None => (Predicate::Ne, cond, NodeIndex::end()),
        },
        Node::Unop(UnaryOp::I32Eqz) => (Predicate::Eq, body.operands(cond)[0], NodeIndex::end()),
        _ => (Predicate::Ne, cond, NodeIndex::end()),
    };
    if exit.continue_when_nonzero == negated {
        pred = pred.negate();
    }
    let incr = |n: NodeIndex| -> Option<(Affine, i64)> {
        let form = affine_i32(body, n)?;
        let inc = form.exact_increment(body, steps)?;
        Some((form, inc))
    };
    // A bare value tested against zero has no bound node; the rewriter uses 0.
    let (x, bound, pred) = if bound == NodeIndex::end() {
        (x, bound, pred)
    } else {
        let (_, inc_x) = incr(x).ok_or("non-affine loop condition")?;
        let (_, inc_b) = incr(bound).ok_or("non-affine loop condition")?;
        match (inc_x != 0, inc_b != 0) {
            (true, false) if body.is_invariant(bound) => (x, bound, pred),
            (false, true) if body.is_invariant(x) => (bound, x, pred.swap()),
            _ => return Err("loop bound is not invariant"),
        }
    };
    let (_, inc) = incr(x).ok_or("non-affine loop condition")?;
    if inc == 0 {
        return Err("loop condition does not change");
    }
    if inc.unsigned_abs().count_ones() != 1 || inc.unsigned_abs() > 1 << 16 {
        return Err("loop step is not a power of two");
    }
    use Predicate::*;
    let direction_ok = match pred {
        Ne | Eq => true,
        LtU | LtS | LeU | LeS => inc > 0,
        GtU | GtS | GeU | GeS => inc < 0,
    };
    if !direction_ok {
        return Err("loop counts away from its bound");
    }
    Ok(TripCount {
        pred,
        x,
        inc,
        bound,
        test: exit.test,
    })
}

/// The constant 0 bound used when the condition is a bare value.
pub fn has_bound(trip: &TripCount) -> bool {
    trip.bound != NodeIndex::end()
}

/// Whether a node is the `i32` constant `c`.
pub fn is_const(body: &LoopBody, node: NodeIndex, c: i32) -> bool {
    matches!(body.graph[node], Node::Const(Value::I32(v)) if v == c)
}

/// The trip count when it is a compile-time constant: a constant bound, and an
/// affine `x` whose locals have known values at loop entry (`entry`). Used only to
/// skip loops too short to pay for a guard, so wrap-around is not considered.
pub fn static_iterations(
    body: &LoopBody,
    trip: &TripCount,
    entry: impl Fn(LocalId) -> Option<i64>,
) -> Option<i64> {
    let bound = if has_bound(trip) {
        match body.graph[trip.bound] {
            Node::Const(Value::I32(b)) => b as i64,
            _ => return None,
        }
    } else {
        0
    };
    let form = affine_i32(body, trip.x)?;
    let mut x0 = form.constant;
    for (atom, coef) in form.key() {
        let Node::Phi(local) = body.graph[atom] else {
            return None;
        };
        x0 += coef * entry(local)?;
    }
    let (distance, step) = if trip.inc > 0 {
        (bound - x0, trip.inc)
    } else {
        (x0 - bound, -trip.inc)
    };
    use Predicate::*;
    let k = match trip.pred {
        Ne if distance % step == 0 => distance / step,
        LtS | LtU | GtS | GtU => (distance + step - 1).div_euclid(step),
        LeS | LeU | GeS | GeU => distance.div_euclid(step) + 1,
        _ => return None,
    };
    match trip.test {
        // The test follows the first iteration, which always runs.
        ExitTest::Bottom => Some(k.max(0) + 1),
        ExitTest::Top => (k >= 0).then_some(k),
    }
}
