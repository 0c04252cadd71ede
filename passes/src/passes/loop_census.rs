//! `loop-census`: counts the loops of every defined function, for the report summary.
//!
//! Needs: the loop forest analysis. Guarantees: reads only; never changes the module.
//! Audits always run (`--pass` selects rewrites only), so the summary is complete
//! whichever passes the user picks.

use crate::analysis::LoopForest;
use crate::pass::{Audit, PassCx, PassError};
use walrus::Module;

/// The loop census audit.
pub struct LoopCensus;

impl Audit for LoopCensus {
    fn name(&self) -> &'static str {
        "loop-census"
    }

    fn description(&self) -> &'static str {
        "count the loops of every function (read-only; feeds the report summary)"
    }

    fn run(&self, module: &Module, cx: &mut PassCx<'_>) -> Result<(), PassError> {
        cx.census = Some(census(module));
        Ok(())
    }
}

/// Number of defined functions and of `loop` instructions in them.
pub fn census(module: &Module) -> (u32, u32) {
    let mut functions = 0u32;
    let mut loops = 0u32;
    for (_, func) in module.funcs.iter_local() {
        functions += 1;
        loops += LoopForest::build(func).len() as u32;
    }
    (functions, loops)
}
