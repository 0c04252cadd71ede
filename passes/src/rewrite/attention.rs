//! The portable attention kernel (`--fast-math`): `barq_attention_f32x4(q, k, v,
//! out, n, m, d, scale, flags)`, a SIMD128 function added once per module; flag
//! `CAUSAL` (1): row `i` sees keys `j < i + 1 + m - n` only.
//!
//! Each output row is its own accumulator (an online softmax, no scores buffer):
//! the row starts at 0 with a running maximum `M = -FLT_MAX` and sum `L = 0`; keys
//! come four at a time (then one at a time), their scores `scale * q . k` as
//! four-lane dot products; when the block's largest score `b` exceeds `M`, the
//! row and `L` are multiplied by `exp(M - b)` and `M = b`; then `p = exp(s - M)`
//! for the block, `L += sum p` and `row += sum p_t v_t`; at the end `row / L`.
//! `exp` is the softmax kernel's (`rewrite::softmax`: within 4 ulp, arguments
//! below -87 give 0, which `-inf` lanes and the first rescaling use). Not exact:
//! the dot products and sums are reassociated and every rescaling rounds; each
//! output is within `fingerprints::attention::bound` of the exact one, which the
//! tests check. A NaN score makes its row NaN, as in the scalar code.
//!
//! The caller's guard ensures what the kernel assumes: `1 <= n, m, d <= 2^24`
//! (`m >= n` when causal), the arrays inside memory, the output apart from the
//! inputs.

use super::emit_counted_loop;
use super::softmax::emit_exp;
use walrus::ir::{BinaryOp, LoadKind, MemArg, StoreKind, UnaryOp, Value};
use walrus::{FunctionBuilder, FunctionId, InstrSeqBuilder, LocalId, MemoryId, Module, ValType};

/// The kernel's name in the output's name section.
pub const NAME: &str = "barq_attention_f32x4";

/// The parameters of both targets' kernels: `q, k, v, out, n, m, d, scale, flags`.
pub const PARAMS: [ValType; 9] = [
    ValType::I32,
    ValType::I32,
    ValType::I32,
    ValType::I32,
    ValType::I32,
    ValType::I32,
    ValType::I32,
    ValType::F32,
    ValType::I32,
];

const fn arg(offset: u64) -> MemArg {
    MemArg { align: 1, offset }
}

/// The kernel's locals.
struct Locals {
    q: LocalId,
    k: LocalId,
    v: LocalId,
    out: LocalId,
    n: LocalId,
    m: LocalId,
    d: LocalId,
    scale: LocalId,
    flags: LocalId,
    /// The keys the current row sees.
    keys: LocalId,
    /// Row and key counters, the column cursor.
    i: LocalId,
    j: LocalId,
    c: LocalId,
    /// `d` rounded down to a multiple of 4; the row's byte width.
    d4: LocalId,
    row: LocalId,
    /// The query row and the output row.
    qi: LocalId,
    oi: LocalId,
    /// The block's key and value rows.
    kj: [LocalId; 4],
    vj: [LocalId; 4],
    /// Dot product lanes, then scalar sums.
    acc: [LocalId; 4],
    dot: [LocalId; 4],
    /// The running maximum and sum, the block's maximum, a rescaling factor.
    max: LocalId,
    sum: LocalId,
    top: LocalId,
    /// Scores, weights, exp scratch.
    s: LocalId,
    p: LocalId,
    t: [LocalId; 3],
}

