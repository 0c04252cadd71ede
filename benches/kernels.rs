//! Kernels on 500K elements in Wasmtime: axpy and relu (exact elementwise
//! rewrites), dot, L2 norm and cosine (float reductions, rewritten with
//! --fast-math), and two exact reductions: a widening u8 x i8 dot (INT8 inference)
//! and a float dot written with four partial sums. Variants: the original module
//! (clang -O2), barq-opt's output, wasm-opt -O3, barq-opt after wasm-opt -O3,
//! clang's own -O3 -msimd128 (and with -ffast-math), and the same loop compiled
//! natively by rustc. Prints the ratios of every variant against the original after
//! criterion's own report.
//!
//! `cargo bench --bench kernels` runs `bench/prepare.sh` first (it needs npm for
//! binaryen's wasm-opt). The same modules run in V8 with `node bench/v8.mjs`.
//! `BARQ_BENCH=dot,cosine` limits the run to some workloads.

use criterion::Criterion;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use wasmtime::{Engine, Instance, Memory, Module, Store, TypedFunc};

const N: usize = 500_000;
const X: i32 = 1 << 20; // byte offsets of the two arrays in linear memory
const Y: i32 = 4 << 20;

/// How a workload's export is called.
#[derive(Clone, Copy)]
enum Call {
    /// `f(alpha, x, y, n)`
    Axpy,
    /// `f(x, n)`, in place
    InPlace,
    /// `f(x, y, n) -> f32`
    TwoF32,
    /// `f(x, n) -> f32`
    OneF32,
    /// `f(x, y, n) -> i32`
    TwoI32,
}

/// One benchmark: its name in target/bench, the export, how to call it, whether
/// barq-opt ran with --fast-math.
struct Workload {
    name: &'static str,
    export: &'static str,
    call: Call,
    fast_math: bool,
}

const WORKLOADS: &[Workload] = &[
    Workload {
        name: "axpy",
        export: "axpy",
        call: Call::Axpy,
        fast_math: false,
    },
    Workload {
        name: "relu",
        export: "relu",
        call: Call::InPlace,
        fast_math: false,
    },
    Workload {
        name: "dot",
        export: "dot_f32",
        call: Call::TwoF32,
        fast_math: true,
    },
    Workload {
        name: "l2_norm",
        export: "l2_norm",
        call: Call::OneF32,
        fast_math: true,
    },
    Workload {
        name: "cosine",
        export: "cosine_fused",
        call: Call::TwoF32,
        fast_math: true,
    },
    Workload {
        name: "dot_u8_i8",
        export: "dot_u8_i8",
        call: Call::TwoI32,
        fast_math: false,
    },
    Workload {
        name: "dot4_f32",
        export: "dot4_f32",
        call: Call::TwoF32,
        fast_math: false,
    },
];

fn selected() -> Vec<&'static Workload> {
    let only = std::env::var("BARQ_BENCH").unwrap_or_default();
    WORKLOADS
        .iter()
        .filter(|w| only.is_empty() || only.split(',').any(|n| n == w.name))
        .collect()
}

