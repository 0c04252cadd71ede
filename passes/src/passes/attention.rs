//! `attention`: under `--fast-math`, a function identified by probing as
//! single-head scaled dot-product attention (`fingerprints::attention`) gets a
//! guard at its entry that calls an attention kernel and returns; the original
//! body follows as the fallback. The kernel is the runner's
//! `barq::attention_f32_v1` under `--target native` and the module's own SIMD128
//! function (`rewrite::attention`, an online softmax) under `--target portable`.
//!
//! Needs: a prober and `--fast-math` (the function's own `exp` and summation order
//! are not kept); without them nothing happens. The guard calls the kernel only
//! when `1 <= n, m, d <= 2^24` (and `m >= n` for a causal mask), the four arrays
//! lie inside memory (computed in i64) and the output overlaps none of the inputs. Otherwise the original body
//! runs: traps and partial writes are its own.

use crate::fingerprints::attention::{self, Attention, Identified, Scale};
use crate::pass::{Changed, Pass, PassCx, PassError};
use crate::report::{Elem, Tier};
use crate::rewrite::map::emit_memory_bytes;
use crate::rewrite::native;
use walrus::ir::{BinaryOp, UnaryOp};
use walrus::{FunctionId, InstrSeqBuilder, LocalId, Module, ValType};

/// The attention pass.
pub struct AttentionPass;

/// The native kernel's import name.
pub const KERNEL: &str = "attention_f32_v1";

/// The kernels' flag: query `i` sees keys `j <= i + m - n` only.
pub const CAUSAL: i32 = 1;

/// The largest count the guard lets through (so that every byte count fits).
const MAX_COUNT: i32 = 1 << 24;

impl Pass for AttentionPass {
    fn name(&self) -> &'static str {
        "attention"
    }

    fn description(&self) -> &'static str {
        "functions computing scaled dot-product attention (f32, identified by probing) -> an online softmax in SIMD128 or the runner's kernel, --fast-math only"
    }

    fn run(&self, module: &mut Module, cx: &mut PassCx<'_>) -> Result<Changed, PassError> {
        if !cx.options.fast_math {
            return Ok(Changed::nothing());
        }
        Ok(super::run_whole_function_tiered(
            module,
            cx,
            super::OnPortable::Rewrite,
            attention::prefilter,
            |_, index, params, probe, _| {
                let Identified { attention: a, runs } = attention::identify(params, index, probe)?;
                let keys = match (a.m.is_some(), a.causal) {
                    (true, false) => "m keys",
                    (false, false) => "n keys",
                    (true, true) => "m keys, causal (key j <= i + m - n)",
                    (false, true) => "n keys, causal (key j <= i)",
                };
                let scale = match a.scale {
                    Scale::Param(_) => "a parameter",
                    Scale::InvSqrtD => "1/sqrt(d)",
                    Scale::One => "1",
                };
                Some(super::Identified {
                    detected: None,
                    matched: a,
                    pattern: "attention",
                    elem: Some(Elem::F32),
                    exact: false,
                    reason: format!(
                        "identified by probing ({runs} runs): out = softmax(Q K^T * scale) V, n queries, {keys}, width d, scale {scale}; --fast-math: exp by a polynomial, sums in any order, FMA: each output within 2^-24 (4 (d + 2) S + 3 m + 32) W of the exact one (S the largest |score| term sum, W the weighted |V|)"
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
    a: &Attention,
    tier: Tier,
) {
    let kernel = match tier {
        Tier::Native => native::import(module, KERNEL, &crate::rewrite::attention::PARAMS, &[]),
        _ => crate::rewrite::attention::kernel(module, memory),
    };
    let mem = module.locals.add(ValType::I64);
    native::insert_entry_block(module, func, |guard, fail, args| {
        let (q, k, v, out) = (args[a.q], args[a.k], args[a.v], args[a.out]);
        let (n, d) = (args[a.n], args[a.d]);
        let m = a.m.map_or(n, |m| args[m]);
        emit_guard(guard, fail, (memory, mem), [q, k, v, out], [n, m, d]);
        if a.causal {
            guard
                .local_get(m)
                .local_get(n)
                .binop(BinaryOp::I32LtU)
                .br_if(fail);
        }
        guard
            .local_get(q)
            .local_get(k)
            .local_get(v)
            .local_get(out)
            .local_get(n)
            .local_get(m)
            .local_get(d);
        match a.scale {
            Scale::Param(p) => {
                guard.local_get(args[p]);
            }
            Scale::InvSqrtD => {
                guard
                    .f32_const(1.0)
                    .local_get(d)
                    .unop(UnaryOp::F32ConvertSI32)
                    .unop(UnaryOp::F32Sqrt)
                    .binop(BinaryOp::F32Div);
            }
            Scale::One => {
                guard.f32_const(1.0);
            }
        }
        guard
            .i32_const(if a.causal { CAUSAL } else { 0 })
            .call(kernel)
            .return_();
    });
}

/// `base + 4 rows d` as an i64.
fn end(seq: &mut InstrSeqBuilder, base: LocalId, rows: LocalId, d: LocalId) {
    seq.local_get(base)
        .unop(UnaryOp::I64ExtendUI32)
        .local_get(rows)
        .unop(UnaryOp::I64ExtendUI32)
        .local_get(d)
        .unop(UnaryOp::I64ExtendUI32)
        .binop(BinaryOp::I64Mul)
        .i64_const(4)
        .binop(BinaryOp::I64Mul)
        .binop(BinaryOp::I64Add);
}

/// Leaves `fail` unless the kernel may run.
fn emit_guard(
    seq: &mut InstrSeqBuilder,
    fail: walrus::ir::InstrSeqId,
    (memory, mem): (walrus::MemoryId, LocalId),
    [q, k, v, out]: [LocalId; 4],
    [n, m, d]: [LocalId; 3],
) {
    // 1 <= count <= 2^24, as (count - 1) <u 2^24.
    for count in [n, m, d] {
        seq.local_get(count)
            .i32_const(1)
            .binop(BinaryOp::I32Sub)
            .i32_const(MAX_COUNT)
            .binop(BinaryOp::I32GeU)
            .br_if(fail);
    }
    emit_memory_bytes(memory, mem, seq);
    for (base, rows) in [(q, n), (k, m), (v, m), (out, n)] {
        end(seq, base, rows, d);
        seq.local_get(mem).binop(BinaryOp::I64GtU).br_if(fail);
    }
    for (input, rows) in [(q, n), (k, m), (v, m)] {
        native::emit_apart(
            seq,
            fail,
            (out, &|seq| end(seq, out, n, d)),
            (input, &|seq| end(seq, input, rows, d)),
        );
    }
}
