//! The portable GEMM kernels: SIMD128 functions with the signature of the runner's
//! `barq::gemm_f32_v1` / `gemm_f64_v1` (`a, b, c, m, n, k, lda, ldb, ldc,
//! flags`), added once per module and element type, for functions identified by
//! probing as matrix products.
//!
//! Register-blocked and exact: C is computed in blocks of 4 rows x 8 columns (f64:
//! 4 columns) held in eight `f32x4` (`f64x2`) accumulators while `p` runs over the
//! whole of `k` in order, so each output gets the same rounded multiply, then add,
//! in the same order as the scalar loop (no FMA, no reassociation); A's element is
//! broadcast, B's row segment loaded once for four rows. `k` is cut into panels of
//! `K_PANEL`: between panels a block's partial sums go to C and come back
//! unchanged (a float stored and reloaded is the same float), and the panel of B
//! stays in cache while every block of rows passes over it. Rows left over (m mod
//! 4) go one at a time, columns left over (n mod 8, or 4) through a scalar loop
//! with the same operation order.
//!
//! A transposed B (`C = A B^T`, B stored one column of the product per row, as a
//! linear layer's weights are) has no contiguous row segment: a vector's worth of
//! steps at a time, the kernel loads that many consecutive elements of each of the
//! block's rows of B and transposes them in registers (32- and 64-bit interleaves:
//! `punpck` instructions), then runs those steps as usual; steps left over gather
//! B's columns by lane loads. The arithmetic and its order are the same.
//!
//! The caller's guard ensures what the kernel assumes: m, n, k >= 1, every matrix
//! inside memory (no i32 address wraps), C apart from A and B.

use super::emit_counted_loop;
use walrus::ir::{BinaryOp, LoadKind, LoadSimdKind, MemArg, StoreKind, UnaryOp, Value};
use walrus::{FunctionBuilder, FunctionId, InstrSeqBuilder, LocalId, MemoryId, Module, ValType};

/// The kernel's name in the output's name section (f32 elements).
pub const NAME: &str = "barq_gemm_f32x4";
/// The f64 kernel's name (`f64x2` vectors: blocks of 4 rows x 4 columns, B
/// transposed in 2x2 steps).
pub const NAME_F64: &str = "barq_gemm_f64x2";

/// Rows of a register block.
const ROWS: usize = 4;
/// Vectors per block row (8 f32 columns, or 4 f64 ones).
const VECS: usize = 2;
/// Steps of `k` per panel: a block's strip of B is then 128 rows of 32 bytes (4
/// KiB, in L1 while the block's rows pass), a 128 x 512 panel of B 256 KiB (in L2).
const K_PANEL: i32 = 128;

/// Flag bits, as `native_gemm::flags`.
const TRANS_A: i32 = 1;
const TRANS_B: i32 = 2;
const ACCUMULATE: i32 = 4;

const fn arg(offset: u64) -> MemArg {
    MemArg { align: 1, offset }
}

/// The element type a kernel computes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Ty {
    f64: bool,
}

impl Ty {
    /// Bytes per element.
    fn bytes(self) -> i32 {
        if self.f64 {
            8
        } else {
            4
        }
    }

    /// log2 of [`Ty::bytes`].
    fn shift(self) -> i32 {
        if self.f64 {
            3
        } else {
            2
        }
    }

    /// Elements per vector.
    fn lanes(self) -> usize {
        if self.f64 {
            2
        } else {
            4
        }
    }

    fn scalar(self) -> ValType {
        if self.f64 {
            ValType::F64
        } else {
            ValType::F32
        }
    }

    fn load(self) -> LoadKind {
        if self.f64 {
            LoadKind::F64
        } else {
            LoadKind::F32
        }
    }

    fn store(self) -> StoreKind {
        if self.f64 {
            StoreKind::F64
        } else {
            StoreKind::F32
        }
    }

    fn splat(self) -> UnaryOp {
        if self.f64 {
            UnaryOp::F64x2Splat
        } else {
            UnaryOp::F32x4Splat
        }
    }

    /// (vector multiply, vector add, scalar multiply, scalar add)
    fn ops(self) -> [BinaryOp; 4] {
        if self.f64 {
            [
                BinaryOp::F64x2Mul,
                BinaryOp::F64x2Add,
                BinaryOp::F64Mul,
                BinaryOp::F64Add,
            ]
        } else {
            [
                BinaryOp::F32x4Mul,
                BinaryOp::F32x4Add,
                BinaryOp::F32Mul,
                BinaryOp::F32Add,
            ]
        }
    }

