//! `simd-nest`: vectorizes a loop that holds other loops across its own iterations:
//! 16 (then 4) consecutive iterations run in lockstep, one SIMD lane each, inner
//! loops included. This is GEMM across the columns of C (`C[i][j] = sum_k A[i][k] *
//! B[k][j]`, each column's sum in its own lane, `k` order kept), GEMV (with a
//! transposed matrix; or row-major, each lane a row, its elements gathered a
//! row apart: `y[i] = sum_j A[i*n + j] x[j]` where the row pointer steps by the
//! invariant `n`), and direct convolution across output pixels, however the
//! compiler arranged the inner loops (unrolled, with remainders, guarded).
//!
//! Needs: the loop forest, the outer value graph (`value_graph::build_outer`) for
//! the loop's exit test, induction variables and stores, and the lockstep code
//! generator (`rewrite::lanes`). Guarantees: exact, by default. Each lane performs
//! its iteration's operations in its order (no reassociation, no FMA); the code in
//! front of the loop runs the blocks only when the trip count is exact and every
//! store range lies in memory; each block leaves for the original loop before its
//! first store if a load would read outside memory or from a store range. The
//! original loop runs the last iteration and everything the blocks did not.

use super::simd_elementwise::own_functions;
use crate::analysis::affine::{affine_i32, inductions, symbolic_inductions};
use crate::analysis::trip_count::trip_count;
use crate::analysis::value_graph;
use crate::analysis::LoopForest;
use crate::fingerprints::bytes::match_copy_fill;
use crate::fingerprints::elementwise::match_map;
use crate::fingerprints::reduction::match_reduction;
use crate::fingerprints::NoMatch;
use crate::pass::{Changed, Pass, PassCx, PassError};
use crate::report::{Action, Finding, Tier};
use crate::rewrite::lanes::{insert_lockstep, Stats};
use walrus::ir::{InstrSeqId, StoreKind};
use walrus::Module;

/// The loop-nest vectorizer.
pub struct SimdNest;

