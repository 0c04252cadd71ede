//! The portable INT8 kernels: SIMD128 functions with the signature of the runner's
//! `barq::quantize_f32_v1` / `dequantize_f32_v1` (`src, dst, n, scale, zp,
//! flags`), one per direction and variant, added to the module on first use, for
//! functions identified by probing as (de)quantizing an array.
//!
//! Exact, sixteen elements per step. Quantize: `x * scale` (or `/`), rounded to
//! even (`f32x4.nearest`) or half away from zero (`trunc`, plus the sign where the
//! dropped part is at least a half: exact below 2^23, and integral above), plus
//! `(float)zp`, clamped by `pmax`/`pmin` (`v < lo ? lo : v`, `v > hi ? hi : v`:
//! the scalar compares exactly, NaN kept), converted with saturation (NaN to 0),
//! narrowed to bytes (the values fit, so the saturating narrows are exact).
//! Dequantize: bytes widened, `q - zp` in i32, converted (exact: |q - zp| <
//! 2^24), times `scale`. The elements left over (n mod 16) go one at a time with
//! the same scalar operations.
//!
//! The caller's guard ensures what the kernels assume: n >= 16, |zp| <= 2^16,
//! both arrays inside memory and apart.

use super::emit_counted_loop;
use crate::fingerprints::quantize::{Direction, Quant};
use walrus::ir::{BinaryOp, ExtendedLoad, LoadKind, MemArg, StoreKind, UnaryOp, Value};
use walrus::{FunctionBuilder, FunctionId, InstrSeqBuilder, LocalId, MemoryId, Module, ValType};

const fn arg(offset: u64) -> MemArg {
    MemArg { align: 1, offset }
}

fn splat(s: &mut InstrSeqBuilder, v: f32) {
    let lane = v.to_bits() as u128;
    s.const_(Value::V128(lane | lane << 32 | lane << 64 | lane << 96));
}

/// The kernel for `q`'s direction and variant, built on first use.
pub fn kernel(module: &mut Module, memory: MemoryId, q: &Quant) -> FunctionId {
    let name = format!(
        "barq_{}_f32x4_{}",
        match q.direction {
            Direction::Quantize => "quantize",
            Direction::Dequantize => "dequantize",
        },
        q.flags()
    );
    if let Some(f) = super::named_function(module, &name) {
        return f;
    }
    use ValType::{F32, I32, V128};
    let params = [I32, I32, I32, F32, I32, I32];
    let mut builder = FunctionBuilder::new(&mut module.types, &params, &[]);
    builder.name(name);
    let l = &mut module.locals;
    let args: Vec<LocalId> = params.iter().map(|t| l.add(*t)).collect();
    let k = Locals {
        src: args[0],
        dst: args[1],
        n: args[2],
        scale: args[3],
        zp: args[4],
        i: l.add(I32),
        vscale: l.add(V128),
        vzp: l.add(V128),
        y: l.add(V128),
        t: l.add(V128),
        sy: l.add(F32),
        st: l.add(F32),
        memory,
        q: *q,
    };
    let mut body = builder.func_body();
    body.local_get(k.scale)
        .unop(UnaryOp::F32x4Splat)
        .local_set(k.vscale);
    match q.direction {
        Direction::Quantize => {
            body.local_get(k.zp)
                .unop(UnaryOp::F32ConvertSI32)
                .unop(UnaryOp::F32x4Splat)
                .local_set(k.vzp);
        }
        Direction::Dequantize => {
            body.local_get(k.zp)
                .unop(UnaryOp::I32x4Splat)
                .local_set(k.vzp);
        }
    }
    body.i32_const(0).local_set(k.i);
    // Sixteen at a time.
    emit_counted_loop(
        &mut body,
        k.i,
        16,
        |l| {
            l.local_get(k.i)
                .i32_const(16)
                .binop(BinaryOp::I32Add)
                .local_get(k.n)
                .binop(BinaryOp::I32GtS);
        },
        |l| match q.direction {
            Direction::Quantize => k.quantize16(l),
            Direction::Dequantize => k.dequantize16(l),
        },
    );
    // The rest one at a time.
    emit_counted_loop(
        &mut body,
        k.i,
        1,
        |l| {
            l.local_get(k.i).local_get(k.n).binop(BinaryOp::I32GeS);
        },
        |l| match q.direction {
            Direction::Quantize => k.quantize1(l),
            Direction::Dequantize => k.dequantize1(l),
        },
    );
    builder.finish(args, &mut module.funcs)
}

