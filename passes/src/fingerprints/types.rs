//! Value types of value-graph nodes, and the SIMD128 lane shape of a store.

use crate::analysis::value_graph::{LoopBody, Node};
use crate::report::Elem;
use petgraph::graph::NodeIndex;
use walrus::ir::{LoadKind, StoreKind, Value};
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
