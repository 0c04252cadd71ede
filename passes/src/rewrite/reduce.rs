//! The kernel of a reduction: per accumulator, a v128 of partial sums over the
//! vector part, a horizontal sum, then the scalar tail. It returns one value per
//! accumulator, which the guard (`map::insert_guard`) folds into the accumulator.
//!
//! Integer sums wrap, so any order gives the same result: exact. Float sums come
//! out in a different order (reassociated): only under `--fast-math`.

use super::map::{emit_cursor_loop, KernelCx};
use super::simd::{self, Repr, VectorBinop};
use crate::analysis::value_graph::LoopBody;
use crate::fingerprints::reduction::{
    Compared, Extremum, ReductionPlan, Reload, WideCompare, WideTerm,
};
use crate::fingerprints::types::Lanes;
use petgraph::graph::NodeIndex;
use walrus::ir::{BinaryOp, LoadKind, MemArg, UnaryOp, Value};
use walrus::{FunctionBuilder, FunctionId, InstrSeqBuilder, LocalId, Module, ValType};

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

fn replace_lane(lanes: Lanes, idx: u8) -> BinaryOp {
    match lanes {
        Lanes::F32x4 => BinaryOp::F32x4ReplaceLane { idx },
        Lanes::I32x4 => BinaryOp::I32x4ReplaceLane { idx },
        Lanes::F64x2 => BinaryOp::F64x2ReplaceLane { idx },
        Lanes::I64x2 => BinaryOp::I64x2ReplaceLane { idx },
    }
}

/// Pushes the i32x4 partial sums of one widening term over the 16 bytes at each
/// operand's cursor (`vectors[i]` holds stream `i`'s bytes) and returns how they
/// join the running sums. Every lane sum is a wrapping i32 sum of whole terms, so
/// any grouping equals the scalar loop's. A count (`compare`, with `other` the
/// compared value splatted into narrow lanes) pushes minus its partial counts: the
/// narrow comparison's lanes are -1 where it holds.
fn emit_wide_term(
    seq: &mut InstrSeqBuilder,
    term: &WideTerm,
    vectors: &[LocalId],
    bytes: u32,
    other: Option<LocalId>,
) -> BinaryOp {
    if let (Some(compare), Some(other), [(x, signed)]) =
        (term.compare, other, term.operands.as_slice())
    {
        seq.local_get(vectors[*x])
            .local_get(other)
            .binop(narrow_compare(compare.op, bytes, *signed));
        if bytes == 1 {
            seq.unop(UnaryOp::I16x8ExtAddPairwiseI8x16S);
        }
        seq.unop(UnaryOp::I32x4ExtAddPairwiseI16x8S);
        return BinaryOp::I32x4Sub;
    }
    let widen16 = |signed: bool, high: bool| match (signed, high) {
        (true, false) => UnaryOp::I16x8WidenLowI8x16S,
        (true, true) => UnaryOp::I16x8WidenHighI8x16S,
        (false, false) => UnaryOp::I16x8WidenLowI8x16U,
        (false, true) => UnaryOp::I16x8WidenHighI8x16U,
    };
    let widen32 = |signed: bool, high: bool| match (signed, high) {
        (true, false) => UnaryOp::I32x4WidenLowI16x8S,
        (true, true) => UnaryOp::I32x4WidenHighI16x8S,
        (false, false) => UnaryOp::I32x4WidenLowI16x8U,
        (false, true) => UnaryOp::I32x4WidenHighI16x8U,
    };
    match (term.operands.as_slice(), bytes) {
        ([(x, signed)], 1) => {
            let pairs = if *signed {
                UnaryOp::I16x8ExtAddPairwiseI8x16S
            } else {
                UnaryOp::I16x8ExtAddPairwiseI8x16U
            };
            // Pair sums of bytes fit in i16 (at most 510), so the second step may
            // read them as signed either way.
            seq.local_get(vectors[*x])
                .unop(pairs)
                .unop(UnaryOp::I32x4ExtAddPairwiseI16x8S);
        }
        ([(x, signed)], _) => {
            seq.local_get(vectors[*x]).unop(if *signed {
                UnaryOp::I32x4ExtAddPairwiseI16x8S
            } else {
                UnaryOp::I32x4ExtAddPairwiseI16x8U
            });
        }
        ([(x, sx), (y, sy)], bytes) => {
            // Bytes widen to i16 exactly (signed or not) and `dot_i16x8_s` adds the
            // i32 products of adjacent lanes; signed halfwords go to it directly;
            // other halfwords widen to i32 and multiply.
            if bytes == 2 && *sx && *sy {
                seq.local_get(vectors[*x])
                    .local_get(vectors[*y])
                    .binop(BinaryOp::I32x4DotI16x8S);
                return BinaryOp::I32x4Add;
            }
            let (widen, combine): (fn(bool, bool) -> UnaryOp, _) = if bytes == 1 {
                (widen16, BinaryOp::I32x4DotI16x8S)
            } else {
                (widen32, BinaryOp::I32x4Mul)
            };
            for high in [false, true] {
                seq.local_get(vectors[*x])
                    .unop(widen(*sx, high))
                    .local_get(vectors[*y])
                    .unop(widen(*sy, high))
                    .binop(combine);
            }
            seq.binop(BinaryOp::I32x4Add);
        }
        _ => {
            seq.unreachable();
        }
    }
    BinaryOp::I32x4Add
}