struct Locals {
    src: LocalId,
    dst: LocalId,
    n: LocalId,
    scale: LocalId,
    zp: LocalId,
    i: LocalId,
    vscale: LocalId,
    /// `(float)zp` (quantize) or `zp` (dequantize) in every lane.
    vzp: LocalId,
    y: LocalId,
    t: LocalId,
    sy: LocalId,
    st: LocalId,
    memory: MemoryId,
    q: Quant,
}

impl Locals {
    /// `base + i * width`.
    fn at(&self, s: &mut InstrSeqBuilder, base: LocalId, width: i32) {
        s.local_get(base).local_get(self.i);
        if width > 1 {
            s.i32_const(width).binop(BinaryOp::I32Mul);
        }
        s.binop(BinaryOp::I32Add);
    }

    fn bounds(&self) -> (f32, f32) {
        if self.q.unsigned {
            (0.0, 255.0)
        } else {
            (-128.0, 127.0)
        }
    }

    /// Four floats at `src + 4 i + offset` -> four clamped i32s on the stack.
    fn quantize4(&self, s: &mut InstrSeqBuilder, offset: u64) {
        self.at(s, self.src, 4);
        s.load(self.memory, LoadKind::V128, arg(offset))
            .local_get(self.vscale)
            .binop(if self.q.divide {
                BinaryOp::F32x4Div
            } else {
                BinaryOp::F32x4Mul
            });
        if self.q.half_away {
            // t = trunc(y); t + ((|y - t| >= 0.5) & ((y & -0.0) | 1.0))
            s.local_tee(self.y)
                .unop(UnaryOp::F32x4Trunc)
                .local_tee(self.t)
                .local_get(self.y)
                .local_get(self.t)
                .binop(BinaryOp::F32x4Sub)
                .unop(UnaryOp::F32x4Abs);
            splat(s, 0.5);
            s.binop(BinaryOp::F32x4Ge).local_get(self.y);
            splat(s, -0.0);
            s.binop(BinaryOp::V128And);
            splat(s, 1.0);
            s.binop(BinaryOp::V128Or)
                .binop(BinaryOp::V128And)
                .binop(BinaryOp::F32x4Add);
        } else {
            s.unop(UnaryOp::F32x4Nearest);
        }
        let (lo, hi) = self.bounds();
        s.local_get(self.vzp).binop(BinaryOp::F32x4Add);
        splat(s, lo);
        s.binop(BinaryOp::F32x4PMax);
        splat(s, hi);
        s.binop(BinaryOp::F32x4PMin)
            .unop(UnaryOp::I32x4TruncSatF32x4S);
    }

    fn quantize16(&self, s: &mut InstrSeqBuilder) {
        self.at(s, self.dst, 1);
        self.quantize4(s, 0);
        self.quantize4(s, 16);
        s.binop(BinaryOp::I16x8NarrowI32x4S);
        self.quantize4(s, 32);
        self.quantize4(s, 48);
        s.binop(BinaryOp::I16x8NarrowI32x4S)
            .binop(if self.q.unsigned {
                BinaryOp::I8x16NarrowI16x8U
            } else {
                BinaryOp::I8x16NarrowI16x8S
            });
        s.store(self.memory, StoreKind::V128, arg(0));
    }

