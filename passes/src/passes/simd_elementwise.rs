//! `simd-elementwise`: rewrites elementwise loops (`axpy`, `scale`, `add`, `mul`,
//! `relu`, `clamp`, `max`, `map`) into an injected SIMD128 kernel behind a guard.
//!
//! Needs: the loop forest, the value graph of each innermost loop, induction
//! variables, affine accesses and trip counts (`analysis`), and the elementwise
//! fingerprint. Guarantees: exact. Each lane of the kernel computes what the scalar
//! iteration computed; the guard (exact trip count, enough elements, all ranges in
//! bounds, written range disjoint from read ranges or exactly in place) decides at
//! run time, and otherwise the original loop runs unchanged. The original loop also
//! always runs the final iteration, so every local and exit path is as before.

use crate::analysis::value_graph::{self, LoopBody};
use crate::analysis::LoopForest;
use crate::fingerprints::elementwise::{match_map, MapMatch};
use crate::fingerprints::NoMatch;
use crate::pass::{Changed, Pass, PassCx, PassError};
use crate::report::{Action, Finding, Tier};
use crate::rewrite::map::{build_kernel, insert_guard, GuardSpec, Kernel};
use walrus::ir::InstrSeqId;
use walrus::{FunctionId, Module};

/// The elementwise SIMD pass.
pub struct SimdElementwise;

struct Site {
    func: FunctionId,
    /// Whether the function held SIMD code before barq touched it.
    already_vectorized: bool,
    parent_seq: InstrSeqId,
    position: usize,
    body: LoopBody,
    m: MapMatch,
}

/// Prefix of every function barq injects. Its loops are never fingerprinted again.
pub const KERNEL_PREFIX: &str = "barq_";

/// The defined functions barq may rewrite: all but its own kernels.
pub fn own_functions(module: &Module) -> Vec<FunctionId> {
    module
        .funcs
        .iter_local()
        .filter(|(id, _)| {
            !module
                .funcs
                .get(*id)
                .name
                .as_deref()
                .is_some_and(|n| n.starts_with(KERNEL_PREFIX))
        })
        .map(|(id, _)| id)
        .collect()
}

/// Whether the instruction before a loop is a guard barq inserted (a block that
/// calls a barq kernel, or copies or fills in place with `v128` stores), so that
/// running barq-opt twice does not guard it twice.
fn already_guarded(
    module: &Module,
    func: &walrus::LocalFunction,
    parent: InstrSeqId,
    position: usize,
) -> bool {
    use walrus::ir::Instr;
    let Some(previous) = position.checked_sub(1) else {
        return false;
    };
    let Instr::Block(block) = &func.block(parent).instrs[previous].0 else {
        return false;
    };
    func.block(block.seq)
        .instrs
        .iter()
        .any(|(instr, _)| match instr {
            Instr::Call(call) => module
                .funcs
                .get(call.func)
                .name
                .as_deref()
                .is_some_and(|name| name.starts_with(KERNEL_PREFIX)),
            // The last 16-byte move of an in-place copy or fill
            // (`map::Kernel::InlineCopy`, `InlineFill`).
            Instr::Store(store) => matches!(store.kind, walrus::ir::StoreKind::V128),
            _ => false,
        })
}

/// Innermost loops of every defined function, with their value graphs (barq's own
/// kernels and loops barq already guarded are skipped).
pub fn innermost_loops(module: &Module) -> Vec<(FunctionId, InstrSeqId, usize, LoopBody)> {
    let mut out = Vec::new();
    for id in own_functions(module) {
        let func = module.funcs.get(id).kind.unwrap_local();
        let forest = LoopForest::build(func);
        for node in forest.graph.node_indices() {
            let info = &forest.graph[node];
            // Innermost: no loop inside the iteration (loops on the way out, in the
            // exit path of a return guard, run after it and do not count).
            let mut children = forest.children(node).peekable();
            if children.peek().is_some() {
                let after = value_graph::exit_path_sequences(func, info.body);
                if !children.all(|c| after.contains(&forest.graph[c].parent_seq)) {
                    continue;
                }
            }
            if already_guarded(module, func, info.parent_seq, info.position)
                || super::bounds_checks::is_checked_original(func, info.parent_seq, info.position)
            {
                continue;
            }
            let body = value_graph::build(module, func, info.body);
            out.push((id, info.parent_seq, info.position, body));
        }
    }
    out
}

