//! `native-quantize`: a function identified by probing as an INT8 quantization or
//! dequantization of an array (`fingerprints::quantize`) gets a guard at its entry
//! that calls a kernel and returns: the runner's `barq::quantize_f32_v1` or
//! `dequantize_f32_v1` under `--target native`, a SIMD128 function added to the
//! module under `--target portable` (`rewrite::quantize`); the original body
//! follows as the fallback (and still gets the loop passes' rewrites). The name
//! predates the portable kernels.
//!
//! Exact: every element gets the same operations (multiply or divide, round,
//! add, clamp, convert; or subtract, convert, multiply), one at a time. The guard
//! calls the kernel only when the count is at least [`MIN_ELEMENTS`] (and below
//! 2^31), the zero point is within +-2^16 (so that every reading of it as a float
//! is exact), both arrays lie inside memory and do not overlap.

use crate::fingerprints::quantize::{self, Direction, Identified, Quant};
use crate::pass::{Changed, Pass, PassCx, PassError};
use crate::report::{Elem, Tier};
use crate::rewrite::map::emit_memory_bytes;
use crate::rewrite::native;
use walrus::ir::{BinaryOp, UnaryOp};
use walrus::{FunctionId, MemoryId, Module, ValType};

/// The native (de)quantization pass.
pub struct NativeQuantize;

/// Shorter arrays stay with the original code (chosen, not measured).
pub const MIN_ELEMENTS: i32 = 16;

impl Pass for NativeQuantize {
    fn name(&self) -> &'static str {
        "native-quantize"
    }

    fn description(&self) -> &'static str {
        "functions quantizing f32 to i8/u8 or back (identified by probing) -> barq kernels or SIMD128 ones behind a guard"
    }

    fn run(&self, module: &mut Module, cx: &mut PassCx<'_>) -> Result<Changed, PassError> {
        Ok(super::run_whole_function_tiered(
            module,
            cx,
            super::OnPortable::Rewrite,
            quantize::prefilter,
            |_, index, params, probe, _| {
                let Identified { quant, runs } = quantize::identify(params, index, probe)?;
                Some(super::Identified {
                    detected: None,
                    matched: quant,
                    pattern: match quant.direction {
                        Direction::Quantize => "quantize",
                        Direction::Dequantize => "dequantize",
                    },
                    elem: Some(if quant.unsigned { Elem::U8 } else { Elem::I8 }),
                    exact: true,
                    reason: format!("identified by probing ({runs} runs): {}", quant.describe()),
                })
            },
            insert_call,
        ))
    }
}

/// Puts the guard and the kernel call in front of the function's body: the
/// runner's kernel, or the module's own SIMD128 one (`rewrite::quantize`).
fn insert_call(module: &mut Module, func: FunctionId, memory: MemoryId, q: &Quant, tier: Tier) {
    let name = match q.direction {
        Direction::Quantize => "quantize_f32_v1",
        Direction::Dequantize => "dequantize_f32_v1",
    };
    use ValType::{F32, I32};
    let kernel = match tier {
        Tier::Native => native::import(module, name, &[I32, I32, I32, F32, I32, I32], &[]),
        _ => crate::rewrite::quantize::kernel(module, memory, q),
    };
    let mem = module.locals.add(ValType::I64);
    let (ws, wd) = q.widths();
    native::insert_entry_block(module, func, |seq, fail, args| {
        let (src, dst, n) = (args[q.src], args[q.dst], args[q.n]);
        seq.local_get(n)
            .i32_const(MIN_ELEMENTS)
            .binop(BinaryOp::I32LtS)
            .br_if(fail);
        if let Some(zp) = q.zp {
            // -2^16 <= zp <= 2^16.
            seq.local_get(args[zp])
                .i32_const(1 << 16)
                .binop(BinaryOp::I32Add)
                .i32_const(1 << 17)
                .binop(BinaryOp::I32GtU)
                .br_if(fail);
        }
        emit_memory_bytes(memory, mem, seq);
        let end = |seq: &mut walrus::InstrSeqBuilder, base, width: usize| {
            seq.local_get(base)
                .unop(UnaryOp::I64ExtendUI32)
                .local_get(n)
                .unop(UnaryOp::I64ExtendUI32)
                .i64_const(width as i64)
                .binop(BinaryOp::I64Mul)
                .binop(BinaryOp::I64Add);
        };
        for (base, width) in [(src, ws), (dst, wd)] {
            end(seq, base, width);
            seq.local_get(mem).binop(BinaryOp::I64GtU).br_if(fail);
        }
        native::emit_apart(
            seq,
            fail,
            (src, &|seq| end(seq, src, ws)),
            (dst, &|seq| end(seq, dst, wd)),
        );
        seq.local_get(src)
            .local_get(dst)
            .local_get(n)
            .local_get(args[q.scale]);
        match q.zp {
            Some(zp) => seq.local_get(args[zp]),
            None => seq.i32_const(0),
        };
        seq.i32_const(q.flags()).call(kernel).return_();
    });
}