impl Pass for SimdNest {
    fn name(&self) -> &'static str {
        "simd-nest"
    }

    fn description(&self) -> &'static str {
        "loops holding loops (gemm, gemv, conv2d) -> their iterations run in SIMD128 lockstep, exact"
    }

    fn run(&self, module: &mut Module, cx: &mut PassCx<'_>) -> Result<Changed, PassError> {
        let mut changed = Changed::nothing();
        let funcs = own_functions(module);
        for func in funcs {
            let local = module.funcs.get(func).kind.unwrap_local();
            let forest = LoopForest::build(local);
            // Loops holding loops, deepest first; an outer loop whose inner one was
            // rewritten is left alone.
            let mut candidates: Vec<(u32, InstrSeqId, Vec<InstrSeqId>, bool, u32)> = forest
                .graph
                .node_indices()
                .map(|n| {
                    let info = &forest.graph[n];
                    let mut inside = Vec::new();
                    let mut deepest = info.depth;
                    let mut work: Vec<_> = forest.children(n).collect();
                    while let Some(c) = work.pop() {
                        inside.push(forest.graph[c].body);
                        deepest = deepest.max(forest.graph[c].depth);
                        work.extend(forest.children(c));
                    }
                    let has_parent = forest
                        .graph
                        .neighbors_directed(n, petgraph::Direction::Incoming)
                        .next()
                        .is_some();
                    (
                        info.depth,
                        info.body,
                        inside,
                        has_parent,
                        deepest - info.depth,
                    )
                })
                .collect();
            if candidates.is_empty() {
                continue;
            }
            candidates.sort_by_key(|c| std::cmp::Reverse(c.0));
            let already = cx.vectorized(module, func);
            let mut rewritten: Vec<InstrSeqId> = Vec::new();
            // Loops this pass said something about.
            let mut reported: Vec<InstrSeqId> = Vec::new();
            'candidates: for (_, loop_seq, inside, has_parent, nesting) in candidates {
                if inside.iter().any(|s| rewritten.contains(s)) {
                    continue;
                }
                let local = module.funcs.get(func).kind.unwrap_local();
                let forest = LoopForest::build(local);
                let Some(info) = forest
                    .graph
                    .node_weights()
                    .find(|i| i.body == loop_seq)
                    .cloned()
                else {
                    continue;
                };
                // (The checked original of a loop `bounds-checks` copied: its
                // copy is the one to rewrite.)
                if super::bounds_checks::is_checked_original(local, info.parent_seq, info.position)
                {
                    continue;
                }
                // An innermost loop is this pass's only when no other fingerprint
                // took it: then it replaces the elementwise pass's reason for
                // declining it, if it rewrites it.
                let mut replaces: Vec<String> = Vec::new();
                // An 8- or 16-bit map whose kernel the elementwise pass called for
                // runs of 64 elements or more: this pass's inline lockstep takes
                // the shorter runs (its guard sees the loop's remaining trip
                // count, 1 after the kernel ran). The elementwise finding (its
                // reason) says so; nothing is said when the lockstep does not fit.
                let mut complements: Option<String> = None;
                if inside.is_empty() {
                    let plain = value_graph::build(module, local, loop_seq);
                    if match_reduction(module, &plain).is_ok() {
                        continue;
                    }
                    if let Ok(m) = match_map(module, &plain) {
                        if m.narrow.is_none() {
                            continue;
                        }
                        complements = Some(format!("shape {}", m.shape));
                    }
                    for declined in [
                        match_copy_fill(&plain).map(|_| ()),
                        match_map(module, &plain).map(|_| ()),
                    ] {
                        match declined {
                            Ok(()) if complements.is_some() => {}
                            Ok(()) => continue 'candidates,
                            Err(NoMatch::Declined { reason, .. }) => replaces.push(reason),
                            Err(NoMatch::Unrelated) => {}
                        }
                    }
                }
                let body = value_graph::build_outer(module, local, loop_seq);
                let steps = inductions(&body);
                // A candidate stores consecutive elements, one (or, unrolled, two)
                // per iteration. Not an unrolled map from 8- or 16-bit elements to
                // 8- or 16-bit elements (two or four copies, as clang -O2 writes
                // them): each copy's elements picked out of the block's and
                // interleaved back, in i32 lanes, measured slower than the scalar
                // loop in V8 (2026-12-06: 1 MiB threshold, four copies, 500 -> 632
                // us; saturating add, two copies, 635 -> 953 us). (The elementwise
                // pass takes most such maps in i8x16/i16x8 lanes; what reaches this
                // pass compares values wider than 16 bits.)
                let mut sequences =
                    crate::analysis::loops::nested_sequences(local, &local.block(loop_seq).instrs);
                sequences.push(loop_seq);
                let narrow_only = sequences.iter().all(|seq| {
                    local.block(*seq).instrs.iter().all(|(i, _)| match i {
                        walrus::ir::Instr::Load(l) => l.kind.width() < 4,
                        walrus::ir::Instr::Store(s) => s.kind.width() < 4,
                        _ => true,
                    })
                });
                let consecutive = body.stores.iter().any(|s| {
                    affine_i32(&body, s.addr).is_some_and(|f| {
                        let width = s.kind.width() as i64;
                        let inc = f.exact_increment(&body, &steps);
                        inc == Some(width) || (!narrow_only && inc == Some(2 * width))
                    })
                });
                // What to call it if it is declined: a nest whose inner loop is a
                // dot product (the k loop) is a matrix product that could not be
                // taken; anything else is a map.
                let inner_dot = inside
                    .iter()
                    .any(|seq| accumulates_products(&value_graph::build(module, local, *seq)));
                let guess = match (inner_dot, has_parent, nesting) {
                    (true, true, 1) => "gemm",
                    (true, false, 1) => "gemv",
                    (true, _, _) => "conv2d",
                    _ => "map",
                };
                if !consecutive {
                    // A matrix product whose stores sit inside its inner loops (the
                    // j-i-k order, `C[i][j] +=` in the k loop, clang -Oz's exit
                    // paths): said once, for the innermost such loop.
                    let nested_store = crate::analysis::loops::nested_sequences(
                        local,
                        &local.block(loop_seq).instrs,
                    )
                    .iter()
                    .any(|seq| {
                        local
                            .block(*seq)
                            .instrs
                            .iter()
                            .any(|(i, _)| matches!(i, walrus::ir::Instr::Store(_)))
                    });
                    if inner_dot && nested_store && !inside.iter().any(|s| reported.contains(s)) {
                        // (With the output loop inside, deeper nests are GEMMs too.)
                        let pattern = if nesting >= 2 || has_parent {
                            "gemm"
                        } else {
                            "gemv"
                        };
                        cx.findings.push(Finding {
                            function: cx.names.get(func).to_string(),
                            func_index: cx.func_index(func).unwrap_or(u32::MAX),
                            pattern: pattern.to_string(),
                            elem: None,
                            action: Action::Declined,
                            tier: None,
                            exact: true,
                            reason: Some("stores inside a nested loop".to_string()),
                            verified: None,
                        });
                        reported.push(loop_seq);
                    }
                    continue;
                }
                reported.push(loop_seq);
                let function = cx.names.get(func).to_string();
                let func_index = cx.func_index(func).unwrap_or(u32::MAX);
                let finding = |pattern: &str, elem, action, reason: String| Finding {
                    function: function.clone(),
                    func_index,
                    pattern: pattern.to_string(),
                    elem,
                    action,
                    tier: None,
                    exact: true,
                    reason: Some(reason),
                    verified: None,
                };
                // (Quiet where it complements an 8- or 16-bit map's kernel.)
                let quiet = complements.is_some();
                let say = |findings: &mut Vec<Finding>, f: Finding| {
                    if !quiet {
                        findings.push(f);
                    }
                };
                let elem = crate::fingerprints::types::store_elem(&body, body.stores[0].kind);
                if elem.is_none() {
                    // (Stores of v128: the compiler's own vector loop.)
                    continue;
                }
                let refusal = cx
                    .dropped(func)
                    .or_else(|| super::simd_refusal(cx.options, already))
                    .or_else(|| {
                        (cx.options.target == crate::options::Target::Native
                            && !cx.options.allow_simd)
                            .then_some(super::NO_NATIVE_KERNEL)
                    });
                if let Some(reason) = refusal {
                    say(
                        &mut cx.findings,
                        finding(guess, elem, Action::Detected, reason.to_string()),
                    );
                    continue;
                }
                if let Some(reason) = reads_other_iterations(&body, &steps) {
                    say(
                        &mut cx.findings,
                        finding(guess, elem, Action::Declined, reason.to_string()),
                    );
                    continue;
                }
                let trip = match trip_count(&body, &steps) {
                    Ok(t) => t,
                    Err(reason) => {
                        say(
                            &mut cx.findings,
                            finding(guess, elem, Action::Declined, reason.to_string()),
                        );
                        continue;
                    }
                };
                let local = module.funcs.get(func).kind.unwrap_local();
                if let Some(reason) =
                    super::too_short(local, info.parent_seq, info.position, &body, &trip, 1, 16)
                {
                    say(
                        &mut cx.findings,
                        finding(guess, elem, Action::Detected, reason),
                    );
                    continue;
                }
                if !cx.allow_rewrite() {
                    say(
                        &mut cx.findings,
                        finding(
                            guess,
                            elem,
                            Action::Detected,
                            "bisect limit reached".to_string(),
                        ),
                    );
                    continue;
                }
                match insert_lockstep(
                    module,
                    func,
                    info.parent_seq,
                    info.position,
                    loop_seq,
                    &body,
                    &trip,
                    &steps,
                    &symbolic_inductions(&body, &steps),
                ) {
                    Ok(stats) => {
                        let pattern = pattern_of(&stats, has_parent);
                        let mut f = finding(
                            pattern,
                            elem,
                            Action::Rewritten,
                            format!(
                                "shape lockstep-x{}{}; each lane keeps its iteration's order",
                                stats.lanes,
                                if stats.depth > 0 {
                                    format!("-nest{}", stats.depth)
                                } else {
                                    String::new()
                                }
                            ),
                        );
                        f.tier = Some(Tier::Simd128);
                        for reason in &replaces {
                            let earlier = cx.findings.iter().rposition(|e| {
                                e.function == f.function
                                    && e.action == Action::Declined
                                    && e.reason.as_deref() == Some(reason.as_str())
                            });
                            if let Some(at) = earlier {
                                cx.findings.remove(at);
                            }
                        }
                        let kernel_finding = complements.as_ref().and_then(|shape| {
                            cx.findings.iter().rposition(|e| {
                                e.function == f.function
                                    && e.reason.as_deref() == Some(shape.as_str())
                            })
                        });
                        match kernel_finding {
                            Some(at) if cx.findings[at].action == Action::Rewritten => {
                                let note = format!(
                                    "; runs of fewer than {} elements: lockstep-x{}",
                                    crate::rewrite::narrow::MIN_ELEMENTS,
                                    stats.lanes
                                );
                                if let Some(reason) = cx.findings[at].reason.as_mut() {
                                    reason.push_str(&note);
                                }
                            }
                            Some(at) => {
                                cx.findings.remove(at);
                                cx.findings.push(f);
                            }
                            None => cx.findings.push(f),
                        }
                        rewritten.push(loop_seq);
                        if !changed.functions.contains(&func) {
                            changed.functions.push(func);
                        }
                    }
                    Err(reason) => {
                        say(
                            &mut cx.findings,
                            finding(guess, elem, Action::Declined, reason),
                        );
                    }
                }
            }
        }
        Ok(changed)
    }
}

