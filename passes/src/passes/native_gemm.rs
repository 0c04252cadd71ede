//! `native-gemm`: a function identified by probing as a matrix product
//! (`fingerprints::gemm`) gets a guard at its entry that calls a GEMM kernel and
//! returns; the original body follows as the fallback (and still gets the loop
//! passes' rewrites). The kernel is the runner's `barq::gemm_f32_v1` (f64:
//! `gemm_f64_v1`) under `--target native`, and under `--target portable` a
//! register-blocked SIMD128 function added to the module (`rewrite::gemm`; a
//! transposed B is transposed in registers). The name predates the portable
//! kernel.
//!
//! Needs: a prober (the driver's Wasmtime engine); without one, nothing happens.
//! Guarantees: exact by default (the kernel keeps every output's operation order:
//! a multiply then an add per step, `k` in order, no FMA); under `--fast-math` the
//! kernel may reorder and fuse. The guard calls the kernel only when `m, n, k >= 1`,
//! the work is above a size threshold, leading dimensions are at least the row
//! widths (C's rows do not overlap), every matrix lies inside memory (so none of
//! the original's `i32` address computations wrapped), and C overlaps neither A
//! nor B. Otherwise the original body runs: traps and partial writes are its own.

use crate::fingerprints::gemm::{self, Bias, Dims, Gemm, Identified};
use crate::pass::{Changed, Pass, PassCx, PassError};
use crate::report::{Elem, Tier};
use crate::rewrite::emit_counted_loop;
use crate::rewrite::map::emit_memory_bytes;
use crate::rewrite::native;
use walrus::ir::{BinaryOp, InstrSeqId, UnaryOp};
use walrus::{FunctionId, InstrSeqBuilder, LocalId, Module, ValType};

/// The native GEMM pass.
pub struct NativeGemm;

/// Below this many multiply-adds (`m * n * k`) the original loops run. Chosen,
/// not measured: a host call costs on the order of 100 ns, what a few hundred
/// scalar multiply-adds in the original take.
pub const MIN_WORK: i64 = 512;

/// The kernel's flags (its last parameter).
pub mod flags {
    /// A is stored transposed.
    pub const TRANS_A: i32 = 1;
    /// B is stored transposed.
    pub const TRANS_B: i32 = 2;
    /// Sums start from C's elements.
    pub const ACCUMULATE: i32 = 4;
    /// Reassociation and FMA allowed (`--fast-math`).
    pub const FAST: i32 = 8;
}

/// The kernel's import name.
pub const KERNEL: &str = "gemm_f32_v1";
/// The f64 kernel's import name (same arguments, f64 elements).
pub const KERNEL_F64: &str = "gemm_f64_v1";

impl Pass for NativeGemm {
    fn name(&self) -> &'static str {
        "native-gemm"
    }

    fn description(&self) -> &'static str {
        "functions computing C = A B (f32 or f64, identified by probing) -> barq::gemm_f32_v1 / gemm_f64_v1 (--target native) or a blocked SIMD128 kernel, behind a guard"
    }

    fn run(&self, module: &mut Module, cx: &mut PassCx<'_>) -> Result<Changed, PassError> {
        let fast = cx.options.fast_math;
        Ok(super::run_whole_function_tiered(
            module,
            cx,
            super::OnPortable::Rewrite,
            gemm::prefilter,
            |local, index, params, probe, tier| {
                let Identified { gemm: g, runs } =
                    gemm::identify(local, index, params.len(), probe)?;
                let native = tier == Tier::Native;
                Some(super::Identified {
                    detected: None,
                    matched: g,
                    // (One row: a matrix-vector product.)
                    pattern: if matches!(g.dims, Dims::Row { .. }) {
                        "gemv"
                    } else {
                        "gemm"
                    },
                    elem: Some(if g.f64 { Elem::F64 } else { Elem::F32 }),
                    exact: !(fast && native),
                    reason: describe(&g, runs, fast && native, native),
                })
            },
            |module, func, memory, g, tier| {
                insert_call(module, func, memory, g, fast, tier == Tier::Native)
            },
        ))
    }
}

