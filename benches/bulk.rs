//! Copy and fill loops in Wasmtime, by size: where `memory.copy` / `memory.fill`
//! pays off (the bulk-memory pass's `MIN_BYTES`). Variants: the clang -O2 loops of
//! corpus/c/bytes.c (built with -fno-builtin), barq-opt's output (guard +
//! memory.copy/fill above the threshold), barq-opt --no-bulk-memory (SIMD128 maps
//! for 4-byte elements, loops for bytes), clang's own -O3 -msimd128, and the bare
//! instructions without a guard (bench/bulk_only.wat). Prints ns per call and the
//! ratio against the loop after criterion's own report; then the same for copies
//! and fills nested in a row loop, which barq does in place (no call).
//!
//! `cargo bench --bench bulk` runs `bench/prepare.sh` first. The same modules run
//! in V8 with `node bench/bulk.mjs`.

use criterion::Criterion;
use std::path::{Path, PathBuf};
use wasmtime::{Engine, Instance, Module, Store, TypedFunc};

const DST: i32 = 1 << 20;
const SRC: i32 = 2 << 20;
/// Bytes per call.
const SIZES: &[i32] = &[16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 1024, 65536];
/// (export, bytes per element)
const KERNELS: &[(&str, i32)] = &[("copy_u8", 1), ("fill_u8", 1), ("copy_u32", 4)];
const VARIANTS: &[(&str, &str)] = &[
    ("loop (clang -O2)", "bytes.O2"),
    ("barq", "bytes.O2.barq"),
    ("barq --no-bulk-memory", "bytes.O2.nobulk"),
    ("clang -O3 -msimd128", "bytes.O3-simd"),
    ("memory.copy/fill, no guard", "bulk_only"),
];

fn bench_dir() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let status = std::process::Command::new("bash")
        .arg(root.join("bench/prepare.sh"))
        .status()
        .expect("run bench/prepare.sh");
    assert!(status.success(), "bench/prepare.sh failed");
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or(root.join("target"), PathBuf::from);
    target.join("bench")
}

type Runner = Box<dyn FnMut()>;

fn runner(engine: &Engine, path: &Path, export: &str, elements: i32) -> Runner {
    let module = Module::from_file(engine, path).expect("compile");
    let mut store = Store::new(engine, ());
    let instance = Instance::new(&mut store, &module, &[]).expect("instantiate");
    let memory = instance.get_memory(&mut store, "memory").expect("memory");
    let need = (SRC as u64 + 65536 * 2) / 65536;
    let have = memory.size(&store);
    if have < need {
        memory.grow(&mut store, need - have).expect("grow");
    }
    let f: TypedFunc<(i32, i32, i32), ()> =
        instance.get_typed_func(&mut store, export).expect(export);
    let second = if export.starts_with("fill") {
        0x5a
    } else {
        SRC
    };
    Box::new(move || {
        f.call(&mut store, (DST, second, elements)).expect("call");
    })
}

/// Copy and fill loops nested in a row loop (corpus/c/bytes.c `copy_rows_u8`,
/// `fill_rows_u8`: 1,000 rows of `n` bytes, 3 bytes apart), where barq moves in
/// place: the loop, barq, and barq `--no-simd` (the same guard calling
/// `memory.copy` / `memory.fill`).
const ROWS: i32 = 1000;
const ROW_VARIANTS: &[(&str, &str)] = &[
    ("loop (clang -O2)", "bytes.O2"),
    ("barq (in place)", "bytes.O2.barq"),
    ("barq --no-simd (host call)", "bytes.O2.nosimd"),
];
const ROW_BYTES: &[i32] = &[16, 24, 40, 100, 256];

