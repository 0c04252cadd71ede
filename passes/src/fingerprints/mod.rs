//! Fingerprints: pure functions from a loop's facts to a match, or to the reason it
//! is not one. Each starts with a cheap reject before anything expensive.

pub mod bytes;
pub mod checksum;
pub mod elementwise;
pub mod gemm;
pub mod reduction;
pub mod types;

/// Why a loop is not a match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoMatch {
    /// Nothing like this pattern: say nothing in the report.
    Unrelated,
    /// A near miss: it looks like `pattern`, but `reason` rules it out.
    Declined {
        /// The pattern it resembles.
        pattern: &'static str,
        /// What rules it out.
        reason: String,
    },
}

impl NoMatch {
    /// A near miss of `pattern`.
    pub fn declined(pattern: &'static str, reason: impl Into<String>) -> NoMatch {
        NoMatch::Declined {
            pattern,
            reason: reason.into(),
        }
    }
}