    /// A lane load: the first lane with the rest zeroed, or lane `lane` into a vector.
    fn lane_load(self, lane: usize) -> LoadSimdKind {
        match (self.f64, lane) {
            (false, 0) => LoadSimdKind::V128Load32Zero,
            (false, l) => LoadSimdKind::V128Load32Lane(l as u8),
            (true, 0) => LoadSimdKind::V128Load64Zero,
            (true, l) => LoadSimdKind::V128Load64Lane(l as u8),
        }
    }
}

/// The module's kernel function for f32 (or, with `f64`, f64) elements, built on
/// first use.
pub fn kernel(module: &mut Module, memory: MemoryId, f64: bool) -> FunctionId {
    let ty = Ty { f64 };
    let name = if f64 { NAME_F64 } else { NAME };
    if let Some(f) = super::named_function(module, name) {
        return f;
    }
    let params = [ValType::I32; 10];
    let mut builder = FunctionBuilder::new(&mut module.types, &params, &[]);
    builder.name(name.to_string());
    let l = &mut module.locals;
    let args: Vec<LocalId> = params.iter().map(|t| l.add(*t)).collect();
    let (a, b, c, m, n, k, lda, ldb, ldc, flags) = (
        args[0], args[1], args[2], args[3], args[4], args[5], args[6], args[7], args[8], args[9],
    );
    let i32s = |l: &mut walrus::ModuleLocals, count: usize| -> Vec<LocalId> {
        (0..count).map(|_| l.add(ValType::I32)).collect()
    };
    let v = Locals {
        a,
        b,
        c,
        m,
        n,
        k,
        accumulate: l.add(ValType::I32),
        row_a: l.add(ValType::I32),
        step_a: l.add(ValType::I32),
        step_b: l.add(ValType::I32),
        trans_b: l.add(ValType::I32),
        cols_b: i32s(l, ty.lanes() * VECS - 1),
        pairs: (0..2 * VECS).map(|_| l.add(ValType::V128)).collect(),
        row_c: l.add(ValType::I32),
        p0: l.add(ValType::I32),
        kp: l.add(ValType::I32),
        i: l.add(ValType::I32),
        j: l.add(ValType::I32),
        p: l.add(ValType::I32),
        pa: i32s(l, ROWS),
        pb: l.add(ValType::I32),
        pc: l.add(ValType::I32),
        first: l.add(ValType::I32),
        acc: (0..ROWS * VECS).map(|_| l.add(ValType::V128)).collect(),
        va: l.add(ValType::V128),
        vb: (0..VECS).map(|_| l.add(ValType::V128)).collect(),
        s: l.add(ty.scalar()),
        memory,
        ty,
    };
    let mut body = builder.func_body();
    // Byte strides: A's next row and next p (by transposition), B's and C's rows.
    body.local_get(flags)
        .i32_const(ACCUMULATE)
        .binop(BinaryOp::I32And)
        .local_set(v.accumulate);
    let lda4 = |s: &mut InstrSeqBuilder| {
        s.local_get(lda)
            .i32_const(ty.shift())
            .binop(BinaryOp::I32Shl);
    };
    body.local_get(flags)
        .i32_const(TRANS_A)
        .binop(BinaryOp::I32And)
        .if_else(
            None,
            |t| {
                t.i32_const(ty.bytes()).local_set(v.row_a);
                lda4(t);
                t.local_set(v.step_a);
            },
            |e| {
                lda4(e);
                e.local_set(v.row_a);
                e.i32_const(ty.bytes()).local_set(v.step_a);
            },
        );
    // B(p, j) -> B(p, j + c) is c elements on, or c rows of B when transposed
    // (`cols_b[c - 1]`); B(p, j) -> B(p + 1, j) is a row, or an element (`step_b`).
    body.local_get(flags)
        .i32_const(TRANS_B)
        .binop(BinaryOp::I32And)
        .local_set(v.trans_b);
    body.local_get(ldb)
        .i32_const(ty.shift())
        .binop(BinaryOp::I32Shl)
        .local_set(v.step_b);
    for (c, col) in (1..).zip(&v.cols_b) {
        body.local_get(v.trans_b)
            .if_else(
                ValType::I32,
                |t| {
                    t.local_get(v.step_b).i32_const(c).binop(BinaryOp::I32Mul);
                },
                |e| {
                    e.i32_const(ty.bytes() * c);
                },
            )
            .local_set(*col);
    }
    body.local_get(v.trans_b).if_else(
        None,
        |t| {
            t.i32_const(ty.bytes()).local_set(v.step_b);
        },
        |_| {},
    );
    body.local_get(ldc)
        .i32_const(ty.shift())
        .binop(BinaryOp::I32Shl)
        .local_set(v.row_c);
    // for p0 in (0..k).step_by(K_PANEL): kp = min(K_PANEL, k - p0)
    body.i32_const(0).local_set(v.p0);
    body.loop_(None, |panels| {
        let next_panel = panels.id();
        panels
            .local_get(v.k)
            .local_get(v.p0)
            .binop(BinaryOp::I32Sub)
            .local_tee(v.kp)
            .i32_const(K_PANEL)
            .local_get(v.kp)
            .i32_const(K_PANEL)
            .binop(BinaryOp::I32LtS)
            .select(None)
            .local_set(v.kp);
        // The first panel starts from zero unless the product accumulates.
        panels
            .local_get(v.p0)
            .unop(UnaryOp::I32Eqz)
            .local_get(v.accumulate)
            .unop(UnaryOp::I32Eqz)
            .binop(BinaryOp::I32And)
            .local_set(v.first);
        panels.i32_const(0).local_set(v.i);
        // Blocks of 4 rows, then single rows.
        for rows in [ROWS, 1] {
            // while m - i >= rows
            emit_counted_loop(
                panels,
                v.i,
                rows as i32,
                |each| {
                    each.local_get(v.m)
                        .local_get(v.i)
                        .binop(BinaryOp::I32Sub)
                        .i32_const(rows as i32)
                        .binop(BinaryOp::I32LtS);
                },
                |each| v.row_block(each, rows),
            );
        }
        panels
            .local_get(v.p0)
            .i32_const(K_PANEL)
            .binop(BinaryOp::I32Add)
            .local_tee(v.p0)
            .local_get(v.k)
            .binop(BinaryOp::I32LtS)
            .br_if(next_panel);
    });
    builder.finish(args, &mut module.funcs)
}

