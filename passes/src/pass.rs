//! The two kinds of pass. A [`Pass`] may rewrite the module; an [`Audit`] only reads
//! it and adds findings. Both get a [`PassCx`]: options, the report being built, and
//! the facts about the input module that walrus does not keep.

use crate::names::FunctionNames;
use crate::options::Options;
use crate::probe::Probe;
use crate::report::Finding;
use std::collections::HashMap;
use walrus::{FunctionId, Module};

/// The functions a pass changed (empty: nothing changed).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changed {
    /// Functions whose bodies were rewritten or that were added.
    pub functions: Vec<FunctionId>,
}

impl Changed {
    /// Nothing changed.
    pub fn nothing() -> Changed {
        Changed::default()
    }

    /// Whether anything changed.
    pub fn any(&self) -> bool {
        !self.functions.is_empty()
    }
}

/// A pass that failed in a way that must stop the pipeline (a bug, not a near miss:
/// near misses are findings).
#[derive(Debug, thiserror::Error)]
pub enum PassError {
    /// The module no longer validates after the named pass.
    #[error("pass `{pass}` produced an invalid module: {message}")]
    InvalidOutput {
        /// The pass that ran last.
        pass: String,
        /// The validator's message.
        message: String,
    },
    /// `--pass` named a pass that does not exist.
    #[error("unknown pass `{name}`; valid passes: {valid}")]
    UnknownPass {
        /// What the user asked for.
        name: String,
        /// Every registered pass name, comma-separated.
        valid: String,
    },
    /// Any other internal failure inside a pass.
    #[error("pass `{pass}` failed: {message}")]
    Internal {
        /// The failing pass.
        pass: String,
        /// What went wrong.
        message: String,
    },
}

/// What every pass can see besides the module.
pub struct PassCx<'a> {
    /// The user's options.
    pub options: &'a Options,
    /// Findings so far.
    pub findings: Vec<Finding>,
    /// Input function indices (for the report).
    pub input_func_index: &'a HashMap<FunctionId, u32>,
    /// Display names (for the report).
    pub names: &'a FunctionNames,
    /// Whether the module has a shared memory.
    pub has_shared_memory: bool,
    /// `(functions, loops)` of the input, once `loop-census` has run.
    pub census: Option<(u32, u32)>,
    /// Runs functions of the input module, when the caller provides an engine
    /// (whole-function fingerprints that identify by probing need one).
    pub probe: Option<&'a mut dyn Probe>,
    /// The functions that held SIMD code in the input (set by the pass manager
    /// before the first pass; `None`: ask the function as it is now).
    pub vectorized_input: Option<std::collections::HashSet<walrus::FunctionId>>,
    /// Loops `bounds-checks` versioned, for `bounds-checks-cleanup`.
    pub bounds_checks: Vec<crate::passes::bounds_checks::Version>,
    rewrites_done: u64,
}

impl<'a> PassCx<'a> {
    /// A context for one pipeline run.
    pub fn new(
        options: &'a Options,
        input_func_index: &'a HashMap<FunctionId, u32>,
        names: &'a FunctionNames,
        has_shared_memory: bool,
    ) -> Self {
        PassCx {
            options,
            findings: Vec::new(),
            input_func_index,
            names,
            has_shared_memory,
            census: None,
            probe: None,
            vectorized_input: None,
            bounds_checks: Vec::new(),
            rewrites_done: 0,
        }
    }

    /// Asks permission for one more rewrite. Returns false once `--bisect N` rewrites
    /// have been made; the pass then reports the site as `detected`.
    pub fn allow_rewrite(&mut self) -> bool {
        if let Some(limit) = self.options.bisect_limit {
            if self.rewrites_done >= limit {
                return false;
            }
        }
        self.rewrites_done += 1;
        true
    }

    /// Whether `id` held SIMD code before barq touched it (its scalar loops are
    /// then the compiler's remainder or fallback loops). A pass's own inline
    /// SIMD (bulk memory's 16-byte moves) does not count.
    pub fn vectorized(&self, module: &walrus::Module, id: walrus::FunctionId) -> bool {
        match &self.vectorized_input {
            Some(set) => set.contains(&id),
            None => {
                crate::passes::simd_elementwise::uses_simd(module.funcs.get(id).kind.unwrap_local())
            }
        }
    }

    /// The input index of a function (new functions have none).
    pub fn func_index(&self, id: FunctionId) -> Option<u32> {
        self.input_func_index.get(&id).copied()
    }

    /// Why rewrites in `id` are off, when `--verify` dropped them.
    pub fn dropped(&self, id: FunctionId) -> Option<&'static str> {
        let index = self.func_index(id)?;
        self.options
            .skip_functions
            .contains(&index)
            .then_some(DROPPED_BY_VERIFY)
    }
}

/// The reason of a finding whose rewrite `--verify` dropped.
pub const DROPPED_BY_VERIFY: &str = "rewrite dropped: --verify found a difference";

impl PassCx<'_> {
    /// Marks findings of functions `--verify` dropped as unverified.
    pub fn mark_dropped(&mut self) {
        for f in &mut self.findings {
            if f.reason.as_deref() == Some(DROPPED_BY_VERIFY) {
                f.verified = Some(false);
            }
        }
    }
}

/// A transformation of the module.
pub trait Pass {
    /// The name used by `--pass`, `--print-after` and `--list-passes`.
    fn name(&self) -> &'static str;
    /// One line for `--list-passes`.
    fn description(&self) -> &'static str;
    /// Runs the pass; returns what changed.
    fn run(&self, module: &mut Module, cx: &mut PassCx<'_>) -> Result<Changed, PassError>;
}

/// A read-only analysis that contributes findings or summary counts.
pub trait Audit {
    /// The name used by `--pass` and `--list-passes`.
    fn name(&self) -> &'static str;
    /// One line for `--list-passes`.
    fn description(&self) -> &'static str;
    /// Runs the audit.
    fn run(&self, module: &Module, cx: &mut PassCx<'_>) -> Result<(), PassError>;
}
