//! Every corpus module goes through `barq_wasm::optimize` and comes out valid, with its
//! name section and custom sections kept, `barq` in producers, and instantiable in
//! Wasmtime 48. Real-world modules are in `realworld.rs`.

mod common;

use barq_wasm::{optimize, Options};

#[test]
fn every_corpus_module_round_trips() {
    let files = common::corpus_files();
    assert!(
        files.len() >= 80,
        "corpus looks incomplete: {} files",
        files.len()
    );
    let mut failures = Vec::new();
    for path in &files {
        let input = common::read(path);
        let result = match optimize(&input, &Options::default()) {
            Ok(result) => result,
            Err(e) => {
                failures.push(format!("{}: optimize: {e}", path.display()));
                continue;
            }
        };
        if let Err(e) = barq_wasm::validate(&result.wasm) {
            failures.push(format!("{}: invalid output: {e}", path.display()));
            continue;
        }
        if let Err(e) = common::instantiate(&result.wasm) {
            failures.push(format!("{}: {e}", path.display()));
        }
        if path.extension().is_some_and(|e| e == "wasm") {
            for name in common::lost_custom_sections(&input, &result.wasm) {
                failures.push(format!("{}: lost custom section `{name}`", path.display()));
            }
        }
        if result.passed_through.is_none()
            && !common::processed_by(&result.wasm).contains(&"barq".to_string())
        {
            failures.push(format!("{}: `barq` missing from producers", path.display()));
        }
    }
    common::assert_no_failures(&failures);
}

#[test]
fn output_behaves_like_input_on_a_kernel() {
    // dot_i32 is rewritten (an exact integer reduction): the output must compute
    // exactly what the input does on a real clang kernel.
    let input = common::read(&common::root().join("corpus/c/dot.O2.wasm"));
    let output = optimize(&input, &Options::default())
        .expect("optimize")
        .wasm;
    let run = |bytes: &[u8]| -> i32 {
        let engine = common::engine();
        let module = wasmtime::Module::new(engine, bytes).expect("compile");
        let mut store = wasmtime::Store::new(engine, ());
        let instance = wasmtime::Instance::new(&mut store, &module, &[]).expect("instantiate");
        let memory = instance
            .get_memory(&mut store, "memory")
            .expect("memory export");
        let a: Vec<u8> = (1..=40i32).flat_map(|v| v.to_le_bytes()).collect();
        let b: Vec<u8> = (1..=40i32)
            .map(|v| v * 3 - 7)
            .flat_map(|v| v.to_le_bytes())
            .collect();
        memory.write(&mut store, 1024, &a).expect("write a");
        memory.write(&mut store, 2048, &b).expect("write b");
        let f = instance
            .get_typed_func::<(i32, i32, i32), i32>(&mut store, "dot_i32")
            .expect("dot_i32");
        f.call(&mut store, (1024, 2048, 37)).expect("call")
    };
    let expected: i32 = (1..=37i32).map(|v| v * (v * 3 - 7)).sum();
    assert_eq!(run(&input), expected);
    assert_eq!(run(&output), expected);
}

#[test]
fn name_section_survives() {
    let input = common::read(&common::root().join("corpus/c/matmul.O1.wasm"));
    let output = optimize(&input, &Options::default())
        .expect("optimize")
        .wasm;
    let text = wasmprinter::print_bytes(&output).expect("print");
    assert!(text.contains("$matmul_ijk"), "function names lost");
}

#[test]
fn optimizing_twice_adds_nothing() {
    // barq's kernels and already-guarded loops are not fingerprinted again.
    for name in [
        "c/axpy.O2.wasm",
        "c/relu.Oz.wasm",
        "c/matmul.O1.wasm",
        "assemblyscript/vector.O3.wasm",
    ] {
        let input = common::read(&common::root().join("corpus").join(name));
        let once = optimize(&input, &Options::default()).expect("first run");
        assert!(
            once.report.summary.rewritten > 0,
            "{name}: nothing rewritten"
        );
        let twice = optimize(&once.wasm, &Options::default()).expect("second run");
        assert_eq!(
            twice.report.summary.rewritten, 0,
            "{name}: {:?}",
            twice.report.findings
        );
        assert!(
            twice
                .report
                .findings
                .iter()
                .all(|f| !f.function.starts_with("barq_")),
            "{name}: {:?}",
            twice.report.findings
        );
        // At most one kernel function per rewrite (lockstep nests add none).
        let added = twice.report.summary.functions - once.report.summary.functions;
        assert!(
            added <= once.report.summary.rewritten,
            "{name}: {added} functions added"
        );
    }
}
