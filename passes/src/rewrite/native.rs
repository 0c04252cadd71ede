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

/// Why a native rewrite is impossible here, if it is. The kernels find guest
/// memory as the export `memory`: a module that exports its memory under another
/// name only (emscripten's minified exports) gets that export added by [`import`];
/// one whose `memory` export is something else is refused.
pub fn memory_refusal(module: &Module, memory: MemoryId) -> Option<&'static str> {
    let named = module.exports.iter().find(|e| e.name == "memory");
    if named.is_some_and(|e| !matches!(e.item, ExportItem::Memory(m) if m == memory)) {
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

/// The native kernel for a reduction plan, for one accumulator (unrolled or not):
/// `dot_f32_v1(x, y, n) -> f32` and `sum_squares_f32_v1(x, n) -> f32` (float sums:
/// only under --fast-math, which the caller checked), `dot_i32_v1(x, y, n) -> i32`,
/// and the widening byte dots `dot_{u8,i8}_{u8,i8}_v1(x, y, n) -> i32`.
pub fn reduction_kernel(
    body: &LoopBody,
    p: &ReductionPlan,
    pattern: &str,
) -> Option<NativeReduction> {
    use ValType::{F32, I32};
    if p.interleaved
        || p.extremum.is_some()
        || !p.invariants.is_empty()
        || p.widened
        || p.more.iter().any(|terms| !terms.is_empty())
    {
        return None;
    }
    if pattern == "cosine" {
        return cosine_kernel(body, p);
    }
    let single = |name: &'static str, params: Vec<ValType>, result: ValType| NativeReduction {
        name,
        params,
        results: vec![result],
        order: vec![0],
    };
    if p.accumulators.len() != 1 {
        return None;
    }
    let (_, op, term) = p.accumulators[0];
    // A sum of squares of one f32 stream (also reported l2_norm).
    if matches!(pattern, "sum_squares" | "l2_norm") {
        let square = matches!(body.graph[term], Node::Binop(BinaryOp::F32Mul)) && {
            let ops = body.operands(term);
            ops.len() == 2 && ops[0] == ops[1] && p.loads.len() == 1
        };
        let f32_load = p.loads.first().is_some_and(|l| {
            matches!(
                body.graph[l.node],
                Node::Load {
                    kind: LoadKind::F32,
                    ..
                }
            )
        });
        return (square && f32_load && matches!(op, BinaryOp::F32Add) && p.wide.is_empty())
            .then(|| single("sum_squares_f32_v1", vec![I32, I32], F32));
    }
    if pattern != "dot" || p.loads.len() != 2 {
        return None;
    }
    // Widening byte dots: x[i] * y[i] with each byte zero- or sign-extended.
    if let [wide] = p.wide.as_slice() {
        let [(a, signed_a), (b, signed_b)] = wide.operands.as_slice() else {
            return None;
        };
        if p.elem_bytes != 1 || a == b || !matches!(op, BinaryOp::I32Add) {
            return None;
        }
        let signed = |stream: usize| if stream == *a { *signed_a } else { *signed_b };
        let name = match (signed(0), signed(1)) {
            (false, false) => "dot_u8_u8_v1",
            (false, true) => "dot_u8_i8_v1",
            (true, false) => "dot_i8_u8_v1",
            (true, true) => "dot_i8_i8_v1",
        };
        return Some(single(name, vec![I32, I32, I32], I32));
    }
    if !p.wide.is_empty() {
        return None;
    }
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
    match (op, p.lanes) {
        (BinaryOp::F32Add, Lanes::F32x4) if product && plain(LoadKind::F32) => {
            Some(single("dot_f32_v1", vec![I32, I32, I32], F32))
        }
        (BinaryOp::I32Add, Lanes::I32x4) if product && plain(LoadKind::I32 { atomic: false }) => {
            Some(single("dot_i32_v1", vec![I32, I32, I32], I32))
        }
        _ => None,
    }
}

/// A host kernel for a reduction: the import's name, parameters and results, and
/// for each accumulator of the plan (in order) the index of the result it takes.
#[derive(Clone, Debug)]
pub struct NativeReduction {
    /// Import name in module `barq`.
    pub name: &'static str,
    /// Parameters: the streams' addresses, then the element count.
    pub params: Vec<ValType>,
    /// The import's results.
    pub results: Vec<ValType>,
    /// `order[j]`: the result accumulator `j` takes.
    pub order: Vec<usize>,
}

