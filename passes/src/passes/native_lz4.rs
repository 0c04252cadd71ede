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
//! [`decode_block`]. The guard (`rewrite::native::insert_decoder_call`) calls the
//! kernel only when `MIN_BYTES <= src_len < 2^31` and `0 <= dst_cap < 2^31` (so
//! signed and unsigned readings agree), both buffers and 16 bytes past each lie
//! inside memory (a decoder reading a little ahead would not have trapped), and
//! the buffers do not overlap.
//!
//! [`decode_block`]: crate::fingerprints::lz4::decode_block

use crate::fingerprints::lz4::{self, Identified, Lz4Block};
use crate::pass::{Changed, Pass, PassCx, PassError};
use crate::rewrite::native;
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
                    detected: None,
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
    native::insert_decoder_call(
        module,
        func,
        memory,
        kernel,
        ([b.src, b.src_len], [b.dst, b.dst_cap]),
        [b.src, b.src_len, b.dst, b.dst_cap],
        MIN_BYTES,
    );
}