/// The narrow-lane form of a counting term's i32 comparison `load OP other`, for
/// `other` within the load's range ([`WideCompare::range`]): signed lanes when
/// both the load and the comparison are signed; otherwise the extended values
/// order as their unsigned narrow bits do (a sign-extended load's values, read as
/// unsigned i32, rise with its bits; a zero-extended one's are never negative).
fn narrow_compare(op: BinaryOp, bytes: u32, signed_load: bool) -> BinaryOp {
    use BinaryOp::*;
    let signed = signed_load && matches!(op, I32LtS | I32GtS | I32LeS | I32GeS);
    // [eq, ne, (lt, gt, le, ge) signed, (lt, gt, le, ge) unsigned]
    let [eq, ne, lt_s, gt_s, le_s, ge_s, lt_u, gt_u, le_u, ge_u] = if bytes == 1 {
        [
            I8x16Eq, I8x16Ne, I8x16LtS, I8x16GtS, I8x16LeS, I8x16GeS, I8x16LtU, I8x16GtU, I8x16LeU,
            I8x16GeU,
        ]
    } else {
        [
            I16x8Eq, I16x8Ne, I16x8LtS, I16x8GtS, I16x8LeS, I16x8GeS, I16x8LtU, I16x8GtU, I16x8LeU,
            I16x8GeU,
        ]
    };
    let pick = |s, u| if signed { s } else { u };
    match op {
        I32Eq => eq,
        I32Ne => ne,
        I32LtS | I32LtU => pick(lt_s, lt_u),
        I32GtS | I32GtU => pick(gt_s, gt_u),
        I32LeS | I32LeU => pick(le_s, le_u),
        I32GeS | I32GeU => pick(ge_s, ge_u),
        _ => unreachable!("wide_operands accepts i32 comparisons only"),
    }
}

