//! `native-zstd`: under `--target native`, a function identified by probing as
//! the Zstandard library's `ZSTD_decompress` `(dst, dst_cap, src, src_size) ->
//! size` (`fingerprints::zstd`) gets a guard at its entry that calls the runner's
//! `barq::zstd_decompress_v1`; when the kernel decodes the frames it returns the
//! size, and when it declines (malformed or truncated frames, a frame without its
//! content size, an output that does not fit) the original body runs, so error
//! codes and whatever a failing decoder leaves in the output stay the original's.
//! Under `--target portable` the function is identified the same way and
//! reported `detected` (no SIMD128 formulation of a Zstandard decoder: its loops
//! get the local rewrites).
//!
//! The one thing not reproduced: the original allocates and frees its context
//! on every call, the kernel does not, so the allocator's state and the freed
//! memory's contents differ afterwards (no correct program reads either; later
//! allocations may land elsewhere). `--verify`, which compares all of memory,
//! reports that as a difference and drops the rewrite.
//!
//! Exact on every input the kernel decodes: the probes checked that the function
//! returns [`decompress`]'s size and leaves exactly its bytes in the whole output
//! buffer (the literals Zstandard 1.5 keeps past the decoded size included), and
//! the kernel is [`decompress`]. The guard (`rewrite::native::insert_decoder_call`)
//! calls the kernel only when `0 <=
//! src_size < 2^31` and `0 <= dst_cap < 2^31` (so signed and unsigned readings
//! agree), both buffers and 16 bytes past each lie inside memory, and the buffers
//! do not overlap.
//!
//! [`decompress`]: crate::fingerprints::zstd::decompress

use crate::fingerprints::zstd::{self, Identified, ZstdCall};
use crate::pass::{Changed, Pass, PassCx, PassError};
use crate::rewrite::native;
use walrus::{FunctionId, MemoryId, Module, ValType};

/// The report's reason under `--target portable`, where the function stays (its
/// copy loops and byte assemblies are the loop passes' to rewrite).
const PORTABLE: &str = "Zstandard decoder (identified by probing): no portable kernel, local rewrites only; --target native calls barq::zstd_decompress_v1";

/// The native Zstandard pass.
pub struct NativeZstd;

impl Pass for NativeZstd {
    fn name(&self) -> &'static str {
        "native-zstd"
    }

    fn description(&self) -> &'static str {
        "functions behaving as ZSTD_decompress (identified by probing) -> barq kernel behind a guard, the original on malformed input (--target native)"
    }

    fn run(&self, module: &mut Module, cx: &mut PassCx<'_>) -> Result<Changed, PassError> {
        Ok(super::run_whole_function_tiered(
            module,
            cx,
            super::OnPortable::Report(PORTABLE),
            zstd::prefilter,
            |_, index, _, probe, _| {
                let Identified { call, runs } = zstd::identify(index, probe)?;
                Some(super::Identified {
                    detected: None,
                    matched: call,
                    pattern: "zstd_decompress",
                    elem: None,
                    exact: true,
                    reason: format!(
                        "identified by probing ({runs} runs): Zstandard decoder as ZSTD_decompress (dst = parameter {}, dst_cap = {}, src = {}, src_size = {}); the allocator's state is not reproduced (the original allocates its context on each call)",
                        call.dst, call.dst_cap, call.src, call.src_size
                    ),
                })
            },
            |module, func, memory, call, _| insert_call(module, func, memory, call),
        ))
    }
}

/// Puts the guard and the kernel call in front of the function's body.
fn insert_call(module: &mut Module, func: FunctionId, memory: MemoryId, c: &ZstdCall) {
    use ValType::I32;
    let kernel = native::import(module, "zstd_decompress_v1", &[I32; 4], &[I32]);
    native::insert_decoder_call(
        module,
        func,
        memory,
        kernel,
        ([c.src, c.src_size], [c.dst, c.dst_cap]),
        [c.dst, c.dst_cap, c.src, c.src_size],
        0,
    );
}