fn row_runner(engine: &Engine, path: &Path, export: &str, n: i32) -> Runner {
    let module = Module::from_file(engine, path).expect("compile");
    let mut store = Store::new(engine, ());
    let instance = Instance::new(&mut store, &module, &[]).expect("instantiate");
    let memory = instance.get_memory(&mut store, "memory").expect("memory");
    let need = (SRC as u64 + (ROWS as u64) * 300) / 65536 + 1;
    let have = memory.size(&store);
    if have < need {
        memory.grow(&mut store, need - have).expect("grow");
    }
    let f: TypedFunc<(i32, i32, i32, i32, i32), ()> =
        instance.get_typed_func(&mut store, export).expect(export);
    let second = if export.starts_with("fill") {
        0x5a
    } else {
        SRC
    };
    Box::new(move || {
        f.call(&mut store, (DST, second, n, ROWS, n + 3))
            .expect("call");
    })
}

/// Median ns per call of each runner, in interleaved rounds.
fn medians(runners: &mut [Runner], calls: u32) -> Vec<f64> {
    const ROUNDS: usize = 21;
    let mut times = vec![Vec::with_capacity(ROUNDS); runners.len()];
    for run in runners.iter_mut() {
        for _ in 0..calls {
            run();
        }
    }
    for _ in 0..ROUNDS {
        for (i, run) in runners.iter_mut().enumerate() {
            let start = std::time::Instant::now();
            for _ in 0..calls {
                run();
            }
            times[i].push(start.elapsed().as_secs_f64() * 1e9 / calls as f64);
        }
    }
    times
        .into_iter()
        .map(|mut t| {
            t.sort_by(f64::total_cmp);
            t[ROUNDS / 2]
        })
        .collect()
}

fn main() {
    let dir = bench_dir();
    let engine = Engine::default();
    let mut c = Criterion::default().configure_from_args();
    for &(export, width) in KERNELS {
        let mut group = c.benchmark_group(format!("{export}_1KiB"));
        for &(label, file) in VARIANTS {
            let mut run = runner(
                &engine,
                &dir.join(format!("{file}.wasm")),
                export,
                1024 / width,
            );
            group.bench_function(label, |b| b.iter(&mut run));
        }
        group.finish();
    }
    c.final_summary();
    println!("\nWasmtime 48; median ns per call of 21 interleaved rounds");
    println!(
        "| kernel | bytes | {} |",
        VARIANTS.iter().map(|v| v.0).collect::<Vec<_>>().join(" | ")
    );
    println!("|---|---:|{}", "---:|".repeat(VARIANTS.len()));
    for &(export, width) in KERNELS {
        for &bytes in SIZES {
            let mut runners: Vec<Runner> = VARIANTS
                .iter()
                .map(|(_, file)| {
                    runner(
                        &engine,
                        &dir.join(format!("{file}.wasm")),
                        export,
                        bytes / width,
                    )
                })
                .collect();
            let calls = (2_000_000 / (bytes as u32 + 64)).max(20);
            let m = medians(&mut runners, calls);
            let cells: Vec<String> = m
                .iter()
                .map(|t| format!("{t:.0} ns ({:.2}x)", m[0] / t))
                .collect();
            println!("| {export} | {bytes} | {} |", cells.join(" | "));
        }
    }
    println!("\nNested in a row loop ({ROWS} rows); median µs per call of 21 interleaved rounds");
    println!(
        "| kernel | bytes a row | {} |",
        ROW_VARIANTS
            .iter()
            .map(|v| v.0)
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!("|---|---:|{}", "---:|".repeat(ROW_VARIANTS.len()));
    for export in ["copy_rows_u8", "fill_rows_u8"] {
        for &n in ROW_BYTES {
            let mut runners: Vec<Runner> = ROW_VARIANTS
                .iter()
                .map(|(_, file)| row_runner(&engine, &dir.join(format!("{file}.wasm")), export, n))
                .collect();
            let m = medians(&mut runners, 20);
            let cells: Vec<String> = m
                .iter()
                .map(|t| format!("{:.1} µs ({:.2}x)", t / 1000.0, m[0] / t))
                .collect();
            println!("| {export} | {n} | {} |", cells.join(" | "));
        }
    }
}