/// Adds the kernel `barq_<pattern>_<elem>_x<unroll>_<n>` for a reduction plan.
/// Parameters: one base per distinct load, the invariants, the accumulators' values
/// (interleaved plans only), the element count. Results: one value per
/// accumulator, to add to it (or, interleaved, its final value).
pub fn build_kernel(
    module: &mut Module,
    body: &LoopBody,
    plan: &ReductionPlan,
    pattern: &str,
    serial: usize,
) -> FunctionId {
    if let Some(how) = plan.extremum {
        return build_extremum_kernel(module, body, plan, how, pattern, serial);
    }
    let lanes = plan.lanes;
    let scalar = scalar_type(lanes);
    let n_acc = plan.accumulators.len();
    let mut params: Vec<ValType> = plan.loads.iter().map(|_| ValType::I32).collect();
    params.extend(plan.invariants.iter().map(|(_, ty)| *ty));
    if plan.interleaved {
        params.extend(plan.accumulators.iter().map(|_| scalar));
    }
    params.push(ValType::I32);
    let results: Vec<ValType> = plan.accumulators.iter().map(|_| scalar).collect();
    let mut builder = FunctionBuilder::new(&mut module.types, &params, &results);
    let elem = if plan.wide.is_empty() && !plan.widened {
        format!("{:?}", lanes.elem())
    } else {
        format!("i{}", plan.elem_bytes * 8)
    };
    builder.name(format!("barq_{pattern}_{elem}_x{}_{serial}", plan.unroll).to_lowercase());
    let args: Vec<LocalId> = params.iter().map(|ty| module.locals.add(*ty)).collect();
    let count = args[args.len() - 1];
    let invariant_args = &args[plan.loads.len()..plan.loads.len() + plan.invariants.len()];
    let seeds = &args[plan.loads.len() + plan.invariants.len()..args.len() - 1];
    let cursors: Vec<LocalId> = plan
        .loads
        .iter()
        .map(|_| module.locals.add(ValType::I32))
        .collect();
    let driver = cursors[0];
    let vector_end = module.locals.add(ValType::I32);
    let end = module.locals.add(ValType::I32);
    // Interleaved: one vector holds `count` accumulators, lane for lane.
    let n_vectors = if plan.interleaved {
        n_acc / lanes.count() as usize
    } else {
        n_acc
    };
    let vector_sums: Vec<LocalId> = (0..n_vectors)
        .map(|_| module.locals.add(ValType::V128))
        .collect();
    let sums: Vec<LocalId> = plan
        .accumulators
        .iter()
        .map(|_| module.locals.add(scalar))
        .collect();

    let roots: Vec<NodeIndex> = if plan.interleaved {
        vec![plan.accumulators[0].2]
    } else {
        plan.accumulators.iter().map(|(_, _, term)| *term).collect()
    };
    let loads: Vec<&crate::fingerprints::elementwise::MapLoad> = plan.loads.iter().collect();
    let all_roots: Vec<NodeIndex> = roots
        .iter()
        .copied()
        .chain(plan.more.iter().flatten().copied())
        .collect();
    let (mut cx, splats) = KernelCx::new(body, lanes, &all_roots, &loads, &cursors, driver);
    cx.elem_bytes = plan.elem_bytes;
    cx.widen = plan.widened;
    // Non-interleaved sums take two vectors per pass, into two sets of partial
    // sums (any order is allowed there), so consecutive additions do not wait for
    // each other; interleaved sums keep one chain per lane, in order. Widened
    // terms read four elements per vector.
    cx.per_vector = if plan.interleaved {
        plan.unroll
    } else if plan.widened {
        2 * lanes.count()
    } else {
        2 * 16 / plan.elem_bytes
    };
    // The byte offset of the second vector of a pass.
    let chunk_bytes = cx.per_vector / 2 * plan.elem_bytes;
    let second_sums: Vec<LocalId> = if plan.interleaved {
        Vec::new()
    } else {
        (0..n_vectors)
            .map(|_| module.locals.add(ValType::V128))
            .collect()
    };
    let step = (cx.per_vector * cx.elem_bytes) as i32;
    let mut entry = builder.func_body();
    let cursors_and_bases: Vec<(LocalId, LocalId)> =
        cursors.iter().zip(&args).map(|(c, b)| (*c, *b)).collect();
    cx.prologue(
        &mut entry,
        &mut module.locals,
        splats,
        &plan.invariants,
        invariant_args,
        &cursors_and_bases,
        args[0],
        count,
        (vector_end, end),
    );
    // Counting terms: the compared value in narrow lanes. One outside the loaded
    // elements' range (a `uint8_t` parameter the caller did not zero-extend, say)
    // compares differently there, so the vector part is skipped and the scalar
    // tail, which is the loop's own term, counts every element.
    let compared: Vec<Option<LocalId>> = plan
        .wide
        .iter()
        .map(|term| {
            let compare = term.compare?;
            let splatted = module.locals.add(ValType::V128);
            let scalar = match compare.other {
                Compared::Const(c) => {
                    entry.i32_const(c);
                    None
                }
                Compared::Invariant(other) => {
                    let at = plan.invariants.iter().position(|(n, _)| *n == other)?;
                    entry.local_get(invariant_args[at]);
                    Some(invariant_args[at])
                }
            };
            entry
                .unop(if plan.elem_bytes == 1 {
                    UnaryOp::I8x16Splat
                } else {
                    UnaryOp::I16x8Splat
                })
                .local_set(splatted);
            if let Some(scalar) = scalar {
                let (lo, hi) = WideCompare::range(plan.elem_bytes, term.operands[0].1);
                entry.local_get(scalar);
                if lo != 0 {
                    entry.i32_const(lo as i32).binop(BinaryOp::I32Sub);
                }
                entry
                    .i32_const((hi - lo) as i32)
                    .binop(BinaryOp::I32GtU)
                    .if_else(
                        None,
                        |skip| {
                            skip.local_get(args[0]).local_set(vector_end);
                        },
                        |_| {},
                    );
            }
            Some(splatted)
        })
        .collect();
    for (v, sum) in vector_sums.iter().enumerate() {
        entry.const_(Value::V128(0));
        if plan.interleaved {
            // Start every lane from its accumulator's value, so each lane adds the
            // same values in the same order as its scalar accumulator.
            for lane in 0..lanes.count() as usize {
                entry
                    .local_get(seeds[v * lanes.count() as usize + lane])
                    .binop(replace_lane(lanes, lane as u8));
            }
        }
        entry.local_set(*sum);
    }
    for sum in &second_sums {
        entry.const_(Value::V128(0)).local_set(*sum);
    }
    let vector_ops: Vec<BinaryOp> = plan
        .accumulators
        .iter()
        .map(|(_, op, _)| match simd::binop(*op, lanes) {
            Some(VectorBinop::Plain(v)) => v,
            _ => BinaryOp::I32x4Add, // plan() checked there is a plain form
        })
        .collect();
    let stream_vectors: Vec<LocalId> = if plan.wide.is_empty() {
        Vec::new()
    } else {
        plan.loads
            .iter()
            .map(|_| module.locals.add(ValType::V128))
            .collect()
    };
    emit_cursor_loop(&mut entry, driver, vector_end, &cursors, step, |repeat| {
        if plan.interleaved {
            // Chunk c of the iteration holds accumulators (c mod n_vectors) * lanes..
            // at their next step; chunks go in order, so each lane adds its
            // accumulator's terms in the scalar order.
            let chunks = plan.unroll / lanes.count();
            for c in 0..chunks as usize {
                let sum = vector_sums[c % n_vectors];
                cx.shared.clear();
                cx.chunk_offset = 16 * c as u32;
                repeat.local_get(sum);
                cx.emit(&mut module.locals, repeat, roots[0], true, Repr::Value);
                repeat.binop(vector_ops[0]).local_set(sum);
            }
            cx.chunk_offset = 0;
            return;
        }
        for (chunk, partial) in [&vector_sums, &second_sums].into_iter().enumerate() {
            let offset = chunk_bytes * chunk as u32;
            if !plan.wide.is_empty() {
                for (cursor, vector) in cursors.iter().zip(&stream_vectors) {
                    repeat
                        .local_get(*cursor)
                        .load(
                            plan.memory,
                            LoadKind::V128,
                            MemArg {
                                align: 1,
                                offset: offset as u64,
                            },
                        )
                        .local_set(*vector);
                }
                for (i, term) in plan.wide.iter().enumerate() {
                    repeat.local_get(partial[i]);
                    let join =
                        emit_wide_term(repeat, term, &stream_vectors, plan.elem_bytes, compared[i]);
                    repeat.binop(join).local_set(partial[i]);
                }
                continue;
            }
            cx.shared.clear();
            cx.chunk_offset = offset;
            for (v, sum) in partial.iter().enumerate() {
                repeat.local_get(*sum);
                for root in std::iter::once(&roots[v]).chain(&plan.more[v]) {
                    cx.emit(&mut module.locals, repeat, *root, true, Repr::Value);
                    repeat.binop(vector_ops[v]);
                }
                repeat.local_set(*sum);
            }
        }
        cx.chunk_offset = 0;
    });
    if plan.interleaved {
        // Every accumulator's final value is its lane; `count` is a whole number of
        // iterations, so there is no tail.
        for sum in &vector_sums {
            for lane in 0..lanes.count() as u8 {
                entry.local_get(*sum).unop(extract_lane(lanes, lane));
            }
        }
        return builder.finish(args, &mut module.funcs);
    }
    // Horizontal sums (of both sets of partial sums).
    for (i, (sum, second)) in vector_sums.iter().zip(&second_sums).enumerate() {
        entry
            .local_get(*sum)
            .local_get(*second)
            .binop(vector_ops[i])
            .local_set(*sum);
    }
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
    emit_cursor_loop(
        &mut entry,
        driver,
        end,
        &cursors,
        plan.elem_bytes as i32,
        |repeat| {
            cx.shared.clear();
            for (i, root) in roots.iter().enumerate() {
                repeat.local_get(sums[i]);
                for root in std::iter::once(root).chain(&plan.more[i]) {
                    cx.emit(&mut module.locals, repeat, *root, false, Repr::Value);
                    repeat.binop(plan.accumulators[i].1);
                }
                repeat.local_set(sums[i]);
            }
        },
    );
    for sum in &sums {
        entry.local_get(*sum);
    }
    builder.finish(args, &mut module.funcs)
}