/// The kernel's locals.
struct Locals {
    a: LocalId,
    b: LocalId,
    c: LocalId,
    m: LocalId,
    n: LocalId,
    k: LocalId,
    accumulate: LocalId,
    /// Bytes from A(i, p) to A(i + 1, p), and to A(i, p + 1).
    row_a: LocalId,
    step_a: LocalId,
    /// Bytes from B(p, j) to B(p + 1, j); whether B is transposed; bytes from
    /// B(p, j) to B(p, j + c) for each column c = 1..8 of a block.
    step_b: LocalId,
    trans_b: LocalId,
    cols_b: Vec<LocalId>,
    /// A transposed B's rows interleaved in pairs (two per group of four columns).
    pairs: Vec<LocalId>,
    /// Bytes per row of C.
    row_c: LocalId,
    /// The panel: `p` from `p0`, `kp` steps.
    p0: LocalId,
    kp: LocalId,
    i: LocalId,
    j: LocalId,
    p: LocalId,
    /// A(i + r, p) for each row of the block.
    pa: Vec<LocalId>,
    /// B(p, j).
    pb: LocalId,
    /// C(i + r, j).
    pc: LocalId,
    /// This panel starts the sums from zero.
    first: LocalId,
    acc: Vec<LocalId>,
    /// A(i + r, p) in every lane; B(p, j..j + 8).
    va: LocalId,
    vb: Vec<LocalId>,
    s: LocalId,
    memory: MemoryId,
    ty: Ty,
}

impl Locals {
    /// `local = base + (index) * stride + extra` where index and stride are locals.
    fn addr(&self, s: &mut InstrSeqBuilder, base: LocalId, index: LocalId, stride: LocalId) {
        s.local_get(base)
            .local_get(index)
            .local_get(stride)
            .binop(BinaryOp::I32Mul)
            .binop(BinaryOp::I32Add);
    }

