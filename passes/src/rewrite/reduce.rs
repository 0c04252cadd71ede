//! The kernel of a reduction: per accumulator, a v128 of partial sums over the
//! vector part, a horizontal sum, then the scalar tail. It returns one value per
//! accumulator, which the guard (`map::insert_guard`) folds into the accumulator.
//!
//! Integer sums wrap, so any order gives the same result: exact. Float sums come
//! out in a different order (reassociated): only under `--fast-math`.

use super::map::{lane_splat, node_offset, splat, splat_const, KernelCx};
use super::simd::{self, Repr, VectorBinop};
use crate::analysis::value_graph::{LoopBody, Node};
use crate::fingerprints::reduction::ReductionPlan;
use crate::fingerprints::types::Lanes;
use petgraph::graph::NodeIndex;
use std::collections::{HashMap, HashSet};
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

    let mut cx = KernelCx {
        body,
        lanes,
        invariants: HashMap::new(),
        load_base: HashMap::new(),
        constants: HashMap::new(),
        shared: HashMap::new(),
        use_counts: HashMap::new(),
    };
    let roots: Vec<NodeIndex> = plan.accumulators.iter().map(|(_, _, term)| *term).collect();
    for root in &roots {
        for node in body.loads_under(*root) {
            let Node::Load { kind, .. } = body.graph[node] else {
                continue;
            };
            let form = crate::analysis::affine::affine_i32(body, body.operands(node)[0]);
            let position = plan.loads.iter().position(|l| {
                Some(l.access.form.key()) == form.as_ref().map(|f| f.key())
                    && form.as_ref().map(|f| f.constant + node_offset(body, node)) == Some(l.access.total_offset())
                    && matches!(body.graph[l.node], Node::Load { kind: k, .. } if format!("{k:?}") == format!("{kind:?}"))
            });
            cx.load_base.insert(node, cursors[position.unwrap_or(0)]);
        }
    }
    let mut splats: Vec<Value> = vec![Value::V128(0), lane_splat(lanes, 1)];
    let mut seen = HashSet::new();
    let mut work = roots.clone();
    while let Some(n) = work.pop() {
        match body.graph[n] {
            Node::Const(value) => splats.push(splat_const(value)),
            Node::Binop(op) if matches!(simd::binop(op, lanes), Some(VectorBinop::Copysign)) => {
                splats.push(lane_splat(
                    lanes,
                    if lanes.count() == 2 { 1 << 63 } else { 1 << 31 },
                ));
            }
            _ => {}
        }
        for op in body.operands(n) {
            *cx.use_counts.entry(op).or_insert(0) += 1;
            if seen.insert(op) {
                work.push(op);
            }
        }
    }

    let mut entry = builder.func_body();
    for value in splats {
        if let Value::V128(bits) = value {
            if let std::collections::hash_map::Entry::Vacant(slot) = cx.constants.entry(bits) {
                let local = module.locals.add(ValType::V128);
                entry.const_(value).local_set(local);
                slot.insert(local);
            }
        }
    }
    for (i, (node, ty)) in plan.invariants.iter().enumerate() {
        let scalar_arg = args[plan.loads.len() + i];
        let splatted = module.locals.add(ValType::V128);
        if let Some(op) = splat(*ty) {
            entry.local_get(scalar_arg).unop(op).local_set(splatted);
        }
        cx.invariants.insert(*node, (scalar_arg, splatted));
    }
    for (i, cursor) in cursors.iter().enumerate() {
        entry.local_get(args[i]).local_set(*cursor);
    }
    let lanes_per_vector = lanes.count() as i32;
    entry
        .local_get(args[0])
        .local_get(count)
        .i32_const(-lanes_per_vector)
        .binop(BinaryOp::I32And)
        .i32_const(width)
        .binop(BinaryOp::I32Mul)
        .binop(BinaryOp::I32Add)
        .local_set(vector_end);
    entry
        .local_get(args[0])
        .local_get(count)
        .i32_const(width)
        .binop(BinaryOp::I32Mul)
        .binop(BinaryOp::I32Add)
        .local_set(end);
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
    entry.block(None, |done| {
        let done_id = done.id();
        done.local_get(driver)
            .local_get(vector_end)
            .binop(BinaryOp::I32Eq)
            .br_if(done_id);
        done.loop_(None, |repeat| {
            let repeat_id = repeat.id();
            cx.shared.clear();
            for (i, root) in roots.iter().enumerate() {
                repeat.local_get(vector_sums[i]);
                cx.emit(&mut module.locals, repeat, *root, true, Repr::Value);
                repeat.binop(vector_ops[i]).local_set(vector_sums[i]);
            }
            for cursor in &cursors {
                repeat
                    .local_get(*cursor)
                    .i32_const(16)
                    .binop(BinaryOp::I32Add)
                    .local_set(*cursor);
            }
            repeat
                .local_get(driver)
                .local_get(vector_end)
                .binop(BinaryOp::I32Ne)
                .br_if(repeat_id);
        });
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
    entry.block(None, |done| {
        let done_id = done.id();
        done.local_get(driver)
            .local_get(end)
            .binop(BinaryOp::I32Eq)
            .br_if(done_id);
        done.loop_(None, |repeat| {
            let repeat_id = repeat.id();
            cx.shared.clear();
            for (i, root) in roots.iter().enumerate() {
                repeat.local_get(sums[i]);
                cx.emit(&mut module.locals, repeat, *root, false, Repr::Value);
                repeat.binop(plan.accumulators[i].1).local_set(sums[i]);
            }
            for cursor in &cursors {
                repeat
                    .local_get(*cursor)
                    .i32_const(width)
                    .binop(BinaryOp::I32Add)
                    .local_set(*cursor);
            }
            repeat
                .local_get(driver)
                .local_get(end)
                .binop(BinaryOp::I32Ne)
                .br_if(repeat_id);
        });
    });
    for sum in &sums {
        entry.local_get(*sum);
    }
    builder.finish(args, &mut module.funcs)
}
