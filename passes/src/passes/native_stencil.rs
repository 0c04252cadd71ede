//! `native-stencil`: under `--target native`, a function identified by probing as
//! a 3x3 integer stencil over an 8-bit image clamped to 0..=255
//! (`fingerprints::stencil`: edge detectors, sharpening) gets a guard at its entry
//! that calls the runner's `barq::stencil3x3_u8_v1` with the weights it read off
//! the function, and returns; the original body follows as the fallback.
//!
//! Exact: integer sums, clamped. The guard calls the kernel only when the image is
//! at least 3x3 with at least [`MIN_PIXELS`] pixels, both images lie in memory and
//! do not overlap.

use crate::fingerprints::stencil::{self, Identified, Stencil};
use crate::pass::{Changed, Pass, PassCx, PassError};
use crate::report::Elem;
use crate::rewrite::map::emit_memory_bytes;
use crate::rewrite::native;
use walrus::ir::{BinaryOp, UnaryOp};
use walrus::{FunctionId, MemoryId, Module, ValType};

/// The native byte-stencil pass.
pub struct NativeStencil;

/// Smaller images stay with the original code (chosen, not measured).
pub const MIN_PIXELS: i64 = 256;

impl Pass for NativeStencil {
    fn name(&self) -> &'static str {
        "native-stencil"
    }

    fn description(&self) -> &'static str {
        "functions applying a 3x3 integer stencil to an 8-bit image (identified by probing) -> barq::stencil3x3_u8_v1 behind a guard (--target native)"
    }

    fn run(&self, module: &mut Module, cx: &mut PassCx<'_>) -> Result<Changed, PassError> {
        Ok(super::run_whole_function(
            module,
            cx,
            stencil::prefilter,
            |local, index, _, probe| {
                let Identified { stencil: st, runs } = stencil::identify(local, index, probe)?;
                Some(super::Identified {
                    detected: None,
                    matched: st,
                    pattern: "conv2d",
                    elem: Some(Elem::U8),
                    exact: true,
                    reason: format!("identified by probing ({runs} runs): {}", st.describe()),
                })
            },
            insert_call,
        ))
    }
}

/// Puts the guard and the kernel call in front of the function's body.
fn insert_call(module: &mut Module, func: FunctionId, memory: MemoryId, s: &Stencil) {
    let kernel = native::import(module, "stencil3x3_u8_v1", &[ValType::I32; 13], &[]);
    let mem = module.locals.add(ValType::I64);
    let pixels = module.locals.add(ValType::I64);
    native::insert_entry_block(module, func, |seq, fail, args| {
        let (image, out, h, w) = (args[s.image], args[s.out], args[s.h], args[s.w]);
        for d in [h, w] {
            seq.local_get(d)
                .i32_const(3)
                .binop(BinaryOp::I32LtS)
                .br_if(fail);
        }
        seq.local_get(h)
            .unop(UnaryOp::I64ExtendSI32)
            .local_get(w)
            .unop(UnaryOp::I64ExtendSI32)
            .binop(BinaryOp::I64Mul)
            .local_tee(pixels)
            .i64_const(MIN_PIXELS)
            .binop(BinaryOp::I64LtS)
            .br_if(fail);
        emit_memory_bytes(memory, mem, seq);
        let end = |seq: &mut walrus::InstrSeqBuilder, base| {
            seq.local_get(base)
                .unop(UnaryOp::I64ExtendUI32)
                .local_get(pixels)
                .binop(BinaryOp::I64Add);
        };
        for base in [image, out] {
            end(seq, base);
            seq.local_get(mem).binop(BinaryOp::I64GtU).br_if(fail);
        }
        end(seq, out);
        seq.local_get(image)
            .unop(UnaryOp::I64ExtendUI32)
            .binop(BinaryOp::I64LeU);
        end(seq, image);
        seq.local_get(out)
            .unop(UnaryOp::I64ExtendUI32)
            .binop(BinaryOp::I64LeU)
            .binop(BinaryOp::I32Or)
            .unop(UnaryOp::I32Eqz)
            .br_if(fail);
        seq.local_get(image)
            .local_get(out)
            .local_get(h)
            .local_get(w);
        for weight in s.weights {
            seq.i32_const(weight);
        }
        seq.call(kernel).return_();
    });
}
