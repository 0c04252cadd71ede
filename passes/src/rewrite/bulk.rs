//! The fast path of copy and fill loops: one `memory.copy` or `memory.fill`.
//!
//! The kernel takes the lowest written address, then the lowest read address (a
//! copy or smear) or the fill value, then the element count, and touches exactly
//! the bytes the loop's iterations would have touched. `memory.copy` is `memmove`;
//! the guard has already made sure the loop computes the same (see
//! `fingerprints::bytes`). Both instructions trap before writing anything when a
//! range is out of bounds, but the guard never calls the kernel then.

use crate::fingerprints::bytes::{CopyMatch, Fill};
use walrus::ir::{BinaryOp, LoadKind, MemArg, UnaryOp};
use walrus::{FunctionBuilder, FunctionId, InstrSeqBuilder, Module, ValType};

/// Builds the kernel function for one match; returns it.
pub fn build_kernel(
    module: &mut Module,
    m: &CopyMatch,
    fill_type: Option<ValType>,
    serial: usize,
) -> FunctionId {
    let second = match &m.fill {
        Fill::Value { .. } => fill_type.unwrap_or(ValType::I32),
        Fill::Copy(_) | Fill::Smear(_) => ValType::I32,
    };
    let params = [ValType::I32, second, ValType::I32];
    let mut builder = FunctionBuilder::new(&mut module.types, &params, &[]);
    let kind = match m.fill {
        Fill::Copy(_) => "copy",
        Fill::Value { .. } => "fill",
        Fill::Smear(_) => "smear",
    };
    builder.name(format!("barq_{kind}_w{}_{serial}", m.width));
    let args: Vec<_> = params.iter().map(|ty| module.locals.add(*ty)).collect();
    let (dst, value, count) = (args[0], args[1], args[2]);
    let mut body = builder.func_body();
    body.local_get(dst);
    match &m.fill {
        Fill::Copy(_) => {
            body.local_get(value);
        }
        Fill::Smear(_) => {
            body.local_get(value).load(
                m.memory,
                LoadKind::I32_8 {
                    kind: walrus::ir::ExtendedLoad::ZeroExtend,
                },
                MemArg {
                    align: 1,
                    offset: 0,
                },
            );
        }
        Fill::Value { .. } => {
            // memory.fill writes the low byte of an i32.
            body.local_get(value);
            low_bits_as_i32(&mut body, second);
        }
    }
    body.local_get(count);
    if m.width > 1 {
        body.i32_const(m.width as i32).binop(BinaryOp::I32Mul);
    }
    match &m.fill {
        Fill::Copy(_) => body.memory_copy(m.memory, m.memory),
        Fill::Value { .. } | Fill::Smear(_) => body.memory_fill(m.memory),
    };
    builder.finish(args, &mut module.funcs)
}

/// Turns the value of type `ty` on the stack into an i32 holding its low 32 bits
/// (what `memory.fill` and `i8x16.splat` take their byte from).
pub(crate) fn low_bits_as_i32(seq: &mut InstrSeqBuilder, ty: ValType) {
    match ty {
        ValType::I64 => {
            seq.unop(UnaryOp::I32WrapI64);
        }
        ValType::F32 => {
            seq.unop(UnaryOp::I32ReinterpretF32);
        }
        ValType::F64 => {
            seq.unop(UnaryOp::I64ReinterpretF64)
                .unop(UnaryOp::I32WrapI64);
        }
        _ => {}
    }
}
