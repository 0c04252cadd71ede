//! The portable Adler-32 kernel: `barq_adler32_simd(adler, buf, len) -> adler`,
//! zlib's `adler32(adler, buf, len)` in SIMD128, exact (integer sums, reduced
//! modulo 65521 as often as the scalar definition allows).
//!
//! Over a run of `k` 16-byte blocks starting with sums `(a, b)`, byte `i` of block
//! `t` adds itself to `a` and `(16 (k - t) - i) * byte` to `b`. So per block:
//! `ps += s1` (the bytes of the blocks before), `s1 += bytes` (pairwise widening
//! adds), `s2 += bytes . [16, 15, ..., 1]` (`i32x4.dot_i16x8_s`); after the run
//! `a += sum(s1)` and `b += 16 k a + 16 sum(ps) + sum(s2)`, in i64, then both are
//! reduced. Runs are at most 347 blocks (zlib's 5552 bytes): no i32 lane can
//! overflow (`ps`, the largest, stays below 2^26 per lane). The last bytes (fewer
//! than 16) go one at a time.
//!
//! The caller guarantees the sums of `adler` are reduced (below 65521) and that
//! `buf .. buf + len` lies in memory with `0 <= len < 2^31`.

use walrus::ir::{BinaryOp, ExtendedLoad, LoadKind, MemArg, UnaryOp, Value};
use walrus::{FunctionBuilder, FunctionId, InstrSeqBuilder, LocalId, MemoryId, Module, ValType};

/// The kernel's name in the output module.
pub const NAME: &str = "barq_adler32_simd";

/// Blocks of 16 bytes per run between reductions (16 * 347 = 5552 bytes).
const BLOCKS_PER_RUN: i32 = 347;

const BASE: i64 = 65521;

