//! Scalar operator -> SIMD128 operator, lane for lane. Every entry is exact: wasm
//! defines each SIMD lane operation as the scalar operation on that lane (IEEE
//! arithmetic, `min`/`max` with NaN propagation, saturating truncation, wrapping
//! integer arithmetic), so only NaN payloads may differ, as wasm already allows.
//!
//! Comparisons are the one place the two worlds differ: scalar comparisons give
//! `0`/`1`, SIMD comparisons give all-ones/all-zeros lanes (a *mask*). Planning and
//! emission therefore ask for a representation: a mask feeds `v128.bitselect`
//! directly; a value is the mask ANDed with 1.

use crate::analysis::value_graph::{LoopBody, Node};
use crate::fingerprints::types::Lanes;
use petgraph::graph::NodeIndex;
use walrus::ir::{BinaryOp, UnaryOp};

/// How a vector operand is wanted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Repr {
    /// Lanes hold the scalar values.
    Value,
    /// Lanes hold all-ones for true, zero for false.
    Mask,
}

/// The SIMD form of a scalar binary operator.
#[derive(Clone, Copy, Debug)]
pub enum VectorBinop {
    /// A lane-wise operator producing values.
    Plain(BinaryOp),
    /// A lane-wise comparison producing a mask.
    Compare(BinaryOp),
    /// A shift by a scalar amount (SIMD shifts take one `i32` amount for all lanes).
    Shift(BinaryOp),
    /// `copysign`, as a bit select of the sign bit.
    Copysign,
}

