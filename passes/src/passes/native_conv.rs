//! `native-conv`: under `--target native`, a function identified by probing as a
//! 3x3 valid convolution of an f32 image (with bias and ReLU or not,
//! `fingerprints::conv`) gets a guard at its entry that calls the runner's
//! `barq::conv3x3_f32_v1` and returns; the original body follows as the fallback.
//!
//! Exact: every output gets the same nine rounded multiplies and adds in the same
//! order (no FMA). The guard calls the kernel only when the image is at least 3x3
//! with at least [`MIN_OUTPUTS`] outputs, the image, the kernel and the output lie
//! inside memory (sizes computed in i64), and the output overlaps neither.

use crate::fingerprints::conv::{self, Conv, Identified};
use crate::pass::{Changed, Pass, PassCx, PassError};
use crate::report::Elem;
use crate::rewrite::map::emit_memory_bytes;
use crate::rewrite::native;
use walrus::ir::{BinaryOp, UnaryOp};
use walrus::{FunctionId, LocalId, MemoryId, Module, ValType};

/// The native 3x3 convolution pass.
pub struct NativeConv;

/// Fewer outputs stay with the original code (chosen, not measured).
pub const MIN_OUTPUTS: i64 = 64;

impl Pass for NativeConv {
    fn name(&self) -> &'static str {
        "native-conv"
    }

    fn description(&self) -> &'static str {
        "functions computing a 3x3 f32 convolution (+bias, ReLU; identified by probing) -> barq::conv3x3_f32_v1 behind a guard (--target native)"
    }

    fn run(&self, module: &mut Module, cx: &mut PassCx<'_>) -> Result<Changed, PassError> {
        Ok(super::run_whole_function(
            module,
            cx,
            conv::prefilter,
            |local, index, params, probe| {
                let Identified { conv: c, runs } = conv::identify(local, params, index, probe)?;
                Some(super::Identified {
                    detected: None,
                    matched: c,
                    pattern: "conv2d",
                    elem: Some(Elem::F32),
                    exact: true,
                    reason: format!("identified by probing ({runs} runs): {}", c.describe()),
                })
            },
            insert_call,
        ))
    }
}

/// Puts the guard and the kernel call in front of the function's body.
fn insert_call(module: &mut Module, func: FunctionId, memory: MemoryId, c: &Conv) {
    use ValType::{F32, I32};
    let kernel = native::import(
        module,
        "conv3x3_f32_v1",
        &[I32, I32, I32, I32, I32, F32, I32],
        &[],
    );
    let mem = module.locals.add(ValType::I64);
    let outputs = module.locals.add(ValType::I64);
    native::insert_entry_block(module, func, |seq, fail, args| {
        let (image, kern, out, h, w) = (
            args[c.image],
            args[c.kernel],
            args[c.out],
            args[c.h],
            args[c.w],
        );
        for d in [h, w] {
            seq.local_get(d)
                .i32_const(3)
                .binop(BinaryOp::I32LtS)
                .br_if(fail);
        }
        // outputs = (h - 2) * (w - 2) >= MIN_OUTPUTS.
        let minus_two = |seq: &mut walrus::InstrSeqBuilder, d: LocalId| {
            seq.local_get(d)
                .unop(UnaryOp::I64ExtendSI32)
                .i64_const(2)
                .binop(BinaryOp::I64Sub);
        };
        minus_two(seq, h);
        minus_two(seq, w);
        seq.binop(BinaryOp::I64Mul)
            .local_tee(outputs)
            .i64_const(MIN_OUTPUTS)
            .binop(BinaryOp::I64LtS)
            .br_if(fail);
        emit_memory_bytes(memory, mem, seq);
        // Ends: image + 4 h w, kernel + 36, out + 4 outputs.
        let image_end = |seq: &mut walrus::InstrSeqBuilder| {
            seq.local_get(image)
                .unop(UnaryOp::I64ExtendUI32)
                .local_get(h)
                .unop(UnaryOp::I64ExtendSI32)
                .local_get(w)
                .unop(UnaryOp::I64ExtendSI32)
                .binop(BinaryOp::I64Mul)
                .i64_const(4)
                .binop(BinaryOp::I64Mul)
                .binop(BinaryOp::I64Add);
        };
        let kernel_end = |seq: &mut walrus::InstrSeqBuilder| {
            seq.local_get(kern)
                .unop(UnaryOp::I64ExtendUI32)
                .i64_const(36)
                .binop(BinaryOp::I64Add);
        };
        let out_end = |seq: &mut walrus::InstrSeqBuilder| {
            seq.local_get(out)
                .unop(UnaryOp::I64ExtendUI32)
                .local_get(outputs)
                .i64_const(4)
                .binop(BinaryOp::I64Mul)
                .binop(BinaryOp::I64Add);
        };
        image_end(seq);
        seq.local_get(mem).binop(BinaryOp::I64GtU).br_if(fail);
        kernel_end(seq);
        seq.local_get(mem).binop(BinaryOp::I64GtU).br_if(fail);
        out_end(seq);
        seq.local_get(mem).binop(BinaryOp::I64GtU).br_if(fail);
        // The output apart from the image and the kernel.
        type End<'a> = &'a dyn Fn(&mut walrus::InstrSeqBuilder);
        for (start, end) in [(image, &image_end as End), (kern, &kernel_end as End)] {
            out_end(seq);
            seq.local_get(start)
                .unop(UnaryOp::I64ExtendUI32)
                .binop(BinaryOp::I64LeU);
            end(seq);
            seq.local_get(out)
                .unop(UnaryOp::I64ExtendUI32)
                .binop(BinaryOp::I64LeU)
                .binop(BinaryOp::I32Or)
                .unop(UnaryOp::I32Eqz)
                .br_if(fail);
        }
        seq.local_get(image)
            .local_get(kern)
            .local_get(out)
            .local_get(h)
            .local_get(w);
        match c.bias {
            Some(b) => seq.local_get(args[b]),
            None => seq.f32_const(0.0),
        };
        seq.i32_const(c.flags()).call(kernel).return_();
    });
}
