//! The `barq-opt` command line. Flags follow wasm-opt where they overlap (`-o`, `-O`,
//! `--enable-simd`, `--fast-math`, `--pass`, `--list-passes`, `--print`). Every error
//! is one line on stderr and exit code 1; an output file is written to a temporary
//! file beside the destination and renamed, so a failure never leaves half a module
//! (devices and pipes such as `/dev/null` are written in place, see [`write_output`]).

use crate::{driver, report};
use anyhow::{bail, Context, Result};
use barq_passes::passes;
use barq_passes::{OptLevel, Options, Target};
use clap::{Parser, ValueEnum};
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Clone, Copy, Debug, ValueEnum)]
enum TargetArg {
    Portable,
    Native,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ReportFormat {
    Text,
    Json,
}

/// barq-opt: find loops that implement known kernels and replace them with faster code.
#[derive(Debug, Parser)]
#[command(name = "barq-opt", version, about, long_about = None)]
struct OptArgs {
    /// Input module: a .wasm binary or .wat text.
    input: Option<PathBuf>,
    /// Write the optimized module here (written atomically).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// Optimization level: -O0 (report only), -O1, -O2 (default), -O3, -O4, -Os, -Oz.
    #[arg(long = "opt-level", value_name = "LEVEL", hide = true)]
    opt_level: Option<String>,
    /// Allow SIMD128 in the output (the default).
    #[arg(long = "enable-simd", overrides_with = "no_simd")]
    enable_simd: bool,
    /// Forbid SIMD128 in the output.
    #[arg(
        long = "no-simd",
        alias = "disable-simd",
        overrides_with = "enable_simd"
    )]
    no_simd: bool,
    /// Allow bulk memory (memory.copy, memory.fill) in the output (the default).
    #[arg(long = "enable-bulk-memory", overrides_with = "no_bulk_memory")]
    enable_bulk_memory: bool,
    /// Forbid bulk memory in the output (copy and fill loops then become SIMD128
    /// where their elements are 4 or 8 bytes, and stay loops otherwise).
    #[arg(
        long = "no-bulk-memory",
        alias = "disable-bulk-memory",
        overrides_with = "enable_bulk_memory"
    )]
    no_bulk_memory: bool,
    /// Allow float reassociation and FMA (float reductions are rewritten only with this).
    #[arg(long = "fast-math")]
    fast_math: bool,
    /// Where fast paths go: SIMD128 inside the module, or `barq` imports for barq-wasm.
    #[arg(long, value_enum, default_value = "portable")]
    target: TargetArg,
    /// Run only this rewrite pass (repeatable, in order) instead of the default pipeline.
    #[arg(long = "pass", value_name = "NAME")]
    passes: Vec<String>,
    /// List the passes and exit.
    #[arg(long = "list-passes")]
    list_passes: bool,
    /// Print the output module as wasm text on stdout.
    #[arg(long)]
    print: bool,
    /// Print the functions a pass changed, as wasm text, right after that pass.
    #[arg(long = "print-after", value_name = "PASS")]
    print_after: Option<String>,
    /// Stop after N rewrites (to bisect a miscompile).
    #[arg(long, value_name = "N")]
    bisect: Option<u64>,
    /// Print the audit (`--report` for a table, `--report=json` for JSON).
    #[arg(long, value_name = "FORMAT", num_args = 0..=1, require_equals = true, default_missing_value = "text")]
    report: Option<ReportFormat>,
    /// Keep DWARF debug sections (dropped by default, as in wasm-opt without -g).
    #[arg(short = 'g', long = "debuginfo")]
    debuginfo: bool,
    /// Validate the module after every pass (always on in debug builds).
    #[arg(long = "validate-each-pass")]
    validate_each_pass: bool,
    /// Run each rewritten function, original and rewritten, on generated inputs in
    /// Wasmtime; on a difference drop that rewrite and fail (`--verify=drop`: drop
    /// it and go on).
    #[arg(long, value_name = "MODE", num_args = 0..=1, require_equals = true, default_missing_value = "fail")]
    verify: Option<VerifyArg>,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum VerifyArg {
    Fail,
    Drop,
}

