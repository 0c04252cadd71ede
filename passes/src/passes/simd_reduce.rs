//! `simd-reduce`: rewrites sum-like loops (`dot`, `sum`, `sum_squares`, `l2_norm`,
//! `cosine`) into a SIMD128 kernel that returns each accumulator's sum, behind the
//! same guard as `simd-elementwise`; the guard adds the kernel's sums into the
//! accumulators. With `--target native`, a dot product calls a `barq` host kernel.
//! Running minimums and maximums (`reduce_min`, `reduce_max`: `if (x[i] > m) m = x[i]`) take the
//! same path with a kernel that returns the final value (exact; see
//! [`match_extremum`]).
//!
//! Needs: the loop analyses and the reduction fingerprint. Guarantees: integer sums
//! (wrapping `add`, widening 8/16-bit terms included) are exact in any order and are
//! rewritten by default; so are interleaved partial sums (`acc_j += f(x[i + j])`),
//! whose lanes keep each accumulator's order, float or not. Other float sums change
//! their summation order, so they are rewritten only under `--fast-math` and
//! reported `exact: false`; without it they are `detected`, reason
//! `needs --fast-math`.

use super::simd_elementwise::innermost_loops;
use crate::fingerprints::reduction::{match_extremum, match_reduction, plan, PlanError};
use crate::fingerprints::types::Lanes;
use crate::fingerprints::NoMatch;
use crate::pass::{Changed, Pass, PassCx, PassError};
use crate::report::{Action, Finding, Tier};
use crate::rewrite::map::{insert_guard, GuardSpec, Kernel};
use crate::rewrite::reduce::build_kernel;
use walrus::{Module, ValType};

/// The reduction pass.
pub struct SimdReduce;

