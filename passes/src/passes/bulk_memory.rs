//! `bulk-memory`: rewrites copy and fill loops (`memcpy`, `memset`, over 1-, 2-, 4-
//! and 8-byte elements, forward or backward) into one guarded `memory.copy` or
//! `memory.fill`.
//!
//! Needs: the loop forest, the value graph of each innermost loop, induction
//! variables, affine accesses and trip counts (`analysis`), and the copy/fill
//! fingerprint. Guarantees: exact. The guard (exact trip count, at least
//! [`MIN_ELEMENTS`] elements, every range in bounds, no overlap that would make the loop
//! differ from `memmove`, a 16-bit fill value that repeats one byte) decides at run
//! time; otherwise the original loop runs unchanged. The original loop always runs
//! the final iteration, so every local and exit path is as before.
//!
//! A copy or fill loop nested inside another loop (a decoder's literal and match
//! copies) is done in place instead, under SIMD128, with 16-byte `v128` moves (a
//! copy only when source and destination are apart; `map::Kernel::InlineCopy`,
//! `InlineFill`): a call there, even one never taken, made Cranelift keep the
//! outer loop's values out of the registers a call clobbers, and corpus/c/lz4.c
//! ran 5-8% slower than the original with it (README, "Copy and fill loops").
//!
//! Runs before `simd-elementwise`, which skips loops this pass guarded. Wide fills
//! whose value is not a repeated byte are left to it (SIMD128 stores any value).

use super::simd_elementwise::innermost_loops;
use crate::analysis::LoopForest;
use crate::fingerprints::bytes::{match_copy_fill, CopyMatch, Fill};
use crate::fingerprints::types::node_type;
use crate::fingerprints::NoMatch;
use crate::pass::{Changed, Pass, PassCx, PassError};
use crate::report::{Action, Finding, Tier};
use crate::rewrite::bulk::build_kernel;
use crate::rewrite::map::{insert_guard, GuardSpec, Kernel};

/// The fewest elements a loop must copy or fill before `memory.copy` /
/// `memory.fill` replaces it. Measured (benches/bulk.rs, bench/bulk.mjs; README,
/// "Copy and fill loops"): a bare `memory.copy` costs about what a loop of 16-24
/// elements does in Wasmtime (a call into the host's memmove) and 12-16 in V8,
/// whatever the element width, since clang's loops move one element per step; with
/// the guard's own cost, 24 elements is where barq's output stops losing in both.
pub const MIN_ELEMENTS: i64 = 24;

// The in-place moves (`map::Kernel::InlineCopy`, `InlineFill`) write one 16-byte
// chunk ending at the last byte: they need at least 16 bytes.
const _: () = assert!(MIN_ELEMENTS >= 16);

/// Copy loops that move this many bytes per iteration or more are left alone
/// (see [`wide_copy`]).
pub const WIDE_COPY_BYTES: u64 = 32;

/// Why a copy loop moving `stride` bytes per iteration stays as it is, if it
/// does: at [`WIDE_COPY_BYTES`] or more (four 8-byte moves a step) the loop is
/// as wide as scalar code gets and `memory.copy` (or SIMD128) gains least even
/// on long copies, while in hot code with short copies the guard and the kernel
/// call (a call clobbers registers: values live across it spill) cost more than
/// they save. Measured on zstd's "wildcopy" (32 bytes a step, inlined 30 times
/// into its sequence decoder, mostly one or two steps long): rewriting those
/// loops made @bokuweb/zstd-wasm's decompression 15% slower in Wasmtime (`cargo
/// bench --bench zstd`), by either pass, and a cheaper guard did not help;
/// leaving them made it even again. (16 bytes a step would also decline
/// clang -O2's `copy_u32`, 3.8x faster as `memory.copy` on 64 KiB.)
pub fn wide_copy(pattern: &str, stride: i64) -> Option<&'static str> {
    (pattern == "memcpy" && stride.unsigned_abs() >= WIDE_COPY_BYTES).then_some(
        "copies 32 bytes or more per iteration already: in hot code, short copies would pay for the guard and call",
    )
}

/// The bulk-memory pass.
pub struct BulkMemory;