/// Folds the v128 in `t` into the v128 in `best`, lane by lane, exactly as the
/// scalar loop folds one element: `best = C(t, best) ? t : best`, or
/// `best = op(best, t)`.
fn fold_vector(seq: &mut InstrSeqBuilder, how: Extremum, lanes: Lanes, t: LocalId, best: LocalId) {
    if let Some(op) = one_instruction_fold(how, lanes) {
        seq.local_get(best).local_get(t).binop(op).local_set(best);
        return;
    }
    match how {
        Extremum::Select(compare) => {
            let Some(VectorBinop::Compare(vector)) = simd::binop(compare, lanes) else {
                seq.unreachable(); // plan() checked the comparison has a SIMD form
                return;
            };
            seq.local_get(t)
                .local_get(best)
                .local_get(t)
                .local_get(best)
                .binop(vector)
                .v128_bitselect();
        }
        Extremum::Op(op) => {
            let Some(VectorBinop::Plain(vector)) = simd::binop(op, lanes) else {
                seq.unreachable();
                return;
            };
            seq.local_get(best).local_get(t).binop(vector);
        }
    }
    seq.local_set(best);
}

/// One SIMD instruction computing `fold(best, t)` lane by lane where one exists:
/// integer `C(t, m) ? t : m` is the lane minimum or maximum (equal integers are the
/// same bits, so `>` and `>=` agree); float `t > m ? t : m` is `pmax(m, t)` by
/// definition (`m < t ? t : m`), and `t >= m ? t : m` differs from it only in which
/// of two equal values it keeps, that is in the sign of a zero, which the kernel's
/// redo settles (see [`build_extremum_kernel`]); `<` and `<=` likewise `pmin`.
fn one_instruction_fold(how: Extremum, lanes: Lanes) -> Option<BinaryOp> {
    use BinaryOp::*;
    let Extremum::Select(compare) = how else {
        return None;
    };
    Some(match (compare, lanes) {
        (I32GtS | I32GeS, Lanes::I32x4) => I32x4MaxS,
        (I32LtS | I32LeS, Lanes::I32x4) => I32x4MinS,
        (I32GtU | I32GeU, Lanes::I32x4) => I32x4MaxU,
        (I32LtU | I32LeU, Lanes::I32x4) => I32x4MinU,
        (F32Gt | F32Ge, Lanes::F32x4) => F32x4PMax,
        (F32Lt | F32Le, Lanes::F32x4) => F32x4PMin,
        (F64Gt | F64Ge, Lanes::F64x2) => F64x2PMax,
        (F64Lt | F64Le, Lanes::F64x2) => F64x2PMin,
        _ => return None,
    })
}

/// The scalar fold of `t` into `best` (both scalar locals).
fn fold_scalar(seq: &mut InstrSeqBuilder, how: Extremum, t: LocalId, best: LocalId) {
    match how {
        Extremum::Select(compare) => {
            seq.local_get(t)
                .local_get(best)
                .local_get(t)
                .local_get(best)
                .binop(compare)
                .select(None);
        }
        Extremum::Op(op) => {
            seq.local_get(best).local_get(t).binop(op);
        }
    }
    seq.local_set(best);
}

/// The set-up the two extremum kernels share: a cursor per stream (the first
/// drives the loops), the context computing the plan's term two vectors a pass, and
/// the prologue (cursors at `args`' leading bases, the invariants after them).
/// Returns the context, each cursor with its base, and the ends of the vector part
/// and of the whole.
#[allow(clippy::type_complexity)]
fn extremum_setup<'a>(
    module: &mut Module,
    entry: &mut InstrSeqBuilder,
    body: &'a LoopBody,
    plan: &ReductionPlan,
    args: &[LocalId],
    count: LocalId,
    per_pass: Option<u32>,
) -> (KernelCx<'a>, Vec<(LocalId, LocalId)>, (LocalId, LocalId)) {
    let lanes = plan.lanes;
    let cursors: Vec<LocalId> = plan
        .loads
        .iter()
        .map(|_| module.locals.add(ValType::I32))
        .collect();
    let ends = (
        module.locals.add(ValType::I32),
        module.locals.add(ValType::I32),
    );
    let term = plan.accumulators[0].2;
    let loads: Vec<&crate::fingerprints::elementwise::MapLoad> = plan.loads.iter().collect();
    let (mut cx, splats) = KernelCx::new(body, lanes, &[term], &loads, &cursors, cursors[0]);
    cx.elem_bytes = plan.elem_bytes;
    cx.per_vector = per_pass.unwrap_or(2 * lanes.count());
    // 8- and 16-bit elements: four a vector, extended into i32 lanes as the loop's
    // loads extend them.
    cx.widen = plan.elem_bytes < lanes.width();
    let cursors_and_bases: Vec<(LocalId, LocalId)> =
        cursors.iter().zip(args).map(|(c, b)| (*c, *b)).collect();
    let invariant_args = &args[plan.loads.len()..plan.loads.len() + plan.invariants.len()];
    cx.prologue(
        entry,
        &mut module.locals,
        splats,
        &plan.invariants,
        invariant_args,
        &cursors_and_bases,
        args[0],
        count,
        ends,
    );
    (cx, cursors_and_bases, ends)
}

