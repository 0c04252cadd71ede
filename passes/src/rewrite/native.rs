//! The native target: instead of an injected SIMD128 kernel, the guard calls an
//! import from module `barq` that the runner (`barq-wasm`) provides with AVX2 code.
//! Only matches whose lane expression is exactly what a host kernel computes get
//! one; the guard, the bounds and overlap checks and the original loop as fallback
//! are the same as for the portable target.

use crate::analysis::value_graph::{LoopBody, Node};
use crate::fingerprints::elementwise::MapMatch;
use crate::fingerprints::reduction::ReductionPlan;
use crate::fingerprints::types::Lanes;
use walrus::ir::{BinaryOp, LoadKind};
use walrus::{ExportItem, FunctionId, MemoryId, Module, ValType};

/// The import module of native kernels.
pub const MODULE: &str = "barq";

/// Why a native rewrite is impossible here, if it is.
pub fn memory_refusal(module: &Module, memory: MemoryId) -> Option<&'static str> {
    let exported = module
        .exports
        .iter()
        .any(|e| e.name == "memory" && matches!(e.item, ExportItem::Memory(m) if m == memory));
    if !exported {
        return Some("native kernels need the memory exported as `memory`");
    }
    let memory = module.memories.get(memory);
    if memory.shared || memory.memory64 {
        return Some("native kernels take unshared 32-bit memories only");
    }
    None
}

/// The native kernel for an elementwise match: `axpy_f32_v1(y, x, a, n)` for
/// `y[i] = y[i] + a * x[i]` in f32 (in place, one scaled stream, one invariant).
pub fn map_kernel(body: &LoopBody, m: &MapMatch) -> Option<(&'static str, Vec<ValType>)> {
    let in_place = m.loads.iter().filter(|l| l.in_place).count();
    let streams = m.loads.iter().filter(|l| !l.in_place).count();
    let plain_f32 = m.loads.iter().all(|l| {
        matches!(
            body.graph[l.node],
            Node::Load {
                kind: LoadKind::F32,
                ..
            }
        )
    });
    let axpy = m.pattern == "axpy"
        && m.lanes == Lanes::F32x4
        && in_place == 1
        && streams == 1
        && plain_f32
        && m.invariants.len() == 1
        && m.invariants[0].1 == ValType::F32
        // The scaled load is the separate stream: y + a * x, not x + a * y.
        && scaled_load_is_stream(body, m);
    use ValType::{F32, I32};
    axpy.then(|| ("axpy_f32_v1", vec![I32, I32, F32, I32]))
}

fn scaled_load_is_stream(body: &LoopBody, m: &MapMatch) -> bool {
    let ops = body.operands(m.value);
    let product = ops
        .iter()
        .find(|n| matches!(body.graph[**n], Node::Binop(BinaryOp::F32Mul)));
    let Some(product) = product else {
        return false;
    };
    body.operands(*product)
        .iter()
        .any(|n| m.loads.iter().any(|l| !l.in_place && l.node == *n))
}

/// The native kernel for a reduction plan: `dot_f32_v1(x, y, n) -> f32` (only
/// under --fast-math, which the caller checked) and `dot_i32_v1(x, y, n) -> i32`,
/// for one accumulator adding `x[i] * y[i]` (unrolled or not).
pub fn reduction_kernel(
    body: &LoopBody,
    p: &ReductionPlan,
    pattern: &str,
) -> Option<(&'static str, Vec<ValType>, ValType)> {
    if pattern != "dot"
        || p.accumulators.len() != 1
        || p.loads.len() != 2
        || p.interleaved
        || !p.wide.is_empty()
        || !p.invariants.is_empty()
    {
        return None;
    }
    let (_, op, term) = p.accumulators[0];
    let product = matches!(
        body.graph[term],
        Node::Binop(BinaryOp::F32Mul | BinaryOp::I32Mul)
    );
    let loads = body.operands(term);
    let plain = |kind: LoadKind| {
        loads.iter().all(|n| {
            matches!(body.graph[*n], Node::Load { kind: k, .. } if format!("{k:?}") == format!("{kind:?}"))
        })
    };
    use ValType::{F32, I32};
    match (op, p.lanes) {
        (BinaryOp::F32Add, Lanes::F32x4) if product && plain(LoadKind::F32) => {
            Some(("dot_f32_v1", vec![I32, I32, I32], F32))
        }
        (BinaryOp::I32Add, Lanes::I32x4) if product && plain(LoadKind::I32 { atomic: false }) => {
            Some(("dot_i32_v1", vec![I32, I32, I32], I32))
        }
        _ => None,
    }
}

/// The function importing `barq::name`, added once per module.
pub fn import(
    module: &mut Module,
    name: &str,
    params: &[ValType],
    results: &[ValType],
) -> FunctionId {
    let existing = module.imports.iter().find_map(|i| match i.kind {
        walrus::ImportKind::Function(f) if i.module == MODULE && i.name == name => Some(f),
        _ => None,
    });
    if let Some(f) = existing {
        return f;
    }
    let ty = module.types.add(params, results);
    module.add_import_func(MODULE, name, ty).0
}