    fn quantize1(&self, s: &mut InstrSeqBuilder) {
        self.at(s, self.dst, 1);
        self.at(s, self.src, 4);
        s.load(self.memory, LoadKind::F32, arg(0))
            .local_get(self.scale)
            .binop(if self.q.divide {
                BinaryOp::F32Div
            } else {
                BinaryOp::F32Mul
            });
        if self.q.half_away {
            // |y - t| >= 0.5 ? t + copysign(1, y) : t
            s.local_tee(self.sy)
                .unop(UnaryOp::F32Trunc)
                .local_tee(self.st)
                .f32_const(1.0)
                .local_get(self.sy)
                .binop(BinaryOp::F32Copysign)
                .binop(BinaryOp::F32Add)
                .local_get(self.st)
                .local_get(self.sy)
                .local_get(self.st)
                .binop(BinaryOp::F32Sub)
                .unop(UnaryOp::F32Abs)
                .f32_const(0.5)
                .binop(BinaryOp::F32Ge)
                .select(None);
        } else {
            s.unop(UnaryOp::F32Nearest);
        }
        let (lo, hi) = self.bounds();
        // v < lo ? lo : v, then v > hi ? hi : v
        s.local_get(self.zp)
            .unop(UnaryOp::F32ConvertSI32)
            .binop(BinaryOp::F32Add)
            .local_set(self.sy);
        s.f32_const(lo)
            .local_get(self.sy)
            .local_get(self.sy)
            .f32_const(lo)
            .binop(BinaryOp::F32Lt)
            .select(None)
            .local_set(self.sy);
        s.f32_const(hi)
            .local_get(self.sy)
            .local_get(self.sy)
            .f32_const(hi)
            .binop(BinaryOp::F32Gt)
            .select(None)
            .unop(UnaryOp::I32TruncSSatF32)
            .store(self.memory, StoreKind::I32_8 { atomic: false }, arg(0));
    }

    fn dequantize16(&self, s: &mut InstrSeqBuilder) {
        let (low16, high16) = if self.q.unsigned {
            (UnaryOp::I16x8WidenLowI8x16U, UnaryOp::I16x8WidenHighI8x16U)
        } else {
            (UnaryOp::I16x8WidenLowI8x16S, UnaryOp::I16x8WidenHighI8x16S)
        };
        self.at(s, self.src, 1);
        s.load(self.memory, LoadKind::V128, arg(0))
            .local_set(self.y);
        for (q, (half, quarter)) in [
            (low16, UnaryOp::I32x4WidenLowI16x8S),
            (low16, UnaryOp::I32x4WidenHighI16x8S),
            (high16, UnaryOp::I32x4WidenLowI16x8S),
            (high16, UnaryOp::I32x4WidenHighI16x8S),
        ]
        .into_iter()
        .enumerate()
        {
            self.at(s, self.dst, 4);
            s.local_get(self.y)
                .unop(half)
                .unop(quarter)
                .local_get(self.vzp)
                .binop(BinaryOp::I32x4Sub)
                .unop(UnaryOp::F32x4ConvertI32x4S)
                .local_get(self.vscale)
                .binop(BinaryOp::F32x4Mul)
                .store(self.memory, StoreKind::V128, arg(16 * q as u64));
        }
    }

    fn dequantize1(&self, s: &mut InstrSeqBuilder) {
        self.at(s, self.dst, 4);
        self.at(s, self.src, 1);
        s.load(
            self.memory,
            LoadKind::I32_8 {
                kind: if self.q.unsigned {
                    ExtendedLoad::ZeroExtend
                } else {
                    ExtendedLoad::SignExtend
                },
            },
            arg(0),
        )
        .local_get(self.zp)
        .binop(BinaryOp::I32Sub)
        .unop(UnaryOp::F32ConvertSI32)
        .local_get(self.scale)
        .binop(BinaryOp::F32Mul)
        .store(self.memory, StoreKind::F32, arg(0));
    }
}
