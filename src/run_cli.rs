//! The `barq-wasm` command line: `barq-wasm run app.wasm [ARGS]...` runs a WASI
//! command; `--invoke NAME [ARGS]...` calls an export with arguments parsed from its
//! signature and prints its results, one a line.
//!
//! Exit status: the program's own exit code for a command (or for an invoked
//! function that calls `proc_exit`); 0 after a successful `--invoke`; 134 when the module traps, runs out of fuel or times out (as a
//! process that aborts); 1 for any other error (bad file, missing import, bad
//! argument). Errors are one line on stderr (a trap adds its wasm backtrace).

use crate::config::{Config, IoOptions, RunOptLevel};
use crate::runtime::{RunError, Runtime, Val};
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "barq-wasm",
    version,
    about = "Runs WebAssembly modules in Wasmtime (WASI preview 1), optimized by barq on load"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a WASI command module, or call one export with --invoke.
    Run(RunArgs),
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Level {
    None,
    Default,
    Aggressive,
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// Call this exported function instead of `_start`; ARGS are its arguments.
    #[arg(long, value_name = "NAME")]
    invoke: Option<String>,
    /// What barq does on load: none, default (exact rewrites), aggressive (also --fast-math).
    #[arg(long, value_enum, default_value = "default")]
    opt_level: Level,
    /// Print barq's report (to stderr) before running.
    #[arg(long)]
    report: bool,
    /// Preopen a host directory: HOST or HOST::GUEST.
    #[arg(long = "dir", value_name = "HOST[::GUEST]")]
    dirs: Vec<String>,
    /// Set an environment variable for the program.
    #[arg(long = "env", value_name = "NAME=VALUE")]
    env: Vec<String>,
    /// Instruction budget (Wasmtime fuel) per call.
    #[arg(long, value_name = "N")]
    fuel: Option<u64>,
    /// WASI file I/O fast path for regular files the program opens (in place, one
    /// system call per request): on or off.
    #[arg(long, value_name = "on|off", default_value = "on", value_parser = parse_switch, action = clap::ArgAction::Set)]
    io_fast_path: bool,
    /// Write coalescing on those files: on (64 KiB batches), off, or a batch size in
    /// bytes. Batches are written out before any call that could observe them.
    #[arg(long, value_name = "on|off|BYTES", default_value = "on", value_parser = parse_batch)]
    io_batch: usize,
    /// Wall-clock limit per call, in seconds (fractions allowed).
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<f64>,
    /// The module (binary or text).
    file: PathBuf,
    /// Arguments: the program's (after argv[0]) or, with --invoke, the function's.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

/// Entry point of `barq-wasm`.
pub fn wasm_main() -> ExitCode {
    let cli = Cli::parse();
    let Command::Run(args) = cli.command;
    match run(&args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("barq-wasm: {e}");
            ExitCode::from(match e {
                RunError::Trap { .. } | RunError::OutOfFuel(_) | RunError::Timeout(_) => 134,
                _ => 1,
            })
        }
    }
}

