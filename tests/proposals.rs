//! Proposals pass through: every `corpus/wat` module (exceptions, tail calls, multi
//! memory, threads, memory64, GC, SIMD, custom page sizes) is optimized and its
//! exported `run` gives the same result before and after. A module walrus cannot
//! represent comes out byte for byte as it went in.

mod common;

use barq_wasm::{optimize, Options};

fn run(bytes: &[u8]) -> Result<String, String> {
    let engine = common::engine();
    let module = wasmtime::Module::new(engine, bytes).map_err(|e| format!("compile: {e:#}"))?;
    let mut store = wasmtime::Store::new(engine, ());
    let instance =
        wasmtime::Instance::new(&mut store, &module, &[]).map_err(|e| format!("{e:#}"))?;
    let func = instance
        .get_func(&mut store, "run")
        .ok_or("no `run` export")?;
    let mut results = vec![wasmtime::Val::I32(0); func.ty(&store).results().len()];
    func.call(&mut store, &[], &mut results)
        .map_err(|e| format!("trap: {e:#}"))?;
    Ok(format!("{results:?}"))
}

#[test]
fn every_proposal_module_keeps_its_behaviour() {
    let files: Vec<_> = common::corpus_files()
        .into_iter()
        .filter(|p| {
            p.extension().is_some_and(|e| e == "wat")
                && p.parent().is_some_and(|d| d.ends_with("wat"))
        })
        .collect();
    assert!(files.len() >= 8, "{files:?}");
    for path in files {
        let text = common::read(&path);
        let input = wat::parse_bytes(&text)
            .expect("corpus wat parses")
            .into_owned();
        let result = optimize(&input, &Options::default()).expect("optimize");
        barq_wasm::validate(&result.wasm).expect("valid output");
        let before = run(&input).unwrap_or_else(|e| panic!("{}: original: {e}", path.display()));
        let after = run(&result.wasm).unwrap_or_else(|e| panic!("{}: output: {e}", path.display()));
        assert_eq!(before, after, "{}", path.display());
    }
}

#[test]
fn unrepresentable_module_passes_through_byte_for_byte() {
    let text = common::read(&common::root().join("corpus/wat/custom_page_sizes.wat"));
    let input = wat::parse_bytes(&text).expect("parses").into_owned();
    let result = optimize(&input, &Options::default()).expect("optimize");
    assert!(result.passed_through.is_some());
    assert_eq!(result.wasm, input);
    assert!(result
        .report
        .notes
        .iter()
        .any(|n| n.starts_with("passed through unchanged")));
}

#[test]
fn simd_input_is_recognised() {
    let text = common::read(&common::root().join("corpus/wat/simd.wat"));
    let input = wat::parse_bytes(&text).expect("parses").into_owned();
    let loaded = barq_passes::module_io::load(&input, false).expect("load");
    assert!(loaded.input_uses_simd);
    let scalar = common::read(&common::root().join("corpus/c/dot.O2.wasm"));
    assert!(
        !barq_passes::module_io::load(&scalar, false)
            .expect("load")
            .input_uses_simd
    );
    let threads = wat::parse_bytes(&common::read(
        &common::root().join("corpus/wat/threads.wat"),
    ))
    .expect("parses")
    .into_owned();
    assert!(
        barq_passes::module_io::load(&threads, false)
            .expect("load")
            .has_shared_memory
    );
}
