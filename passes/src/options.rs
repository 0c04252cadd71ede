//! What the user asked for: target, optimization level and the semantic licences
//! (`--fast-math`, SIMD allowed or not). Passes read these; nothing else does.

use std::fmt;

/// Where a rewrite's fast path lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// SIMD128 code injected into the module: runs in every engine with SIMD128.
    #[default]
    Portable,
    /// Calls to `barq` imports that the bundled runner provides with host code.
    Native,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Target::Portable => "portable",
            Target::Native => "native",
        })
    }
}

/// The `-O` level, as in wasm-opt. `-O0` runs only the audits (nothing is rewritten).
/// Every other level currently runs the same passes: there is no size-aware cost
/// model for `-Os`/`-Oz` yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum OptLevel {
    /// `-O0`: analyse and report only.
    O0,
    /// `-O1`
    O1,
    /// `-O2` (the default, as in wasm-opt's `-O`).
    #[default]
    O2,
    /// `-O3`
    O3,
    /// `-O4` is accepted for wasm-opt compatibility and means `-O3` here.
    O4,
    /// `-Os`: optimize, but prefer smaller output.
    Os,
    /// `-Oz`: optimize, preferring the smallest output.
    Oz,
}

impl OptLevel {
    /// Parses the text after `-O` (`"0"`..`"4"`, `"s"`, `"z"`; empty means `-O`).
    pub fn parse(text: &str) -> Option<OptLevel> {
        Some(match text {
            "0" => OptLevel::O0,
            "1" => OptLevel::O1,
            "" | "2" => OptLevel::O2,
            "3" => OptLevel::O3,
            "4" => OptLevel::O4,
            "s" => OptLevel::Os,
            "z" => OptLevel::Oz,
            _ => return None,
        })
    }

    /// Whether rewrite passes run at all at this level.
    pub fn rewrites(self) -> bool {
        self != OptLevel::O0
    }
}

/// Everything a pass may consult about the user's intent.
#[derive(Clone, Debug)]
pub struct Options {
    /// Where fast paths go.
    pub target: Target,
    /// Optimization level.
    pub opt_level: OptLevel,
    /// Allows float reassociation and FMA (`--fast-math`).
    pub fast_math: bool,
    /// Whether the output may use SIMD128 (`--no-simd` forbids it).
    pub allow_simd: bool,
    /// Whether the output may use bulk memory (`memory.copy`, `memory.fill`);
    /// `--no-bulk-memory` forbids it.
    pub allow_bulk_memory: bool,
    /// Run only these passes (by name), in this order, instead of the default pipeline.
    pub passes: Option<Vec<String>>,
    /// Validate the module after every pass. On by default in debug builds and tests.
    pub validate_each_pass: bool,
    /// Print the changed functions after this pass (`--print-after`).
    pub print_after: Option<String>,
    /// Stop rewriting after this many rewrites (`--bisect N`), to find a bad one.
    pub bisect_limit: Option<u64>,
    /// Keep DWARF sections (walrus rewrites their code offsets), as wasm-opt's `-g`.
    pub keep_dwarf: bool,
    /// Functions (input function indices) whose loops must not be rewritten: the
    /// ones where `--verify` found a difference.
    pub skip_functions: Vec<u32>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            target: Target::Portable,
            opt_level: OptLevel::O2,
            fast_math: false,
            allow_simd: true,
            allow_bulk_memory: true,
            passes: None,
            validate_each_pass: cfg!(debug_assertions),
            print_after: None,
            bisect_limit: None,
            keep_dwarf: false,
            skip_functions: Vec::new(),
        }
    }
}