impl Pass for BulkMemory {
    fn name(&self) -> &'static str {
        "bulk-memory"
    }

    fn description(&self) -> &'static str {
        "copy and fill loops (memcpy, memset, any element width, either direction) -> guarded memory.copy / memory.fill (exact)"
    }

    fn run(&self, module: &mut walrus::Module, cx: &mut PassCx<'_>) -> Result<Changed, PassError> {
        let mut sites = Vec::new();
        let mut vectorized: std::collections::HashMap<walrus::FunctionId, bool> =
            Default::default();
        // Per function: the loops nested in another loop, by position.
        let mut nested_loops: std::collections::HashMap<
            walrus::FunctionId,
            std::collections::HashSet<(walrus::ir::InstrSeqId, usize)>,
        > = Default::default();
        for (func, parent_seq, position, body) in innermost_loops(module) {
            let finding = |pattern: &str, elem, action, reason: String| Finding {
                function: cx.names.get(func).to_string(),
                func_index: cx.func_index(func).unwrap_or(u32::MAX),
                pattern: pattern.to_string(),
                elem,
                action,
                tier: None,
                exact: true,
                reason: Some(reason),
                verified: None,
            };
            let m: CopyMatch = match match_copy_fill(&body) {
                Ok(m) => m,
                Err(NoMatch::Unrelated) => continue,
                Err(NoMatch::Declined { pattern, reason }) => {
                    let mut f = finding(pattern, None, Action::Declined, reason);
                    f.exact = false;
                    cx.findings.push(f);
                    continue;
                }
            };
            let narrow = m.width < 4;
            let detected = |reason: &str| {
                finding(
                    m.pattern,
                    Some(m.elem),
                    Action::Detected,
                    reason.to_string(),
                )
            };
            if !cx.options.allow_bulk_memory {
                // Wide copies and fills are then SIMD maps (simd-elementwise).
                if narrow {
                    cx.findings
                        .push(detected("target does not allow bulk memory"));
                }
                continue;
            }
            let local = module.funcs.get(func).kind.unwrap_local();
            let already = *vectorized
                .entry(func)
                .or_insert_with(|| cx.vectorized(module, func));
            let nested = nested_loops
                .entry(func)
                .or_insert_with(|| {
                    LoopForest::build(local)
                        .graph
                        .node_weights()
                        .filter(|l| l.depth > 0)
                        .map(|l| (l.parent_seq, l.position))
                        .collect()
                })
                .contains(&(parent_seq, position));
            let refusal = if let Some(reason) = cx.dropped(func) {
                Some(reason.to_string())
            } else if !cx.options.opt_level.rewrites() {
                Some("rewrites disabled at -O0".to_string())
            } else if already {
                Some(
                    "function already vectorized by the compiler (scalar remainder or fallback loop)"
                        .to_string(),
                )
            } else if let Some(reason) = wide_copy(m.pattern, m.stride) {
                Some(reason.to_string())
            } else {
                let min_elements = MIN_ELEMENTS;
                super::too_short(
                    local,
                    parent_seq,
                    position,
                    &body,
                    &m.trip,
                    m.unroll,
                    min_elements,
                )
            };
            if let Some(reason) = refusal {
                // A wide loop left here is simd-elementwise's to rewrite or report
                // (the reasons are the same there), so that no loop is listed twice.
                if narrow {
                    cx.findings.push(detected(&reason));
                }
                continue;
            }
            let bisected = detected("bisect limit reached");
            if !cx.allow_rewrite() {
                cx.findings.push(bisected);
                continue;
            }
            sites.push((func, parent_seq, position, body, m, nested));
        }
        // Insert from the last position backwards so earlier positions stay valid.
        sites.sort_by_key(|(func, _, position, _, _, _)| (*func, std::cmp::Reverse(*position)));
        let mut changed = Changed::nothing();
        for (serial, (func, parent_seq, position, body, m, nested)) in sites.into_iter().enumerate()
        {
            let (fill_node, repeated_byte) = match m.fill {
                Fill::Value { node, check_bytes } => (Some(node), check_bytes.then_some(node)),
                _ => (None, None),
            };
            let fill_type = fill_node.and_then(|n| node_type(module, &body, n));
            if repeated_byte.is_some() && fill_type != Some(walrus::ValType::I32) {
                // (The run-time check is written for i32 values: an i64.store16
                // fill with a variable value stays a loop.)
                continue;
            }
            // A copy or fill inside another loop moves in place with SIMD128 (see
            // `map::Kernel::InlineCopy`): a call there costs the outer loop its
            // registers. Other loops call memory.copy / memory.fill, whose host
            // loops are faster on long runs.
            let inline = nested && cx.options.allow_simd && !matches!(m.fill, Fill::Smear(_));
            let kernel = match (&m.fill, inline) {
                (Fill::Copy(_), true) => Kernel::InlineCopy { width: m.width },
                (Fill::Value { .. }, true) => Kernel::InlineFill {
                    width: m.width,
                    value: fill_type.unwrap_or(walrus::ValType::I32),
                },
                // (A smear nested in a loop keeps its call: none in the corpus.)
                _ => Kernel::Call(build_kernel(module, &m, fill_type, serial)),
            };
            let reads: Vec<_> = match &m.fill {
                Fill::Copy(source) | Fill::Smear(source) => vec![source],
                Fill::Value { .. } => Vec::new(),
            };
            let invariants: Vec<_> = fill_node
                .into_iter()
                .map(|n| (n, fill_type.unwrap_or(walrus::ValType::I32)))
                .collect();
            let spec = GuardSpec {
                trip: &m.trip,
                stride: m.stride,
                unroll: m.unroll,
                memory: m.memory,
                steps: &m.steps,
                written: Some(&m.store),
                reads,
                read_strides: Vec::new(),
                invariants: &invariants,
                accumulators: Vec::new(),
                seeded: false,
                overlap: m.overlap,
                min_elements: MIN_ELEMENTS,
                repeated_byte,
                normalized: None,
                same_element: None,
            };
            insert_guard(module, func, parent_seq, position, &body, &spec, kernel);
            cx.findings.push(Finding {
                function: cx.names.get(func).to_string(),
                func_index: cx.func_index(func).unwrap_or(u32::MAX),
                pattern: m.pattern.to_string(),
                elem: Some(m.elem),
                action: Action::Rewritten,
                tier: Some(if inline {
                    Tier::Simd128
                } else {
                    Tier::BulkMemory
                }),
                exact: true,
                reason: Some(if inline {
                    format!(
                        "shape {}; inside a loop nest: 16-byte moves in place, no call",
                        m.shape
                    )
                } else {
                    format!("shape {}", m.shape)
                }),
                verified: None,
            });
            if !changed.functions.contains(&func) {
                changed.functions.push(func);
            }
            if let Kernel::Call(kernel) = kernel {
                changed.functions.push(kernel);
            }
        }
        Ok(changed)
    }
}
