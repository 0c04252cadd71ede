//! The audit as data. Passes append [`Finding`]s; the `barq-wasm` crate renders them
//! as a table or as the stable JSON of `shared/DESIGN.md`. Field names here *are* the
//! JSON schema: rename nothing.

use crate::options::Target;
use serde::Serialize;

/// What was done with a fingerprint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// The output contains the fast path.
    Rewritten,
    /// Recognised but left alone; `reason` says why.
    Detected,
    /// A near miss: something rules the pattern out; `reason` names it.
    Declined,
}

/// Which kind of fast path a rewrite uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// SIMD128 code inside the module.
    Simd128,
    /// A call to a `barq` import provided by the runner.
    Native,
    /// `memory.copy` / `memory.fill`.
    BulkMemory,
    /// Plain scalar code (one wide load instead of byte loads).
    Scalar,
}

/// Element type of a kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum Elem {
    F32,
    F64,
    I8,
    U8,
    I16,
    I32,
    I64,
}

/// One fingerprint found in one function.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    /// Name-section name, else export name, else `func[N]`.
    pub function: String,
    /// Index in the *input* module's function index space (imports included).
    pub func_index: u32,
    /// Pattern name from the vocabulary in DESIGN.md (`dot`, `gemm`, ...).
    pub pattern: String,
    /// Element type, where the pattern has one.
    pub elem: Option<Elem>,
    /// What was done.
    pub action: Action,
    /// The fast path used, for rewritten findings.
    pub tier: Option<Tier>,
    /// Whether the rewrite (or the one it would make) is bit-exact.
    pub exact: bool,
    /// Why it was not rewritten, or a note on how it was.
    pub reason: Option<String>,
    /// With `--verify`: whether running the original and the rewritten function
    /// side by side found no difference (absent when not checked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
}

/// Counts over the whole module.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Functions defined in the module (imports excluded).
    pub functions: u32,
    /// `loop` instructions in those functions.
    pub loops: u32,
    /// Findings with action `rewritten`.
    pub rewritten: u32,
    /// Findings with action `detected`.
    pub detected: u32,
    /// Findings with action `declined`.
    pub declined: u32,
}

/// The whole audit of one module.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// The input file name as the user gave it (or `<memory>`).
    pub module: String,
    /// The rewrite target.
    pub target: Target,
    /// Whether `--fast-math` was given.
    pub fast_math: bool,
    /// Every fingerprint found, in function then pass order.
    pub findings: Vec<Finding>,
    /// Counts.
    pub summary: Summary,
    /// Module-level remarks: output needs SIMD, shared memory, passed through, ...
    pub notes: Vec<String>,
}

impl Report {
    /// Recomputes the finding counts of the summary from `findings`.
    pub fn recount(&mut self) {
        let count = |action| self.findings.iter().filter(|f| f.action == action).count() as u32;
        self.summary.rewritten = count(Action::Rewritten);
        self.summary.detected = count(Action::Detected);
        self.summary.declined = count(Action::Declined);
    }
}