/// The module variants compared for a workload: (label, file suffix).
fn variants(w: &Workload) -> Vec<(&'static str, &'static str)> {
    let barq = if w.fast_math {
        "barq --fast-math"
    } else {
        "barq"
    };
    let after = if w.fast_math {
        "wasm-opt -O3 + barq --fast-math"
    } else {
        "wasm-opt -O3 + barq"
    };
    vec![
        ("original (clang -O2)", "O2"),
        (barq, "O2.barq"),
        ("wasm-opt -O3", "O2.wasmopt"),
        (after, "O2.wasmopt.barq"),
        ("clang -O3 -msimd128", "O3-simd"),
        ("clang -O3 -msimd128 -ffast-math", "O3-simd-ffast"),
        (
            if w.fast_math {
                "barq --target native --fast-math (barq-wasm)"
            } else {
                "barq --target native (barq-wasm)"
            },
            "O2.native",
        ),
    ]
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

fn x_value(i: usize) -> f32 {
    ((i % 1000) as f32 - 500.0) * 0.25
}

struct Loaded {
    store: Store<()>,
    memory: Memory,
    instance: Instance,
}

fn load(engine: &Engine, path: &Path) -> Loaded {
    let module = Module::from_file(engine, path).expect("compile");
    let mut store = Store::new(engine, ());
    // The runner's host kernels, for modules made with --target native.
    let mut linker = wasmtime::Linker::new(engine);
    barq_wasm::native::add_to_linker(&mut linker).expect("native kernels");
    let instance = linker
        .instantiate(&mut store, &module)
        .expect("instantiate");
    let memory = instance.get_memory(&mut store, "memory").expect("memory");
    let need = (Y as u64 + 4 * N as u64) / 65536 + 1;
    let have = memory.size(&store);
    if have < need {
        memory.grow(&mut store, need - have).expect("grow");
    }
    let data = memory.data_mut(&mut store);
    for i in 0..N {
        data[X as usize + 4 * i..X as usize + 4 * i + 4].copy_from_slice(&x_value(i).to_le_bytes());
        data[Y as usize + 4 * i..Y as usize + 4 * i + 4].copy_from_slice(&(1.0f32).to_le_bytes());
    }
    Loaded {
        store,
        memory,
        instance,
    }
}

/// One callable variant.
type Runner = Box<dyn FnMut()>;

/// A runner calling `w`'s export in a loaded module.
fn wasm_runner(w: &Workload, mut m: Loaded) -> Runner {
    let name = w.export;
    let _ = m.memory;
    match w.call {
        Call::Axpy => {
            let f: TypedFunc<(f32, i32, i32, i32), ()> =
                m.instance.get_typed_func(&mut m.store, name).expect(name);
            Box::new(move || f.call(&mut m.store, (0.5, X, Y, N as i32)).expect("call"))
        }
        Call::InPlace => {
            let f: TypedFunc<(i32, i32), ()> =
                m.instance.get_typed_func(&mut m.store, name).expect(name);
            Box::new(move || f.call(&mut m.store, (X, N as i32)).expect("call"))
        }
        Call::TwoF32 => {
            let f: TypedFunc<(i32, i32, i32), f32> =
                m.instance.get_typed_func(&mut m.store, name).expect(name);
            Box::new(move || {
                black_box(f.call(&mut m.store, (X, Y, N as i32)).expect("call"));
            })
        }
        Call::OneF32 => {
            let f: TypedFunc<(i32, i32), f32> =
                m.instance.get_typed_func(&mut m.store, name).expect(name);
            Box::new(move || {
                black_box(f.call(&mut m.store, (X, N as i32)).expect("call"));
            })
        }
        Call::TwoI32 => {
            let f: TypedFunc<(i32, i32, i32), i32> =
                m.instance.get_typed_func(&mut m.store, name).expect(name);
            Box::new(move || {
                black_box(f.call(&mut m.store, (X, Y, N as i32)).expect("call"));
            })
        }
    }
}

/// The same computation compiled natively by rustc (-O3, no -ffast-math: float
/// sums stay sequential, as the C source says).
fn native_runner(w: &Workload) -> Runner {
    let x: Vec<f32> = (0..N).map(x_value).collect();
    let mut y = vec![1.0f32; N];
    let bytes: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).take(N).collect();
    let weights: Vec<i8> = y
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .take(N)
        .map(|b| b as i8)
        .collect();
    match w.name {
        "axpy" => Box::new(move || {
            for (yi, xi) in black_box(&mut y).iter_mut().zip(black_box(&x)) {
                *yi += 0.5 * *xi;
            }
        }),
        "relu" => Box::new(move || {
            for v in black_box(&mut y).iter_mut() {
                *v = if *v > 0.0 { *v } else { 0.0 };
            }
        }),
        "l2_norm" => Box::new(move || {
            black_box(black_box(&x).iter().map(|a| a * a).sum::<f32>().sqrt());
        }),
        "cosine" => Box::new(move || {
            let (mut d, mut na, mut nb) = (0.0f32, 0.0f32, 0.0f32);
            for (a, b) in black_box(&x).iter().zip(black_box(&y)) {
                d += a * b;
                na += a * a;
                nb += b * b;
            }
            black_box(d / (na.sqrt() * nb.sqrt()));
        }),
        "dot_u8_i8" => Box::new(move || {
            let s = black_box(&bytes)
                .iter()
                .zip(black_box(&weights))
                .fold(0i32, |acc, (a, b)| acc.wrapping_add(*a as i32 * *b as i32));
            black_box(s);
        }),
        "dot4_f32" => Box::new(move || {
            let mut s = [0.0f32; 4];
            for (a, b) in black_box(&x)
                .chunks_exact(4)
                .zip(black_box(&y).chunks_exact(4))
            {
                for j in 0..4 {
                    s[j] += a[j] * b[j];
                }
            }
            black_box((s[0] + s[1]) + (s[2] + s[3]));
        }),
        _ => Box::new(move || {
            black_box(
                black_box(&x)
                    .iter()
                    .zip(black_box(&y))
                    .map(|(a, b)| a * b)
                    .sum::<f32>(),
            );
        }),
    }
}

