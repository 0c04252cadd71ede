//! The driver: bytes -> load -> pipeline -> emit -> validate. One call per module.

use barq_passes::module_io::{self, LoadError, LoadedModule};
use barq_passes::{Options, Summary};
use barq_passes::{PassError, PassManager, Report};

/// Why a module could not be optimized.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input is not a module barq can read.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The input is neither wasm binary nor wasm text.
    #[error("neither a WebAssembly binary (no \\0asm magic number) nor WebAssembly text{0}")]
    NotWasmOrWat(String),
    /// A pass failed (a bug in barq, never the input's fault).
    #[error(transparent)]
    Pass(#[from] PassError),
    /// The final output failed validation (a bug in barq).
    #[error("internal error: the optimized module does not validate: {0}")]
    InvalidOutput(String),
    /// `--verify` could not run a module (a bug in barq, or an engine limit).
    #[error("verify: {0}")]
    Verify(String),
}

/// The result of [`optimize`].
#[derive(Debug)]
pub struct Optimized {
    /// The output module.
    pub wasm: Vec<u8>,
    /// The audit (its `module` field is `<memory>`; callers set the file name).
    pub report: Report,
    /// `--print-after` text: `(pass, wasm text of the changed functions)`.
    pub printed: Vec<(String, String)>,
    /// Set when the module was valid but used something walrus cannot represent,
    /// so it was passed through byte for byte.
    pub passed_through: Option<String>,
}

/// The input as a binary module (text is assembled).
pub fn binary(bytes: &[u8]) -> Result<Vec<u8>, Error> {
    binary_of(bytes).map(|b| b.into_owned())
}

/// Turns input bytes into a binary module: binaries as they are, text by `wat`.
fn binary_of(bytes: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, Error> {
    if bytes.starts_with(b"\0asm") {
        return Ok(bytes.into());
    }
    match wat::parse_bytes(bytes) {
        Ok(binary) => Ok(binary.into_owned().into()),
        // Only text that starts like a module gets the parser's complaint; for
        // anything else (a C file, an image) it would be noise.
        Err(e) if looks_like_wat(bytes) => {
            Err(Error::NotWasmOrWat(format!(" ({})", wat_error_line(&e))))
        }
        Err(_) => Err(Error::NotWasmOrWat(String::new())),
    }
}

fn looks_like_wat(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]);
    let code = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with(";;"));
    code.is_some_and(|l| l.starts_with('('))
}

/// The first line of a `wat` error, which is the message proper (the rest is a
/// source excerpt).
fn wat_error_line(error: &wat::Error) -> String {
    error
        .to_string()
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

fn empty_report(options: &Options) -> Report {
    Report {
        module: "<memory>".to_string(),
        target: options.target,
        fast_math: options.fast_math,
        findings: Vec::new(),
        summary: Summary::default(),
        notes: Vec::new(),
    }
}

/// Runs the pipeline; `emit` says whether the output bytes are wanted.
fn run(bytes: &[u8], options: &Options, emit: bool) -> Result<Optimized, Error> {
    let binary = binary_of(bytes)?;
    let mut loaded: LoadedModule = match module_io::load(&binary, options.keep_dwarf) {
        Ok(loaded) => loaded,
        Err(LoadError::Unsupported(why)) => {
            // Valid wasm that walrus cannot represent: never break it, pass it through.
            let mut report = empty_report(options);
            report
                .notes
                .push(format!("passed through unchanged: {why}"));
            return Ok(Optimized {
                wasm: binary.into_owned(),
                report,
                printed: Vec::new(),
                passed_through: Some(why),
            });
        }
        Err(e) => return Err(e.into()),
    };
    let manager = PassManager::from_options(options)?;
    // Whole-function fingerprints identify by running the input (the prober
    // compiles it only when a fingerprint's prefilter accepts a function; the
    // passes that rewrite with SIMD128 ask only when SIMD is allowed).
    let mut prober = options
        .opt_level
        .rewrites()
        .then(|| crate::probe::Prober::new(&binary));
    let outcome = manager.run_probed(
        &mut loaded,
        options,
        prober.as_mut().map(|p| p as &mut dyn barq_passes::Probe),
    )?;

    let mut report = empty_report(options);
    report.findings = outcome.findings;
    report.summary = outcome.summary;
    report.recount();
    if report.summary.rewritten > 0 {
        if loaded.has_shared_memory {
            report.notes.push(
                "the module has a shared memory: racy programs may observe different tearing"
                    .to_string(),
            );
        }
        let uses_simd_tier = report
            .findings
            .iter()
            .any(|f| f.tier == Some(barq_passes::Tier::Simd128));
        if uses_simd_tier && !loaded.input_uses_simd {
            report
                .notes
                .push("the output now requires SIMD128 (the input did not)".to_string());
        }
        let uses_bulk_tier = report
            .findings
            .iter()
            .any(|f| f.tier == Some(barq_passes::Tier::BulkMemory));
        if uses_bulk_tier && !loaded.input_uses_bulk_memory {
            report.notes.push(
                "the output now requires bulk memory (memory.copy / memory.fill; the input did not use them)"
                    .to_string(),
            );
        }
    }

    let wasm = if emit {
        loaded
            .module
            .producers
            .add_processed_by("barq", env!("CARGO_PKG_VERSION"));
        let wasm = module_io::emit(&mut loaded.module);
        module_io::validate(&wasm).map_err(Error::InvalidOutput)?;
        wasm
    } else {
        Vec::new()
    };
    Ok(Optimized {
        wasm,
        report,
        printed: outcome.printed,
        passed_through: None,
    })
}

/// Optimizes a module (binary or text) and returns the validated output and report.
pub fn optimize(bytes: &[u8], options: &Options) -> Result<Optimized, Error> {
    run(bytes, options, true)
}

/// Runs the pipeline for its report only; `Optimized::wasm` is empty.
pub fn audit(bytes: &[u8], options: &Options) -> Result<Optimized, Error> {
    run(bytes, options, false)
}
