//! `native-brotli`: under `--target native`, a function identified by probing as
//! the Brotli library's one-shot `BrotliDecoderDecompress` `(encoded_size,
//! encoded, decoded_size, decoded) -> result` (`fingerprints::brotli`) gets a
//! guard at its entry that reads the capacity from `*decoded_size` and calls the
//! runner's `barq::brotli_decompress_v1`; when the kernel decodes the stream the
//! guard stores the decoded size and returns 1, and when it declines (a
//! malformed or truncated stream, an output that does not fit) the original body
//! runs, so the error result, the partial output and the size reported with it
//! stay the original's. Under `--target portable` the function is identified the
//! same way and reported `detected` (no SIMD128 formulation of a Brotli decoder:
//! its loops get the local rewrites).
//!
//! As with `native-zstd`, the allocator's state is not reproduced: the original
//! allocates its ring buffer and tables on every call and frees them, the
//! kernel does not touch the guest's heap.
//!
//! Exact on every stream the kernel decodes: the probes checked that the
//! function returns 1, stores [`decompress`]'s size and leaves exactly its bytes
//! (nothing past the decoded size), and the kernel is [`decompress`]. The guard
//! calls the kernel only when the size word lies inside memory, `0 <=
//! encoded_size < 2^31` and `0 <= capacity < 2^31`, both buffers and 16 bytes
//! past each lie inside memory, and the buffers do not overlap. The size word
//! may lie anywhere else (inside either buffer too): the original reads it before
//! decoding and writes it after, as the guard does.
//!
//! [`decompress`]: crate::fingerprints::brotli::decompress

use crate::fingerprints::brotli::{self, BrotliCall, Identified};
use crate::pass::{Changed, Pass, PassCx, PassError};
use crate::rewrite::native;
use walrus::ir::{BinaryOp, LoadKind, MemArg, StoreKind, UnaryOp};
use walrus::{FunctionId, MemoryId, Module, ValType};

/// The report's reason under `--target portable`, where the function stays.
const PORTABLE: &str = "Brotli decoder (identified by probing): no portable kernel, local rewrites only; --target native calls barq::brotli_decompress_v1";

/// The native Brotli pass.
pub struct NativeBrotli;

impl Pass for NativeBrotli {
    fn name(&self) -> &'static str {
        "native-brotli"
    }

    fn description(&self) -> &'static str {
        "functions behaving as BrotliDecoderDecompress (identified by probing) -> barq kernel behind a guard, the original on malformed input (--target native)"
    }

    fn run(&self, module: &mut Module, cx: &mut PassCx<'_>) -> Result<Changed, PassError> {
        if !brotli::has_dictionary(module) {
            return Ok(Changed::nothing());
        }
        Ok(super::run_whole_function_tiered(
            module,
            cx,
            super::OnPortable::Report(PORTABLE),
            brotli::prefilter,
            |_, index, _, probe, _| {
                let Identified { call, runs } = brotli::identify(index, probe)?;
                Some(super::Identified {
                    detected: None,
                    matched: call,
                    pattern: "brotli_decompress",
                    elem: None,
                    exact: true,
                    reason: format!(
                        "identified by probing ({runs} runs): Brotli decoder as BrotliDecoderDecompress (encoded_size = parameter {}, encoded = {}, decoded_size = {}, decoded = {}); the allocator's state is not reproduced (the original allocates its ring buffer on each call)",
                        call.encoded_size, call.encoded, call.decoded_size, call.decoded
                    ),
                })
            },
            |module, func, memory, call, _| insert_call(module, func, memory, call),
        ))
    }
}

/// Puts the guard and the kernel call in front of the function's body.
fn insert_call(module: &mut Module, func: FunctionId, memory: MemoryId, c: &BrotliCall) {
    use ValType::{I32, I64};
    let kernel = native::import(module, "brotli_decompress_v1", &[I32; 4], &[I32]);
    let mem = module.locals.add(I64);
    let cap = module.locals.add(I32);
    let result = module.locals.add(I32);
    let word = MemArg {
        align: 1,
        offset: 0,
    };
    native::insert_entry_block(module, func, |seq, fail, args| {
        let size_ptr = args[c.decoded_size];
        // The size word inside memory (else the original traps by itself).
        crate::rewrite::map::emit_memory_bytes(memory, mem, seq);
        seq.local_get(size_ptr)
            .unop(UnaryOp::I64ExtendUI32)
            .i64_const(4)
            .binop(BinaryOp::I64Add)
            .local_get(mem)
            .binop(BinaryOp::I64GtU)
            .br_if(fail)
            .local_get(size_ptr)
            .load(memory, LoadKind::I32 { atomic: false }, word)
            .local_set(cap);
        let (src, len, dst) = (args[c.encoded], args[c.encoded_size], args[c.decoded]);
        native::emit_decoder_checks(seq, fail, (memory, mem), (src, len), (dst, cap), 0);
        seq.local_get(dst)
            .local_get(cap)
            .local_get(src)
            .local_get(len)
            .call(kernel)
            .local_tee(result)
            .i32_const(0)
            .binop(BinaryOp::I32LtS)
            .br_if(fail)
            .local_get(size_ptr)
            .local_get(result)
            .store(memory, StoreKind::I32 { atomic: false }, word)
            .i32_const(1)
            .return_();
    });
}