/// Whether a function already holds SIMD code. Its scalar loops are then the
/// compiler's remainder or aliasing-fallback loops: they run only when the vector
/// loop cannot, which is when barq's guard would refuse too, so rewriting them would
/// only add code.
pub fn uses_simd(func: &walrus::LocalFunction) -> bool {
    use walrus::ir::Instr;
    instructions(func).any(|instr| match instr {
        Instr::Load(l) => matches!(l.kind, walrus::ir::LoadKind::V128),
        Instr::Store(s) => matches!(s.kind, walrus::ir::StoreKind::V128),
        Instr::LoadSimd(_)
        | Instr::V128Bitselect(_)
        | Instr::I8x16Shuffle(_)
        | Instr::I8x16Swizzle(_) => true,
        Instr::Const(c) => matches!(c.value, walrus::ir::Value::V128(_)),
        Instr::Unop(u) => is_vector_op(&format!("{:?}", u.op)),
        Instr::Binop(b) => is_vector_op(&format!("{:?}", b.op)),
        _ => false,
    })
}

/// Every instruction sequence of a function, outermost first.
pub fn sequences(func: &walrus::LocalFunction) -> Vec<InstrSeqId> {
    let entry = func.entry_block();
    std::iter::once(entry)
        .chain(crate::analysis::loops::nested_sequences(
            func,
            &func.block(entry).instrs,
        ))
        .collect()
}

/// Every instruction of a function, sequence by sequence.
pub fn instructions(func: &walrus::LocalFunction) -> impl Iterator<Item = &walrus::ir::Instr> {
    sequences(func)
        .into_iter()
        .flat_map(move |seq| func.block(seq).instrs.iter().map(|(i, _)| i))
}

/// Whether an operator name is a SIMD one (`F32x4Add`, `I8x16Shl`, `V128And`).
fn is_vector_op(name: &str) -> bool {
    name.starts_with("V128")
        || ["x2", "x4", "x8", "x16"]
            .iter()
            .any(|shape| name.contains(shape))
}