/// The module's kernel, built on first use.
pub fn kernel(module: &mut Module, memory: MemoryId) -> FunctionId {
    if let Some(f) = super::named_function(module, NAME) {
        return f;
    }
    let mut builder = FunctionBuilder::new(&mut module.types, &[ValType::I32; 3], &[ValType::I32]);
    builder.name(NAME.to_string());
    let l = &mut module.locals;
    let (adler, buf, len) = (
        l.add(ValType::I32),
        l.add(ValType::I32),
        l.add(ValType::I32),
    );
    let (a, b) = (l.add(ValType::I64), l.add(ValType::I64));
    let (k, left) = (l.add(ValType::I32), l.add(ValType::I32));
    let (s1, ps, s2, v) = (
        l.add(ValType::V128),
        l.add(ValType::V128),
        l.add(ValType::V128),
        l.add(ValType::V128),
    );
    let at = MemArg {
        align: 1,
        offset: 0,
    };
    // Weights of bytes 0..7 and 8..15 of a block, as i16 lanes.
    let weights = |first: u16| -> u128 {
        (0..8).fold(0u128, |acc, j| acc | (((first - j) as u128) << (16 * j)))
    };
    let (w_low, w_high) = (weights(16), weights(8));
    // sum of the four i32 lanes of `x`, as an i64 (each lane read unsigned).
    let horizontal = |s: &mut InstrSeqBuilder, x: LocalId| {
        for lane in 0..4u8 {
            s.local_get(x)
                .unop(UnaryOp::I32x4ExtractLane { idx: lane })
                .unop(UnaryOp::I64ExtendUI32);
            if lane > 0 {
                s.binop(BinaryOp::I64Add);
            }
        }
    };
    let reduce = |s: &mut InstrSeqBuilder, x: LocalId| {
        s.local_get(x)
            .i64_const(BASE)
            .binop(BinaryOp::I64RemU)
            .local_set(x);
    };

    let mut body = builder.func_body();
    // a = adler & 0xffff, b = adler >> 16
    body.local_get(adler)
        .i32_const(0xffff)
        .binop(BinaryOp::I32And)
        .unop(UnaryOp::I64ExtendUI32)
        .local_set(a)
        .local_get(adler)
        .i32_const(16)
        .binop(BinaryOp::I32ShrU)
        .unop(UnaryOp::I64ExtendUI32)
        .local_set(b);
    // Runs of whole blocks.
    body.block(None, |done| {
        let done_id = done.id();
        done.loop_(None, |runs| {
            let runs_id = runs.id();
            // while len >= 16
            runs.local_get(len)
                .i32_const(16)
                .binop(BinaryOp::I32LtS)
                .br_if(done_id);
            // k = min(len / 16, BLOCKS_PER_RUN)
            runs.local_get(len)
                .i32_const(4)
                .binop(BinaryOp::I32ShrU)
                .local_tee(k)
                .i32_const(BLOCKS_PER_RUN)
                .local_get(k)
                .i32_const(BLOCKS_PER_RUN)
                .binop(BinaryOp::I32LtS)
                .select(None)
                .local_tee(k)
                .local_set(left);
            // b += 16 k a (the run's bytes all come after the current a)
            runs.local_get(b)
                .local_get(k)
                .i32_const(4)
                .binop(BinaryOp::I32Shl)
                .unop(UnaryOp::I64ExtendUI32)
                .local_get(a)
                .binop(BinaryOp::I64Mul)
                .binop(BinaryOp::I64Add)
                .local_set(b);
            for x in [s1, ps, s2] {
                runs.const_(Value::V128(0)).local_set(x);
            }
            runs.loop_(None, |blocks| {
                let blocks_id = blocks.id();
                blocks
                    .local_get(buf)
                    .load(memory, LoadKind::V128, at)
                    .local_set(v);
                // ps += s1
                blocks
                    .local_get(ps)
                    .local_get(s1)
                    .binop(BinaryOp::I32x4Add)
                    .local_set(ps);
                // s1 += bytes, in pairs
                blocks
                    .local_get(s1)
                    .local_get(v)
                    .unop(UnaryOp::I16x8ExtAddPairwiseI8x16U)
                    .unop(UnaryOp::I32x4ExtAddPairwiseI16x8U)
                    .binop(BinaryOp::I32x4Add)
                    .local_set(s1);
                // s2 += bytes . weights
                blocks
                    .local_get(s2)
                    .local_get(v)
                    .unop(UnaryOp::I16x8WidenLowI8x16U)
                    .const_(Value::V128(w_low))
                    .binop(BinaryOp::I32x4DotI16x8S)
                    .binop(BinaryOp::I32x4Add)
                    .local_get(v)
                    .unop(UnaryOp::I16x8WidenHighI8x16U)
                    .const_(Value::V128(w_high))
                    .binop(BinaryOp::I32x4DotI16x8S)
                    .binop(BinaryOp::I32x4Add)
                    .local_set(s2);
                blocks
                    .local_get(buf)
                    .i32_const(16)
                    .binop(BinaryOp::I32Add)
                    .local_set(buf)
                    .local_get(left)
                    .i32_const(-1)
                    .binop(BinaryOp::I32Add)
                    .local_tee(left)
                    .br_if(blocks_id);
            });
            // len -= 16 k
            runs.local_get(len)
                .local_get(k)
                .i32_const(4)
                .binop(BinaryOp::I32Shl)
                .binop(BinaryOp::I32Sub)
                .local_set(len);
            // a += sum(s1); b += 16 sum(ps) + sum(s2); reduce both.
            runs.local_get(a);
            horizontal(runs, s1);
            runs.binop(BinaryOp::I64Add).local_set(a);
            runs.local_get(b);
            horizontal(runs, ps);
            runs.i64_const(4).binop(BinaryOp::I64Shl);
            runs.binop(BinaryOp::I64Add);
            horizontal(runs, s2);
            runs.binop(BinaryOp::I64Add).local_set(b);
            reduce(runs, a);
            reduce(runs, b);
            runs.br(runs_id);
        });
    });
    // The last bytes, one at a time.
    body.block(None, |done| {
        let done_id = done.id();
        done.loop_(None, |tail| {
            let tail_id = tail.id();
            tail.local_get(len).unop(UnaryOp::I32Eqz).br_if(done_id);
            tail.local_get(a)
                .local_get(buf)
                .load(
                    memory,
                    LoadKind::I32_8 {
                        kind: ExtendedLoad::ZeroExtend,
                    },
                    at,
                )
                .unop(UnaryOp::I64ExtendUI32)
                .binop(BinaryOp::I64Add)
                .local_tee(a)
                .local_get(b)
                .binop(BinaryOp::I64Add)
                .local_set(b);
            tail.local_get(buf)
                .i32_const(1)
                .binop(BinaryOp::I32Add)
                .local_set(buf)
                .local_get(len)
                .i32_const(-1)
                .binop(BinaryOp::I32Add)
                .local_set(len)
                .br(tail_id);
        });
    });
    reduce(&mut body, a);
    reduce(&mut body, b);
    body.local_get(b)
        .i64_const(16)
        .binop(BinaryOp::I64Shl)
        .local_get(a)
        .binop(BinaryOp::I64Or)
        .unop(UnaryOp::I32WrapI64);
    builder.finish(vec![adler, buf, len], &mut module.funcs)
}
