//! The portable softmax kernel (`--fast-math`): `barq_softmax_f32x4(x, y, n)`, a
//! SIMD128 function added once per module, `y` = `x` in place.
//!
//! Three passes: the maximum (`f32x4.max`, then across lanes), `e = exp(x - max)`
//! written to `y` and summed in four lanes, then `y / sum`. `exp` is computed for
//! arguments `<= 0` (or NaN), which is all a softmax asks for: `k = nearest(v *
//! log2 e)`, `r = v - k ln2` in two steps (Cody and Waite), `e^r` by its Taylor
//! polynomial of degree 7 (truncation below 2^-27 for |r| <= ln2 / 2), times 2^k
//! built in the exponent bits; arguments below -87 give 0 (the true value is below
//! 2^-125). Error: exp within 4 ulp (tested), the sum reassociated (relative error
//! at most (n - 1) 2^-24 for these positive terms), one rounding for the division:
//! each output within (n + 16) 2^-24 relative, 2^-120 absolute, of the exact
//! softmax, which `fingerprints::softmax::close` states and the tests check. NaN
//! and infinities come out as the scalar code's do (every output NaN).
//!
//! The caller's guard ensures what the kernel assumes: n >= 4, both arrays inside
//! memory, `y` equal to or apart from `x`.

use super::emit_counted_loop;
use walrus::ir::{BinaryOp, LoadKind, MemArg, StoreKind, UnaryOp, Value};
use walrus::{FunctionBuilder, FunctionId, InstrSeqBuilder, LocalId, MemoryId, Module, ValType};

/// The kernel's name in the output's name section.
pub const NAME: &str = "barq_softmax_f32x4";

const fn arg(offset: u64) -> MemArg {
    MemArg { align: 1, offset }
}

/// The exp approximation, shared with the runner's native kernel: `log2(e)`, and
/// `ln 2` split so that `k * LN2_HI` is exact for |k| < 2^9.
pub const LOG2E: f32 = std::f32::consts::LOG2_E;
/// The high part of `ln 2`.
pub const LN2_HI: f32 = 0.693_359_4;
/// The low part of `ln 2`.
pub const LN2_LO: f32 = -2.121_944_4e-4;
/// Below this the result is flushed to 0.
pub const FLUSH: f32 = -87.0;
/// `e^r`'s Taylor coefficients for Horner's scheme, highest degree first:
/// 1/7!, 1/6!, ..., 1/2, 1, 1.
pub const TAYLOR: [f32; 8] = [
    1.0 / 5040.0,
    1.0 / 720.0,
    1.0 / 120.0,
    1.0 / 24.0,
    1.0 / 6.0,
    0.5,
    1.0,
    1.0,
];

fn splat(s: &mut InstrSeqBuilder, v: f32) {
    let lane = v.to_bits() as u128;
    s.const_(Value::V128(lane | lane << 32 | lane << 64 | lane << 96));
}

/// Replaces the `f32x4` on top of the stack (lanes <= 0 or NaN) by its `exp`;
/// `t`, `k` and `p` are v128 scratch locals.
pub(crate) fn emit_exp(s: &mut InstrSeqBuilder, v: LocalId, k: LocalId, p: LocalId) {
    s.local_set(v);
    // k = nearest(v * log2 e)
    s.local_get(v);
    splat(s, LOG2E);
    s.binop(BinaryOp::F32x4Mul)
        .unop(UnaryOp::F32x4Nearest)
        .local_set(k);
    // r = (v - k * LN2_HI) - k * LN2_LO, kept in p
    s.local_get(v).local_get(k);
    splat(s, LN2_HI);
    s.binop(BinaryOp::F32x4Mul).binop(BinaryOp::F32x4Sub);
    s.local_get(k);
    splat(s, LN2_LO);
    s.binop(BinaryOp::F32x4Mul)
        .binop(BinaryOp::F32x4Sub)
        .local_set(p);
    // Horner: 1 + r (1 + r (1/2 + r (1/6 + ... r / 5040)))
    splat(s, TAYLOR[0]);
    for c in &TAYLOR[1..] {
        s.local_get(p).binop(BinaryOp::F32x4Mul);
        splat(s, *c);
        s.binop(BinaryOp::F32x4Add);
    }
    // times 2^k: (k + 127) << 23 as f32 bits (k in -126..=0 here)
    s.local_get(k)
        .unop(UnaryOp::I32x4TruncSatF32x4S)
        .const_(Value::V128(
            127u128 | 127u128 << 32 | 127u128 << 64 | 127u128 << 96,
        ))
        .binop(BinaryOp::I32x4Add)
        .i32_const(23)
        .binop(BinaryOp::I32x4Shl)
        .binop(BinaryOp::F32x4Mul);
    // v < FLUSH (including -inf) -> 0; NaN compares false and stays NaN.
    s.local_get(v);
    splat(s, FLUSH);
    s.binop(BinaryOp::F32x4Lt).binop(BinaryOp::V128AndNot);
}