/// The module's kernel function, built on first use.
pub fn kernel(module: &mut Module, memory: MemoryId) -> FunctionId {
    if let Some(f) = super::named_function(module, NAME) {
        return f;
    }
    let mut builder = FunctionBuilder::new(&mut module.types, &PARAMS, &[]);
    builder.name(NAME.to_string());
    let l = &mut module.locals;
    let mut i32_ = || l.add(ValType::I32);
    let (q, k, v, out, n, m, d) = (i32_(), i32_(), i32_(), i32_(), i32_(), i32_(), i32_());
    let (i, j, c, d4, row, qi, oi) = (i32_(), i32_(), i32_(), i32_(), i32_(), i32_(), i32_());
    let (flags, keys) = (i32_(), i32_());
    let kj = [i32_(), i32_(), i32_(), i32_()];
    let vj = [i32_(), i32_(), i32_(), i32_()];
    let x = Locals {
        q,
        k,
        v,
        out,
        n,
        m,
        d,
        scale: l.add(ValType::F32),
        flags,
        keys,
        i,
        j,
        c,
        d4,
        row,
        qi,
        oi,
        kj,
        vj,
        acc: [(); 4].map(|_| l.add(ValType::V128)),
        dot: [(); 4].map(|_| l.add(ValType::F32)),
        max: l.add(ValType::F32),
        sum: l.add(ValType::F32),
        top: l.add(ValType::F32),
        s: l.add(ValType::V128),
        p: l.add(ValType::V128),
        t: [(); 3].map(|_| l.add(ValType::V128)),
    };
    let mut body = builder.func_body();
    let b = &mut body;
    // d4 = d & ~3; row = 4 d
    b.local_get(x.d)
        .i32_const(-4)
        .binop(BinaryOp::I32And)
        .local_set(x.d4);
    b.local_get(x.d)
        .i32_const(2)
        .binop(BinaryOp::I32Shl)
        .local_set(x.row);
    b.i32_const(0).local_set(x.i);
    emit_counted_loop(
        b,
        x.i,
        1,
        |e| {
            e.local_get(x.i).local_get(x.n).binop(BinaryOp::I32GeU);
        },
        |r| emit_row(r, &x, memory),
    );
    builder.finish(
        vec![q, k, v, out, n, m, d, x.scale, x.flags],
        &mut module.funcs,
    )
}

/// `base + index * row`.
fn emit_row_address(s: &mut InstrSeqBuilder, x: &Locals, base: LocalId, index: LocalId, plus: i32) {
    s.local_get(base).local_get(index);
    if plus != 0 {
        s.i32_const(plus).binop(BinaryOp::I32Add);
    }
    s.local_get(x.row)
        .binop(BinaryOp::I32Mul)
        .binop(BinaryOp::I32Add);
}

/// `base + 4 c`.
fn emit_column(s: &mut InstrSeqBuilder, x: &Locals, base: LocalId) {
    s.local_get(base)
        .local_get(x.c)
        .i32_const(2)
        .binop(BinaryOp::I32Shl)
        .binop(BinaryOp::I32Add);
}

/// Loops over the columns: `vector` for each four (c = 0, 4, .. < d4), then
/// `scalar` for each of the rest.
fn emit_columns(
    s: &mut InstrSeqBuilder,
    x: &Locals,
    vector: &dyn Fn(&mut InstrSeqBuilder),
    scalar: &dyn Fn(&mut InstrSeqBuilder),
) {
    s.i32_const(0).local_set(x.c);
    emit_counted_loop(
        s,
        x.c,
        4,
        |e| {
            e.local_get(x.c).local_get(x.d4).binop(BinaryOp::I32GeU);
        },
        vector,
    );
    emit_counted_loop(
        s,
        x.c,
        1,
        |e| {
            e.local_get(x.c).local_get(x.d).binop(BinaryOp::I32GeU);
        },
        scalar,
    );
}

/// Multiplies the output row by the f32 local `by`.
fn emit_scale_row(s: &mut InstrSeqBuilder, x: &Locals, memory: MemoryId, by: LocalId) {
    emit_row_op(s, x, memory, by, [BinaryOp::F32x4Mul, BinaryOp::F32Mul]);
}

/// `row[c] = row[c] op by` for every column (`ops`: the vector and scalar op).
fn emit_row_op(
    s: &mut InstrSeqBuilder,
    x: &Locals,
    memory: MemoryId,
    by: LocalId,
    [vector, scalar]: [BinaryOp; 2],
) {
    s.local_get(by).unop(UnaryOp::F32x4Splat).local_set(x.t[0]);
    emit_columns(
        s,
        x,
        &|l| {
            emit_column(l, x, x.oi);
            emit_column(l, x, x.oi);
            l.load(memory, LoadKind::V128, arg(0))
                .local_get(x.t[0])
                .binop(vector)
                .store(memory, StoreKind::V128, arg(0));
        },
        &|l| {
            emit_column(l, x, x.oi);
            emit_column(l, x, x.oi);
            l.load(memory, LoadKind::F32, arg(0))
                .local_get(by)
                .binop(scalar)
                .store(memory, StoreKind::F32, arg(0));
        },
    );
}