/// The SIMD form of a scalar unary operator.
#[derive(Clone, Copy, Debug)]
pub enum VectorUnop {
    /// A lane-wise operator.
    Plain(UnaryOp),
    /// Same bits, new type (`reinterpret`): nothing to do.
    Identity,
    /// `eqz`: a comparison with zero, producing a mask.
    Eqz,
    /// Several lane-wise operators in turn: `popcnt` counts the bits of each byte
    /// (`i8x16.popcnt`), then adds neighbouring counts up to the lane's width.
    Chain(&'static [UnaryOp]),
}

/// The SIMD form of `op` for kernels with `lanes`, if there is an exact one.
pub fn binop(op: BinaryOp, lanes: Lanes) -> Option<VectorBinop> {
    use BinaryOp::*;
    use VectorBinop::*;
    let four = matches!(lanes, Lanes::F32x4 | Lanes::I32x4);
    Some(match op {
        F32Add if four => Plain(F32x4Add),
        F32Sub if four => Plain(F32x4Sub),
        F32Mul if four => Plain(F32x4Mul),
        F32Div if four => Plain(F32x4Div),
        F32Min if four => Plain(F32x4Min),
        F32Max if four => Plain(F32x4Max),
        F32Copysign if four => Copysign,
        F32Eq if four => Compare(F32x4Eq),
        F32Ne if four => Compare(F32x4Ne),
        F32Lt if four => Compare(F32x4Lt),
        F32Gt if four => Compare(F32x4Gt),
        F32Le if four => Compare(F32x4Le),
        F32Ge if four => Compare(F32x4Ge),
        I32Add if four => Plain(I32x4Add),
        I32Sub if four => Plain(I32x4Sub),
        I32Mul if four => Plain(I32x4Mul),
        I32And if four => Plain(V128And),
        I32Or if four => Plain(V128Or),
        I32Xor if four => Plain(V128Xor),
        I32Shl if four => Shift(I32x4Shl),
        I32ShrS if four => Shift(I32x4ShrS),
        I32ShrU if four => Shift(I32x4ShrU),
        I32Eq if four => Compare(I32x4Eq),
        I32Ne if four => Compare(I32x4Ne),
        I32LtS if four => Compare(I32x4LtS),
        I32LtU if four => Compare(I32x4LtU),
        I32GtS if four => Compare(I32x4GtS),
        I32GtU if four => Compare(I32x4GtU),
        I32LeS if four => Compare(I32x4LeS),
        I32LeU if four => Compare(I32x4LeU),
        I32GeS if four => Compare(I32x4GeS),
        I32GeU if four => Compare(I32x4GeU),
        F64Add if !four => Plain(F64x2Add),
        F64Sub if !four => Plain(F64x2Sub),
        F64Mul if !four => Plain(F64x2Mul),
        F64Div if !four => Plain(F64x2Div),
        F64Min if !four => Plain(F64x2Min),
        F64Max if !four => Plain(F64x2Max),
        F64Copysign if !four => Copysign,
        F64Eq if !four => Compare(F64x2Eq),
        F64Ne if !four => Compare(F64x2Ne),
        F64Lt if !four => Compare(F64x2Lt),
        F64Gt if !four => Compare(F64x2Gt),
        F64Le if !four => Compare(F64x2Le),
        F64Ge if !four => Compare(F64x2Ge),
        I64Add if !four => Plain(I64x2Add),
        I64Sub if !four => Plain(I64x2Sub),
        I64Mul if !four => Plain(I64x2Mul),
        I64And if !four => Plain(V128And),
        I64Or if !four => Plain(V128Or),
        I64Xor if !four => Plain(V128Xor),
        I64Shl if !four => Shift(I64x2Shl),
        I64ShrS if !four => Shift(I64x2ShrS),
        I64ShrU if !four => Shift(I64x2ShrU),
        I64Eq if !four => Compare(I64x2Eq),
        I64Ne if !four => Compare(I64x2Ne),
        I64LtS if !four => Compare(I64x2LtS),
        I64GtS if !four => Compare(I64x2GtS),
        I64LeS if !four => Compare(I64x2LeS),
        I64GeS if !four => Compare(I64x2GeS),
        _ => return None,
    })
}

/// The SIMD form of `op` for kernels with `lanes`, if there is an exact one.
/// (Trapping float-to-int truncations have none: SIMD only saturates.)
pub fn unop(op: UnaryOp, lanes: Lanes) -> Option<VectorUnop> {
    use UnaryOp::*;
    use VectorUnop::*;
    let four = matches!(lanes, Lanes::F32x4 | Lanes::I32x4);
    Some(match op {
        F32Abs if four => Plain(F32x4Abs),
        F32Neg if four => Plain(F32x4Neg),
        F32Sqrt if four => Plain(F32x4Sqrt),
        F32Ceil if four => Plain(F32x4Ceil),
        F32Floor if four => Plain(F32x4Floor),
        F32Trunc if four => Plain(F32x4Trunc),
        F32Nearest if four => Plain(F32x4Nearest),
        F32ConvertSI32 if four => Plain(F32x4ConvertI32x4S),
        F32ConvertUI32 if four => Plain(F32x4ConvertI32x4U),
        I32TruncSSatF32 if four => Plain(I32x4TruncSatF32x4S),
        I32TruncUSatF32 if four => Plain(I32x4TruncSatF32x4U),
        I32ReinterpretF32 | F32ReinterpretI32 if four => Identity,
        I32Eqz if four => Eqz,
        I32Popcnt if four => Chain(&[
            I8x16Popcnt,
            I16x8ExtAddPairwiseI8x16U,
            I32x4ExtAddPairwiseI16x8U,
        ]),
        F64Abs if !four => Plain(F64x2Abs),
        F64Neg if !four => Plain(F64x2Neg),
        F64Sqrt if !four => Plain(F64x2Sqrt),
        F64Ceil if !four => Plain(F64x2Ceil),
        F64Floor if !four => Plain(F64x2Floor),
        F64Trunc if !four => Plain(F64x2Trunc),
        F64Nearest if !four => Plain(F64x2Nearest),
        I64ReinterpretF64 | F64ReinterpretI64 if !four => Identity,
        _ => return None,
    })
}

/// The comparison-with-zero mask for a non-comparison `i32` select condition.
pub fn nonzero_mask(lanes: Lanes) -> Option<BinaryOp> {
    match lanes {
        Lanes::F32x4 | Lanes::I32x4 => Some(BinaryOp::I32x4Ne),
        Lanes::F64x2 | Lanes::I64x2 => None,
    }
}

/// Whether the value tree rooted at `node` can be computed lane-wise with `lanes`
/// in representation `repr`, given that invariant subtrees are splatted.
pub fn plan(body: &LoopBody, node: NodeIndex, lanes: Lanes, repr: Repr) -> bool {
    let four = matches!(lanes, Lanes::F32x4 | Lanes::I32x4);
    let value_from_mask = |repr: Repr| repr == Repr::Mask || four;
    match &body.graph[node] {
        Node::Load { .. } => repr == Repr::Value || nonzero_mask(lanes).is_some(),
        Node::Const(_) | Node::Phi(_) | Node::GlobalGet(_) if body.is_invariant(node) => {
            repr == Repr::Value || nonzero_mask(lanes).is_some()
        }
        _ if body.is_invariant(node) => repr == Repr::Value || nonzero_mask(lanes).is_some(),
        Node::Binop(op) => {
            let ops = body.operands(node);
            match binop(*op, lanes) {
                Some(VectorBinop::Plain(_)) | Some(VectorBinop::Copysign) => {
                    (repr == Repr::Value || nonzero_mask(lanes).is_some())
                        && plan(body, ops[0], lanes, Repr::Value)
                        && plan(body, ops[1], lanes, Repr::Value)
                }
                Some(VectorBinop::Compare(_)) => {
                    value_from_mask(repr)
                        && plan(body, ops[0], lanes, Repr::Value)
                        && plan(body, ops[1], lanes, Repr::Value)
                }
                Some(VectorBinop::Shift(_)) => {
                    (repr == Repr::Value || nonzero_mask(lanes).is_some())
                        && body.is_invariant(ops[1])
                        && plan(body, ops[0], lanes, Repr::Value)
                }
                None => false,
            }
        }
        Node::Unop(op) => {
            let operand = body.operands(node)[0];
            match unop(*op, lanes) {
                Some(VectorUnop::Plain(_) | VectorUnop::Identity | VectorUnop::Chain(_)) => {
                    (repr == Repr::Value || nonzero_mask(lanes).is_some())
                        && plan(body, operand, lanes, Repr::Value)
                }
                Some(VectorUnop::Eqz) => {
                    value_from_mask(repr) && plan(body, operand, lanes, Repr::Value)
                }
                None => false,
            }
        }
        Node::Select => {
            let ops = body.operands(node);
            (repr == Repr::Value || nonzero_mask(lanes).is_some())
                && plan(body, ops[0], lanes, Repr::Value)
                && plan(body, ops[1], lanes, Repr::Value)
                && plan(body, ops[2], lanes, Repr::Mask)
        }
        Node::Phi(_) | Node::Const(_) | Node::GlobalGet(_) | Node::Opaque => false,
    }
}

/// Whether the store value rooted at `node` vectorizes (see [`plan`]).
pub fn vectorizes(body: &LoopBody, node: NodeIndex, lanes: Lanes) -> bool {
    plan(body, node, lanes, Repr::Value)
}

/// Whether two nodes certainly hold the same value: the same node, or equal constants.
fn same_value(body: &LoopBody, a: NodeIndex, b: NodeIndex) -> bool {
    a == b
        || match (&body.graph[a], &body.graph[b]) {
            (Node::Const(x), Node::Const(y)) => format!("{x:?}") == format!("{y:?}"),
            (Node::Phi(x), Node::Phi(y)) => x == y,
            _ => false,
        }
}

/// `select(a, b, cond)` as a pseudo-min/max, when it is one exactly. SIMD defines
/// `pmax(p, q) = p < q ? q : p` and `pmin(p, q) = q < p ? q : p`, so with the
/// operands swapped (`pmax(b, a)`, `pmin(b, a)`):
/// - `a > b ? a : b` and `b < a ? a : b` are `pmax(b, a)`;
/// - `a < b ? a : b` and `b > a ? a : b` are `pmin(b, a)`.
///
/// (Only the strict comparisons: `>=`/`<=` differ on equal and NaN operands.)
pub fn pseudo_min_max(body: &LoopBody, ops: &[NodeIndex], lanes: Lanes) -> Option<BinaryOp> {
    let (a, b, cond) = (ops[0], ops[1], ops[2]);
    let Node::Binop(op) = body.graph[cond] else {
        return None;
    };
    let cmp = body.operands(cond);
    let (p, q) = (cmp[0], cmp[1]);
    let forward = same_value(body, p, a) && same_value(body, q, b);
    let backward = same_value(body, p, b) && same_value(body, q, a);
    let (max, min) = match (op, lanes) {
        (BinaryOp::F32Gt, Lanes::F32x4) | (BinaryOp::F32Lt, Lanes::F32x4) => {
            (BinaryOp::F32x4PMax, BinaryOp::F32x4PMin)
        }
        (BinaryOp::F64Gt, Lanes::F64x2) | (BinaryOp::F64Lt, Lanes::F64x2) => {
            (BinaryOp::F64x2PMax, BinaryOp::F64x2PMin)
        }
        _ => return None,
    };
    let greater = matches!(op, BinaryOp::F32Gt | BinaryOp::F64Gt);
    match (greater, forward, backward) {
        (true, true, _) | (false, _, true) => Some(max),
        (false, true, _) | (true, _, true) => Some(min),
        _ => None,
    }
}