impl Pass for SimdReduce {
    fn name(&self) -> &'static str {
        "simd-reduce"
    }

    fn description(&self) -> &'static str {
        "sum/dot/sum_squares/l2_norm/cosine/min/max loops -> guarded SIMD128 kernels (integers, min/max and interleaved partial sums exact; other float sums only with --fast-math)"
    }

    fn run(&self, module: &mut Module, cx: &mut PassCx<'_>) -> Result<Changed, PassError> {
        let first_finding = cx.findings.len();
        let mut sites = Vec::new();
        // One scan per function, not per loop: large functions hold many loops.
        let mut vectorized: std::collections::HashMap<walrus::FunctionId, bool> =
            Default::default();
        for (func, parent_seq, position, mut body) in innermost_loops(module) {
            // (Loads from invariant addresses, an AssemblyScript array's
            // `dataStart` and length or a C struct's fields, are kernel
            // parameters: the guard checks each inside memory first.)
            body.hoist_loads = true;
            let finding = |pattern: &str, elem, action, exact, reason: String| Finding {
                function: cx.names.get(func).to_string(),
                func_index: cx.func_index(func).unwrap_or(u32::MAX),
                pattern: pattern.to_string(),
                elem,
                action,
                tier: None,
                exact,
                reason: Some(reason),
                verified: None,
            };
            let matched = match match_reduction(module, &body) {
                Err(NoMatch::Unrelated) => match_extremum(&body),
                other => other,
            };
            let mut r = match matched {
                Ok(r) => r,
                Err(NoMatch::Unrelated) => continue,
                Err(NoMatch::Declined { pattern, reason }) => {
                    cx.findings
                        .push(finding(pattern, None, Action::Declined, false, reason));
                    continue;
                }
            };
            if r.pattern == "sum_squares"
                && r.accumulators.len() == 1
                && feeds_sqrt(
                    module.funcs.get(func).kind.unwrap_local(),
                    &holders(&body, r.accumulators[0].local),
                )
            {
                r.pattern = "l2_norm";
            }
            let detected = |reason: &str| {
                finding(
                    r.pattern,
                    r.elem,
                    Action::Detected,
                    r.exact,
                    reason.to_string(),
                )
            };
            if !r.exact && !cx.options.fast_math {
                cx.findings.push(detected("needs --fast-math"));
                continue;
            }
            let already = *vectorized
                .entry(func)
                .or_insert_with(|| cx.vectorized(module, func));
            let refusal = cx
                .dropped(func)
                .or_else(|| super::simd_refusal(cx.options, already));
            if let Some(reason) = refusal {
                cx.findings.push(detected(reason));
                continue;
            }
            match plan(module, &body, &r) {
                Ok(p) if r.index.is_some() && p.elem_bytes != p.lanes.width() => {
                    cx.findings.push(detected(
                        "an index of the extreme of 8- or 16-bit elements is not implemented yet",
                    ))
                }
                Ok(p) => {
                    let local = module.funcs.get(func).kind.unwrap_local();
                    let native = super::native_choice(cx.options, module, p.memory, || {
                        crate::rewrite::native::reduction_kernel(&body, &p, r.pattern)
                    });
                    let short = super::too_short(
                        local,
                        parent_seq,
                        position,
                        &body,
                        &p.trip,
                        p.unroll,
                        crate::rewrite::map::MIN_ELEMENTS,
                    );
                    match (short, native) {
                        (Some(reason), _) => cx.findings.push(detected(&reason)),
                        (None, Err(reason)) => cx.findings.push(detected(reason)),
                        (None, Ok(native)) => {
                            sites.push((func, parent_seq, position, body, r, p, native))
                        }
                    }
                }
                Err(PlanError::NotYet(reason)) => cx.findings.push(detected(&reason)),
                Err(PlanError::RuledOut(reason)) => {
                    cx.findings
                        .push(finding(r.pattern, r.elem, Action::Declined, false, reason))
                }
            }
        }
        // Insert from the last position backwards so earlier positions stay valid.
        sites.sort_by_key(|s| (s.0, std::cmp::Reverse(s.2)));
        let mut changed = Changed::nothing();
        for (serial, (func, parent_seq, position, body, r, p, native)) in
            sites.into_iter().enumerate()
        {
            let mut finding = Finding {
                function: cx.names.get(func).to_string(),
                func_index: cx.func_index(func).unwrap_or(u32::MAX),
                pattern: r.pattern.to_string(),
                elem: r.elem,
                action: Action::Detected,
                tier: None,
                exact: r.exact,
                reason: Some("bisect limit reached".to_string()),
                verified: None,
            };
            if cx.allow_rewrite() {
                let argmax = match (&r.index, p.extremum) {
                    (Some(index), Some(crate::fingerprints::reduction::Extremum::Select(op))) => {
                        Some((index.clone(), op))
                    }
                    _ => None,
                };
                let kernel = match &native {
                    _ if argmax.is_some() => {
                        let (index, compare) = argmax.clone().expect("checked");
                        crate::rewrite::reduce::build_argmax_kernel(
                            module,
                            &body,
                            &p,
                            compare,
                            index.reload,
                            r.pattern,
                            serial,
                        )
                    }
                    // Short reductions run the portable kernel (when SIMD128 is allowed):
                    // the host call would cost more than it saves.
                    Some(k) if cx.options.allow_simd => {
                        let call = crate::rewrite::native::reduction_call(module, k, serial);
                        let portable = build_kernel(module, &body, &p, r.pattern, serial);
                        crate::rewrite::native::by_length(
                            module,
                            call,
                            portable,
                            crate::rewrite::native::NATIVE_MIN_ELEMENTS,
                            serial,
                        )
                    }
                    Some(k) => crate::rewrite::native::reduction_call(module, k, serial),
                    None => build_kernel(module, &body, &p, r.pattern, serial),
                };
                let ty = match p.lanes {
                    Lanes::F32x4 => ValType::F32,
                    Lanes::I32x4 => ValType::I32,
                    Lanes::F64x2 => ValType::F64,
                    Lanes::I64x2 => ValType::I64,
                };
                let reads: Vec<_> = p.loads.iter().map(|l| &l.access).collect();
                // (An index-of-extreme kernel also takes the first element's index,
                // and returns the index beside the extreme.)
                let mut invariants = p.invariants.clone();
                let mut accumulators: Vec<_> = p
                    .accumulators
                    .iter()
                    .map(|(local, op, _)| (*local, *op, ty))
                    .collect();
                let mut same_element = None;
                if let Some((index, _)) = &argmax {
                    invariants.push((index.first, ValType::I32));
                    let k = (index.local, walrus::ir::BinaryOp::I32Add, ValType::I32);
                    match index.reload {
                        // (The extreme is re-read, not carried: the kernel reads it
                        // at the running index and returns the index only.)
                        Some(reload) => {
                            invariants.push((reload.addr, ValType::I32));
                            accumulators = vec![k];
                            let w = reload.width as i32;
                            same_element = Some(crate::rewrite::map::SameElement {
                                element: reload.element,
                                reload: (reload.addr, reload.offset),
                                shift: vec![(index.first, w), (body.phis[&index.local], -w)],
                            });
                        }
                        None => accumulators.push(k),
                    }
                }
                let spec = GuardSpec {
                    trip: &p.trip,
                    stride: p.stride,
                    unroll: p.unroll,
                    memory: p.memory,
                    steps: &p.steps,
                    written: None,
                    reads,
                    read_strides: Vec::new(),
                    invariants: &invariants,
                    accumulators,
                    seeded: p.interleaved || p.extremum.is_some(),
                    overlap: crate::fingerprints::bytes::Overlap::Disjoint,
                    min_elements: crate::rewrite::map::MIN_ELEMENTS,
                    repeated_byte: None,
                    normalized: r
                        .normalize
                        .map(|how| (body.phis[&r.accumulators[0].local], how)),
                    same_element,
                };
                insert_guard(
                    module,
                    func,
                    parent_seq,
                    position,
                    &body,
                    &spec,
                    Kernel::Call(kernel),
                );
                finding.action = Action::Rewritten;
                finding.tier = Some(if native.is_some() {
                    Tier::Native
                } else {
                    Tier::Simd128
                });
                // (Narrow extremes fold in lanes as wide as the elements.)
                let shape = match crate::rewrite::reduce::narrow_extreme_lanes(&body, &p) {
                    Some(lanes) => p.shape.replace("widened-i32x4", lanes),
                    None => p.shape.clone(),
                };
                finding.reason = Some(if r.exact {
                    format!("shape {shape}")
                } else {
                    format!("shape {}; summation reordered under --fast-math", p.shape)
                });
                if let Some(k) = &native {
                    let reason = finding.reason.take().unwrap_or_default();
                    finding.reason = Some(if cx.options.allow_simd {
                        format!(
                            "{reason}; calls barq::{} from {} elements on, SIMD128 below",
                            k.name,
                            crate::rewrite::native::NATIVE_MIN_ELEMENTS
                        )
                    } else {
                        format!("{reason}; calls barq::{}", k.name)
                    });
                }
                if !changed.functions.contains(&func) {
                    changed.functions.push(func);
                }
                if matches!(
                    module.funcs.get(kernel).kind,
                    walrus::FunctionKind::Local(_)
                ) {
                    changed.functions.push(kernel);
                }
            }
            cx.findings.push(finding);
        }
        name_cosines(&mut cx.findings[first_finding..]);
        Ok(changed)
    }
}