/// One output row.
fn emit_row(r: &mut InstrSeqBuilder, x: &Locals, memory: MemoryId) {
    emit_row_address(r, x, x.q, x.i, 0);
    r.local_set(x.qi);
    emit_row_address(r, x, x.out, x.i, 0);
    r.local_set(x.oi);
    // keys = causal ? i + 1 + m - n : m
    r.local_get(x.i)
        .i32_const(1)
        .binop(BinaryOp::I32Add)
        .local_get(x.m)
        .binop(BinaryOp::I32Add)
        .local_get(x.n)
        .binop(BinaryOp::I32Sub)
        .local_get(x.m)
        .local_get(x.flags)
        .i32_const(1)
        .binop(BinaryOp::I32And)
        .select(None)
        .local_set(x.keys);
    // row = 0
    emit_columns(
        r,
        x,
        &|l| {
            emit_column(l, x, x.oi);
            l.const_(Value::V128(0))
                .store(memory, StoreKind::V128, arg(0));
        },
        &|l| {
            emit_column(l, x, x.oi);
            l.f32_const(0.0).store(memory, StoreKind::F32, arg(0));
        },
    );
    // The running maximum starts at -FLT_MAX, not -inf: a score of -inf then
    // weighs exp(-inf) = 0 instead of exp(-inf - -inf) = NaN (the scalar code's
    // maximum over all keys is finite when one score is).
    r.f32_const(f32::MIN)
        .local_set(x.max)
        .f32_const(0.0)
        .local_set(x.sum)
        .i32_const(0)
        .local_set(x.j);
    emit_counted_loop(
        r,
        x.j,
        4,
        |e| {
            e.local_get(x.j)
                .i32_const(4)
                .binop(BinaryOp::I32Add)
                .local_get(x.keys)
                .binop(BinaryOp::I32GtU);
        },
        |blk| emit_block(blk, x, memory, 4),
    );
    emit_counted_loop(
        r,
        x.j,
        1,
        |e| {
            e.local_get(x.j).local_get(x.keys).binop(BinaryOp::I32GeU);
        },
        |blk| emit_block(blk, x, memory, 1),
    );
    // row / sum
    emit_row_op(r, x, memory, x.sum, [BinaryOp::F32x4Div, BinaryOp::F32Div]);
}

