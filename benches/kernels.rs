//! Kernels on 500K f32 in Wasmtime: axpy and relu (exact rewrites) and dot (a float
//! reduction, rewritten with --fast-math). Variants: the original module (clang
//! -O2), barq-opt's output, wasm-opt -O3, barq-opt after wasm-opt -O3, clang's own
//! -O3 -msimd128 (and, for dot, with -ffast-math), and the same loop compiled
//! natively by rustc. Prints the ratios of every variant against the original after
//! criterion's own report.
//!
//! `cargo bench --bench kernels` runs `bench/prepare.sh` first (it needs npm for
//! binaryen's wasm-opt). The same modules run in V8 with `node bench/v8.mjs`.

use criterion::Criterion;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use wasmtime::{Engine, Instance, Memory, Module, Store, TypedFunc};

const N: usize = 500_000;
const X: i32 = 1 << 20; // byte offsets of the two arrays in linear memory
const Y: i32 = 4 << 20;

const KERNELS: &[&str] = &["axpy", "relu", "dot"];

/// The module variants compared for a kernel: (label, file suffix).
fn variants(kernel: &str) -> Vec<(&'static str, &'static str)> {
    let mut v = vec![("original (clang -O2)", "O2")];
    if kernel == "dot" {
        v.push(("barq --fast-math", "O2.barq"));
        v.push(("wasm-opt -O3", "O2.wasmopt"));
        v.push(("wasm-opt -O3 + barq --fast-math", "O2.wasmopt.barq"));
        v.push(("clang -O3 -msimd128", "O3-simd"));
        v.push(("clang -O3 -msimd128 -ffast-math", "O3-simd-ffast"));
    } else {
        v.push(("barq", "O2.barq"));
        v.push(("wasm-opt -O3", "O2.wasmopt"));
        v.push(("wasm-opt -O3 + barq", "O2.wasmopt.barq"));
        v.push(("clang -O3 -msimd128", "O3-simd"));
    }
    v
}

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

struct Loaded {
    store: Store<()>,
    memory: Memory,
    instance: Instance,
}

fn load(engine: &Engine, path: &Path) -> Loaded {
    let module = Module::from_file(engine, path).expect("compile");
    let mut store = Store::new(engine, ());
    let instance = Instance::new(&mut store, &module, &[]).expect("instantiate");
    let memory = instance.get_memory(&mut store, "memory").expect("memory");
    let need = (Y as u64 + 4 * N as u64) / 65536 + 1;
    let have = memory.size(&store);
    if have < need {
        memory.grow(&mut store, need - have).expect("grow");
    }
    let data = memory.data_mut(&mut store);
    for i in 0..N {
        let x = ((i % 1000) as f32 - 500.0) * 0.25;
        data[X as usize + 4 * i..X as usize + 4 * i + 4].copy_from_slice(&x.to_le_bytes());
        data[Y as usize + 4 * i..Y as usize + 4 * i + 4].copy_from_slice(&(1.0f32).to_le_bytes());
    }
    Loaded {
        store,
        memory,
        instance,
    }
}

fn native_axpy(a: f32, x: &[f32], y: &mut [f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * *xi;
    }
}

fn native_dot(x: &[f32], y: &[f32]) -> f32 {
    x.iter().zip(y).map(|(a, b)| a * b).sum()
}

fn native_relu(x: &mut [f32]) {
    for v in x {
        *v = if *v > 0.0 { *v } else { 0.0 };
    }
}

