//! Brotli decompression with Google's C library (1.1.0) as a wasm module:
//! corpus/brotli/brotli.O2.wasm's `BrotliDecoderDecompress` (clang -O2, wasi-libc)
//! on ~180 KB and 10 MiB of English prose compressed at quality 9 (window 2^22).
//! Variants in Wasmtime: the module as built, barq-opt's portable output (its
//! loops rewritten), wasm-opt -O3 (when bench/prepare-suite.sh installed
//! binaryen), barq-opt `--target native` in the runner's setting (the kernels
//! reach memory through the store); and natively the decoder the kernel runs
//! (Google's library through brotlic-sys, by `fingerprints::brotli::decompress`,
//! its copy out of its own buffer included). Every variant's output is compared with the
//! text before it is timed. Prints a table of medians of interleaved rounds.
//!
//! `cargo bench --bench brotli`.

mod common;

use barq_passes::fingerprints::brotli::{compress, decompress};
use common::{prose, Run};
use std::path::PathBuf;
use wasmtime::{Engine, Linker, Memory, Module, Store};

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
    let memory = instance.get_memory(&mut store, "memory").expect("memory");
    *store.data_mut() = Some(memory);
    instance
        .get_typed_func::<(), ()>(&mut store, "_initialize")
        .expect("_initialize")
        .call(&mut store, ())
        .expect("_initialize runs");
    let f = instance
        .get_typed_func::<(i32, i32, i32, i32), i32>(&mut store, "BrotliDecoderDecompress")
        .expect("BrotliDecoderDecompress");
    // A call without input sets the allocator up on the memory there is; the
    // buffers go in pages grown after it (the heap grows past them).
    assert_eq!(f.call(&mut store, (0, 0, 0, 0)).expect("call"), 0);
    let at = memory.data_size(&store);
    let size_at = (at + src.len() + 64) & !63;
    let dst = size_at + 64;
    memory
        .grow(&mut store, ((dst + n) / 65536 + 1 - at / 65536) as u64)
        .expect("grow");
    memory.data_mut(&mut store)[at..at + src.len()].copy_from_slice(src);
    let len = src.len() as i32;
    Box::new(move |copy| {
        memory.data_mut(&mut store)[size_at..size_at + 4]
            .copy_from_slice(&(n as u32).to_le_bytes());
        let got = f
            .call(&mut store, (len, at as i32, size_at as i32, dst as i32))
            .expect("call");
        assert_eq!(got, 1, "decoded");
        let size = u32::from_le_bytes(
            memory.data(&store)[size_at..size_at + 4]
                .try_into()
                .unwrap(),
        );
        assert_eq!(size as usize, n, "decoded size");
        if copy {
            memory.data(&store)[dst..dst + n].to_vec()
        } else {
            Vec::new()
        }
    })
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let original = std::fs::read(root.join("corpus/brotli/brotli.O2.wasm")).expect("corpus");
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
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache"));
    let tools = std::env::var_os("BARQ_BENCH_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache.join("barq/bench-tools"));
    let wasm_opt = tools.join("node_modules/binaryen/bin/wasm-opt");
    let optimized = common::wasm_opt_o3(&wasm_opt, &original, "brotli");
    let engine = Engine::default();
    println!("Wasmtime 48; Google's Brotli 1.1.0 (clang -O2) BrotliDecoderDecompress; quality 9, window 2^22; median of interleaved rounds");
    println!("| input | variant | median | speedup vs original | MB/s |");
    println!("|---|---|---:|---:|---:|");
    for (name, len, rounds) in [
        ("prose ~180 KB", 184_320, 31),
        ("prose 10 MiB", 10 << 20, 9),
    ] {
        let text = prose(len);
        let src = compress(&text, 9, 22, false);
        let mut runs: Vec<(String, Run)> = vec![
            (
                "original (clang -O2)".into(),
                wasm(&engine, &original, &src, len),
            ),
            (
                "barq (portable)".into(),
                wasm(&engine, &portable, &src, len),
            ),
        ];
        if let Some(bytes) = &optimized {
            runs.push(("wasm-opt -O3".into(), wasm(&engine, bytes, &src, len)));
        }
        runs.push((
            "barq --target native (barq-wasm)".into(),
            wasm(&engine, &native, &src, len),
        ));
        let native_src = src.clone();
        runs.push((
            "Google's Brotli natively (the kernel's decoder)".into(),
            Box::new(move |_| {
                let mut out = vec![0u8; len];
                assert_eq!(decompress(&native_src, &mut out), Some(len));
                out
            }),
        ));
        common::time_rows(name, &text, rounds, &mut runs);
    }
}