/// `cosine_f32_v1(x, y, n) -> (xy, xx, yy)` for three f32 accumulators adding
/// `x[i] * y[i]`, `x[i] * x[i]` and `y[i] * y[i]` (any order: --fast-math).
fn cosine_kernel(body: &LoopBody, p: &ReductionPlan) -> Option<NativeReduction> {
    if p.accumulators.len() != 3 || p.loads.len() != 2 || !p.wide.is_empty() {
        return None;
    }
    let plain_f32 = p.loads.iter().all(|l| {
        matches!(
            body.graph[l.node],
            Node::Load {
                kind: LoadKind::F32,
                ..
            }
        )
    });
    if !plain_f32 {
        return None;
    }
    let (x, y) = (p.loads[0].node, p.loads[1].node);
    let mut order = Vec::new();
    for (_, op, term) in &p.accumulators {
        if !matches!(op, BinaryOp::F32Add)
            || !matches!(body.graph[*term], Node::Binop(BinaryOp::F32Mul))
        {
            return None;
        }
        let ops = body.operands(*term);
        let slot = match (ops[0], ops[1]) {
            (a, b) if (a, b) == (x, y) || (a, b) == (y, x) => 0,
            (a, b) if a == x && b == x => 1,
            (a, b) if a == y && b == y => 2,
            _ => return None,
        };
        order.push(slot);
    }
    let mut seen = order.clone();
    seen.sort_unstable();
    (seen == [0, 1, 2]).then(|| NativeReduction {
        name: "cosine_f32_v1",
        params: vec![ValType::I32; 3],
        results: vec![ValType::F32; 3],
        order,
    })
}

/// What the guard calls for a native reduction: the import itself when its results
/// come in the accumulators' order, else a small function that calls it and puts
/// the results in that order.
pub fn reduction_call(module: &mut Module, k: &NativeReduction, serial: usize) -> FunctionId {
    let import = import(module, k.name, &k.params, &k.results);
    if k.order.iter().enumerate().all(|(j, r)| j == *r) {
        return import;
    }
    let ordered: Vec<ValType> = k.order.iter().map(|r| k.results[*r]).collect();
    let mut builder = walrus::FunctionBuilder::new(&mut module.types, &k.params, &ordered);
    builder.name(format!("barq_native_{}_{serial}", k.name));
    let args: Vec<_> = k.params.iter().map(|t| module.locals.add(*t)).collect();
    let results: Vec<_> = k.results.iter().map(|t| module.locals.add(*t)).collect();
    let mut body = builder.func_body();
    for a in &args {
        body.local_get(*a);
    }
    body.call(import);
    for r in results.iter().rev() {
        body.local_set(*r);
    }
    for r in &k.order {
        body.local_get(results[*r]);
    }
    builder.finish(args, &mut module.funcs)
}

/// Below this many elements a reduction runs the portable SIMD kernel instead of
/// the native one: a host call costs ~19 ns in barq-wasm's runtime (Wasmtime 48;
/// the store hands the kernels its memory), about what the SIMD128 kernel needs
/// for 256-300 f32 elements (`cargo bench --bench threshold`, 2026-12-04: a dot
/// product level at 256-300, the host kernel 1.4x faster at 512); the three-sum
/// cosine kernel still lost at 300 in the comparison's KNN row (1.08 ms native vs
/// 0.79 ms portable), hence 512. Embedders whose store makes the kernels look up
/// the `memory` export pay ~80 ns a call instead.
pub const NATIVE_MIN_ELEMENTS: i32 = 512;

/// A function with `portable`'s type whose last parameter is an element count: it
/// calls `native` when the count is at least `min` (as unsigned), else `portable`.
pub fn by_length(
    module: &mut Module,
    native: FunctionId,
    portable: FunctionId,
    min: i32,
    serial: usize,
) -> FunctionId {
    let ty = module.types.get(module.funcs.get(portable).ty()).clone();
    let (params, results) = (ty.params().to_vec(), ty.results().to_vec());
    let mut builder = walrus::FunctionBuilder::new(&mut module.types, &params, &results);
    builder.name(format!("barq_native_or_portable_{serial}"));
    let args: Vec<_> = params.iter().map(|t| module.locals.add(*t)).collect();
    let count = *args.last().expect("an element count");
    let mut body = builder.func_body();
    body.local_get(count)
        .i32_const(min)
        .binop(walrus::ir::BinaryOp::I32GeU)
        .if_else(
            walrus::ir::InstrSeqType::new(&mut module.types, &[], &results),
            |then| {
                for a in &args {
                    then.local_get(*a);
                }
                then.call(native);
            },
            |otherwise| {
                for a in &args {
                    otherwise.local_get(*a);
                }
                otherwise.call(portable);
            },
        );
    builder.finish(args, &mut module.funcs)
}

