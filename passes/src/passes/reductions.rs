//! `reductions`: finds sum-like loops (`dot`, `sum`, `sum_squares`, `cosine`) and
//! reports them. Read-only for now: float reductions need `--fast-math` to be
//! vectorized at all (the summation order changes), and the reduction kernels are
//! not written yet, so every match is reported as `detected` with the reason.
//!
//! Needs: the same analyses as `simd-elementwise`. Guarantees: never changes the module.

use crate::fingerprints::reduction::match_reduction;
use crate::fingerprints::NoMatch;
use crate::pass::{Audit, PassCx, PassError};
use crate::report::{Action, Finding};
use walrus::Module;

/// The reduction audit.
pub struct Reductions;

impl Audit for Reductions {
    fn name(&self) -> &'static str {
        "reductions"
    }

    fn description(&self) -> &'static str {
        "find dot/sum/sum_squares/cosine loops and report them (read-only for now)"
    }

    fn run(&self, module: &Module, cx: &mut PassCx<'_>) -> Result<(), PassError> {
        for (func, _, _, body) in super::simd_elementwise::innermost_loops(module) {
            let (pattern, elem, exact, action, reason) = match match_reduction(module, &body) {
                Ok(r) => {
                    let reason = if !r.exact && !cx.options.fast_math {
                        "needs --fast-math"
                    } else {
                        "reduction kernels are not implemented yet"
                    };
                    (
                        r.pattern,
                        r.elem,
                        r.exact,
                        Action::Detected,
                        reason.to_string(),
                    )
                }
                Err(NoMatch::Unrelated) => continue,
                Err(NoMatch::Declined { pattern, reason }) => {
                    (pattern, None, false, Action::Declined, reason)
                }
            };
            cx.findings.push(Finding {
                function: cx.names.get(func).to_string(),
                func_index: cx.func_index(func).unwrap_or(u32::MAX),
                pattern: pattern.to_string(),
                elem,
                action,
                tier: None,
                exact,
                reason: Some(reason),
            });
        }
        Ok(())
    }
}
