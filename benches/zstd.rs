//! Zstandard decompression with a real module: @bokuweb/zstd-wasm's
//! `ZSTD_decompress` (export `r`; emscripten, as the npm package ships it) on ~180
//! KB and 10 MiB of English prose compressed at level 3. Variants in Wasmtime: the
//! module as shipped, barq-opt's portable output (its loops rewritten), wasm-opt
//! -O3 (when bench/prepare-suite.sh installed binaryen), barq-opt `--target
//! native` in the runner's setting (the kernels reach memory through the store),
//! and natively the library the kernel links (zstd 1.5.7 through zstd-safe).
//! Every variant's output is compared with the original's before it is timed.
//! Prints a table of medians of interleaved rounds.
//!
//! `cargo bench --bench zstd` (needs corpus/realworld/fetch.sh's cache);
//! `BARQ_ZSTD_PASSES=bulk-memory,load-combine` adds a row per pass run alone.

mod common;

use barq_passes::fingerprints::zstd::frame;
use common::{prose, Run};
use std::path::PathBuf;
use wasmtime::{Engine, Linker, Memory, Module, Store};

/// Where the frames go (past the module's own 16 MiB heap, in grown pages).
const AT: usize = 20 << 20;

fn wasm(engine: &Engine, bytes: &[u8], src: &[u8], n: usize) -> Run {
    let module = Module::new(engine, bytes).expect("compile");
    let mut store: Store<Option<Memory>> = Store::new(engine, None);
    let mut linker = Linker::new(engine);
    barq_wasm::native::add_to_linker(&mut linker).expect("kernels");
    linker
        .define_unknown_imports_as_default_values(&mut store, &module)
        .expect("imports");
    let instance = linker
        .instantiate(&mut store, &module)
        .expect("instantiate");
    let memory = instance.get_memory(&mut store, "f").expect("memory");
    *store.data_mut() = Some(memory);
    instance
        .get_typed_func::<(), ()>(&mut store, "g")
        .expect("constructors")
        .call(&mut store, ())
        .expect("constructors run");
    let dst = (AT + src.len() + 64) & !63;
    let need = ((dst + n) / 65536 + 1) as u64;
    let have = memory.size(&store);
    if have < need {
        memory.grow(&mut store, need - have).expect("grow");
    }
    memory.data_mut(&mut store)[AT..AT + src.len()].copy_from_slice(src);
    let f = instance
        .get_typed_func::<(i32, i32, i32, i32), i32>(&mut store, "r")
        .expect("r");
    let len = src.len() as i32;
    Box::new(move |copy| {
        let got = f
            .call(&mut store, (dst as i32, n as i32, AT as i32, len))
            .expect("call");
        assert_eq!(got as usize, n, "decoded size");
        if copy {
            memory.data(&store)[dst..dst + n].to_vec()
        } else {
            Vec::new()
        }
    })
}

fn main() {
    let dir = std::env::var_os("BARQ_REALWORLD_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache"))
                .join("barq/realworld")
        });
    let original = std::fs::read(dir.join("node_modules/@bokuweb/zstd-wasm/dist/common/zstd.wasm"))
        .expect("zstd-wasm (run corpus/realworld/fetch.sh)");
    let portable = barq_wasm::optimize(&original, &barq_wasm::Options::default())
        .expect("barq-opt")
        .wasm;
    let native_options = barq_wasm::Options {
        target: barq_wasm::Target::Native,
        ..barq_wasm::Options::default()
    };
    let native = barq_wasm::optimize(&original, &native_options)
        .expect("barq-opt --target native")
        .wasm;
    let tools = std::env::var_os("BARQ_BENCH_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.parent().unwrap().join("bench-tools"));
    let wasm_opt = tools.join("node_modules/binaryen/bin/wasm-opt");
    let optimized = common::wasm_opt_o3(&wasm_opt, &original, "zstd");
    let engine = Engine::default();
    println!("Wasmtime 48; @bokuweb/zstd-wasm 0.0.27 ZSTD_decompress; level 3; median of interleaved rounds");
    println!("| input | variant | median | speedup vs original | MB/s |");
    println!("|---|---|---:|---:|---:|");
    for (name, len, rounds) in [
        ("prose ~180 KB", 184_320, 31),
        ("prose 10 MiB", 10 << 20, 11),
    ] {
        let text = prose(len);
        let src = frame(&text, 3, true, 0, true);
        let mut runs: Vec<(String, Run)> = vec![
            (
                "original (as shipped)".into(),
                wasm(&engine, &original, &src, len),
            ),
            (
                "barq (portable)".into(),
                wasm(&engine, &portable, &src, len),
            ),
        ];
        // BARQ_ZSTD_PASSES=a,b: a row per pass, the portable output of that pass alone.
        for pass in std::env::var("BARQ_ZSTD_PASSES")
            .unwrap_or_default()
            .split(',')
        {
            if pass.is_empty() {
                continue;
            }
            let options = barq_wasm::Options {
                passes: Some(vec![pass.to_string()]),
                ..barq_wasm::Options::default()
            };
            let bytes = barq_wasm::optimize(&original, &options).expect(pass).wasm;
            runs.push((
                format!("barq --pass {pass}"),
                wasm(&engine, &bytes, &src, len),
            ));
        }
        if let Some(bytes) = &optimized {
            runs.push(("wasm-opt -O3".into(), wasm(&engine, bytes, &src, len)));
        }
        runs.push((
            "barq --target native (barq-wasm)".into(),
            wasm(&engine, &native, &src, len),
        ));
        let native_src = src.clone();
        runs.push((
            "zstd 1.5.7 natively (zstd-safe)".into(),
            Box::new(move |_| {
                let mut out = vec![0u8; len];
                let n = zstd_safe::decompress(&mut out[..], &native_src).expect("decodes");
                assert_eq!(n, len);
                out
            }),
        ));
        common::time_rows(name, &text, rounds, &mut runs);
    }
}