/// Rewrites wasm-opt's `-O`, `-O3`, `-Os`, ... into `--opt-level=..`, so that `-O`
/// followed by the input path is never read as `-O` with a value.
fn normalize_args(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    args.into_iter()
        .map(|arg| match arg.to_str() {
            Some(s) if s.starts_with("-O") && s.len() <= 3 => {
                OsString::from(format!("--opt-level={}", &s[2..]))
            }
            _ => arg,
        })
        .collect()
}

/// Entry point of the `barq-opt` binary.
pub fn opt_main() -> ExitCode {
    let args = OptArgs::parse_from(normalize_args(std::env::args_os()));
    match run_opt(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("barq-opt: error: {}", barq_passes::module_io::one_line(&e));
            ExitCode::from(1)
        }
    }
}

fn options_of(args: &OptArgs) -> Result<Options> {
    let opt_level = match &args.opt_level {
        None => OptLevel::default(),
        Some(text) => match OptLevel::parse(text) {
            Some(level) => level,
            None => bail!("unknown optimization level `-O{text}` (use -O0..-O4, -Os or -Oz)"),
        },
    };
    Ok(Options {
        target: match args.target {
            TargetArg::Portable => Target::Portable,
            TargetArg::Native => Target::Native,
        },
        opt_level,
        fast_math: args.fast_math,
        allow_simd: !args.no_simd,
        allow_bulk_memory: !args.no_bulk_memory,
        passes: (!args.passes.is_empty()).then(|| args.passes.clone()),
        validate_each_pass: args.validate_each_pass || cfg!(debug_assertions),
        print_after: args.print_after.clone(),
        bisect_limit: args.bisect,
        keep_dwarf: args.debuginfo,
        skip_functions: Vec::new(),
    })
}

fn run_opt(args: &OptArgs) -> Result<()> {
    if args.list_passes {
        print!("{}", list_passes());
        return Ok(());
    }
    let Some(input) = &args.input else {
        bail!("no input file (usage: barq-opt IN.wasm -o OUT.wasm; see --help)");
    };
    let options = options_of(args)?;
    let bytes =
        std::fs::read(input).with_context(|| format!("cannot read '{}'", input.display()))?;
    let wants_module = args.output.is_some() || args.print;
    let mut failed_verification = false;
    let result = if let Some(mode) = args.verify {
        let verified = verify_with_progress(&bytes, &options)
            .with_context(|| format!("'{}'", input.display()))?;
        for d in &verified.differences {
            eprintln!(
                "barq-opt: verify: {} (func[{}]): {}; rewrite dropped",
                d.function, d.func_index, d.detail
            );
        }
        failed_verification = !verified.differences.is_empty() && matches!(mode, VerifyArg::Fail);
        verified.optimized
    } else if wants_module {
        driver::optimize(&bytes, &options).with_context(|| format!("'{}'", input.display()))?
    } else {
        driver::audit(&bytes, &options).with_context(|| format!("'{}'", input.display()))?
    };

    if let Some(why) = &result.passed_through {
        eprintln!(
            "barq-opt: warning: '{}' uses a feature barq cannot rewrite yet ({why}); output is the input unchanged",
            input.display()
        );
    }
    for (pass, text) in &result.printed {
        println!(";; after pass `{pass}`");
        print!("{text}");
    }
    let mut audit = result.report;
    audit.module = input.display().to_string();
    match args.report {
        Some(ReportFormat::Text) => print!("{}", report::to_text(&audit)),
        Some(ReportFormat::Json) => println!("{}", report::to_json(&audit)),
        None => {}
    }
    if failed_verification {
        bail!(
            "'{}': --verify found differences (listed above); nothing written (--verify=drop writes the output without those rewrites)",
            input.display()
        );
    }
    if let Some(output) = &args.output {
        write_output(output, &result.wasm)?;
    }
    if args.print {
        let text = wasmprinter::print_bytes(&result.wasm).context("cannot print the output")?;
        print!("{text}");
    }
    if args.output.is_none() && args.report.is_none() && !args.print {
        eprintln!(
            "barq-opt: no output file given (-o), nothing written. '{}': {} functions, {} loops; would rewrite {}, {} detected, {} declined. Use --report for details.",
            input.display(),
            audit.summary.functions,
            audit.summary.loops,
            audit.summary.rewritten,
            audit.summary.detected,
            audit.summary.declined
        );
    }
    Ok(())
}