/// Adds the kernel `barq_<max|min>_<elem>_x<unroll>_<n>` of a min/max reduction.
/// Parameters: one base per distinct load, the invariants, the running value, the
/// element count; result: the final value.
///
/// Two v128s of running values start as the running value and fold alternate
/// vectors of elements (each lane a subsequence of the elements, in order); the
/// lanes then fold into one value, and the tail elements into it in order. For an
/// integer extreme the grouping cannot matter. For a float one taken by comparison
/// the only difference grouping can make is which zero (`+0` or `-0`) wins a tie,
/// so when the vector part's extreme is zero the kernel starts over from the first
/// element with the scalar fold. (wasm's `min`/`max` order zeros themselves.)
fn build_extremum_kernel(
    module: &mut Module,
    body: &LoopBody,
    plan: &ReductionPlan,
    how: Extremum,
    pattern: &str,
    serial: usize,
) -> FunctionId {
    let lanes = plan.lanes;
    let scalar = scalar_type(lanes);
    let mut params: Vec<ValType> = plan.loads.iter().map(|_| ValType::I32).collect();
    params.extend(plan.invariants.iter().map(|(_, ty)| *ty));
    params.push(scalar);
    params.push(ValType::I32);
    let mut builder = FunctionBuilder::new(&mut module.types, &params, &[scalar]);
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
    let seed = args[args.len() - 2];
    let narrow = NarrowExtreme::of(body, plan, how);
    let mut entry = builder.func_body();
    let (mut cx, cursors_and_bases, (vector_end, end)) = extremum_setup(
        module,
        &mut entry,
        body,
        plan,
        &args,
        count,
        narrow.map(|n| n.per_pass),
    );
    let cursors: Vec<LocalId> = cursors_and_bases.iter().map(|(c, _)| *c).collect();
    let driver = cursors[0];
    let term = plan.accumulators[0].2;
    let best = [
        module.locals.add(ValType::V128),
        module.locals.add(ValType::V128),
    ];
    let t = module.locals.add(ValType::V128);
    let (value, element) = (module.locals.add(scalar), module.locals.add(scalar));
    let splat = match lanes {
        Lanes::F32x4 => UnaryOp::F32x4Splat,
        Lanes::I32x4 => UnaryOp::I32x4Splat,
        Lanes::F64x2 => UnaryOp::F64x2Splat,
        Lanes::I64x2 => UnaryOp::I64x2Splat,
    };
    if let Some(narrow) = narrow {
        // Lanes as wide as the elements, from the fold's identity; the lanes'
        // extreme joins the running value (in the loop's comparison) only when the
        // vector part ran.
        for b in best {
            entry.const_(Value::V128(narrow.identity)).local_set(b);
        }
        emit_cursor_loop(&mut entry, driver, vector_end, &cursors, 32, |repeat| {
            for (chunk, b) in best.iter().enumerate() {
                repeat
                    .local_get(*b)
                    .local_get(driver)
                    .load(
                        plan.memory,
                        LoadKind::V128,
                        MemArg {
                            align: 1,
                            offset: 16 * chunk as u64,
                        },
                    )
                    .binop(narrow.fold)
                    .local_set(*b);
            }
        });
        entry
            .local_get(best[0])
            .local_get(best[1])
            .binop(narrow.fold)
            .local_set(best[0]);
        entry.local_get(seed).local_set(value);
        let base = cursors_and_bases[0].1;
        entry
            .local_get(driver)
            .local_get(base)
            .binop(BinaryOp::I32Ne);
        entry.if_else(
            None,
            |ran| {
                for lane in 0..narrow.lanes {
                    ran.local_get(best[0])
                        .unop(narrow.extract(lane))
                        .local_set(element);
                    fold_scalar(ran, how, element, value);
                }
            },
            |_| {},
        );
    } else {
        for b in best {
            entry.local_get(seed).unop(splat).local_set(b);
        }
        // The bytes one vector of elements takes (16 unless widened).
        let chunk_bytes = lanes.count() * plan.elem_bytes;
        let step = 2 * chunk_bytes as i32;
        emit_cursor_loop(&mut entry, driver, vector_end, &cursors, step, |repeat| {
            for (chunk, b) in best.iter().enumerate() {
                cx.shared.clear();
                cx.chunk_offset = chunk_bytes * chunk as u32;
                cx.emit(&mut module.locals, repeat, term, true, Repr::Value);
                repeat.local_set(t);
                fold_vector(repeat, how, lanes, t, *b);
            }
            cx.chunk_offset = 0;
        });
        fold_vector(&mut entry, how, lanes, best[1], best[0]);
        entry
            .local_get(best[0])
            .unop(extract_lane(lanes, 0))
            .local_set(value);
        for lane in 1..lanes.count() as u8 {
            entry
                .local_get(best[0])
                .unop(extract_lane(lanes, lane))
                .local_set(element);
            fold_scalar(&mut entry, how, element, value);
        }
    }
    if let (Extremum::Select(_), ValType::F32 | ValType::F64) = (how, scalar) {
        // A zero extreme: which zero the scalar loop keeps depends on the order.
        let (zero, eq) = if scalar == ValType::F32 {
            (Value::F32(0.0), BinaryOp::F32Eq)
        } else {
            (Value::F64(0.0), BinaryOp::F64Eq)
        };
        entry.local_get(value).const_(zero).binop(eq);
        entry.if_else(
            None,
            |redo| {
                redo.local_get(seed).local_set(value);
                for (cursor, base) in &cursors_and_bases {
                    redo.local_get(*base).local_set(*cursor);
                }
            },
            |_| {},
        );
    }
    emit_cursor_loop(
        &mut entry,
        driver,
        end,
        &cursors,
        plan.elem_bytes as i32,
        |repeat| {
            cx.shared.clear();
            cx.emit(&mut module.locals, repeat, term, false, Repr::Value);
            repeat.local_set(element);
            fold_scalar(repeat, how, element, value);
        },
    );
    entry.local_get(value);
    builder.finish(args, &mut module.funcs)
}