/// Whether a load of the loop body reads an element that another iteration
/// stores: its address moves like a store's address, a few elements off it (`C[j]
/// = s + C[j - 1]`). Every block would leave for the original loop at run time.
fn reads_other_iterations(
    body: &crate::analysis::value_graph::LoopBody,
    steps: &std::collections::HashMap<walrus::LocalId, i64>,
) -> Option<&'static str> {
    use crate::analysis::value_graph::Node;
    for store in &body.stores {
        let Some(target) = affine_i32(body, store.addr) else {
            continue;
        };
        let Some(step) = target.exact_increment(body, steps) else {
            continue;
        };
        let written = target.constant + store.arg.offset as i64;
        for node in body.graph.node_indices() {
            let Node::Load {
                memory, arg, kind, ..
            } = body.graph[node]
            else {
                continue;
            };
            let Some(form) = affine_i32(body, body.operands(node)[0]) else {
                continue;
            };
            if memory != store.memory
                || form.key() != target.key()
                || form.exact_increment(body, steps) != Some(step)
                || step == 0
            {
                continue;
            }
            // Iteration t reads [d, d + read) relative to what it writes at
            // [0, width); iteration t + q writes [q * step, q * step + width).
            let d = form.constant + arg.offset as i64 - written;
            let (read, width) = (kind.width() as i64, store.kind.width() as i64);
            let q_low = (d - width + 1).div_euclid(step.abs()) - 1;
            let q_high = (d + read - 1).div_euclid(step.abs()) + 1;
            let other = (q_low..=q_high)
                .any(|q| q != 0 && d < q * step.abs() + width && q * step.abs() < d + read);
            if other {
                return Some("reads what another iteration writes");
            }
        }
    }
    None
}