    /// Sets `pa[r]` to A(i + r, p0) for r < rows.
    fn start_rows_of_a(&self, s: &mut InstrSeqBuilder, rows: usize) {
        // A(i, p0) = a + i * row_a + p0 * step_a
        self.addr(s, self.a, self.i, self.row_a);
        s.local_get(self.p0)
            .local_get(self.step_a)
            .binop(BinaryOp::I32Mul)
            .binop(BinaryOp::I32Add)
            .local_set(self.pa[0]);
        for r in 1..rows {
            s.local_get(self.pa[r - 1])
                .local_get(self.row_a)
                .binop(BinaryOp::I32Add)
                .local_set(self.pa[r]);
        }
    }

    /// Sets `pb` to B(p0, j).
    fn start_b(&self, s: &mut InstrSeqBuilder) {
        self.addr(s, self.b, self.p0, self.step_b);
        s.local_get(self.j)
            .local_get(self.cols_b[0])
            .binop(BinaryOp::I32Mul)
            .binop(BinaryOp::I32Add)
            .local_set(self.pb);
    }

    /// Sets `pc` to C(i, j).
    fn start_c(&self, s: &mut InstrSeqBuilder) {
        self.addr(s, self.c, self.i, self.row_c);
        s.local_get(self.j)
            .i32_const(self.ty.shift())
            .binop(BinaryOp::I32Shl)
            .binop(BinaryOp::I32Add)
            .local_set(self.pc);
    }

    /// Pushes the address of C(i + r, j): `pc + r * row_c`.
    fn c_row(&self, s: &mut InstrSeqBuilder, r: usize) {
        s.local_get(self.pc);
        if r > 0 {
            s.local_get(self.row_c)
                .i32_const(r as i32)
                .binop(BinaryOp::I32Mul)
                .binop(BinaryOp::I32Add);
        }
    }

    /// The end of a step of `p`: A's pointers `rows` on by one element of k, B's
    /// by one row, `p` down by one and again while it is not zero.
    fn next_step(
        &self,
        step: &mut InstrSeqBuilder,
        rows: std::ops::Range<usize>,
        again: walrus::ir::InstrSeqId,
    ) {
        self.advance_a(step, rows);
        step.local_get(self.pb)
            .local_get(self.step_b)
            .binop(BinaryOp::I32Add)
            .local_set(self.pb);
        step.local_get(self.p)
            .i32_const(1)
            .binop(BinaryOp::I32Sub)
            .local_tee(self.p)
            .br_if(again);
    }

    /// Rows i..i+rows of this panel: 8-column blocks (4 for f64), then the columns
    /// left over.
    fn row_block(&self, s: &mut InstrSeqBuilder, rows: usize) {
        s.i32_const(0).local_set(self.j);
        let width = (self.ty.lanes() * VECS) as i32;
        emit_counted_loop(
            s,
            self.j,
            width,
            |each| {
                each.local_get(self.n)
                    .local_get(self.j)
                    .binop(BinaryOp::I32Sub)
                    .i32_const(width)
                    .binop(BinaryOp::I32LtS);
            },
            |each| self.vector_block(each, rows),
        );
        // Columns left over, one output at a time, row by row.
        emit_counted_loop(
            s,
            self.j,
            1,
            |each| {
                each.local_get(self.j)
                    .local_get(self.n)
                    .binop(BinaryOp::I32GeS);
            },
            |each| {
                for r in 0..rows {
                    self.scalar_output(each, r);
                }
            },
        );
    }

    /// Loads or zeroes the accumulators, runs the panel's steps, stores them.
    fn vector_block(&self, s: &mut InstrSeqBuilder, rows: usize) {
        let m = self.memory;
        self.start_c(s);
        // Accumulators: zero on a first panel, else C's partial sums.
        s.local_get(self.first).if_else(
            None,
            |zero| {
                for r in 0..rows {
                    for q in 0..VECS {
                        zero.const_(Value::V128(0))
                            .local_set(self.acc[r * VECS + q]);
                    }
                }
            },
            |load| {
                for r in 0..rows {
                    for q in 0..VECS {
                        self.c_row(load, r);
                        load.load(m, LoadKind::V128, arg(16 * q as u64))
                            .local_set(self.acc[r * VECS + q]);
                    }
                }
            },
        );
        self.start_rows_of_a(s, rows);
        self.start_b(s);
        s.local_get(self.kp).local_set(self.p);
        // Two copies of the steps: B's row segment loaded, or gathered.
        s.local_get(self.trans_b).if_else(
            None,
            |gathered| self.vector_steps(gathered, rows, true),
            |loaded| self.vector_steps(loaded, rows, false),
        );
        for r in 0..rows {
            for q in 0..VECS {
                self.c_row(s, r);
                s.local_get(self.acc[r * VECS + q])
                    .store(m, StoreKind::V128, arg(16 * q as u64));
            }
        }
    }