/// The report's reason for a rewrite: what was identified, how, and the licence.
fn describe(g: &Gemm, runs: usize, fast: bool, native: bool) -> String {
    let form = match (g.trans_a, g.trans_b) {
        (false, false) => "A B",
        (true, false) => "A^T B",
        (false, true) => "A B^T",
        (true, true) => "A^T B^T",
    };
    let op = if g.accumulate { "+=" } else { "=" };
    let sizes = match g.dims {
        Dims::Square(_) => "square",
        Dims::Row { .. } => "one row (m = 1), n, k",
        Dims::Packed { .. } => "m, n, k",
        Dims::Strided { .. } => "m, n, k, leading dimensions",
    };
    let licence = match (fast, native) {
        (true, _) => "--fast-math: blocked, FMA".to_string(),
        (false, true) => "exact: k order kept, no FMA".to_string(),
        (false, false) => format!(
            "SIMD128 4x{} register blocks{}, k in panels of 128, exact: k order kept, no FMA",
            if g.f64 { 4 } else { 8 },
            if g.trans_b {
                ", B transposed in registers"
            } else {
                ""
            }
        ),
    };
    let form = match g.bias {
        Some(Bias::First(_)) => format!("bias + {form} (a bias vector per row, first)"),
        Some(Bias::Last(_)) => format!("{form} + bias (a bias vector per row, last)"),
        None => form.to_string(),
    };
    format!("identified by probing ({runs} runs): C {op} {form}, sizes {sizes}; {licence}")
}

/// Puts `block { guard; call kernel; return }` in front of the function's body:
/// the runner's kernel (`native`) or the module's own SIMD128 one.
fn insert_call(
    module: &mut Module,
    func: FunctionId,
    memory: walrus::MemoryId,
    g: &Gemm,
    fast: bool,
    native: bool,
) {
    let fast = fast && native;
    let kernel = match (native, g.f64) {
        (true, false) => native::import(module, KERNEL, &[ValType::I32; 10], &[]),
        (true, true) => native::import(module, KERNEL_F64, &[ValType::I32; 10], &[]),
        (false, f64) => crate::rewrite::gemm::kernel(module, memory, f64),
    };
    let mem = module.locals.add(ValType::I64);
    let t = module.locals.add(ValType::I64);
    // A one-row product's `m` (and `lda` when A is transposed), a bias vector's
    // rows: a local holding 1 (set only there; other products never read it).
    let one = module.locals.add(ValType::I32);
    // Row and column counters and an address, for a bias.
    let (i, j, at) = (
        module.locals.add(ValType::I32),
        module.locals.add(ValType::I32),
        module.locals.add(ValType::I32),
    );
    native::insert_entry_block(module, func, |guard, fail, args| {
        if matches!(g.dims, Dims::Row { .. }) || g.bias.is_some() {
            guard.i32_const(1).local_set(one);
        }
        let shape = Operands::of(g, args, one);
        emit_guard(guard, fail, g, &shape, memory, mem, t);
        // A bias first: C's rows start as copies of it, and the kernel accumulates.
        if let Some(Bias::First(d)) = g.bias {
            emit_bias_rows(guard, g, &shape, args[d], memory, [i, j, at], false);
        }
        for v in [
            shape.a, shape.b, shape.c, shape.m, shape.n, shape.k, shape.lda, shape.ldb, shape.ldc,
        ] {
            guard.local_get(v);
        }
        let mut bits = 0;
        if g.trans_a {
            bits |= flags::TRANS_A;
        }
        if g.trans_b {
            bits |= flags::TRANS_B;
        }
        if g.accumulate || matches!(g.bias, Some(Bias::First(_))) {
            bits |= flags::ACCUMULATE;
        }
        if fast {
            bits |= flags::FAST;
        }
        guard.i32_const(bits).call(kernel);
        // A bias last: added to each finished output.
        if let Some(Bias::Last(d)) = g.bias {
            emit_bias_rows(guard, g, &shape, args[d], memory, [i, j, at], true);
        }
        guard.return_();
    });
}

