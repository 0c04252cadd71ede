//! What a [`Runtime`](crate::runtime::Runtime) does with a module: whether barq
//! optimizes it on load (and how), the limits it runs under, and the WASI view it
//! gets of the host.
//!
//! ```
//! use barq_wasm::config::{Config, RunOptLevel};
//! let config = Config::default()
//!     .with_pattern_detection(true)
//!     .with_opt_level(RunOptLevel::Aggressive)
//!     .with_fuel(Some(1_000_000));
//! assert!(config.options().fast_math);
//! ```

pub use crate::wasi_io::IoOptions;
use std::path::PathBuf;
use std::time::Duration;

/// How much barq does to a module when it loads it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RunOptLevel {
    /// Run the module as it is.
    None,
    /// barq-opt's default pipeline (exact rewrites, portable SIMD128).
    #[default]
    Default,
    /// The native target (host AVX2 kernels where barq has them, SIMD128 elsewhere)
    /// and `--fast-math`.
    Aggressive,
}

/// Runtime configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Optimize modules on load (with [`Config::opt_level`]).
    pub pattern_detection: bool,
    /// What the optimizer may do.
    pub opt_level: RunOptLevel,
    /// Instruction budget per call (Wasmtime fuel); `None` for no limit.
    pub fuel: Option<u64>,
    /// Wall-clock limit per call; `None` for no limit.
    pub timeout: Option<Duration>,
    /// The program's arguments (`argv[0]` first).
    pub args: Vec<String>,
    /// Environment variables the program sees.
    pub env: Vec<(String, String)>,
    /// Host directories preopened for the program: (host path, guest path).
    pub dirs: Vec<(PathBuf, String)>,
    /// Give the program this process's stdin, stdout and stderr.
    pub inherit_stdio: bool,
    /// WASI file I/O: the fast path and write coalescing ([`crate::wasi_io`]).
    pub io: IoOptions,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            pattern_detection: false,
            opt_level: RunOptLevel::Default,
            fuel: None,
            timeout: None,
            args: Vec::new(),
            env: Vec::new(),
            dirs: Vec::new(),
            inherit_stdio: true,
            io: IoOptions::default(),
        }
    }
}

impl Config {
    /// Optimize modules on load (`true`) or run them as they are.
    pub fn with_pattern_detection(mut self, on: bool) -> Config {
        self.pattern_detection = on;
        self
    }

    /// Sets the optimization level used when pattern detection is on.
    pub fn with_opt_level(mut self, level: RunOptLevel) -> Config {
        self.opt_level = level;
        self
    }

    /// Sets the fuel budget per call.
    pub fn with_fuel(mut self, fuel: Option<u64>) -> Config {
        self.fuel = fuel;
        self
    }

    /// Sets the wall-clock limit per call.
    pub fn with_timeout(mut self, timeout: Option<Duration>) -> Config {
        self.timeout = timeout;
        self
    }

    /// Sets the WASI file I/O options (fast path, write coalescing).
    pub fn with_io(mut self, io: IoOptions) -> Config {
        self.io = io;
        self
    }

    /// Whether modules are optimized on load.
    pub fn optimizes(&self) -> bool {
        self.pattern_detection && self.opt_level != RunOptLevel::None
    }

    /// The optimizer options a load uses.
    pub fn options(&self) -> crate::Options {
        let aggressive = self.opt_level == RunOptLevel::Aggressive;
        crate::Options {
            fast_math: aggressive,
            target: if aggressive {
                crate::Target::Native
            } else {
                crate::Target::Portable
            },
            ..crate::Options::default()
        }
    }
}
