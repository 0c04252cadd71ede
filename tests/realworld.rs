//! The pinned real-world npm modules (corpus/realworld/modules.txt) go through
//! `barq_wasm::optimize`, validate, keep their custom sections, and compile and
//! instantiate in Wasmtime 48. Dependencies are built optimized in the test profile,
//! so Cranelift compiles the 14 MB onnxruntime and esbuild modules in seconds; the
//! few marked `validate` in modules.txt are instantiated by the ignored test below
//! (`cargo test --test realworld -- --ignored`, about 2.5 minutes).

mod common;

use barq_wasm::{optimize, Options};
use std::time::Instant;

/// Optimizes every module whose `check` column passes `select`, validates the output,
/// and instantiates it in Wasmtime when `instantiate` is set.
fn round_trip(select: impl Fn(&str) -> bool, instantiate: bool) {
    let modules = common::realworld_modules();
    let mut failures = Vec::new();
    for m in modules.iter().filter(|m| select(&m.check)) {
        let name = format!("{} {}", m.spec, m.file);
        let input = common::read(&m.path);
        let started = Instant::now();
        let result = match optimize(&input, &Options::default()) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{name}: optimize: {e}"));
                continue;
            }
        };
        let optimize_time = started.elapsed();
        assert!(result.passed_through.is_none(), "{name} was passed through");
        if let Err(e) = barq_wasm::validate(&result.wasm) {
            failures.push(format!("{name}: invalid output: {e}"));
            continue;
        }
        for section in common::lost_custom_sections(&input, &result.wasm) {
            failures.push(format!("{name}: lost custom section `{section}`"));
        }
        let started = Instant::now();
        if instantiate {
            if let Err(e) = common::instantiate(&result.wasm) {
                failures.push(format!("{name}: {e}"));
            }
        }
        // Timings are printed for the curious (`--nocapture`), never asserted.
        println!(
            "{name:<62} {:>9} bytes  optimize {:>6.2}s  wasmtime {:>6.2}s",
            input.len(),
            optimize_time.as_secs_f64(),
            started.elapsed().as_secs_f64(),
        );
    }
    common::assert_no_failures(&failures);
}

#[test]
fn every_realworld_module_round_trips() {
    round_trip(|_| true, false);
}

#[test]
fn realworld_outputs_instantiate_in_wasmtime() {
    round_trip(|check| check == "wasmtime", true);
}

#[test]
#[ignore = "Cranelift needs ~2.5 minutes on these; run with -- --ignored"]
fn largest_realworld_outputs_instantiate_in_wasmtime() {
    round_trip(|check| check == "validate", true);
}

/// The native target on the real modules of a few MB or less: emscripten exports
/// its memory under a minified name, so the output gets an export `memory` for
/// the kernels; every rewritten function runs against the original (`--verify`,
/// with the runner's kernels) without a difference, and the output imports from
/// `barq` exactly where a finding says native. The one expected difference:
/// zstd's `ZSTD_decompress` allocates its context on every call and the kernel
/// does not, so the allocator's state differs, which `--verify` (comparing all
/// of memory) reports; the rewrite is then dropped.
#[test]
fn native_outputs_verify_on_the_smaller_realworld_modules() {
    let options = Options {
        target: barq_wasm::Target::Native,
        ..Options::default()
    };
    let mut failures = Vec::new();
    let mut native_findings = 0;
    for m in common::realworld_modules()
        .iter()
        .filter(|m| m.check == "wasmtime")
    {
        let input = common::read(&m.path);
        if input.len() > 3 << 20 {
            continue;
        }
        let name = format!("{} {}", m.spec, m.file);
        let v = match barq_wasm::verify::optimize_verified(&input, &options, None, |_, _| {}) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let allocating: Vec<&str> = v
            .optimized
            .report
            .findings
            .iter()
            .filter(|f| f.pattern == "zstd_decompress")
            .map(|f| f.function.as_str())
            .collect();
        for d in &v.differences {
            if !allocating.contains(&d.function.as_str()) {
                failures.push(format!("{name}: {d:?}"));
            }
        }
        for f in &v.optimized.report.findings {
            if f.pattern == "zstd_decompress" && f.action == barq_wasm::Action::Rewritten {
                failures.push(format!("{name}: {} kept after --verify", f.function));
            }
        }
        let natives = v
            .optimized
            .report
            .findings
            .iter()
            .filter(|f| f.tier == Some(barq_wasm::Tier::Native))
            .count();
        native_findings += natives;
        let module = walrus::Module::from_buffer(&v.optimized.wasm)
            .map(|w| w.imports.iter().filter(|i| i.module == "barq").count())
            .unwrap_or(0);
        if (module > 0) != (natives > 0) {
            failures.push(format!(
                "{name}: {module} barq imports, {natives} native findings"
            ));
        }
    }
    common::assert_no_failures(&failures);
    // (zstd's decoder, and tfjs's integer sums, at least.)
    assert!(native_findings >= 10, "{native_findings} native rewrites");
}
