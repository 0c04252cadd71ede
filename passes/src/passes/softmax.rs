//! `softmax`: under `--fast-math`, a function identified by probing as a softmax
//! (`fingerprints::softmax`) gets a guard at its entry that calls a softmax kernel
//! and returns; the original body follows as the fallback. The kernel is the
//! runner's `barq::softmax_f32_v1` under `--target native` and the module's own
//! SIMD128 function (`rewrite::softmax`) under `--target portable`; both compute
//! `exp` by a polynomial and sum in any order, within the bound the report states.
//!
//! Needs: a prober and `--fast-math` (the function's own `exp` and summation order
//! are not kept); without them nothing happens. The guard calls the kernel only
//! when `n >= MIN_LEN`, both arrays lie inside memory (computed in i64, so no
//! address of the original wrapped), and the destination is the source or apart
//! from it. Otherwise the original body runs: traps and partial writes are its own.

use crate::fingerprints::softmax::{self, Identified, Softmax};
use crate::pass::{Changed, Pass, PassCx, PassError};
use crate::report::{Elem, Tier};
use crate::rewrite::map::emit_memory_bytes;
use crate::rewrite::native;
use walrus::ir::{BinaryOp, UnaryOp};
use walrus::{FunctionId, InstrSeqBuilder, LocalId, Module, ValType};

/// The softmax pass.
pub struct SoftmaxPass;

/// Below this many elements the original runs (the kernel's setup is not worth it,
/// and its first vector load needs four).
pub const MIN_LEN: i32 = 16;

/// The native kernel's import name.
pub const KERNEL: &str = "softmax_f32_v1";

impl Pass for SoftmaxPass {
    fn name(&self) -> &'static str {
        "softmax"
    }

    fn description(&self) -> &'static str {
        "functions computing a softmax (f32, identified by probing) -> a vectorized exp and sum, --fast-math only"
    }

    fn run(&self, module: &mut Module, cx: &mut PassCx<'_>) -> Result<Changed, PassError> {
        if !cx.options.fast_math {
            return Ok(Changed::nothing());
        }
        Ok(super::run_whole_function_tiered(
            module,
            cx,
            super::OnPortable::Rewrite,
            softmax::prefilter,
            |_, index, params, probe, _| {
                let Identified { softmax: s, runs } =
                    softmax::identify(params.len(), index, probe)?;
                let form = if s.y.is_some() {
                    "y = softmax(x)"
                } else {
                    "x = softmax(x) in place"
                };
                Some(super::Identified {
                    detected: None,
                    matched: s,
                    pattern: "softmax",
                    elem: Some(Elem::F32),
                    exact: false,
                    reason: format!(
                        "identified by probing ({runs} runs): {form}; --fast-math: exp by a degree-7 polynomial (4 ulp), sum in any order: each output within (n + 16) 2^-24 relative of the exact softmax"
                    ),
                })
            },
            insert_call,
        ))
    }
}

/// Puts `block { guard; call kernel; return }` in front of the function's body.
fn insert_call(
    module: &mut Module,
    func: FunctionId,
    memory: walrus::MemoryId,
    s: &Softmax,
    tier: Tier,
) {
    let kernel = match tier {
        Tier::Native => native::import(module, KERNEL, &[ValType::I32; 3], &[]),
        _ => crate::rewrite::softmax::kernel(module, memory),
    };
    let mem = module.locals.add(ValType::I64);
    native::insert_entry_block(module, func, |guard, fail, args| {
        let (x, n) = (args[s.x], args[s.n]);
        let y = s.y.map_or(x, |y| args[y]);
        emit_guard(guard, fail, memory, mem, x, y, n);
        guard
            .local_get(x)
            .local_get(y)
            .local_get(n)
            .call(kernel)
            .return_();
    });
}

/// `base + 4 n` as an i64.
fn end(seq: &mut InstrSeqBuilder, base: LocalId, n: LocalId) {
    seq.local_get(base)
        .unop(UnaryOp::I64ExtendUI32)
        .local_get(n)
        .unop(UnaryOp::I64ExtendUI32)
        .i64_const(4)
        .binop(BinaryOp::I64Mul)
        .binop(BinaryOp::I64Add);
}

/// Leaves `fail` unless the kernel may run.
fn emit_guard(
    seq: &mut InstrSeqBuilder,
    fail: walrus::ir::InstrSeqId,
    memory: walrus::MemoryId,
    mem: LocalId,
    x: LocalId,
    y: LocalId,
    n: LocalId,
) {
    seq.local_get(n)
        .i32_const(MIN_LEN)
        .binop(BinaryOp::I32LtS)
        .br_if(fail);
    emit_memory_bytes(memory, mem, seq);
    for base in [x, y] {
        end(seq, base, n);
        seq.local_get(mem).binop(BinaryOp::I64GtU).br_if(fail);
    }
    // y == x, or end(y) <= x, or end(x) <= y.
    seq.local_get(x).local_get(y).binop(BinaryOp::I32Ne);
    end(seq, y, n);
    seq.local_get(x)
        .unop(UnaryOp::I64ExtendUI32)
        .binop(BinaryOp::I64GtU);
    end(seq, x, n);
    seq.local_get(y)
        .unop(UnaryOp::I64ExtendUI32)
        .binop(BinaryOp::I64GtU)
        .binop(BinaryOp::I32And)
        .binop(BinaryOp::I32And)
        .br_if(fail);
}
