//! barq's optimizer core: analyses, fingerprints, rewrite passes and the pass manager.
//!
//! This crate works on an in-memory [`walrus::Module`] and byte slices only: no file
//! I/O, no command-line parsing and no Wasmtime. The `barq-wasm` crate wraps it with
//! the CLI, the report renderers and the runner.
//!
//! The flow is one-way (see `shared/DESIGN.md`):
//! `bytes -> load -> analyses -> fingerprints -> rewrite passes -> emit -> validate`.

#![deny(missing_docs)]

pub mod analysis;
pub mod fingerprints;
pub mod manager;
pub mod module_io;
pub mod names;
pub mod options;
pub mod pass;
pub mod passes;
pub mod probe;
pub mod report;
pub mod rewrite;

pub use manager::{PassManager, PipelineOutcome};
pub use module_io::{LoadError, LoadedModule};
pub use options::{OptLevel, Options, Target};
pub use pass::{Audit, Changed, Pass, PassCx, PassError};
pub use probe::{Probe, ProbeArg, ProbeRun};
pub use report::{Action, Elem, Finding, Report, Summary, Tier};
