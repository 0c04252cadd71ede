//! The declaration list: every pass barq has, in pipeline order. This one list feeds
//! `--pass NAME`, `--list-passes` and the default pipeline; a pass's name is defined
//! once, by its `name()`.

pub mod loop_census;
pub mod simd_elementwise;
pub mod simd_reduce;

use crate::pass::{Audit, Pass};

/// A registered pass of either kind.
pub enum Registered {
    /// May change the module.
    Rewrite(Box<dyn Pass>),
    /// Only reads it.
    Audit(Box<dyn Audit>),
}

impl Registered {
    /// The pass's name.
    pub fn name(&self) -> &'static str {
        match self {
            Registered::Rewrite(p) => p.name(),
            Registered::Audit(a) => a.name(),
        }
    }

    /// The pass's one-line description.
    pub fn description(&self) -> &'static str {
        match self {
            Registered::Rewrite(p) => p.description(),
            Registered::Audit(a) => a.description(),
        }
    }

    /// Whether this pass may change the module.
    pub fn is_rewrite(&self) -> bool {
        matches!(self, Registered::Rewrite(_))
    }
}

/// Every pass, in the order the default pipeline runs them. Each entry says why it
/// sits where it does.
pub fn all() -> Vec<Registered> {
    vec![
        // First: a read-only census of loops. It is cheap, it feeds the summary, and it
        // is where every later fingerprint starts (fingerprints read the loop forest).
        Registered::Audit(Box::new(loop_census::LoopCensus)),
        // Elementwise loops: exact, so in the default pipeline at every level but -O0.
        Registered::Rewrite(Box::new(simd_elementwise::SimdElementwise)),
        // Reductions: integer sums exact; float sums only under --fast-math. After
        // the elementwise pass, whose kernels and guards it skips.
        Registered::Rewrite(Box::new(simd_reduce::SimdReduce)),
    ]
}

/// Why a SIMD128 rewrite pass must not rewrite a match here, if it must not: the
/// policy every portable SIMD pass shares.
pub(crate) fn simd_refusal(
    options: &crate::options::Options,
    already_vectorized: bool,
) -> Option<&'static str> {
    if already_vectorized {
        Some("function already vectorized by the compiler (scalar remainder or fallback loop)")
    } else if options.target == crate::options::Target::Native {
        Some("no native kernel for this pattern yet")
    } else if !options.allow_simd {
        Some("target does not allow SIMD")
    } else if !options.opt_level.rewrites() {
        Some("rewrites disabled at -O0")
    } else {
        None
    }
}

/// The names of every registered pass, comma-separated (for error messages).
pub fn valid_names() -> String {
    all()
        .iter()
        .map(Registered::name)
        .collect::<Vec<_>>()
        .join(", ")
}