/// For every `i < m`, `j < n`:
/// `C[i][j] = bias[j]` or, with `add`, `C[i][j] = C[i][j] + bias[j]`: one
/// rounded add, the original's last operation.
fn emit_bias_rows(
    seq: &mut InstrSeqBuilder,
    g: &Gemm,
    o: &Operands,
    bias: LocalId,
    memory: walrus::MemoryId,
    [i, j, at]: [LocalId; 3],
    add: bool,
) {
    use walrus::ir::{LoadKind, MemArg, StoreKind};
    let arg = MemArg {
        align: 1,
        offset: 0,
    };
    let (load, store, plus, shift) = if g.f64 {
        (LoadKind::F64, StoreKind::F64, BinaryOp::F64Add, 3)
    } else {
        (LoadKind::F32, StoreKind::F32, BinaryOp::F32Add, 2)
    };
    let below = |s: &mut InstrSeqBuilder, counter: LocalId, bound: LocalId| {
        s.local_get(counter)
            .local_get(bound)
            .binop(BinaryOp::I32GeS);
    };
    seq.i32_const(0).local_set(i);
    emit_counted_loop(
        seq,
        i,
        1,
        |rows| below(rows, i, o.m),
        |rows| {
            rows.i32_const(0).local_set(j);
            emit_counted_loop(
                rows,
                j,
                1,
                |cols| below(cols, j, o.n),
                |cols| {
                    // at = c + (i * ldc + j) * size
                    cols.local_get(o.c)
                        .local_get(i)
                        .local_get(o.ldc)
                        .binop(BinaryOp::I32Mul)
                        .local_get(j)
                        .binop(BinaryOp::I32Add)
                        .i32_const(shift)
                        .binop(BinaryOp::I32Shl)
                        .binop(BinaryOp::I32Add)
                        .local_tee(at);
                    if add {
                        cols.local_get(at).load(memory, load, arg);
                    }
                    cols.local_get(bias)
                        .local_get(j)
                        .i32_const(shift)
                        .binop(BinaryOp::I32Shl)
                        .binop(BinaryOp::I32Add)
                        .load(memory, load, arg);
                    if add {
                        cols.binop(plus);
                    }
                    cols.store(memory, store, arg);
                },
            );
        },
    );
}

/// A size parameter as a signed i64.
fn get_i64(seq: &mut InstrSeqBuilder, local: LocalId) {
    seq.local_get(local).unop(UnaryOp::I64ExtendSI32);
}

/// The parameters holding the kernel's sizes.
struct Operands {
    a: LocalId,
    b: LocalId,
    c: LocalId,
    /// A bias vector, and a local holding 1 (its rows).
    bias: Option<LocalId>,
    one: LocalId,
    m: LocalId,
    n: LocalId,
    k: LocalId,
    lda: LocalId,
    ldb: LocalId,
    ldc: LocalId,
}

impl Operands {
    /// `one`: a local holding 1 (`m` of a one-row product).
    fn of(g: &Gemm, args: &[LocalId], one: LocalId) -> Operands {
        let p = |i: usize| args[i];
        let (a, b, c) = (p(g.a), p(g.b), p(g.c));
        let bias = g.bias.map(|d| p(d.param()));
        match g.dims {
            Dims::Row { n, k } => Operands {
                a,
                b,
                c,
                bias,
                one,
                m: one,
                n: p(n),
                k: p(k),
                lda: if g.trans_a { one } else { p(k) },
                ldb: if g.trans_b { p(k) } else { p(n) },
                ldc: p(n),
            },
            Dims::Square(s) => Operands {
                a,
                b,
                c,
                bias,
                one,
                m: p(s),
                n: p(s),
                k: p(s),
                lda: p(s),
                ldb: p(s),
                ldc: p(s),
            },
            Dims::Packed { m, n, k } => Operands {
                a,
                b,
                c,
                bias,
                one,
                m: p(m),
                n: p(n),
                k: p(k),
                lda: if g.trans_a { p(m) } else { p(k) },
                ldb: if g.trans_b { p(k) } else { p(n) },
                ldc: p(n),
            },
            Dims::Strided {
                m,
                n,
                k,
                lda,
                ldb,
                ldc,
            } => Operands {
                a,
                b,
                c,
                bias,
                one,
                m: p(m),
                n: p(n),
                k: p(k),
                lda: p(lda),
                ldb: p(ldb),
                ldc: p(ldc),
            },
        }
    }
}

