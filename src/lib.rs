//! barq: a WebAssembly idiom optimizer.
//!
//! `barq-opt` finds loops and functions that implement well-known algorithms and
//! replaces them with faster code, keeping the program's observable behaviour. This
//! crate is the outside world around [`barq_passes`]: the driver that loads, runs
//! the pipeline, emits and validates; report rendering; the `barq-opt` command
//! line; and the runner ([`runtime::Runtime`], [`config::Config`], `barq-wasm`).
//!
//! ```
//! let wasm = wat::parse_str(r#"(module (func (export "f") (result i32) i32.const 7))"#)?;
//! let result = barq_wasm::optimize(&wasm, &barq_wasm::Options::default())?;
//! assert_eq!(result.report.summary.functions, 1);
//! assert!(barq_wasm::validate(&result.wasm).is_ok());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

pub mod cli;
pub mod config;
pub mod driver;
pub mod native;
mod probe;
mod probe_guard;
pub mod report;
pub mod run_cli;
pub mod runtime;
pub mod verify;
pub mod wasi_io;

pub use barq_passes::{Action, Elem, Finding, OptLevel, Options, Report, Summary, Target, Tier};
pub use driver::{audit, optimize, Error, Optimized};

/// The README's Rust examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// Validates a module with every wasm feature enabled (as barq checks its outputs).
pub fn validate(bytes: &[u8]) -> Result<(), String> {
    barq_passes::module_io::validate(bytes)
}