/// The lanes a min/max plan's kernel folds in when they are as wide as its
/// elements (`i8x16`, `i16x8`; see [`NarrowExtreme`]).
pub fn narrow_extreme_lanes(body: &LoopBody, plan: &ReductionPlan) -> Option<&'static str> {
    let narrow = NarrowExtreme::of(body, plan, plan.extremum?)?;
    Some(if narrow.bytes == 1 { "i8x16" } else { "i16x8" })
}

/// An integer extreme of 8- or 16-bit elements read as they are (the term is the
/// load): folded in lanes as wide as the elements, 16 or 8 a vector, with the
/// lanes' own `max`/`min` of the load's signedness. Exact: the loop's i32
/// comparison orders the extended elements as the lanes order the elements, and
/// an integer extreme does not depend on the order (equal elements are the same
/// value).
#[derive(Clone, Copy)]
struct NarrowExtreme {
    fold: BinaryOp,
    identity: u128,
    lanes: u8,
    bytes: u32,
    signed: bool,
    per_pass: u32,
}

impl NarrowExtreme {
    fn of(body: &LoopBody, plan: &ReductionPlan, how: Extremum) -> Option<NarrowExtreme> {
        use walrus::ir::ExtendedLoad;
        use BinaryOp::*;
        let Extremum::Select(compare) = how else {
            return None;
        };
        if plan.lanes != Lanes::I32x4 || plan.elem_bytes >= 4 || plan.loads.len() != 1 {
            return None;
        }
        let crate::analysis::value_graph::Node::Load { kind, .. } =
            body.graph[plan.accumulators[0].2]
        else {
            return None;
        };
        let signed = match kind {
            LoadKind::I32_8 { kind } | LoadKind::I32_16 { kind } => {
                matches!(kind, ExtendedLoad::SignExtend)
            }
            _ => return None,
        };
        // (Sign-extended elements compared unsigned are not ordered as signed
        // lanes order them.)
        if signed && matches!(compare, I32GtU | I32GeU | I32LtU | I32LeU) {
            return None;
        }
        let larger = matches!(compare, I32GtS | I32GtU | I32GeS | I32GeU);
        let smaller = matches!(compare, I32LtS | I32LtU | I32LeS | I32LeU);
        if !larger && !smaller {
            return None;
        }
        let bytes = kind.width();
        let (fold, identity_lane): (BinaryOp, u128) = match (bytes, signed, larger) {
            (1, false, true) => (I8x16MaxU, 0x00),
            (1, false, false) => (I8x16MinU, 0xff),
            (1, true, true) => (I8x16MaxS, 0x80),
            (1, true, false) => (I8x16MinS, 0x7f),
            (_, false, true) => (I16x8MaxU, 0x0000),
            (_, false, false) => (I16x8MinU, 0xffff),
            (_, true, true) => (I16x8MaxS, 0x8000),
            (_, true, false) => (I16x8MinS, 0x7fff),
        };
        let lanes = (16 / bytes) as u8;
        let identity = (0..lanes as u32).fold(0u128, |v, l| v | identity_lane << (8 * bytes * l));
        Some(NarrowExtreme {
            fold,
            identity,
            lanes,
            bytes,
            signed,
            per_pass: 2 * lanes as u32,
        })
    }

    fn extract(&self, lane: u8) -> UnaryOp {
        match (self.bytes, self.signed) {
            (1, false) => UnaryOp::I8x16ExtractLaneU { idx: lane },
            (1, true) => UnaryOp::I8x16ExtractLaneS { idx: lane },
            (_, false) => UnaryOp::I16x8ExtractLaneU { idx: lane },
            (_, true) => UnaryOp::I16x8ExtractLaneS { idx: lane },
        }
    }
}

/// `C` without equality (`>=` -> `>`), and whether `C` had it.
fn strict_of(compare: BinaryOp) -> (BinaryOp, bool) {
    use BinaryOp::*;
    match compare {
        I32GeS => (I32GtS, false),
        I32GeU => (I32GtU, false),
        I32LeS => (I32LtS, false),
        I32LeU => (I32LtU, false),
        I64GeS => (I64GtS, false),
        I64GeU => (I64GtU, false),
        I64LeS => (I64LtS, false),
        I64LeU => (I64LtU, false),
        F32Ge => (F32Gt, false),
        F32Le => (F32Lt, false),
        F64Ge => (F64Gt, false),
        F64Le => (F64Lt, false),
        other => (other, true),
    }
}