impl Pass for SimdElementwise {
    fn name(&self) -> &'static str {
        "simd-elementwise"
    }

    fn description(&self) -> &'static str {
        "elementwise loops (axpy, scale, add, mul, relu, clamp, max, map) -> guarded SIMD128 kernels (exact)"
    }

    fn run(&self, module: &mut Module, cx: &mut PassCx<'_>) -> Result<Changed, PassError> {
        let mut sites = Vec::new();
        // One scan per function, not per loop: large functions hold many loops.
        let mut vectorized: std::collections::HashMap<FunctionId, bool> = Default::default();
        for (func, parent_seq, position, mut body) in innermost_loops(module) {
            // (Loads from invariant addresses are kernel parameters here: the map
            // guard checks their bounds first and that the store misses them.)
            body.hoist_loads = true;
            match match_map(module, &body) {
                Ok(m) => sites.push(Site {
                    func,
                    already_vectorized: *vectorized
                        .entry(func)
                        .or_insert_with(|| cx.vectorized(module, func)),
                    parent_seq,
                    position,
                    body,
                    m,
                }),
                Err(NoMatch::Unrelated) => {}
                Err(NoMatch::Declined { pattern, reason }) => cx.findings.push(Finding {
                    function: cx.names.get(func).to_string(),
                    func_index: cx.func_index(func).unwrap_or(u32::MAX),
                    pattern: pattern.to_string(),
                    elem: None,
                    action: Action::Declined,
                    tier: None,
                    exact: false,
                    reason: Some(reason),
                    verified: None,
                }),
            }
        }
        // Insert from the last position backwards so earlier positions stay valid.
        sites.sort_by_key(|s| (s.func, std::cmp::Reverse(s.position)));
        let mut changed = Changed::nothing();
        for (serial, site) in sites.into_iter().enumerate() {
            let mut finding = Finding {
                function: cx.names.get(site.func).to_string(),
                func_index: cx.func_index(site.func).unwrap_or(u32::MAX),
                pattern: site.m.pattern.to_string(),
                elem: Some(site.m.elem),
                action: Action::Detected,
                tier: None,
                exact: true,
                reason: None,
                verified: None,
            };
            let refusal = cx
                .dropped(site.func)
                .or_else(|| super::simd_refusal(cx.options, site.already_vectorized))
                .or_else(|| super::bulk_memory::wide_copy(site.m.pattern, site.m.stride))
                .map(str::to_string)
                .or_else(|| {
                    super::too_short(
                        module.funcs.get(site.func).kind.unwrap_local(),
                        site.parent_seq,
                        site.position,
                        &site.body,
                        &site.m.trip,
                        site.m.unroll,
                        site.m.min_elements(),
                    )
                });
            // The native target calls a host kernel when one computes this loop, and
            // falls back to SIMD128 (unless --no-simd) when none does.
            let native = super::native_choice(cx.options, module, site.m.memory, || {
                crate::rewrite::native::map_kernel(&site.body, &site.m)
            });
            let refusal = refusal.or_else(|| native.as_ref().err().map(|r| r.to_string()));
            let native = native.ok().flatten();
            match refusal {
                Some(reason) => finding.reason = Some(reason),
                None if !cx.allow_rewrite() => {
                    finding.reason = Some("bisect limit reached".to_string())
                }
                None => {
                    let kernel = match &native {
                        // Short loops run the portable kernel (when SIMD128 is
                        // allowed): a host call per row of a loop nest cost more
                        // than it saved (attention's 64-element rows: 2.06 ms
                        // against the original's 1.91).
                        Some((name, params)) if cx.options.allow_simd => {
                            let call = crate::rewrite::native::import(module, name, params, &[]);
                            let portable = build_kernel(module, &site.body, &site.m, serial);
                            crate::rewrite::native::by_length(
                                module,
                                call,
                                portable,
                                crate::rewrite::native::NATIVE_MIN_ELEMENTS,
                                serial,
                            )
                        }
                        Some((name, params)) => {
                            crate::rewrite::native::import(module, name, params, &[])
                        }
                        None => build_kernel(module, &site.body, &site.m, serial),
                    };
                    insert_guard(
                        module,
                        site.func,
                        site.parent_seq,
                        site.position,
                        &site.body,
                        &GuardSpec::of_map(&site.m),
                        Kernel::Call(kernel),
                    );
                    finding.action = Action::Rewritten;
                    finding.reason = Some(format!("shape {}", site.m.shape));
                    if !changed.functions.contains(&site.func) {
                        changed.functions.push(site.func);
                    }
                    if let Some((name, _)) = &native {
                        finding.tier = Some(Tier::Native);
                        finding.reason = Some(if cx.options.allow_simd {
                            // (The wrapper choosing by length is a new function.)
                            changed.functions.push(kernel);
                            format!(
                                "shape {}; calls barq::{name} from {} elements on, SIMD128 below",
                                site.m.shape,
                                crate::rewrite::native::NATIVE_MIN_ELEMENTS
                            )
                        } else {
                            format!("shape {}; calls barq::{name}", site.m.shape)
                        });
                    } else {
                        finding.tier = Some(Tier::Simd128);
                        changed.functions.push(kernel);
                    }
                }
            }
            cx.findings.push(finding);
        }
        Ok(changed)
    }
}