/// The module's kernel function, built on first use.
pub fn kernel(module: &mut Module, memory: MemoryId) -> FunctionId {
    if let Some(f) = super::named_function(module, NAME) {
        return f;
    }
    let params = [ValType::I32; 3];
    let mut builder = FunctionBuilder::new(&mut module.types, &params, &[]);
    builder.name(NAME.to_string());
    let l = &mut module.locals;
    let (x, y, n) = (
        l.add(ValType::I32),
        l.add(ValType::I32),
        l.add(ValType::I32),
    );
    let i = l.add(ValType::I32);
    let m = l.add(ValType::F32);
    let sum = l.add(ValType::F32);
    let e = l.add(ValType::F32);
    let (vm, vs, v, k, p) = (
        l.add(ValType::V128),
        l.add(ValType::V128),
        l.add(ValType::V128),
        l.add(ValType::V128),
        l.add(ValType::V128),
    );
    let mem = memory;
    let mut body = builder.func_body();
    // while (i + 4 <= n) { each(i); i += 4 }, then while (i < n) { tail(i); i += 1 }
    let vector_loop = |s: &mut InstrSeqBuilder, from: i32, each: &dyn Fn(&mut InstrSeqBuilder)| {
        s.i32_const(from).local_set(i);
        emit_counted_loop(
            s,
            i,
            4,
            |l| {
                l.local_get(i)
                    .i32_const(4)
                    .binop(BinaryOp::I32Add)
                    .local_get(n)
                    .binop(BinaryOp::I32GtS);
            },
            each,
        );
    };
    let tail_loop = |s: &mut InstrSeqBuilder, each: &dyn Fn(&mut InstrSeqBuilder)| {
        emit_counted_loop(
            s,
            i,
            1,
            |l| {
                l.local_get(i).local_get(n).binop(BinaryOp::I32GeS);
            },
            each,
        );
    };
    // Address of element i of `base`.
    let at = |s: &mut InstrSeqBuilder, base: LocalId| {
        s.local_get(base)
            .local_get(i)
            .i32_const(2)
            .binop(BinaryOp::I32Shl)
            .binop(BinaryOp::I32Add);
    };
    // 1. The maximum.
    body.local_get(x)
        .load(mem, LoadKind::V128, arg(0))
        .local_set(vm);
    vector_loop(&mut body, 4, &|l| {
        l.local_get(vm);
        at(l, x);
        l.load(mem, LoadKind::V128, arg(0))
            .binop(BinaryOp::F32x4Max)
            .local_set(vm);
    });
    body.local_get(vm)
        .unop(UnaryOp::F32x4ExtractLane { idx: 0 });
    for lane in 1..4 {
        body.local_get(vm)
            .unop(UnaryOp::F32x4ExtractLane { idx: lane })
            .binop(BinaryOp::F32Max);
    }
    body.local_set(m);
    tail_loop(&mut body, &|l| {
        l.local_get(m);
        at(l, x);
        l.load(mem, LoadKind::F32, arg(0))
            .binop(BinaryOp::F32Max)
            .local_set(m);
    });
    body.local_get(m).unop(UnaryOp::F32x4Splat).local_set(vm);
    // 2. e = exp(x - max) into y, summed.
    body.const_(Value::V128(0)).local_set(vs);
    vector_loop(&mut body, 0, &|l| {
        at(l, y);
        at(l, x);
        l.load(mem, LoadKind::V128, arg(0))
            .local_get(vm)
            .binop(BinaryOp::F32x4Sub);
        emit_exp(l, v, k, p);
        l.local_tee(v)
            .store(mem, StoreKind::V128, arg(0))
            .local_get(vs)
            .local_get(v)
            .binop(BinaryOp::F32x4Add)
            .local_set(vs);
    });
    body.local_get(vs)
        .unop(UnaryOp::F32x4ExtractLane { idx: 0 });
    for lane in 1..4 {
        body.local_get(vs)
            .unop(UnaryOp::F32x4ExtractLane { idx: lane })
            .binop(BinaryOp::F32Add);
    }
    body.local_set(sum);
    tail_loop(&mut body, &|l| {
        at(l, y);
        at(l, x);
        l.load(mem, LoadKind::F32, arg(0))
            .local_get(m)
            .binop(BinaryOp::F32Sub)
            .unop(UnaryOp::F32x4Splat);
        emit_exp(l, v, k, p);
        l.unop(UnaryOp::F32x4ExtractLane { idx: 0 })
            .local_tee(e)
            .store(mem, StoreKind::F32, arg(0));
        l.local_get(sum)
            .local_get(e)
            .binop(BinaryOp::F32Add)
            .local_set(sum);
    });
    // 3. y / sum.
    body.local_get(sum).unop(UnaryOp::F32x4Splat).local_set(vs);
    vector_loop(&mut body, 0, &|l| {
        at(l, y);
        at(l, y);
        l.load(mem, LoadKind::V128, arg(0))
            .local_get(vs)
            .binop(BinaryOp::F32x4Div)
            .store(mem, StoreKind::V128, arg(0));
    });
    tail_loop(&mut body, &|l| {
        at(l, y);
        at(l, y);
        l.load(mem, LoadKind::F32, arg(0))
            .local_get(sum)
            .binop(BinaryOp::F32Div)
            .store(mem, StoreKind::F32, arg(0));
    });
    builder.finish(vec![x, y, n], &mut module.funcs)
}
