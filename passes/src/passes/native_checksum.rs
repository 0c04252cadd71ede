//! `native-checksum`: under `--target native`, a function identified by probing
//! as a CRC-32, CRC-32C or Adler-32 of a buffer (`fingerprints::checksum`) gets a
//! guard at its entry that calls the runner's `barq::crc32_v1`, `crc32c_v1` or
//! `adler32_v1` and returns; the original body follows as the fallback. Under
//! `--target portable` an Adler-32 calls the SIMD128 kernel `rewrite::adler` adds
//! to the module, behind the same guard; a CRC is reported `detected`.
//!
//! Needs: a prober (the driver's Wasmtime engine). Guarantees: exact (checksums
//! are integer functions of the bytes). The guard calls the kernel only when the
//! length is at least [`MIN_BYTES`] and below 2^31 (so signed and unsigned
//! readings of it agree), the buffer and 16 bytes past it lie inside memory (so the
//! original, even reading a little ahead, would not have trapped), and, for
//! Adler-32 continuing a value, both halves of that value are reduced (below
//! 65521), as every Adler-32 produces them.

use crate::fingerprints::checksum::{self, Algo, Checksum, Identified, Start};
use crate::pass::{Changed, Pass, PassCx, PassError};
use crate::report::Tier;
use crate::rewrite::map::emit_memory_bytes;
use crate::rewrite::{adler, native};
use walrus::ir::{BinaryOp, UnaryOp};
use walrus::{FunctionId, MemoryId, Module, ValType};

/// The native checksum pass.
pub struct NativeChecksum;

/// Shorter buffers stay with the original code (a host call costs about what a
/// table-driven CRC of this many bytes does; chosen, not measured).
pub const MIN_BYTES: i32 = 64;

impl Pass for NativeChecksum {
    fn name(&self) -> &'static str {
        "native-checksum"
    }

    fn description(&self) -> &'static str {
        "functions computing CRC-32, CRC-32C or Adler-32 of a buffer (identified by probing) -> barq kernels behind a guard (--target native; Adler-32 also a SIMD128 kernel in the module under --target portable)"
    }

    fn run(&self, module: &mut Module, cx: &mut PassCx<'_>) -> Result<Changed, PassError> {
        Ok(super::run_whole_function_tiered(
            module,
            cx,
            super::OnPortable::Rewrite,
            checksum::prefilter,
            |_, index, params, probe, _| {
                let Identified { checksum: c, runs } =
                    checksum::identify(index, params.len(), probe)?;
                Some(super::Identified {
                    detected: (c.algo != Algo::Adler32).then_some(NO_PORTABLE_CRC),
                    matched: c,
                    pattern: c.algo.pattern(),
                    elem: None,
                    exact: true,
                    reason: format!("identified by probing ({runs} runs): {}", c.describe()),
                })
            },
            insert_call,
        ))
    }
}

/// Why a CRC keeps its own code under `--target portable`.
const NO_PORTABLE_CRC: &str =
    "no portable CRC kernel yet (wasm has no carry-less multiply); --target native has one";

/// Puts the guard and the kernel call in front of the function's body.
/// (Under `--target portable` only Adler-32 gets here: its SIMD128 kernel,
/// `rewrite::adler`, added to the module.)
fn insert_call(module: &mut Module, func: FunctionId, memory: MemoryId, c: &Checksum, tier: Tier) {
    let name = match c.algo {
        Algo::Crc32 => "crc32_v1",
        Algo::Crc32c => "crc32c_v1",
        Algo::Adler32 => "adler32_v1",
    };
    let kernel = match tier {
        Tier::Native => native::import(module, name, &[ValType::I32; 3], &[ValType::I32]),
        _ => adler::kernel(module, memory),
    };
    let mem = module.locals.add(ValType::I64);
    native::insert_entry_block(module, func, |seq, fail, args| {
        let (buf, len) = (args[c.buf], args[c.len]);
        // MIN_BYTES <= len < 2^31.
        seq.local_get(len)
            .i32_const(MIN_BYTES)
            .binop(BinaryOp::I32LtS)
            .br_if(fail);
        // buf + len + 16 <= memory size.
        emit_memory_bytes(memory, mem, seq);
        seq.local_get(buf)
            .unop(UnaryOp::I64ExtendUI32)
            .local_get(len)
            .unop(UnaryOp::I64ExtendUI32)
            .binop(BinaryOp::I64Add)
            .i64_const(16)
            .binop(BinaryOp::I64Add)
            .local_get(mem)
            .binop(BinaryOp::I64GtU)
            .br_if(fail);
        let start = |seq: &mut walrus::InstrSeqBuilder| match c.start {
            Start::Const(v) => {
                seq.i32_const(v as i32);
            }
            Start::Param(p) => {
                seq.local_get(args[p]);
            }
        };
        if let (Algo::Adler32, Start::Param(p)) = (c.algo, c.start) {
            // Both halves reduced.
            seq.local_get(args[p])
                .i32_const(0xffff)
                .binop(BinaryOp::I32And)
                .i32_const(65521)
                .binop(BinaryOp::I32GeU)
                .local_get(args[p])
                .i32_const(16)
                .binop(BinaryOp::I32ShrU)
                .i32_const(65521)
                .binop(BinaryOp::I32GeU)
                .binop(BinaryOp::I32Or)
                .br_if(fail);
        }
        start(seq);
        if c.pre != 0 {
            seq.i32_const(c.pre as i32).binop(BinaryOp::I32Xor);
        }
        seq.local_get(buf).local_get(len).call(kernel);
        if c.post != 0 {
            seq.i32_const(c.post as i32).binop(BinaryOp::I32Xor);
        }
        seq.return_();
    });
}