/// Leaves `fail` unless the kernel computes exactly what the body would.
fn emit_guard(
    seq: &mut InstrSeqBuilder,
    fail: InstrSeqId,
    g: &Gemm,
    o: &Operands,
    memory: walrus::MemoryId,
    mem: LocalId,
    t: LocalId,
) {
    // Sizes at least 1.
    for v in [o.m, o.n, o.k] {
        seq.local_get(v)
            .i32_const(1)
            .binop(BinaryOp::I32LtS)
            .br_if(fail);
    }
    // Leading dimensions: at least the stored row widths (C's rows must not
    // overlap; A's and B's wider is what the kernel assumes).
    let (a_cols, b_cols) = (
        if g.trans_a { o.m } else { o.k },
        if g.trans_b { o.k } else { o.n },
    );
    for (ld, width) in [(o.lda, a_cols), (o.ldb, b_cols), (o.ldc, o.n)] {
        seq.local_get(ld)
            .local_get(width)
            .binop(BinaryOp::I32LtS)
            .br_if(fail);
    }
    // Enough work: m * n * k >= MIN_WORK, without overflowing (m * n < 2^62; only
    // when it is below the threshold is it multiplied by k).
    get_i64(seq, o.m);
    get_i64(seq, o.n);
    seq.binop(BinaryOp::I64Mul).local_tee(t);
    seq.i64_const(MIN_WORK).binop(BinaryOp::I64LtS);
    seq.local_get(t);
    get_i64(seq, o.k);
    seq.binop(BinaryOp::I64Mul)
        .i64_const(MIN_WORK)
        .binop(BinaryOp::I64LtS)
        .binop(BinaryOp::I32And)
        .br_if(fail);
    emit_memory_bytes(memory, mem, seq);
    // Each matrix's end, `base + size * ((rows - 1) * ld + cols)`, inside memory.
    let (a_rows, b_rows) = (
        if g.trans_a { o.k } else { o.m },
        if g.trans_b { o.n } else { o.k },
    );
    let end =
        |seq: &mut InstrSeqBuilder, base: LocalId, rows: LocalId, ld: LocalId, cols: LocalId| {
            seq.local_get(base).unop(UnaryOp::I64ExtendUI32);
            get_i64(seq, rows);
            seq.i64_const(1).binop(BinaryOp::I64Sub);
            get_i64(seq, ld);
            seq.binop(BinaryOp::I64Mul);
            get_i64(seq, cols);
            seq.binop(BinaryOp::I64Add)
                .i64_const(g.elem_bytes())
                .binop(BinaryOp::I64Mul)
                .binop(BinaryOp::I64Add);
        };
    let (pa, pb, pc) = (o.a, o.b, o.c);
    let mut matrices = vec![
        (pc, o.m, o.ldc, o.n),
        (pa, a_rows, o.lda, a_cols),
        (pb, b_rows, o.ldb, b_cols),
    ];
    // A bias vector: one row of n.
    if let Some(bias) = o.bias {
        matrices.push((bias, o.one, o.n, o.n));
    }
    for &(base, rows, ld, cols) in &matrices {
        end(seq, base, rows, ld, cols);
        seq.local_get(mem).binop(BinaryOp::I64GtU).br_if(fail);
    }
    // C overlaps none of the others: end(C) <= start(X) or end(X) <= start(C).
    let (c_rows, c_ld, c_cols) = (o.m, o.ldc, o.n);
    for &(base, rows, ld, cols) in &matrices[1..] {
        end(seq, pc, c_rows, c_ld, c_cols);
        seq.local_get(base)
            .unop(UnaryOp::I64ExtendUI32)
            .binop(BinaryOp::I64LeU);
        end(seq, base, rows, ld, cols);
        seq.local_get(pc)
            .unop(UnaryOp::I64ExtendUI32)
            .binop(BinaryOp::I64LeU)
            .binop(BinaryOp::I32Or)
            .unop(UnaryOp::I32Eqz)
            .br_if(fail);
    }
}