    /// The steps of `p` over this panel for a block: B(p, j..j + 8) (f64: j..j + 4)
    /// into `vb`, then one multiply and one add per output. When B is transposed,
    /// a vector's worth of steps at a time (4 for f32, 2 for f64) reads that many
    /// consecutive elements of each of the block's rows of B and transposes them
    /// in registers (interleaves that x86 and ARM do in one instruction each); the
    /// steps left over gather.
    fn vector_steps(&self, s: &mut InstrSeqBuilder, rows: usize, gather: bool) {
        if !gather {
            s.loop_(None, |step| {
                let again = step.id();
                for q in 0..VECS {
                    step.local_get(self.pb)
                        .load(self.memory, LoadKind::V128, arg(16 * q as u64))
                        .local_set(self.vb[q]);
                }
                self.multiply_add(step, rows);
                self.next_step(step, 0..rows, again);
            });
            return;
        }
        let lanes = self.ty.lanes();
        // while p >= lanes: `lanes` steps from in-register transposes
        s.block(None, |done| {
            let out = done.id();
            done.loop_(None, |quad| {
                let again = quad.id();
                quad.local_get(self.p)
                    .i32_const(lanes as i32)
                    .binop(BinaryOp::I32LtS)
                    .br_if(out);
                if self.ty.f64 {
                    // pairs[2q + c] = row 2q + c of B: (B(p, j + 2q + c), B(p + 1, ..)).
                    for q in 0..VECS {
                        for c in 0..2 {
                            self.row_of_b(quad, 2 * q + c);
                            quad.local_set(self.pairs[2 * q + c]);
                        }
                    }
                    for wide in [Half::Low, Half::High] {
                        self.interleave_pairs(quad, wide);
                        self.multiply_add(quad, rows);
                        self.advance_a(quad, 0..rows);
                    }
                } else {
                    for half in [Half::Low, Half::High] {
                        // pairs[2q] = rows 4q, 4q+1 of the group interleaved,
                        // pairs[2q+1] rows 4q+2, 4q+3: (r0[s], r1[s], r0[s+1],
                        // r1[s+1]) for s = 0 or 2.
                        for q in 0..VECS {
                            for pair in 0..2 {
                                let first = 4 * q + 2 * pair;
                                self.row_of_b(quad, first);
                                self.row_of_b(quad, first + 1);
                                quad.i8x16_shuffle(half.interleave_32())
                                    .local_set(self.pairs[2 * q + pair]);
                            }
                        }
                        for wide in [Half::Low, Half::High] {
                            self.interleave_pairs(quad, wide);
                            self.multiply_add(quad, rows);
                            self.advance_a(quad, 0..rows);
                        }
                    }
                }
                quad.local_get(self.pb)
                    .i32_const(16)
                    .binop(BinaryOp::I32Add)
                    .local_set(self.pb);
                quad.local_get(self.p)
                    .i32_const(lanes as i32)
                    .binop(BinaryOp::I32Sub)
                    .local_set(self.p)
                    .br(again);
            });
        });
        // while p > 0: one step, B's columns gathered by lane loads
        s.block(None, |done| {
            let out = done.id();
            done.loop_(None, |step| {
                let again = step.id();
                step.local_get(self.p).unop(UnaryOp::I32Eqz).br_if(out);
                for q in 0..VECS {
                    for lane in 0..lanes {
                        let c = lanes * q + lane;
                        step.local_get(self.pb);
                        if c > 0 {
                            step.local_get(self.cols_b[c - 1]).binop(BinaryOp::I32Add);
                        }
                        if lane > 0 {
                            step.local_get(self.vb[q]);
                        }
                        step.load_simd(self.memory, self.ty.lane_load(lane), arg(0))
                            .local_set(self.vb[q]);
                    }
                }
                self.multiply_add(step, rows);
                self.next_step(step, 0..rows, again);
            });
        });
    }

    /// `vb[q]` = the `wide` 64-bit halves of `pairs[2q]` and `pairs[2q + 1]`.
    fn interleave_pairs(&self, s: &mut InstrSeqBuilder, wide: Half) {
        for q in 0..VECS {
            s.local_get(self.pairs[2 * q])
                .local_get(self.pairs[2 * q + 1])
                .i8x16_shuffle(wide.interleave_64())
                .local_set(self.vb[q]);
        }
    }