/// Whether a loop adds products of two loads into a loop-carried local
/// (`s += a[..] * b[..]`, any strides): the inner loop of a matrix product.
fn accumulates_products(body: &crate::analysis::value_graph::LoopBody) -> bool {
    use crate::analysis::value_graph::Node;
    use walrus::ir::BinaryOp;
    let is_load = |n| matches!(body.graph[n], Node::Load { .. });
    let add = |n| {
        matches!(
            body.graph[n],
            Node::Binop(BinaryOp::F32Add | BinaryOp::F64Add | BinaryOp::I32Add)
        )
    };
    let product = |n| {
        matches!(
            body.graph[n],
            Node::Binop(BinaryOp::F32Mul | BinaryOp::F64Mul | BinaryOp::I32Mul)
        ) && body.operands(n).iter().all(|m| is_load(*m))
    };
    body.end_values.iter().any(|(local, end)| {
        let Some(phi) = body.phis.get(local) else {
            return false;
        };
        // The leaves of the sum tree (an unrolled loop adds several products).
        let (mut leaves, mut work) = (Vec::new(), vec![*end]);
        while let Some(n) = work.pop() {
            if add(n) && leaves.len() < 64 {
                work.extend(body.operands(n));
            } else {
                leaves.push(n);
            }
        }
        leaves.contains(phi) && leaves.iter().any(|l| product(*l))
    })
}

/// The report's name for what the lockstep loop computes: products of a value
/// shared by all lanes with one per lane, summed in one nested loop, are a matrix
/// product (one row of C, or a vector times a matrix when no loop encloses it); in
/// deeper nests, a convolution window; without nested loops, four or more
/// elements read per output around it are a convolution (a stencil) too; floats
/// converted to stored bytes are a quantization, bytes loaded and converted to
/// floats a dequantization.
fn pattern_of(stats: &Stats, has_parent: bool) -> &'static str {
    let narrow_store = stats
        .stores
        .iter()
        .all(|k| matches!(k, StoreKind::I32_8 { .. } | StoreKind::I32_16 { .. }));
    match (stats.depth, stats.products_in_loops > 0) {
        (1, true) if has_parent => "gemm",
        (1, true) => "gemv",
        (d, true) if d >= 2 => "conv2d",
        // (Four or more elements read per element written: a stencil; an unrolled
        // map reads one or two per store.)
        (0, _) if stats.lane_loads >= 4 * stats.stores.len().max(1) => "conv2d",
        // Floats to 8- or 16-bit integers, and back.
        (0, _) if stats.float_to_int && narrow_store => "quantize",
        (0, _) if stats.int_to_float && stats.narrow_loads && !narrow_store => "dequantize",
        _ => "map",
    }
}