/// `verify::optimize_verified` with a progress bar on stderr once it takes longer
/// than a second.
fn verify_with_progress(bytes: &[u8], options: &Options) -> Result<crate::verify::Verified> {
    let bar = indicatif::ProgressBar::hidden();
    bar.set_style(
        indicatif::ProgressStyle::with_template("barq-opt: verify {bar:30} {pos}/{len} functions")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut shown = false;
    let progress = crate::verify::after_a_second(|done, total| {
        if !shown {
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            shown = true;
        }
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    });
    let verified = crate::verify::optimize_verified(bytes, options, None, progress)?;
    bar.finish_and_clear();
    Ok(verified)
}

fn list_passes() -> String {
    let all = passes::all();
    let width = all.iter().map(|p| p.name().len()).max().unwrap_or(0);
    let mut out = String::from("passes (default pipeline order):\n");
    for pass in &all {
        let kind = if pass.is_rewrite() {
            "rewrite"
        } else {
            "audit"
        };
        out.push_str(&format!(
            "  {:<width$}  {:<7}  {}\n",
            pass.name(),
            kind,
            pass.description()
        ));
    }
    out
}

/// Writes the output module to `path`, the way a user of `-o` expects:
///
/// - a regular file, new or old, is replaced atomically (a temporary file beside it,
///   then a rename), so readers see the old file or the whole new one; an old file's
///   permissions carry over;
/// - a symbolic link is followed: the file it points at is replaced, the link stays;
/// - anything else that already exists there (`/dev/null`, a pipe, a terminal,
///   `/dev/stdout`) is written in place. A rename would put a regular file where the device was: run as
///   root, `-o /dev/null` once turned the machine's `/dev/null` into a file.
fn write_output(path: &Path, bytes: &[u8]) -> Result<()> {
    let context = || format!("cannot write '{}'", path.display());
    // (`metadata` follows links as the system does, `/proc/self/fd` ones included.)
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => {
            let target = std::fs::canonicalize(path).with_context(context)?;
            write_atomically(&target, bytes, Some(meta.permissions())).with_context(context)
        }
        Ok(meta) if !meta.is_dir() => {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .with_context(context)?;
            file.write_all(bytes).with_context(context)
        }
        _ => {
            let target = follow_links(path).with_context(context)?;
            write_atomically(&target, bytes, None).with_context(context)
        }
    }
}

/// The path a chain of symbolic links at `path` ends at (which need not exist yet).
fn follow_links(path: &Path) -> std::io::Result<PathBuf> {
    let mut current = path.to_path_buf();
    // Linux gives up after 40 links (ELOOP); so do we.
    for _ in 0..40 {
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let link = std::fs::read_link(&current)?;
                current = match current.parent() {
                    Some(parent) if link.is_relative() => parent.join(link),
                    _ => link,
                };
            }
            _ => return Ok(current),
        }
    }
    Err(std::io::Error::other("too many levels of symbolic links"))
}

/// Writes `bytes` to a temporary file beside `path`, then renames it into place.
fn write_atomically(
    path: &Path,
    bytes: &[u8],
    permissions: Option<std::fs::Permissions>,
) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("not a file name"))?
        .to_string_lossy();
    let temp = dir.join(format!(".{file_name}.barq-opt-{}.tmp", std::process::id()));
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        file.write_all(bytes)?;
        if let Some(permissions) = permissions {
            file.set_permissions(permissions)?;
        }
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dash_o_levels_become_long_options() {
        let args = normalize_args(
            ["barq-opt", "-O", "in.wasm", "-O3", "-Oz", "-o", "x"].map(OsString::from),
        );
        assert_eq!(
            args,
            [
                "barq-opt",
                "--opt-level=",
                "in.wasm",
                "--opt-level=3",
                "--opt-level=z",
                "-o",
                "x"
            ]
            .map(OsString::from)
        );
    }
}
