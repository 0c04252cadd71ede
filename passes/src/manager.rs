//! The pass manager runs the pipeline and does the safety work for every pass:
//! validation after each rewrite (debug builds and tests, or when asked),
//! `--print-after PASS`, and the `--bisect N` rewrite budget.
//!
//! Audits are read-only and feed the report, so they always run; `--pass NAME`
//! selects which *rewrite* passes run (and in which order), as in wasm-opt.

use crate::module_io::{self, LoadedModule};
use crate::names::FunctionNames;
use crate::options::Options;
use crate::pass::{PassCx, PassError};
use crate::passes::{self, Registered};
use crate::report::{Finding, Summary};
use walrus::{FunctionId, Module};

/// What a pipeline run produced besides the rewritten module.
#[derive(Debug, Default)]
pub struct PipelineOutcome {
    /// Every finding, in pass order.
    pub findings: Vec<Finding>,
    /// Function and loop counts of the input (finding counts are filled in later).
    pub summary: Summary,
    /// Text printed by `--print-after`: `(pass name, wasm text of changed functions)`.
    pub printed: Vec<(String, String)>,
    /// Every function changed by any pass.
    pub changed: Vec<FunctionId>,
}

/// A configured pipeline.
pub struct PassManager {
    pipeline: Vec<Registered>,
}

impl PassManager {
    /// The default pipeline, or the passes named in `options.passes` (plus every audit).
    pub fn from_options(options: &Options) -> Result<PassManager, PassError> {
        let Some(selected) = &options.passes else {
            return Ok(PassManager {
                pipeline: passes::all(),
            });
        };
        let mut pipeline: Vec<Registered> = passes::all()
            .into_iter()
            .filter(|p| !p.is_rewrite())
            .collect();
        for name in selected {
            let found = passes::all().into_iter().find(|p| p.name() == name);
            match found {
                Some(pass) if pass.is_rewrite() => pipeline.push(pass),
                Some(_) => {} // an audit: it runs anyway
                None => {
                    return Err(PassError::UnknownPass {
                        name: name.clone(),
                        valid: passes::valid_names(),
                    })
                }
            }
        }
        if let Some(name) = &options.print_after {
            if !passes::all().iter().any(|p| p.name() == name) {
                return Err(PassError::UnknownPass {
                    name: name.clone(),
                    valid: passes::valid_names(),
                });
            }
        }
        Ok(PassManager { pipeline })
    }

    /// Adds a pass at the end of the pipeline (tests use this to inject passes).
    pub fn push(&mut self, pass: Registered) {
        self.pipeline.push(pass);
    }

    /// The names of the passes that will run, in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.pipeline.iter().map(Registered::name).collect()
    }

    /// Runs the pipeline over `loaded.module`.
    pub fn run(
        &self,
        loaded: &mut LoadedModule,
        options: &Options,
    ) -> Result<PipelineOutcome, PassError> {
        let names = FunctionNames::new(&loaded.module, &loaded.input_func_index);
        let mut cx = PassCx::new(
            options,
            &loaded.input_func_index,
            &names,
            loaded.has_shared_memory,
        );
        let mut outcome = PipelineOutcome::default();
        for pass in &self.pipeline {
            let changed = match pass {
                Registered::Audit(audit) => {
                    audit.run(&loaded.module, &mut cx)?;
                    Vec::new()
                }
                Registered::Rewrite(rewrite) => {
                    if !options.opt_level.rewrites() {
                        continue;
                    }
                    rewrite.run(&mut loaded.module, &mut cx)?.functions
                }
            };
            if !changed.is_empty() && options.validate_each_pass {
                let bytes = module_io::emit(&mut loaded.module);
                module_io::validate(&bytes).map_err(|message| PassError::InvalidOutput {
                    pass: pass.name().to_string(),
                    message,
                })?;
            }
            if options.print_after.as_deref() == Some(pass.name()) {
                let text = print_functions(&mut loaded.module, &changed, &names);
                outcome.printed.push((pass.name().to_string(), text));
            }
            for id in changed {
                if !outcome.changed.contains(&id) {
                    outcome.changed.push(id);
                }
            }
        }
        // `loop-census` is an audit and so always runs; the fallback only matters for
        // pipelines built by hand without it.
        let (functions, loops) = cx
            .census
            .unwrap_or_else(|| passes::loop_census::census(&loaded.module));
        outcome.summary = Summary {
            functions,
            loops,
            ..Summary::default()
        };
        outcome.findings = cx.findings;
        Ok(outcome)
    }
}

/// The wasm text of the given functions as the module is now.
///
/// walrus renumbers functions on emit (largest first), so the functions are found in
/// the printed text by temporarily giving them marker names, then the real names are
/// put back in both the module and the text.
pub fn print_functions(module: &mut Module, ids: &[FunctionId], names: &FunctionNames) -> String {
    if ids.is_empty() {
        return String::from(";; (no functions changed)\n");
    }
    let marker = |i: usize| format!("barq-print-marker-{i}");
    let saved: Vec<Option<String>> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| std::mem::replace(&mut module.funcs.get_mut(*id).name, Some(marker(i))))
        .collect();
    let bytes = module_io::emit(module);
    for (id, name) in ids.iter().zip(saved) {
        module.funcs.get_mut(*id).name = name;
    }
    let text = match wasmprinter::print_bytes(&bytes) {
        Ok(text) => text,
        Err(e) => return format!(";; cannot print module: {e}\n"),
    };
    let mut out = String::new();
    for (i, id) in ids.iter().enumerate() {
        let header = format!("  (func ${} ", marker(i));
        let mut lines = text.lines().skip_while(|l| !l.starts_with(&header));
        let Some(first) = lines.next() else { continue };
        let display = names.get(*id);
        let display = if display.starts_with("func[new") {
            "barq-new".to_string()
        } else {
            display.to_string()
        };
        out.push_str(&first.replacen(&marker(i), &display, 1));
        out.push('\n');
        for line in lines {
            out.push_str(line);
            out.push('\n');
            if line == "  )" {
                break;
            }
        }
    }
    out
}
