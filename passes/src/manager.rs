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
use crate::probe::Probe;
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

    /// Runs the pipeline over `loaded.module`, without a prober (fingerprints that
    /// identify functions by running them find nothing).
    pub fn run(
        &self,
        loaded: &mut LoadedModule,
        options: &Options,
    ) -> Result<PipelineOutcome, PassError> {
        self.run_probed(loaded, options, None)
    }

    /// Runs the pipeline over `loaded.module`; `probe` runs functions of the input
    /// module for whole-function fingerprints.
    pub fn run_probed(
        &self,
        loaded: &mut LoadedModule,
        options: &Options,
        probe: Option<&mut dyn Probe>,
    ) -> Result<PipelineOutcome, PassError> {
        let names = FunctionNames::new(&loaded.module, &loaded.input_func_index);
        let mut cx = PassCx::new(
            options,
            &loaded.input_func_index,
            &names,
            loaded.has_shared_memory,
        );
        cx.vectorized_input = Some(
            loaded
                .module
                .funcs
                .iter_local()
                .filter(|(_, f)| passes::simd_elementwise::uses_simd(f))
                .map(|(id, _)| id)
                .collect(),
        );
        if let Some(p) = probe {
            // (A reborrow: the context lives shorter than the prober.)
            cx.probe = Some(p);
        }
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
        cx.mark_dropped();
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
        .map(|(i, id)| module.funcs.get_mut(*id).name.replace(marker(i)))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pass::{Changed, Pass};
    use walrus::ir::{BinaryOp, Binop, Const, Drop, Instr, Value};

    /// Puts instructions at the start of every defined function.
    struct Prepend {
        name: &'static str,
        instrs: fn() -> Vec<Instr>,
    }

    /// `i32.const 7; drop`: harmless, visible in the printed text.
    fn harmless() -> Vec<Instr> {
        vec![
            Instr::Const(Const {
                value: Value::I32(7),
            }),
            Instr::Drop(Drop {}),
        ]
    }

    impl Pass for Prepend {
        fn name(&self) -> &'static str {
            self.name
        }
        fn description(&self) -> &'static str {
            "test pass"
        }
        fn run(&self, module: &mut Module, cx: &mut PassCx<'_>) -> Result<Changed, PassError> {
            let mut changed = Changed::nothing();
            for (id, func) in module.funcs.iter_local_mut() {
                if !cx.allow_rewrite() {
                    break;
                }
                let mut body = func.builder_mut().func_body();
                for (position, instr) in (self.instrs)().into_iter().enumerate() {
                    body.instr_at(position, instr);
                }
                changed.functions.push(id);
            }
            Ok(changed)
        }
    }

    fn loaded() -> LoadedModule {
        let wasm = wat::parse_str(
            r#"(module
                 (func $first (export "first") (result i32) i32.const 1)
                 (func $second (result i32) i32.const 2))"#,
        )
        .expect("wat");
        module_io::load(&wasm, false).expect("load")
    }

    fn manager_with(pass: Prepend, options: &Options) -> PassManager {
        let mut manager = PassManager::from_options(options).expect("manager");
        manager.push(Registered::Rewrite(Box::new(pass)));
        manager
    }

    #[test]
    fn validation_after_a_pass_catches_a_broken_rewrite() {
        let options = Options {
            validate_each_pass: true,
            ..Options::default()
        };
        let breaker = Prepend {
            name: "breaker",
            instrs: || {
                vec![Instr::Binop(Binop {
                    op: BinaryOp::I32Add,
                })]
            },
        };
        let error = manager_with(breaker, &options)
            .run(&mut loaded(), &options)
            .expect_err("must fail");
        assert!(
            matches!(&error, PassError::InvalidOutput { pass, .. } if pass == "breaker"),
            "{error}"
        );
    }

    #[test]
    fn print_after_shows_the_changed_functions_by_name() {
        let options = Options {
            print_after: Some("nopper".into()),
            ..Options::default()
        };
        let nopper = Prepend {
            name: "nopper",
            instrs: harmless,
        };
        // `from_options` checks --print-after against the registry, so build by hand.
        let manager = manager_with(nopper, &Options::default());
        let mut module = loaded();
        let outcome = manager.run(&mut module, &options).expect("run");
        let (pass, text) = &outcome.printed[0];
        assert_eq!(pass, "nopper");
        assert!(text.contains("(func $first"), "{text}");
        assert!(text.contains("(func $second"), "{text}");
        assert!(text.contains("i32.const 7"), "{text}");
        assert!(!text.contains("barq-print-marker"), "{text}");
        // The names in the module itself are restored.
        assert!(module.module.funcs.by_name("first").is_some());
    }

    #[test]
    fn bisect_limits_the_number_of_rewrites() {
        let options = Options {
            bisect_limit: Some(1),
            ..Options::default()
        };
        let nopper = Prepend {
            name: "nopper",
            instrs: harmless,
        };
        let outcome = manager_with(nopper, &options)
            .run(&mut loaded(), &options)
            .expect("run");
        assert_eq!(outcome.changed.len(), 1);
    }

    #[test]
    fn unknown_pass_names_list_the_valid_ones() {
        let options = Options {
            passes: Some(vec!["nonesuch".into()]),
            ..Options::default()
        };
        let error = PassManager::from_options(&options)
            .err()
            .expect("must fail");
        assert!(
            error.to_string().contains("valid passes: loop-census"),
            "{error}"
        );
    }

    #[test]
    fn summary_counts_functions_and_loops() {
        let wasm =
            wat::parse_str(r#"(module (func (loop (block (loop))) (loop)) (func))"#).expect("wat");
        let mut loaded = module_io::load(&wasm, false).expect("load");
        let options = Options::default();
        let outcome = PassManager::from_options(&options)
            .expect("manager")
            .run(&mut loaded, &options)
            .expect("run");
        assert_eq!((outcome.summary.functions, outcome.summary.loops), (2, 3));
    }
}