/// The locals holding an accumulator's final value when the loop exits: the
/// accumulator and its copies (clang -O1 copies the sum into a scratch local).
fn holders(
    body: &crate::analysis::value_graph::LoopBody,
    acc: walrus::LocalId,
) -> Vec<walrus::LocalId> {
    let end = body.end_values.get(&acc);
    body.end_values
        .iter()
        .filter(|(_, value)| Some(*value) == end)
        .map(|(local, _)| *local)
        .collect()
}

/// Whether the value of one of `locals` is passed to a square root somewhere in
/// `func` (`local.get $acc; f32.sqrt`): the sum of squares is then an L2 norm.
fn feeds_sqrt(func: &walrus::LocalFunction, locals: &[walrus::LocalId]) -> bool {
    use walrus::ir::{Instr, UnaryOp};
    super::simd_elementwise::sequences(func).iter().any(|seq| {
        func.block(*seq).instrs.windows(2).any(|pair| {
            let read = match &pair[0].0 {
                Instr::LocalGet(g) => locals.contains(&g.local),
                Instr::LocalTee(t) => locals.contains(&t.local),
                _ => false,
            };
            read && matches!(
                &pair[1].0,
                Instr::Unop(u) if matches!(u.op, UnaryOp::F32Sqrt | UnaryOp::F64Sqrt)
            )
        })
    })
}

/// Cosine similarity written as separate loops (a dot product, then each vector's
/// sum of squares): in a function whose reductions of one element type are `d`
/// dot loops and `2d` sum-of-squares loops (main and remainder loops count alike),
/// they are named `cosine` together.
fn name_cosines(findings: &mut [Finding]) {
    use std::collections::BTreeMap;
    let mut groups: BTreeMap<(u32, String), Vec<usize>> = BTreeMap::new();
    for (i, f) in findings.iter().enumerate() {
        groups
            .entry((f.func_index, format!("{:?}", f.elem)))
            .or_default()
            .push(i);
    }
    for members in groups.values() {
        let count = |names: &[&str]| {
            members
                .iter()
                .filter(|i| names.contains(&findings[**i].pattern.as_str()))
                .count()
        };
        let dots = count(&["dot"]);
        let squares = count(&["sum_squares", "l2_norm"]);
        if dots == 0 || squares != 2 * dots || count(&["sum", "cosine"]) > 0 {
            continue;
        }
        for i in members {
            findings[*i].pattern = "cosine".to_string();
        }
    }
}
