//! Checksums over 1 MiB in Wasmtime: CRC-32 (table-driven, slicing-by-4, bitwise),
//! CRC-32C and Adler-32 from corpus/c/checksums.c. Variants: the original (clang
//! -O2), barq-opt's portable output, barq-opt `--target native` (the runner's
//! kernels), wasm-opt -O3, clang's own -O3 -msimd128, the C compiled natively
//! (clang -O3 -march=native) and the Rust crates the kernels use, called directly.
//! Every variant's result is compared with the original's before it is timed.
//! Prints a table of medians of interleaved rounds (each round repeats a variant's
//! call for at least 2 ms and takes the mean).
//!
//! `cargo bench --bench checksum` runs `bench/prepare.sh` first.

use std::hint::black_box;
use std::path::PathBuf;
use wasmtime::{Engine, Linker, Module, Store};

const LEN: usize = 1 << 20;
const AT: usize = 1 << 20;

/// (export, takes a running value first)
const WORK: &[(&str, bool)] = &[
    ("crc32_update", true),
    ("crc32_slice4", false),
    ("crc32_bitwise", false),
    ("crc32c", false),
    ("adler32_update", true),
];

type Run = Box<dyn FnMut() -> u32>;

fn wasm(engine: &Engine, path: &PathBuf, export: &str, running: bool, data: &[u8]) -> Run {
    let module = Module::from_file(engine, path).expect("compile");
    let mut store = Store::new(engine, ());
    let mut linker = Linker::new(engine);
    barq_wasm::native::add_to_linker(&mut linker).expect("kernels");
    let instance = linker
        .instantiate(&mut store, &module)
        .expect("instantiate");
    let memory = instance.get_memory(&mut store, "memory").expect("memory");
    let need = ((AT + LEN) / 65536 + 1) as u64;
    let have = memory.size(&store);
    if have < need {
        memory.grow(&mut store, need - have).expect("grow");
    }
    memory.data_mut(&mut store)[AT..AT + LEN].copy_from_slice(data);
    let start = if export.starts_with("adler") { 1 } else { 0 };
    if running {
        let f = instance
            .get_typed_func::<(i32, i32, i32), i32>(&mut store, export)
            .expect(export);
        Box::new(move || {
            f.call(&mut store, (start, AT as i32, LEN as i32))
                .expect("call") as u32
        })
    } else {
        let f = instance
            .get_typed_func::<(i32, i32), i32>(&mut store, export)
            .expect(export);
        Box::new(move || f.call(&mut store, (AT as i32, LEN as i32)).expect("call") as u32)
    }
}

fn native_c(dir: &std::path::Path, export: &str, running: bool, data: Vec<u8>) -> Run {
    // SAFETY: the library is the corpus C source built by bench/prepare.sh; the
    // symbols have the C signatures below.
    unsafe {
        let lib = Box::leak(Box::new(
            libloading::Library::new(dir.join("libchecksums.so")).expect("libchecksums.so"),
        ));
        let start = if export.starts_with("adler") { 1 } else { 0 };
        if running {
            let f: libloading::Symbol<unsafe extern "C" fn(u32, *const u8, usize) -> u32> =
                lib.get(export.as_bytes()).expect(export);
            let f = *f;
            Box::new(move || f(start, data.as_ptr(), data.len()))
        } else {
            let f: libloading::Symbol<unsafe extern "C" fn(*const u8, usize) -> u32> =
                lib.get(export.as_bytes()).expect(export);
            let f = *f;
            Box::new(move || f(data.as_ptr(), data.len()))
        }
    }
}

/// The crate the native kernel uses, called directly on host memory.
fn crate_direct(export: &str, data: Vec<u8>) -> Run {
    match export {
        e if e.starts_with("adler") => Box::new(move || {
            let mut h = simd_adler32::Adler32::new();
            h.write(&data);
            h.finish()
        }),
        _ => Box::new(move || crc32fast::hash(&data)),
    }
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let status = std::process::Command::new("bash")
        .arg(root.join("bench/prepare.sh"))
        .status()
        .expect("bench/prepare.sh");
    assert!(status.success(), "bench/prepare.sh failed");
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("bench");
    let engine = Engine::default();
    let data: Vec<u8> = (0..LEN)
        .map(|i| (i * 7919 % 251) as u8 ^ (i >> 12) as u8)
        .collect();
    println!("Wasmtime 48; 1 MiB; median of 15 interleaved rounds");
    println!("| checksum | variant | median | speedup vs original | GB/s |");
    println!("|---|---|---:|---:|---:|");
    for &(export, running) in WORK {
        let file = |suffix: &str| dir.join(format!("checksums.{suffix}.wasm"));
        let mut runs: Vec<(String, Run)> = vec![
            (
                "original (clang -O2)".into(),
                wasm(&engine, &file("O2"), export, running, &data),
            ),
            (
                "barq (portable)".into(),
                wasm(&engine, &file("O2.barq"), export, running, &data),
            ),
            (
                "barq --target native (barq-wasm)".into(),
                wasm(&engine, &file("O2.native"), export, running, &data),
            ),
            (
                "wasm-opt -O3".into(),
                wasm(&engine, &file("O2.wasmopt"), export, running, &data),
            ),
            (
                "clang -O3 -msimd128".into(),
                wasm(&engine, &file("O3-simd"), export, running, &data),
            ),
            (
                "native C (clang -O3 -march=native)".into(),
                native_c(&dir, export, running, data.clone()),
            ),
        ];
        // (CRC-32C's kernel is the SSE4.2 instruction loop itself: no crate.)
        if export != "crc32c" {
            runs.push((
                "the kernel's crate natively (crc32fast / simd-adler32)".into(),
                crate_direct(export, data.clone()),
            ));
        }
        let expected = (runs[0].1)();
        for (label, run) in runs.iter_mut() {
            assert_eq!(run(), expected, "{export}: {label} computes something else");
        }
        const ROUNDS: usize = 15;
        let mut times = vec![Vec::new(); runs.len()];
        for _ in 0..ROUNDS {
            for (i, (_, run)) in runs.iter_mut().enumerate() {
                // (Calls repeated for 2 ms or more: the buffer is warm, as the
                // suite's are; one cold call per round measured memory instead.)
                let (start, mut calls) = (std::time::Instant::now(), 0u32);
                while calls == 0 || start.elapsed().as_secs_f64() < 2e-3 {
                    black_box(run());
                    calls += 1;
                }
                times[i].push(start.elapsed().as_secs_f64() * 1e6 / f64::from(calls));
            }
        }
        let medians: Vec<f64> = times
            .into_iter()
            .map(|mut t| {
                t.sort_by(f64::total_cmp);
                t[ROUNDS / 2]
            })
            .collect();
        for ((label, _), t) in runs.iter().zip(&medians) {
            println!(
                "| {export} | {label} | {t:.1} µs | {:.2}x | {:.2} |",
                medians[0] / t,
                LEN as f64 / (t * 1e3)
            );
        }
    }
}