    /// Pushes the 16 bytes of row `c` of a transposed B from `pb`: B(p..p + 4, j + c)
    /// (f64: p..p + 2).
    fn row_of_b(&self, s: &mut InstrSeqBuilder, c: usize) {
        s.local_get(self.pb);
        if c > 0 {
            s.local_get(self.cols_b[c - 1]).binop(BinaryOp::I32Add);
        }
        s.load(self.memory, LoadKind::V128, arg(0));
    }

    /// One step's arithmetic: each row's A(i + r, p) broadcast, times `vb`, added
    /// to the accumulators (a multiply, then an add: no FMA).
    fn multiply_add(&self, s: &mut InstrSeqBuilder, rows: usize) {
        for r in 0..rows {
            s.local_get(self.pa[r])
                .load(self.memory, self.ty.load(), arg(0))
                .unop(self.ty.splat())
                .local_set(self.va);
            let [mul, add, ..] = self.ty.ops();
            for q in 0..VECS {
                let acc = self.acc[r * VECS + q];
                s.local_get(self.va)
                    .local_get(self.vb[q])
                    .binop(mul)
                    .local_get(acc)
                    .binop(add)
                    .local_set(acc);
            }
        }
    }

    /// A's pointers for `rows` one element of k on.
    fn advance_a(&self, s: &mut InstrSeqBuilder, rows: std::ops::Range<usize>) {
        for r in rows {
            s.local_get(self.pa[r])
                .local_get(self.step_a)
                .binop(BinaryOp::I32Add)
                .local_set(self.pa[r]);
        }
    }

    /// C(i + r, j) over this panel, one multiply then one add per step.
    fn scalar_output(&self, s: &mut InstrSeqBuilder, r: usize) {
        let m = self.memory;
        let [_, _, mul, add] = self.ty.ops();
        self.start_c(s);
        if r > 0 {
            self.c_row(s, r);
            s.local_set(self.pc);
        }
        s.local_get(self.first).if_else(
            self.ty.scalar(),
            |zero| {
                if self.ty.f64 {
                    zero.f64_const(0.0);
                } else {
                    zero.f32_const(0.0);
                }
            },
            |load| {
                load.local_get(self.pc).load(m, self.ty.load(), arg(0));
            },
        );
        s.local_set(self.s);
        self.start_rows_of_a(s, r + 1);
        self.start_b(s);
        s.local_get(self.kp).local_set(self.p);
        s.loop_(None, |step| {
            let again = step.id();
            step.local_get(self.s)
                .local_get(self.pa[r])
                .load(m, self.ty.load(), arg(0))
                .local_get(self.pb)
                .load(m, self.ty.load(), arg(0))
                .binop(mul)
                .binop(add)
                .local_set(self.s);
            self.next_step(step, r..r + 1, again);
        });
        s.local_get(self.pc)
            .local_get(self.s)
            .store(m, self.ty.store(), arg(0));
    }
}

/// Which halves of two vectors an interleave takes.
#[derive(Clone, Copy)]
enum Half {
    Low,
    High,
}

impl Half {
    /// `i8x16.shuffle` indices interleaving the 32-bit lanes of this half of `a`
    /// and `b`: (a0, b0, a1, b1) or (a2, b2, a3, b3) (`punpckl/hdq`).
    fn interleave_32(self) -> [u8; 16] {
        let first = match self {
            Half::Low => 0,
            Half::High => 2,
        };
        let lanes = [first, 4 + first, first + 1, 5 + first];
        Self::bytes(lanes)
    }

    /// The same for 64-bit halves: (a0, a1, b0, b1) or (a2, a3, b2, b3)
    /// (`punpckl/hqdq`).
    fn interleave_64(self) -> [u8; 16] {
        let lanes = match self {
            Half::Low => [0, 1, 4, 5],
            Half::High => [2, 3, 6, 7],
        };
        Self::bytes(lanes)
    }

    fn bytes(lanes: [u8; 4]) -> [u8; 16] {
        let mut out = [0; 16];
        for (i, lane) in lanes.iter().enumerate() {
            for b in 0..4 {
                out[4 * i + b] = 4 * lane + b as u8;
            }
        }
        out
    }
}