/// The function importing `barq::name`, added once per module; the module's
/// first memory (the one the passes rewrite for) is exported as `memory` too if
/// nothing is (see [`memory_refusal`]).
pub fn import(
    module: &mut Module,
    name: &str,
    params: &[ValType],
    results: &[ValType],
) -> FunctionId {
    if !module.exports.iter().any(|e| e.name == "memory") {
        if let Some(memory) = module.memories.iter().next().map(|m| m.id()) {
            module.exports.add("memory", memory);
        }
    }
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

/// Puts `block $fail { <emit> }` in front of `func`'s body: `emit` writes a guard
/// that leaves `$fail` (then the original body runs) and a fast path that returns.
pub fn insert_entry_block(
    module: &mut Module,
    func: FunctionId,
    emit: impl FnOnce(&mut walrus::InstrSeqBuilder, walrus::ir::InstrSeqId, &[walrus::LocalId]),
) {
    let local = module.funcs.get_mut(func).kind.unwrap_local_mut();
    let args = local.args.clone();
    let entry = local.entry_block();
    let mut guard = local.builder_mut().dangling_instr_seq(None);
    let fail = guard.id();
    emit(&mut guard, fail, &args);
    local.block_mut(entry).instrs.insert(
        0,
        (
            walrus::ir::Instr::Block(walrus::ir::Block { seq: fail }),
            Default::default(),
        ),
    );
}

/// The entry guard of a whole-function decoder (`native-lz4`, `native-zstd`):
/// `input` and `output` are the parameter positions of (address, length) of the
/// compressed bytes and of the output buffer, `kernel_args` the parameter
/// positions the kernel takes, in its order. The kernel runs when `min_input <=
/// input length < 2^31` and `0 <= capacity < 2^31` (signed and unsigned
/// readings agree), both buffers and 16 bytes past each lie inside memory (a
/// decoder reading a little ahead would not have trapped), and the buffers do
/// not overlap; it returns the decoded size, or a negative value to decline, and
/// then (or when the guard fails) the original body runs.
pub fn insert_decoder_call(
    module: &mut Module,
    func: FunctionId,
    memory: walrus::MemoryId,
    kernel: FunctionId,
    (input, output): ([usize; 2], [usize; 2]),
    kernel_args: [usize; 4],
    min_input: i32,
) {
    use walrus::ir::BinaryOp;
    let mem = module.locals.add(ValType::I64);
    let result = module.locals.add(ValType::I32);
    insert_entry_block(module, func, |seq, fail, args| {
        let (src, len) = (args[input[0]], args[input[1]]);
        let (dst, cap) = (args[output[0]], args[output[1]]);
        emit_decoder_checks(seq, fail, (memory, mem), (src, len), (dst, cap), min_input);
        for position in kernel_args {
            seq.local_get(args[position]);
        }
        seq.call(kernel)
            .local_tee(result)
            .i32_const(0)
            .binop(BinaryOp::I32LtS)
            .br_if(fail)
            .local_get(result)
            .return_();
    });
}

/// The checks of [`insert_decoder_call`]'s guard, leaving `fail` unless
/// `min_input <= len < 2^31`, `0 <= cap < 2^31`, `src..src + len + 16` and
/// `dst..dst + cap + 16` lie inside memory (its size in bytes kept in the i64
/// local `mem`) and the two buffers do not overlap.
pub fn emit_decoder_checks(
    seq: &mut walrus::InstrSeqBuilder,
    fail: walrus::ir::InstrSeqId,
    (memory, mem): (walrus::MemoryId, walrus::LocalId),
    (src, len): (walrus::LocalId, walrus::LocalId),
    (dst, cap): (walrus::LocalId, walrus::LocalId),
    min_input: i32,
) {
    use walrus::ir::{BinaryOp, UnaryOp};
    seq.local_get(len)
        .i32_const(min_input)
        .binop(BinaryOp::I32LtS)
        .local_get(cap)
        .i32_const(0)
        .binop(BinaryOp::I32LtS)
        .binop(BinaryOp::I32Or)
        .br_if(fail);
    crate::rewrite::map::emit_memory_bytes(memory, mem, seq);
    let end = |seq: &mut walrus::InstrSeqBuilder, base, size| {
        seq.local_get(base)
            .unop(UnaryOp::I64ExtendUI32)
            .local_get(size)
            .unop(UnaryOp::I64ExtendUI32)
            .binop(BinaryOp::I64Add);
    };
    for (base, size) in [(src, len), (dst, cap)] {
        end(seq, base, size);
        seq.i64_const(16)
            .binop(BinaryOp::I64Add)
            .local_get(mem)
            .binop(BinaryOp::I64GtU)
            .br_if(fail);
    }
    emit_apart(
        seq,
        fail,
        (src, &|seq| end(seq, src, len)),
        (dst, &|seq| end(seq, dst, cap)),
    );
}

/// Leaves `fail` unless two ranges are apart: `end(b) <= a` or `end(a) <= b`,
/// each range given as its start and an emitter of its end (an i64).
pub fn emit_apart(
    seq: &mut walrus::InstrSeqBuilder,
    fail: walrus::ir::InstrSeqId,
    (a, end_a): (walrus::LocalId, &dyn Fn(&mut walrus::InstrSeqBuilder)),
    (b, end_b): (walrus::LocalId, &dyn Fn(&mut walrus::InstrSeqBuilder)),
) {
    use walrus::ir::UnaryOp;
    end_b(seq);
    seq.local_get(a)
        .unop(UnaryOp::I64ExtendUI32)
        .binop(BinaryOp::I64LeU);
    end_a(seq);
    seq.local_get(b)
        .unop(UnaryOp::I64ExtendUI32)
        .binop(BinaryOp::I64LeU)
        .binop(BinaryOp::I32Or)
        .unop(UnaryOp::I32Eqz)
        .br_if(fail);
}