fn run(args: &RunArgs) -> Result<u8, RunError> {
    let bytes = std::fs::read(&args.file)
        .map_err(|e| RunError::Load(format!("cannot read {}: {e}", args.file.display())))?;
    let mut config = Config::default()
        .with_pattern_detection(!matches!(args.opt_level, Level::None))
        .with_opt_level(match args.opt_level {
            Level::None => RunOptLevel::None,
            Level::Default => RunOptLevel::Default,
            Level::Aggressive => RunOptLevel::Aggressive,
        })
        .with_fuel(args.fuel)
        .with_io(IoOptions {
            fast_path: args.io_fast_path,
            batch_bytes: args.io_batch,
            count_calls: args.report,
        });
    if let Some(seconds) = args.timeout {
        let timeout = Duration::try_from_secs_f64(seconds)
            .map_err(|_| RunError::BadArgument(format!("bad --timeout {seconds}")))?;
        config = config.with_timeout(Some(timeout));
    }
    let program = args.file.file_name().map_or_else(
        || args.file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    if args.invoke.is_none() {
        config.args = std::iter::once(program).chain(args.args.clone()).collect();
    } else {
        config.args = vec![program];
    }
    for pair in &args.env {
        let (name, value) = pair.split_once('=').ok_or_else(|| {
            RunError::BadArgument(format!("--env wants NAME=VALUE, got `{pair}`"))
        })?;
        config.env.push((name.to_string(), value.to_string()));
    }
    for dir in &args.dirs {
        let (host, guest) = dir.split_once("::").unwrap_or((dir.as_str(), dir.as_str()));
        config.dirs.push((PathBuf::from(host), guest.to_string()));
    }
    let mut runtime = Runtime::new(config)?;
    let load = runtime.load_module(&bytes);
    if args.report {
        if let Some(report) = runtime.report() {
            eprint!("{}", crate::report::to_text(report));
        }
    }
    load?;
    let outcome = run_loaded(&mut runtime, args);
    if args.report {
        if let Some(stats) = runtime.io_stats() {
            eprint!("{}", stats.to_text());
        }
    }
    outcome
}

fn run_loaded(runtime: &mut Runtime, args: &RunArgs) -> Result<u8, RunError> {
    match &args.invoke {
        None => {
            let code = runtime.run()?;
            Ok(code.clamp(0, 255) as u8)
        }
        Some(name) => {
            let ty = runtime
                .signature(name)
                .ok_or_else(|| RunError::NoExport(name.clone()))?;
            let params: Vec<wasmtime::ValType> = ty.params().collect();
            if params.len() != args.args.len() {
                return Err(RunError::BadArgument(format!(
                    "`{name}` takes {} arguments, {} given",
                    params.len(),
                    args.args.len()
                )));
            }
            let values = params
                .iter()
                .zip(&args.args)
                .map(|(ty, text)| parse_value(ty, text))
                .collect::<Result<Vec<_>, _>>()?;
            match runtime.invoke(name, &values) {
                Ok(results) => {
                    for value in results {
                        println!("{}", show_value(&value));
                    }
                    Ok(0)
                }
                // The function called proc_exit: exit as the program asked.
                Err(RunError::Exit(code)) => Ok(code.clamp(0, 255) as u8),
                Err(e) => Err(e),
            }
        }
    }
}

fn parse_switch(text: &str) -> Result<bool, String> {
    match text {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("expected on or off, got `{text}`")),
    }
}

fn parse_batch(text: &str) -> Result<usize, String> {
    match text {
        "on" => Ok(IoOptions::default().batch_bytes),
        "off" => Ok(0),
        _ => text
            .parse()
            .map_err(|_| format!("expected on, off or a size in bytes, got `{text}`")),
    }
}

/// Parses one argument as the parameter type asks.
fn parse_value(ty: &wasmtime::ValType, text: &str) -> Result<Val, RunError> {
    let bad = || RunError::BadArgument(format!("`{text}` is not a valid {ty}"));
    Ok(match ty {
        wasmtime::ValType::I32 => {
            let v: i64 = parse_int(text).ok_or_else(bad)?;
            if !(i32::MIN as i64..=u32::MAX as i64).contains(&v) {
                return Err(bad());
            }
            Val::I32(v as i32)
        }
        wasmtime::ValType::I64 => {
            let v: i128 = parse_int(text).ok_or_else(bad)?;
            if !(i64::MIN as i128..=u64::MAX as i128).contains(&v) {
                return Err(bad());
            }
            Val::I64(v as i64)
        }
        wasmtime::ValType::F32 => Val::F32(text.parse::<f32>().map_err(|_| bad())?.to_bits()),
        wasmtime::ValType::F64 => Val::F64(text.parse::<f64>().map_err(|_| bad())?.to_bits()),
        _ => {
            return Err(RunError::BadArgument(format!(
                "parameters of type {ty} cannot be given on the command line"
            )))
        }
    })
}

fn parse_int<T: TryFrom<i128>>(text: &str) -> Option<T> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let magnitude = match digits.strip_prefix("0x") {
        Some(hex) => i128::from_str_radix(hex, 16).ok()?,
        None => digits.parse::<i128>().ok()?,
    };
    T::try_from(if negative { -magnitude } else { magnitude }).ok()
}

/// Prints a result as wasmtime's CLI does: integers in decimal, floats as floats.
fn show_value(value: &Val) -> String {
    match value {
        Val::I32(v) => v.to_string(),
        Val::I64(v) => v.to_string(),
        Val::F32(bits) => f32::from_bits(*bits).to_string(),
        Val::F64(bits) => f64::from_bits(*bits).to_string(),
        Val::V128(v) => format!("{:#034x}", v.as_u128()),
        other => format!("{other:?}"),
    }
}
