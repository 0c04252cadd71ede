//! Value types of value-graph nodes, and the SIMD128 lane shape of a store.

use crate::analysis::value_graph::{LoopBody, Node};
use crate::report::Elem;
use petgraph::graph::NodeIndex;
use walrus::ir::{LoadKind, StoreKind, UnaryOp, Value};
use walrus::{Module, ValType};

/// The v128 interpretation used for a kernel's lanes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lanes {
    /// Four `f32` lanes.
    F32x4,
    /// Four `i32` lanes.
    I32x4,
    /// Two `f64` lanes.
    F64x2,
    /// Two `i64` lanes.
    I64x2,
}

impl Lanes {
    /// The lane shape for full-width stores of this kind, if vectorizable.
    pub fn of_store(kind: StoreKind) -> Option<Lanes> {
        Some(match kind {
            StoreKind::F32 => Lanes::F32x4,
            StoreKind::I32 { atomic: false } => Lanes::I32x4,
            StoreKind::F64 => Lanes::F64x2,
            StoreKind::I64 { atomic: false } => Lanes::I64x2,
            _ => return None,
        })
    }

    /// Number of lanes in a v128.
    pub fn count(self) -> u32 {
        match self {
            Lanes::F32x4 | Lanes::I32x4 => 4,
            Lanes::F64x2 | Lanes::I64x2 => 2,
        }
    }

    /// Bytes per lane.
    pub fn width(self) -> u32 {
        16 / self.count()
    }

    /// The report's element type.
    pub fn elem(self) -> Elem {
        match self {
            Lanes::F32x4 => Elem::F32,
            Lanes::I32x4 => Elem::I32,
            Lanes::F64x2 => Elem::F64,
            Lanes::I64x2 => Elem::I64,
        }
    }
}

/// The report's element type of a loop's stores of this kind: bytes are `i8` when
/// the bytes the loop reads are sign-extended and never used as unsigned values,
/// else `u8`.
pub fn store_elem(body: &LoopBody, kind: StoreKind) -> Option<Elem> {
    Some(match kind {
        StoreKind::F32 => Elem::F32,
        StoreKind::F64 => Elem::F64,
        StoreKind::I32 { .. } => Elem::I32,
        StoreKind::I64 { .. } => Elem::I64,
        StoreKind::I32_8 { .. } | StoreKind::I64_8 { .. } => {
            // Each byte read is signed (`load8_s`, or clang's `load8_u` sign-extended
            // by a use), unsigned (zero-extended and used where the high bits count:
            // a comparison, right shift, division, conversion), or either (only
            // low-bit arithmetic: `(x ^ s) - s` stores the same byte both ways).
            let (mut signed, mut unsigned) = (false, false);
            for n in body.graph.node_indices() {
                let Node::Load {
                    kind: LoadKind::I32_8 { kind } | LoadKind::I64_8 { kind },
                    ..
                } = body.graph[n]
                else {
                    continue;
                };
                if matches!(kind, walrus::ir::ExtendedLoad::SignExtend) {
                    signed = true;
                    continue;
                }
                for user in body
                    .graph
                    .neighbors_directed(n, petgraph::Direction::Incoming)
                {
                    match body.graph[user] {
                        Node::Unop(UnaryOp::I32Extend8S | UnaryOp::I64Extend8S) => signed = true,
                        Node::Unop(_) => unsigned = true,
                        Node::Binop(op) if !low_bits_only(op) => unsigned = true,
                        _ => {}
                    }
                }
            }
            if signed && !unsigned {
                Elem::I8
            } else {
                Elem::U8
            }
        }
        StoreKind::I32_16 { .. } | StoreKind::I64_16 { .. } => Elem::I16,
        _ => return None,
    })
}

/// Whether the low bits of `op`'s result depend only on its operands' low bits.
fn low_bits_only(op: walrus::ir::BinaryOp) -> bool {
    use walrus::ir::BinaryOp::*;
    matches!(
        op,
        I32Add | I32Sub | I32Mul | I32And | I32Or | I32Xor | I32Shl
    )
}

/// The scalar type a load produces.
pub fn load_type(kind: LoadKind) -> ValType {
    match kind {
        LoadKind::I32 { .. } | LoadKind::I32_8 { .. } | LoadKind::I32_16 { .. } => ValType::I32,
        LoadKind::I64 { .. }
        | LoadKind::I64_8 { .. }
        | LoadKind::I64_16 { .. }
        | LoadKind::I64_32 { .. } => ValType::I64,
        LoadKind::F32 => ValType::F32,
        LoadKind::F64 => ValType::F64,
        LoadKind::V128 => ValType::V128,
    }
}

fn prefix_type(name: &str) -> Option<ValType> {
    Some(match name.get(..3)? {
        "I32" => ValType::I32,
        "I64" => ValType::I64,
        "F32" => ValType::F32,
        "F64" => ValType::F64,
        _ => return None,
    })
}

/// The result type of a scalar unary operator (named for its result type, except
/// `eqz`, which gives `i32`).
pub fn unop_type(op: walrus::ir::UnaryOp) -> Option<ValType> {
    let name = format!("{op:?}");
    if name.ends_with("Eqz") {
        Some(ValType::I32)
    } else {
        prefix_type(&name)
    }
}

/// The result type of a scalar binary operator (comparisons give `i32`).
pub fn binop_type(op: walrus::ir::BinaryOp) -> Option<ValType> {
    let name = format!("{op:?}");
    let comparison = [
        "Eq", "Ne", "LtS", "LtU", "GtS", "GtU", "LeS", "LeU", "GeS", "GeU", "Lt", "Gt", "Le", "Ge",
    ]
    .iter()
    .any(|suffix| name.len() == 3 + suffix.len() && name.ends_with(suffix));
    if comparison {
        Some(ValType::I32)
    } else {
        prefix_type(&name)
    }
}

/// The type of a node's value. Scalar operators are named for their result type
/// (`F32ConvertSI32`, `I32WrapI64`), except comparisons and `eqz`, which give `i32`.
pub fn node_type(module: &Module, body: &LoopBody, node: NodeIndex) -> Option<ValType> {
    match &body.graph[node] {
        Node::Phi(local) => Some(module.locals.get(*local).ty()),
        Node::Const(value) => Some(match value {
            Value::I32(_) => ValType::I32,
            Value::I64(_) => ValType::I64,
            Value::F32(_) => ValType::F32,
            Value::F64(_) => ValType::F64,
            Value::V128(_) => ValType::V128,
        }),
        Node::GlobalGet(global) => Some(module.globals.get(*global).ty),
        Node::Load { kind, .. } => Some(load_type(*kind)),
        Node::Unop(op) => unop_type(*op),
        Node::Binop(op) => binop_type(*op),
        Node::Select => node_type(module, body, body.operands(node)[0]),
        Node::Opaque => None,
    }
}