fn benches(c: &mut Criterion, dir: &Path) {
    let engine = Engine::default();
    for kernel in KERNELS {
        let kernel = *kernel;
        let mut group = c.benchmark_group(kernel);
        for (label, suffix) in variants(kernel) {
            let mut m = load(&engine, &dir.join(format!("{kernel}.{suffix}.wasm")));
            if kernel == "dot" {
                let f: TypedFunc<(i32, i32, i32), f32> = m
                    .instance
                    .get_typed_func(&mut m.store, "dot_f32")
                    .expect("dot_f32");
                group.bench_function(label, |b| {
                    b.iter(|| f.call(&mut m.store, (X, Y, N as i32)).expect("call"))
                });
            } else if kernel == "axpy" {
                let f: TypedFunc<(f32, i32, i32, i32), ()> = m
                    .instance
                    .get_typed_func(&mut m.store, "axpy")
                    .expect("axpy");
                group.bench_function(label, |b| {
                    b.iter(|| f.call(&mut m.store, (0.5, X, Y, N as i32)).expect("call"))
                });
            } else {
                let f: TypedFunc<(i32, i32), ()> = m
                    .instance
                    .get_typed_func(&mut m.store, "relu")
                    .expect("relu");
                group.bench_function(label, |b| {
                    b.iter(|| f.call(&mut m.store, (X, N as i32)).expect("call"))
                });
            }
            let _ = m.memory;
        }
        let x: Vec<f32> = (0..N).map(|i| ((i % 1000) as f32 - 500.0) * 0.25).collect();
        let mut y = vec![1.0f32; N];
        group.bench_function("native (rustc -O3)", |b| {
            b.iter(|| match kernel {
                "axpy" => native_axpy(black_box(0.5), black_box(&x), black_box(&mut y)),
                "dot" => {
                    black_box(native_dot(black_box(&x), black_box(&y)));
                }
                _ => native_relu(black_box(&mut y)),
            })
        });
        group.finish();
    }
}

/// One callable variant for the interleaved measurement.
type Runner = Box<dyn FnMut()>;

fn runners(engine: &Engine, dir: &Path, kernel: &'static str) -> Vec<(String, Runner)> {
    let mut out: Vec<(String, Runner)> = Vec::new();
    for (label, suffix) in variants(kernel) {
        let mut m = load(engine, &dir.join(format!("{kernel}.{suffix}.wasm")));
        let runner: Runner = if kernel == "dot" {
            let f: TypedFunc<(i32, i32, i32), f32> = m
                .instance
                .get_typed_func(&mut m.store, "dot_f32")
                .expect("dot_f32");
            Box::new(move || {
                black_box(f.call(&mut m.store, (X, Y, N as i32)).expect("call"));
            })
        } else if kernel == "axpy" {
            let f: TypedFunc<(f32, i32, i32, i32), ()> = m
                .instance
                .get_typed_func(&mut m.store, "axpy")
                .expect("axpy");
            Box::new(move || f.call(&mut m.store, (0.5, X, Y, N as i32)).expect("call"))
        } else {
            let f: TypedFunc<(i32, i32), ()> = m
                .instance
                .get_typed_func(&mut m.store, "relu")
                .expect("relu");
            Box::new(move || f.call(&mut m.store, (X, N as i32)).expect("call"))
        };
        out.push((label.to_string(), runner));
    }
    let x: Vec<f32> = (0..N).map(|i| ((i % 1000) as f32 - 500.0) * 0.25).collect();
    let mut y = vec![1.0f32; N];
    out.push((
        "native (rustc -O3)".to_string(),
        Box::new(move || match kernel {
            "axpy" => native_axpy(black_box(0.5), black_box(&x), black_box(&mut y)),
            "dot" => {
                black_box(native_dot(black_box(&x), black_box(&y)));
            }
            _ => native_relu(black_box(&mut y)),
        }),
    ));
    out
}

/// Median time per call of each variant, measured in interleaved rounds so that
/// drift (clock frequency, other load) hits every variant alike.
fn interleaved_medians(runners: &mut [(String, Runner)]) -> Vec<f64> {
    const ROUNDS: usize = 31;
    const CALLS: u32 = 20;
    for (_, run) in runners.iter_mut() {
        for _ in 0..5 {
            run();
        }
    }
    let mut times = vec![Vec::with_capacity(ROUNDS); runners.len()];
    for _ in 0..ROUNDS {
        for (i, (_, run)) in runners.iter_mut().enumerate() {
            let start = std::time::Instant::now();
            for _ in 0..CALLS {
                run();
            }
            times[i].push(start.elapsed().as_secs_f64() * 1e6 / CALLS as f64);
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
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c, &dir);
    c.final_summary();
    let engine = Engine::default();
    println!("\nWasmtime 48, {N} f32 elements; median of 31 interleaved rounds of 20 calls");
    println!("| kernel | variant | median | speedup vs original |");
    println!("|---|---|---:|---:|");
    for kernel in KERNELS {
        let mut runners = runners(&engine, &dir, kernel);
        let medians = interleaved_medians(&mut runners);
        for ((label, _), t) in runners.iter().zip(&medians) {
            println!(
                "| {kernel} | {label} | {t:.1} µs | {:.2}x |",
                medians[0] / t
            );
        }
    }
}