/// The C source compiled natively (clang -O3 -march=native, with or without
/// -ffast-math), loaded from the shared library bench/prepare.sh built.
fn clang_native_runner(dir: &Path, w: &Workload, ffast: bool) -> Runner {
    let suffix = if ffast { "-ffast" } else { "" };
    let path = dir.join(format!("lib{}{suffix}.so", w.name));
    // SAFETY: the library is our own C corpus file, built by bench/prepare.sh.
    let lib = Box::leak(Box::new(
        unsafe { libloading::Library::new(&path) }.expect("load C library"),
    ));
    let name = w.export.as_bytes();
    let mut x: Vec<f32> = (0..N).map(x_value).collect();
    let mut y = vec![1.0f32; N];
    let n = N as i32;
    // SAFETY (each arm): the symbol has the C signature the corpus source gives it,
    // and the buffers hold N elements.
    unsafe {
        match w.call {
            Call::Axpy => {
                let f = *lib
                    .get::<unsafe extern "C" fn(f32, *const f32, *mut f32, i32)>(name)
                    .expect("symbol");
                Box::new(move || f(0.5, x.as_ptr(), y.as_mut_ptr(), n))
            }
            Call::InPlace => {
                let f = *lib
                    .get::<unsafe extern "C" fn(*mut f32, i32)>(name)
                    .expect("symbol");
                Box::new(move || f(x.as_mut_ptr(), n))
            }
            Call::TwoF32 => {
                let f = *lib
                    .get::<unsafe extern "C" fn(*const f32, *const f32, i32) -> f32>(name)
                    .expect("symbol");
                Box::new(move || {
                    black_box(f(x.as_ptr(), y.as_ptr(), n));
                })
            }
            Call::OneF32 => {
                // (l2_norm takes a C `long`: 64 bits here, 32 in wasm32.)
                let f = *lib
                    .get::<unsafe extern "C" fn(*const f32, i64) -> f32>(name)
                    .expect("symbol");
                Box::new(move || {
                    black_box(f(x.as_ptr(), N as i64));
                })
            }
            Call::TwoI32 => {
                let f = *lib
                    .get::<unsafe extern "C" fn(*const u8, *const i8, i32) -> i32>(name)
                    .expect("symbol");
                Box::new(move || {
                    black_box(f(x.as_ptr() as *const u8, y.as_ptr() as *const i8, n));
                })
            }
        }
    }
}

fn runners(engine: &Engine, dir: &Path, w: &Workload) -> Vec<(String, Runner)> {
    let mut out: Vec<(String, Runner)> = variants(w)
        .into_iter()
        .map(|(label, suffix)| {
            let m = load(engine, &dir.join(format!("{}.{suffix}.wasm", w.name)));
            (label.to_string(), wasm_runner(w, m))
        })
        .collect();
    out.push(("native (rustc -O3)".to_string(), native_runner(w)));
    out.push((
        "native C (clang -O3 -march=native)".to_string(),
        clang_native_runner(dir, w, false),
    ));
    out.push((
        "native C (clang -O3 -march=native -ffast-math)".to_string(),
        clang_native_runner(dir, w, true),
    ));
    out
}

fn benches(c: &mut Criterion, dir: &Path) {
    let engine = Engine::default();
    for w in selected() {
        let mut group = c.benchmark_group(w.name);
        for (label, mut run) in runners(&engine, dir, w) {
            group.bench_function(label, |b| b.iter(&mut run));
        }
        group.finish();
    }
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
    println!("\nWasmtime 48, {N} elements; median of 31 interleaved rounds of 20 calls");
    println!("| kernel | variant | median | speedup vs original |");
    println!("|---|---|---:|---:|");
    for w in selected() {
        let mut runners = runners(&engine, &dir, w);
        let medians = interleaved_medians(&mut runners);
        for ((label, _), t) in runners.iter().zip(&medians) {
            println!(
                "| {} | {label} | {t:.1} µs | {:.2}x |",
                w.name,
                medians[0] / t
            );
        }
    }
}