/// Keys `j .. j + keys` (`keys` is 4 or 1) of the current row.
fn emit_block(s: &mut InstrSeqBuilder, x: &Locals, memory: MemoryId, keys: usize) {
    for t in 0..keys {
        emit_row_address(s, x, x.k, x.j, t as i32);
        s.local_set(x.kj[t]);
        emit_row_address(s, x, x.v, x.j, t as i32);
        s.local_set(x.vj[t]);
        s.const_(Value::V128(0)).local_set(x.acc[t]);
    }
    // Dot products: four lanes each, then the rest of the columns.
    emit_columns(
        s,
        x,
        &|l| {
            emit_column(l, x, x.qi);
            l.load(memory, LoadKind::V128, arg(0)).local_set(x.t[0]);
            for t in 0..keys {
                l.local_get(x.acc[t]).local_get(x.t[0]);
                emit_column(l, x, x.kj[t]);
                l.load(memory, LoadKind::V128, arg(0))
                    .binop(BinaryOp::F32x4Mul)
                    .binop(BinaryOp::F32x4Add)
                    .local_set(x.acc[t]);
            }
        },
        &|l| {
            // Added into lane 0 of each accumulator.
            emit_column(l, x, x.qi);
            l.load(memory, LoadKind::F32, arg(0))
                .unop(UnaryOp::F32x4Splat)
                .local_set(x.t[0]);
            for t in 0..keys {
                l.local_get(x.acc[t]).local_get(x.t[0]);
                emit_column(l, x, x.kj[t]);
                l.load(memory, LoadKind::F32, arg(0))
                    .unop(UnaryOp::F32x4Splat)
                    .binop(BinaryOp::F32x4Mul)
                    .const_(Value::V128(u32::MAX as u128))
                    .binop(BinaryOp::V128And)
                    .binop(BinaryOp::F32x4Add)
                    .local_set(x.acc[t]);
            }
        },
    );
    // Scores: lane t = scale * sum of acc[t]'s lanes; -inf in lanes past `keys`.
    for t in 0..keys {
        s.local_get(x.acc[t])
            .unop(UnaryOp::F32x4ExtractLane { idx: 0 });
        for lane in 1..4 {
            s.local_get(x.acc[t])
                .unop(UnaryOp::F32x4ExtractLane { idx: lane })
                .binop(BinaryOp::F32Add);
        }
        s.local_get(x.scale)
            .binop(BinaryOp::F32Mul)
            .local_set(x.dot[t]);
    }
    s.f32_const(f32::NEG_INFINITY).unop(UnaryOp::F32x4Splat);
    for t in 0..keys {
        s.local_get(x.dot[t])
            .binop(BinaryOp::F32x4ReplaceLane { idx: t as u8 });
    }
    s.local_set(x.s);
    // The block's maximum (NaN if a score is: then no rescaling, and p is NaN).
    s.local_get(x.dot[0]);
    for t in 1..keys {
        s.local_get(x.dot[t]).binop(BinaryOp::F32Max);
    }
    s.local_set(x.top);
    // if top > max: factor = exp(max - top); sum *= factor; row *= factor; max = top
    s.local_get(x.top)
        .local_get(x.max)
        .binop(BinaryOp::F32Gt)
        .if_else(
            None,
            |then| {
                then.local_get(x.max)
                    .local_get(x.top)
                    .binop(BinaryOp::F32Sub)
                    .unop(UnaryOp::F32x4Splat);
                emit_exp(then, x.t[0], x.t[1], x.t[2]);
                then.unop(UnaryOp::F32x4ExtractLane { idx: 0 })
                    .local_set(x.dot[0]);
                then.local_get(x.sum)
                    .local_get(x.dot[0])
                    .binop(BinaryOp::F32Mul)
                    .local_set(x.sum);
                emit_scale_row(then, x, memory, x.dot[0]);
                then.local_get(x.top).local_set(x.max);
            },
            |_| {},
        );
    // p = exp(s - max); sum += its lanes
    s.local_get(x.s)
        .local_get(x.max)
        .unop(UnaryOp::F32x4Splat)
        .binop(BinaryOp::F32x4Sub);
    emit_exp(s, x.t[0], x.t[1], x.t[2]);
    s.local_set(x.p);
    s.local_get(x.sum);
    for t in 0..keys {
        s.local_get(x.p)
            .unop(UnaryOp::F32x4ExtractLane { idx: t as u8 })
            .binop(BinaryOp::F32Add);
    }
    s.local_set(x.sum);
    // row += sum_t p[t] v[j + t]
    for t in 0..keys {
        s.local_get(x.p)
            .unop(UnaryOp::F32x4ExtractLane { idx: t as u8 })
            .local_set(x.dot[t]);
    }
    for (t, splat) in x.t.iter().take(keys.min(3)).enumerate() {
        s.local_get(x.dot[t])
            .unop(UnaryOp::F32x4Splat)
            .local_set(*splat);
    }
    // (The fourth weight's splat lives in `acc[0]`, free now.)
    if keys == 4 {
        s.local_get(x.dot[3])
            .unop(UnaryOp::F32x4Splat)
            .local_set(x.acc[0]);
    }
    let splat_of = |t: usize| if t < 3 { x.t[t] } else { x.acc[0] };
    emit_columns(
        s,
        x,
        &|l| {
            emit_column(l, x, x.oi);
            emit_column(l, x, x.oi);
            l.load(memory, LoadKind::V128, arg(0));
            for t in 0..keys {
                l.local_get(splat_of(t));
                emit_column(l, x, x.vj[t]);
                l.load(memory, LoadKind::V128, arg(0))
                    .binop(BinaryOp::F32x4Mul)
                    .binop(BinaryOp::F32x4Add);
            }
            l.store(memory, StoreKind::V128, arg(0));
        },
        &|l| {
            emit_column(l, x, x.oi);
            emit_column(l, x, x.oi);
            l.load(memory, LoadKind::F32, arg(0));
            for t in 0..keys {
                l.local_get(x.dot[t]);
                emit_column(l, x, x.vj[t]);
                l.load(memory, LoadKind::F32, arg(0))
                    .binop(BinaryOp::F32Mul)
                    .binop(BinaryOp::F32Add);
            }
            l.store(memory, StoreKind::F32, arg(0));
        },
    );
}
