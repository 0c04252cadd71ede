//! `native-lz4`: under `--target native`, a function identified by probing as an
//! LZ4 block decoder `(src, src_len, dst, dst_cap) -> size`
//! (`fingerprints::lz4`) gets a guard at its entry that calls the runner's
//! `barq::lz4_block_decompress_v1`; when the kernel decodes the block it returns
//! the size, and when it declines (a block [`decode_block`] calls malformed, or
//! one that does not fit) the original body runs, so error codes and whatever a
//! failing decoder leaves in the output stay the original's.
//!
//! Exact on every block the kernel decodes: the probes checked that the function
//! returns [`decode_block`]'s size and writes exactly its bytes, and the kernel is
//! [`decode_block`]. The guard calls the kernel only when `MIN_BYTES <= src_len <
//! 2^31` and `0 <= dst_cap < 2^31` (so signed and unsigned readings agree), both
//! buffers and 16 bytes past each lie inside memory (a decoder reading a little
//! ahead would not have trapped), and the buffers do not overlap.
//!
//! [`decode_block`]: crate::fingerprints::lz4::decode_block

use crate::fingerprints::lz4::{self, Identified, Lz4Block};
use crate::pass::{Changed, Pass, PassCx, PassError};
use crate::rewrite::map::emit_memory_bytes;
use crate::rewrite::native;
use walrus::ir::{BinaryOp, UnaryOp};
use walrus::{FunctionId, MemoryId, Module, ValType};

/// The native LZ4 pass.
pub struct NativeLz4;

/// Smaller blocks stay with the original code (chosen, not measured).
pub const MIN_BYTES: i32 = 16;

impl Pass for NativeLz4 {
    fn name(&self) -> &'static str {
        "native-lz4"
    }

    fn description(&self) -> &'static str {
        "functions decoding an LZ4 block (identified by probing) -> barq kernel behind a guard, the original on malformed input (--target native)"
    }

    fn run(&self, module: &mut Module, cx: &mut PassCx<'_>) -> Result<Changed, PassError> {
        Ok(super::run_whole_function(
            module,
            cx,
            lz4::prefilter,
            |_, index, _, probe| {
                let Identified { block, runs } = lz4::identify(index, probe)?;
                Some(super::Identified {
                    matched: block,
                    pattern: "lz4_decompress",
                    elem: None,
                    exact: true,
                    reason: format!(
                        "identified by probing ({runs} runs): LZ4 block decoder (src = parameter {}, src_len = {}, dst = {}, dst_cap = {})",
                        block.src, block.src_len, block.dst, block.dst_cap
                    ),
                })
            },
            insert_call,
        ))
    }
}

/// Puts the guard and the kernel call in front of the function's body.
fn insert_call(module: &mut Module, func: FunctionId, memory: MemoryId, b: &Lz4Block) {
    use ValType::I32;
    let kernel = native::import(module, "lz4_block_decompress_v1", &[I32; 4], &[I32]);
    let mem = module.locals.add(ValType::I64);
    let result = module.locals.add(ValType::I32);
    native::insert_entry_block(module, func, |seq, fail, args| {
        let (src, len, dst, cap) = (args[b.src], args[b.src_len], args[b.dst], args[b.dst_cap]);
        // MIN_BYTES <= src_len < 2^31, 0 <= dst_cap < 2^31.
        seq.local_get(len)
            .i32_const(MIN_BYTES)
            .binop(BinaryOp::I32LtS)
            .local_get(cap)
            .i32_const(0)
            .binop(BinaryOp::I32LtS)
            .binop(BinaryOp::I32Or)
            .br_if(fail);
        emit_memory_bytes(memory, mem, seq);
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
        // Apart: end(dst) <= src or end(src) <= dst.
        end(seq, dst, cap);
        seq.local_get(src)
            .unop(UnaryOp::I64ExtendUI32)
            .binop(BinaryOp::I64LeU);
        end(seq, src, len);
        seq.local_get(dst)
            .unop(UnaryOp::I64ExtendUI32)
            .binop(BinaryOp::I64LeU)
            .binop(BinaryOp::I32Or)
            .unop(UnaryOp::I32Eqz)
            .br_if(fail);
        // The kernel declines (-1) when the block is malformed or does not fit.
        seq.local_get(src)
            .local_get(len)
            .local_get(dst)
            .local_get(cap)
            .call(kernel)
            .local_tee(result)
            .i32_const(0)
            .binop(BinaryOp::I32LtS)
            .br_if(fail)
            .local_get(result)
            .return_();
    });
}
