//! `simd-find`: search loops (`find`: `strlen`, `memchr`, a key's index, the
//! first difference of two buffers, "any", "all") get a SIMD128 skip loop in
//! front of them, which passes over blocks of iterations where no exit fires.
//!
//! Needs: the search value graph ([`build_search`]) and the `find` fingerprint.
//! Guarantees: exact. The skip loop only advances induction variables past
//! iterations that would have done nothing else; the original loop runs from
//! the first block where an exit might fire or a load might trap, and finds the
//! exit, its values and the trap itself (see [`crate::rewrite::search`]).

use crate::analysis::loops::LoopForest;
use crate::analysis::value_graph::build_search;
use crate::fingerprints::search::match_find;
use crate::fingerprints::NoMatch;
use crate::pass::{Changed, Pass, PassCx, PassError};
use crate::report::{Action, Finding, Tier};
use walrus::ir::{Instr, InstrSeqId, UnaryOp};
use walrus::{LocalFunction, Module};

/// The search-loop pass.
pub struct SimdFind;

/// Whether the loop at `position` of `parent` has a skip loop in front of it
/// already (a block holding a loop that tests lanes with `v128.any_true`).
fn already_skipped(func: &LocalFunction, parent: InstrSeqId, position: usize) -> bool {
    let Some(previous) = position.checked_sub(1) else {
        return false;
    };
    let Instr::Block(block) = &func.block(parent).instrs[previous].0 else {
        return false;
    };
    func.block(block.seq).instrs.iter().any(|(i, _)| {
        let Instr::Loop(l) = i else {
            return false;
        };
        func.block(l.seq)
            .instrs
            .iter()
            .any(|(i, _)| matches!(i, Instr::Unop(u) if matches!(u.op, UnaryOp::V128AnyTrue)))
    })
}

impl Pass for SimdFind {
    fn name(&self) -> &'static str {
        "simd-find"
    }

    fn description(&self) -> &'static str {
        "search loops with early exits (strlen, memchr, find, memcmp, any/all) -> a SIMD128 skip loop in front (exact)"
    }

    fn run(&self, module: &mut Module, cx: &mut PassCx<'_>) -> Result<Changed, PassError> {
        let mut sites = Vec::new();
        for func in super::simd_elementwise::own_functions(module) {
            let local = module.funcs.get(func).kind.unwrap_local();
            let forest = LoopForest::build(local);
            for node in forest.graph.node_indices() {
                let info = &forest.graph[node];
                if already_skipped(local, info.parent_seq, info.position) {
                    continue;
                }
                let Some(search) = build_search(module, local, info.body) else {
                    continue;
                };
                let finding = |elem, action, exact, reason: String| Finding {
                    function: cx.names.get(func).to_string(),
                    func_index: cx.func_index(func).unwrap_or(u32::MAX),
                    pattern: "find".to_string(),
                    elem,
                    action,
                    tier: None,
                    exact,
                    reason: Some(reason),
                    verified: None,
                };
                let m = match match_find(module, &search) {
                    Ok(m) => m,
                    Err(NoMatch::Unrelated) => continue,
                    Err(NoMatch::Declined { reason, .. }) => {
                        cx.findings
                            .push(finding(None, Action::Declined, false, reason));
                        continue;
                    }
                };
                let refusal = cx
                    .dropped(func)
                    .or_else(|| super::simd_refusal(cx.options, false))
                    .or_else(|| {
                        module
                            .memories
                            .get(m.memory)
                            .memory64
                            .then_some("64-bit memory")
                    });
                if let Some(reason) = refusal {
                    cx.findings.push(finding(
                        Some(m.elem),
                        Action::Detected,
                        true,
                        reason.to_string(),
                    ));
                    continue;
                }
                sites.push((func, info.parent_seq, info.position, search, m));
            }
        }
        // Insert from the last position backwards so earlier positions stay valid.
        sites.sort_by_key(|s| (s.0, s.1, std::cmp::Reverse(s.2)));
        let mut changed = Changed::nothing();
        for (func, parent_seq, position, search, m) in sites {
            let mut finding = Finding {
                function: cx.names.get(func).to_string(),
                func_index: cx.func_index(func).unwrap_or(u32::MAX),
                pattern: "find".to_string(),
                elem: Some(m.elem),
                action: Action::Detected,
                tier: None,
                exact: true,
                reason: Some("bisect limit reached".to_string()),
                verified: None,
            };
            if cx.allow_rewrite() {
                crate::rewrite::search::insert_skip(
                    module,
                    func,
                    parent_seq,
                    position,
                    &search.body,
                    &m,
                );
                finding.action = Action::Rewritten;
                finding.tier = Some(Tier::Simd128);
                finding.reason = Some(format!(
                    "skips {} iterations at a time while no exit fires ({} on elements, {} on counters)",
                    m.iterations,
                    m.lane_exits.len(),
                    m.count_exits.len()
                ));
                if !changed.functions.contains(&func) {
                    changed.functions.push(func);
                }
            }
            cx.findings.push(finding);
        }
        Ok(changed)
    }
}