/// Adds the kernel `barq_<argmax|argmin>_<elem>_x<unroll>_<n>` of an index-of-extreme
/// loop (`if (x[i] > m) { m = x[i]; k = i; }`). Parameters: one base per distinct
/// load, the invariants, the index of the first element, the running value and
/// index, the element count; results: the final value and index.
///
/// Each lane of two v128s of values (and two of indices beside them) folds its own
/// subsequence of the elements exactly as the loop does, so it ends with its
/// subsequence's extreme and the index the loop would have kept for it: the first
/// such element under a strict comparison, the last under `>=`/`<=`, or the running
/// pair where none beat it. The lanes then merge: a strictly more extreme value
/// wins, and among equal ones (`==`: zeros of either sign) the smallest index
/// (strict) or the largest (non-strict), which is the element the loop keeps; its
/// bits are the ones the loop keeps too. The merge needs the indices in element
/// order without wrapping, and, for a non-strict comparison, the running index
/// below every element's (a lane that took none keeps it): otherwise the kernel
/// folds every element in order in scalar code. NaN elements are never taken by an
/// ordered comparison, and a NaN running value keeps every lane's pair.
#[allow(clippy::too_many_arguments)]
pub fn build_argmax_kernel(
    module: &mut Module,
    body: &LoopBody,
    plan: &ReductionPlan,
    compare: BinaryOp,
    reload: Option<Reload>,
    pattern: &str,
    serial: usize,
) -> FunctionId {
    use BinaryOp::*;
    let lanes = plan.lanes;
    let scalar = scalar_type(lanes);
    let mut params: Vec<ValType> = plan.loads.iter().map(|_| ValType::I32).collect();
    params.extend(plan.invariants.iter().map(|(_, ty)| *ty));
    // (A re-read extreme: the address of `x[k]` instead of the running value.)
    let results: &[ValType] = if reload.is_some() {
        params.extend([ValType::I32, ValType::I32, ValType::I32, ValType::I32]);
        &[ValType::I32]
    } else {
        params.extend([ValType::I32, scalar, ValType::I32, ValType::I32]);
        &[scalar, ValType::I32]
    };
    let mut builder = FunctionBuilder::new(&mut module.types, &params, results);
    builder.name(
        format!(
            "barq_{pattern}_{:?}_x{}_{serial}",
            lanes.elem(),
            plan.unroll
        )
        .to_lowercase(),
    );
    let args: Vec<LocalId> = params.iter().map(|ty| module.locals.add(*ty)).collect();
    let n = args.len();
    let (first, seed_m, seed_k, count) = (args[n - 4], args[n - 3], args[n - 2], args[n - 1]);
    let mut entry = builder.func_body();
    let (mut cx, cursors_and_bases, (vector_end, end)) =
        extremum_setup(module, &mut entry, body, plan, &args, count, None);
    // The running value read where the loop would read it first.
    let seed_m = match reload {
        Some(reload) => {
            let value = module.locals.add(scalar);
            entry
                .local_get(seed_m)
                .load(
                    reload.memory,
                    reload.kind,
                    MemArg {
                        align: 1,
                        offset: reload.offset,
                    },
                )
                .local_set(value);
            value
        }
        None => seed_m,
    };
    let cursors: Vec<LocalId> = cursors_and_bases.iter().map(|(c, _)| *c).collect();
    let driver = cursors[0];
    let term = plan.accumulators[0].2;
    let v128 = |module: &mut Module| module.locals.add(ValType::V128);
    let best_m = [v128(module), v128(module)];
    let best_k = [v128(module), v128(module)];
    let index = [v128(module), v128(module)];
    let (t, mask) = (v128(module), v128(module));
    let (m, k, idx) = (
        module.locals.add(scalar),
        module.locals.add(ValType::I32),
        module.locals.add(ValType::I32),
    );
    let (element, element_k, taken) = (
        module.locals.add(scalar),
        module.locals.add(ValType::I32),
        module.locals.add(ValType::I32),
    );
    let (strict, was_strict) = strict_of(compare);
    let equal = match scalar {
        ValType::F32 => F32Eq,
        ValType::F64 => F64Eq,
        ValType::I64 => I64Eq,
        _ => I32Eq,
    };
    // Index lanes as wide as the value lanes.
    let wide_index = lanes.count() == 2;
    let (index_add, index_splat) = if wide_index {
        (I64x2Add, UnaryOp::I64x2Splat)
    } else {
        (I32x4Add, UnaryOp::I32x4Splat)
    };
    let lane_count = lanes.count() as i64;
    let splat_index = |v: i64| -> u128 {
        if wide_index {
            let v = v as u64 as u128;
            v | v << 64
        } else {
            let v = v as u32 as u128;
            v | v << 32 | v << 64 | v << 96
        }
    };
    let ramp: u128 = if wide_index {
        1u128 << 64
    } else {
        1u128 << 32 | 2u128 << 64 | 3u128 << 96
    };
    // The vector part only where the merge is exact: indices first .. first +
    // count - 1 do not wrap, and (non-strict) the running index lies below them.
    entry
        .local_get(first)
        .unop(UnaryOp::I64ExtendSI32)
        .local_get(count)
        .unop(UnaryOp::I64ExtendUI32)
        .binop(I64Add)
        .i64_const(i32::MAX as i64 + 1)
        .binop(I64GtS);
    if !was_strict {
        entry
            .local_get(seed_k)
            .local_get(first)
            .binop(I32GeS)
            .binop(I32Or);
    }
    entry.if_else(
        None,
        |no_vectors| {
            no_vectors.local_get(driver).local_set(vector_end);
        },
        |_| {},
    );
    let value_splat = match lanes {
        Lanes::F32x4 => UnaryOp::F32x4Splat,
        Lanes::I32x4 => UnaryOp::I32x4Splat,
        Lanes::F64x2 => UnaryOp::F64x2Splat,
        Lanes::I64x2 => UnaryOp::I64x2Splat,
    };
    let push_index = |seq: &mut InstrSeqBuilder, i32_local: LocalId| {
        seq.local_get(i32_local);
        if wide_index {
            seq.unop(UnaryOp::I64ExtendSI32);
        }
        seq.unop(index_splat);
    };
    for j in 0..2 {
        entry
            .local_get(seed_m)
            .unop(value_splat)
            .local_set(best_m[j]);
        push_index(&mut entry, seed_k);
        entry.local_set(best_k[j]);
        push_index(&mut entry, first);
        entry
            .const_(Value::V128(ramp))
            .binop(index_add)
            .const_(Value::V128(splat_index(j as i64 * lane_count)))
            .binop(index_add)
            .local_set(index[j]);
    }
    let Some(VectorBinop::Compare(vector_compare)) = simd::binop(compare, lanes) else {
        // (plan() checked the comparison has a SIMD form.)
        entry.unreachable();
        return builder.finish(args, &mut module.funcs);
    };
    // The running values by one instruction where it keeps the same bits as the
    // select: integers (equal values are equal bits), and floats under a strict
    // comparison (`t > m ? t : m` is `pmax(m, t)` by definition). Under `>=` it
    // would keep the first of two equal zeros where the loop keeps the last.
    let one_step = one_instruction_fold(Extremum::Select(compare), lanes)
        .filter(|_| was_strict || matches!(scalar, ValType::I32 | ValType::I64));
    emit_cursor_loop(&mut entry, driver, vector_end, &cursors, 32, |repeat| {
        for j in 0..2 {
            cx.shared.clear();
            cx.chunk_offset = 16 * j as u32;
            cx.emit(&mut module.locals, repeat, term, true, Repr::Value);
            repeat
                .local_tee(t)
                .local_get(best_m[j])
                .binop(vector_compare)
                .local_set(mask);
            repeat
                .local_get(index[j])
                .local_get(best_k[j])
                .local_get(mask)
                .v128_bitselect()
                .local_set(best_k[j]);
            match one_step {
                // (Off the mask's path: the values' chain is one instruction.)
                Some(op) => repeat.local_get(best_m[j]).local_get(t).binop(op),
                None => repeat
                    .local_get(t)
                    .local_get(best_m[j])
                    .local_get(mask)
                    .v128_bitselect(),
            };
            repeat.local_set(best_m[j]);
            repeat
                .local_get(index[j])
                .const_(Value::V128(splat_index(2 * lane_count)))
                .binop(index_add)
                .local_set(index[j]);
        }
        cx.chunk_offset = 0;
    });
    // Merge the lanes' pairs.
    let extract_index = |seq: &mut InstrSeqBuilder, v: LocalId, lane: u8| {
        seq.local_get(v);
        if wide_index {
            seq.unop(UnaryOp::I64x2ExtractLane { idx: lane })
                .unop(UnaryOp::I32WrapI64);
        } else {
            seq.unop(UnaryOp::I32x4ExtractLane { idx: lane });
        }
    };
    entry
        .local_get(best_m[0])
        .unop(extract_lane(lanes, 0))
        .local_set(m);
    extract_index(&mut entry, best_k[0], 0);
    entry.local_set(k);
    for j in 0..2 {
        for lane in 0..lanes.count() as u8 {
            if j == 0 && lane == 0 {
                continue;
            }
            entry
                .local_get(best_m[j])
                .unop(extract_lane(lanes, lane))
                .local_set(element);
            extract_index(&mut entry, best_k[j], lane);
            entry.local_set(element_k);
            entry
                .local_get(element)
                .local_get(m)
                .binop(strict)
                .local_get(element)
                .local_get(m)
                .binop(equal)
                .local_get(element_k)
                .local_get(k)
                .binop(if was_strict { I32LtS } else { I32GtS })
                .binop(I32And)
                .binop(I32Or)
                .local_set(taken);
            for (from, to) in [(element, m), (element_k, k)] {
                entry
                    .local_get(from)
                    .local_get(to)
                    .local_get(taken)
                    .select(None)
                    .local_set(to);
            }
        }
    }
    // The elements left, in order, from the index after the vector part's.
    let shift = plan.elem_bytes.trailing_zeros() as i32;
    entry
        .local_get(first)
        .local_get(driver)
        .local_get(args[0])
        .binop(I32Sub)
        .i32_const(shift)
        .binop(I32ShrU)
        .binop(I32Add)
        .local_set(idx);
    emit_cursor_loop(
        &mut entry,
        driver,
        end,
        &cursors,
        plan.elem_bytes as i32,
        |repeat| {
            cx.shared.clear();
            cx.emit(&mut module.locals, repeat, term, false, Repr::Value);
            repeat
                .local_tee(element)
                .local_get(m)
                .binop(compare)
                .local_set(taken);
            for (from, to) in [(element, m), (idx, k)] {
                repeat
                    .local_get(from)
                    .local_get(to)
                    .local_get(taken)
                    .select(None)
                    .local_set(to);
            }
            repeat
                .local_get(idx)
                .i32_const(1)
                .binop(I32Add)
                .local_set(idx);
        },
    );
    if reload.is_none() {
        entry.local_get(m);
    }
    entry.local_get(k);
    builder.finish(args, &mut module.funcs)
}
