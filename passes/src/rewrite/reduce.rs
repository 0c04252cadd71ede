//! The kernel of a reduction: per accumulator, a v128 of partial sums over the
//! vector part, a horizontal sum, then the scalar tail. It returns one value per
//! accumulator, which the guard (`map::insert_guard`) folds into the accumulator.
//!
//! Integer sums wrap, so any order gives the same result: exact. Float sums come
//! out in a different order (reassociated): only under `--fast-math`.

use super::map::{emit_cursor_loop, KernelCx};
use super::simd::{self, Repr, VectorBinop};
use crate::analysis::value_graph::LoopBody;
use crate::fingerprints::reduction::ReductionPlan;
use crate::fingerprints::types::Lanes;
use petgraph::graph::NodeIndex;
use walrus::ir::{BinaryOp, UnaryOp, Value};
use walrus::{FunctionBuilder, FunctionId, LocalId, Module, ValType};

fn scalar_type(lanes: Lanes) -> ValType {
    match lanes {
        Lanes::F32x4 => ValType::F32,
        Lanes::I32x4 => ValType::I32,
        Lanes::F64x2 => ValType::F64,
        Lanes::I64x2 => ValType::I64,
    }
}

fn extract_lane(lanes: Lanes, idx: u8) -> UnaryOp {
    match lanes {
        Lanes::F32x4 => UnaryOp::F32x4ExtractLane { idx },
        Lanes::I32x4 => UnaryOp::I32x4ExtractLane { idx },
        Lanes::F64x2 => UnaryOp::F64x2ExtractLane { idx },
        Lanes::I64x2 => UnaryOp::I64x2ExtractLane { idx },
    }
}

/// Adds the kernel `barq_<pattern>_<elem>_x<unroll>_<n>` for a reduction plan.
/// Parameters: one base per distinct load, the invariants, the element count.
pub fn build_kernel(
    module: &mut Module,
    body: &LoopBody,
    plan: &ReductionPlan,
    pattern: &str,
    serial: usize,
) -> FunctionId {
    let lanes = plan.lanes;
    let scalar = scalar_type(lanes);
    let mut params: Vec<ValType> = plan.loads.iter().map(|_| ValType::I32).collect();
    params.extend(plan.invariants.iter().map(|(_, ty)| *ty));
    params.push(ValType::I32);
    let results: Vec<ValType> = plan.accumulators.iter().map(|_| scalar).collect();
    let mut builder = FunctionBuilder::new(&mut module.types, &params, &results);
    builder.name(
        format!(
            "barq_{pattern}_{:?}_x{}_{serial}",
            lanes.elem(),
            plan.unroll
        )
        .to_lowercase(),
    );
    let args: Vec<LocalId> = params.iter().map(|ty| module.locals.add(*ty)).collect();
    let count = args[args.len() - 1];
    let width = lanes.width() as i32;
    let cursors: Vec<LocalId> = plan
        .loads
        .iter()
        .map(|_| module.locals.add(ValType::I32))
        .collect();
    let driver = cursors[0];
    let vector_end = module.locals.add(ValType::I32);
    let end = module.locals.add(ValType::I32);
    let vector_sums: Vec<LocalId> = plan
        .accumulators
        .iter()
        .map(|_| module.locals.add(ValType::V128))
        .collect();
    let sums: Vec<LocalId> = plan
        .accumulators
        .iter()
        .map(|_| module.locals.add(scalar))
        .collect();

    let roots: Vec<NodeIndex> = plan.accumulators.iter().map(|(_, _, term)| *term).collect();
    let loads: Vec<&crate::fingerprints::elementwise::MapLoad> = plan.loads.iter().collect();
    let (mut cx, splats) = KernelCx::new(body, lanes, &roots, &loads, &cursors, driver);
    let mut entry = builder.func_body();
    let cursors_and_bases: Vec<(LocalId, LocalId)> =
        cursors.iter().zip(&args).map(|(c, b)| (*c, *b)).collect();
    cx.prologue(
        &mut entry,
        &mut module.locals,
        splats,
        &plan.invariants,
        &args[plan.loads.len()..args.len() - 1],
        &cursors_and_bases,
        args[0],
        count,
        (vector_end, end),
    );
    for v in &vector_sums {
        entry.const_(Value::V128(0)).local_set(*v);
    }
    let vector_ops: Vec<BinaryOp> = plan
        .accumulators
        .iter()
        .map(|(_, op, _)| match simd::binop(*op, lanes) {
            Some(VectorBinop::Plain(v)) => v,
            _ => BinaryOp::I32x4Add, // plan() checked there is a plain form
        })
        .collect();
    emit_cursor_loop(&mut entry, driver, vector_end, &cursors, 16, |repeat| {
        cx.shared.clear();
        for (i, root) in roots.iter().enumerate() {
            repeat.local_get(vector_sums[i]);
            cx.emit(&mut module.locals, repeat, *root, true, Repr::Value);
            repeat.binop(vector_ops[i]).local_set(vector_sums[i]);
        }
    });
    // Horizontal sums.
    for (i, (_, op, _)) in plan.accumulators.iter().enumerate() {
        entry.local_get(vector_sums[i]).unop(extract_lane(lanes, 0));
        for lane in 1..lanes.count() as u8 {
            entry
                .local_get(vector_sums[i])
                .unop(extract_lane(lanes, lane))
                .binop(*op);
        }
        entry.local_set(sums[i]);
    }
    // Scalar tail.
    emit_cursor_loop(&mut entry, driver, end, &cursors, width, |repeat| {
        cx.shared.clear();
        for (i, root) in roots.iter().enumerate() {
            repeat.local_get(sums[i]);
            cx.emit(&mut module.locals, repeat, *root, false, Repr::Value);
            repeat.binop(plan.accumulators[i].1).local_set(sums[i]);
        }
    });
    for sum in &sums {
        entry.local_get(*sum);
    }
    builder.finish(args, &mut module.funcs)
}
