//! Matrix and convolution workloads in Wasmtime: GEMM (`matmul_ijk`, C = A B with a
//! fresh sum per element) at 64, 128 and 512, GEMM with B transposed (`gemm_bt`,
//! C = A B^T, a linear layer's product) at 128 and 512, f64 GEMM (`gemm_f64`) at
//! 128 and 512, a matrix-vector product (`gemv`, y = A x, A row-major, as LLM
//! inference code writes it) at 1024 and 2048, 3x3 convolution + bias + ReLU and an
//! 8-bit 3x3 edge detector on 256x256 images. All exact (barq runs without
//! --fast-math). Variants: the original (clang -O2), barq-opt's output, wasm-opt
//! -O3, barq-opt after wasm-opt -O3, clang's own -O3 -msimd128 (and -ffast-math),
//! and the C source compiled natively (clang -O3 -march=native -ffp-contract=off,
//! which keeps the exact result, and with -ffast-math). Every variant's output is compared with the original's before it
//! is timed. Prints a table of medians of interleaved rounds.
//!
//! `cargo bench --bench matrix` runs `bench/prepare.sh` first. The same modules run
//! in V8 beside plain JavaScript with `node bench/matrix.mjs`. `BARQ_BENCH=gemm128`
//! limits the run to some workloads.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use wasmtime::{Engine, Instance, Memory, Module, Store};

const A: usize = 1 << 20;

#[derive(Clone, Copy)]
enum Work {
    Gemm(usize),
    /// C = A B^T.
    GemmBt(usize),
    /// C = A B in f64.
    GemmF64(usize),
    /// y = A x, A n x n.
    Gemv(usize),
    Conv(usize),
    Edges(usize),
    /// f32 -> i8 with scale, zero point, round to nearest even, clamp.
    Quantize(usize),
    /// i8 -> f32.
    Dequantize(usize),
}

impl Work {
    fn name(self) -> String {
        match self {
            Work::Gemm(n) => format!("gemm{n}"),
            Work::GemmBt(n) => format!("gemm_bt{n}"),
            Work::GemmF64(n) => format!("gemm_f64_{n}"),
            Work::Gemv(n) => format!("gemv{n}"),
            Work::Conv(n) => format!("conv3x3_relu{n}"),
            Work::Edges(n) => format!("edges_u8_{n}"),
            Work::Quantize(n) => format!("quantize{n}"),
            Work::Dequantize(n) => format!("dequantize{n}"),
        }
    }

    /// Corpus source (target/bench/<file>.<variant>.wasm, lib<file>.so).
    fn file(self) -> &'static str {
        match self {
            Work::Gemm(_) | Work::Gemv(_) => "matmul",
            Work::GemmBt(_) | Work::GemmF64(_) => "gemm",
            Work::Conv(_) | Work::Edges(_) => "conv3x3",
            Work::Quantize(_) | Work::Dequantize(_) => "quantize",
        }
    }

    /// Buffers: inputs at A, B = A + in_bytes, output at C = B + in_bytes.
    fn in_bytes(self) -> usize {
        match self {
            Work::Gemm(n) | Work::GemmBt(n) | Work::Gemv(n) => 4 * n * n,
            Work::GemmF64(n) => 8 * n * n,
            Work::Conv(n) => 4 * n * n,
            Work::Edges(n) => n * n,
            Work::Quantize(n) => 4 * n,
            Work::Dequantize(n) => n,
        }
    }
}

const WORK: &[Work] = &[
    Work::Gemm(64),
    Work::Gemm(128),
    Work::Gemm(512),
    Work::GemmBt(128),
    Work::GemmBt(512),
    Work::GemmF64(128),
    Work::GemmF64(512),
    Work::Gemv(1024),
    Work::Gemv(2048),
    Work::Conv(256),
    Work::Edges(256),
    Work::Quantize(500_000),
    Work::Dequantize(500_000),
];

fn input(i: usize) -> f32 {
    ((i * 7919) % 1000) as f32 / 250.0 - 2.0
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

/// One variant: runs the workload, and reads its output back.
struct Runner {
    run: Box<dyn FnMut()>,
    output: Box<dyn FnMut() -> Vec<u8>>,
}

fn inputs(w: Work) -> (Vec<u8>, Vec<u8>) {
    let n = w.in_bytes();
    let a: Vec<u8> = match w {
        Work::Edges(_) | Work::Dequantize(_) => (0..n).map(|i| ((i * 7919) % 251) as u8).collect(),
        Work::GemmF64(_) => (0..n / 8)
            .flat_map(|i| (input(i) as f64 / 3.0).to_le_bytes())
            .collect(),
        _ => (0..n / 4).flat_map(|i| input(i).to_le_bytes()).collect(),
    };
    let b: Vec<u8> = match w {
        Work::Conv(_) => (0..9)
            .flat_map(|i| (input(i + 3) / 4.0).to_le_bytes())
            .collect(),
        Work::Edges(_) | Work::Quantize(_) | Work::Dequantize(_) => Vec::new(),
        Work::GemmF64(_) => (0..n / 8)
            .flat_map(|i| (input(i + 11) as f64 / 3.0).to_le_bytes())
            .collect(),
        Work::Gemv(m) => (0..m).flat_map(|i| input(i + 11).to_le_bytes()).collect(),
        _ => (0..n / 4)
            .flat_map(|i| input(i + 11).to_le_bytes())
            .collect(),
    };
    (a, b)
}

fn wasm_runner(engine: &Engine, path: &Path, w: Work) -> Runner {
    let module = Module::from_file(engine, path).expect("compile");
    let mut store = Store::new(engine, ());
    let mut linker = wasmtime::Linker::new(engine);
    barq_wasm::native::add_to_linker(&mut linker).expect("native kernels");
    linker
        .func_wrap("env", "memset", |_: i32, _: i32, n: i32| -> i32 {
            assert_eq!(n, 0, "memset called on a benchmark input");
            0
        })
        .expect("memset");
    let instance: Instance = linker
        .instantiate(&mut store, &module)
        .expect("instantiate");
    let memory: Memory = instance.get_memory(&mut store, "memory").expect("memory");
    let bytes = w.in_bytes();
    let (b, c) = (A + bytes, A + 2 * bytes);
    let need = ((c + bytes.max(out_bytes(w))) / 65536 + 1) as u64;
    let have = memory.size(&store);
    if have < need {
        memory.grow(&mut store, need - have).expect("grow");
    }
    let (ia, ib) = inputs(w);
    memory.data_mut(&mut store)[A..A + ia.len()].copy_from_slice(&ia);
    memory.data_mut(&mut store)[b..b + ib.len()].copy_from_slice(&ib);
    let store = std::rc::Rc::new(std::cell::RefCell::new(store));
    let s2 = store.clone();
    let (a32, b32, c32) = (A as i32, b as i32, c as i32);
    let run: Box<dyn FnMut()> = match w {
        Work::Gemm(n) | Work::GemmBt(n) | Work::GemmF64(n) => {
            let name = match w {
                Work::Gemm(_) => "matmul_ijk",
                Work::GemmF64(_) => "gemm_f64",
                _ => "gemm_bt",
            };
            let f = instance
                .get_typed_func::<(i32, i32, i32, i32, i32, i32), ()>(
                    &mut *store.borrow_mut(),
                    name,
                )
                .expect(name);
            let n = n as i32;
            Box::new(move || {
                f.call(&mut *store.borrow_mut(), (a32, b32, c32, n, n, n))
                    .expect("call")
            })
        }
        Work::Gemv(n) => {
            let f = instance
                .get_typed_func::<(i32, i32, i32, i32, i32), ()>(&mut *store.borrow_mut(), "gemv")
                .expect("gemv");
            let n = n as i32;
            Box::new(move || {
                f.call(&mut *store.borrow_mut(), (a32, b32, c32, n, n))
                    .expect("call")
            })
        }
        Work::Conv(n) => {
            let f = instance
                .get_typed_func::<(i32, i32, f32, i32, i32, i32), ()>(
                    &mut *store.borrow_mut(),
                    "conv3x3_relu",
                )
                .expect("conv3x3_relu");
            let n = n as i32;
            Box::new(move || {
                f.call(&mut *store.borrow_mut(), (a32, b32, 0.25, c32, n, n))
                    .expect("call")
            })
        }
        Work::Edges(n) => {
            let f = instance
                .get_typed_func::<(i32, i32, i32, i32), ()>(&mut *store.borrow_mut(), "edges_u8")
                .expect("edges_u8");
            let n = n as i32;
            Box::new(move || {
                f.call(&mut *store.borrow_mut(), (a32, c32, n, n))
                    .expect("call")
            })
        }
        Work::Quantize(n) | Work::Dequantize(n) => {
            let (name, scale) = match w {
                Work::Quantize(_) => ("quantize_i8", 40.0f32),
                _ => ("dequantize_i8", 0.05f32),
            };
            let f = instance
                .get_typed_func::<(i32, i32, i32, f32, i32), ()>(&mut *store.borrow_mut(), name)
                .expect(name);
            let n = n as i32;
            Box::new(move || {
                f.call(&mut *store.borrow_mut(), (a32, c32, n, scale, 3))
                    .expect("call")
            })
        }
    };
    let out = out_bytes(w);
    let output = Box::new(move || memory.data(&*s2.borrow())[c..c + out].to_vec());
    Runner { run, output }
}

/// Bytes the workload writes at C.
fn out_bytes(w: Work) -> usize {
    match w {
        Work::Gemv(n) => 4 * n,
        Work::Quantize(n) => n,
        Work::Dequantize(n) => 4 * n,
        _ => w.in_bytes(),
    }
}

/// The C source compiled natively, from the shared library bench/prepare.sh built.
fn clang_native_runner(dir: &Path, w: Work, ffast: bool) -> Runner {
    let suffix = if ffast { "-ffast" } else { "" };
    let path = dir.join(format!("lib{}{suffix}.so", w.file()));
    // SAFETY: the library is our own C corpus file, built by bench/prepare.sh.
    let lib = Box::leak(Box::new(
        unsafe { libloading::Library::new(&path) }.expect("load C library"),
    ));
    let (ia, ib) = inputs(w);
    let bytes = w.in_bytes();
    let a: &'static [u8] = Box::leak(ia.into_boxed_slice());
    let b: &'static [u8] = Box::leak(ib.into_boxed_slice());
    // (f32-aligned storage for the output.)
    let out = out_bytes(w);
    let c: &'static mut [f32] =
        Box::leak(vec![0f32; bytes.max(out).div_ceil(4)].into_boxed_slice());
    let c_ptr = c.as_mut_ptr();
    let output = Box::new(move || {
        // SAFETY: c_ptr points at `out` bytes the runs write.
        unsafe { std::slice::from_raw_parts(c_ptr as *const u8, out) }.to_vec()
    });
    // SAFETY (each arm): the symbol has the C signature the corpus source gives it.
    let run: Box<dyn FnMut()> = unsafe {
        match w {
            Work::Gemm(n) | Work::GemmBt(n) | Work::GemmF64(n) => {
                let name: &[u8] = match w {
                    Work::Gemm(_) => b"matmul_ijk",
                    Work::GemmF64(_) => b"gemm_f64",
                    _ => b"gemm_bt",
                };
                let f = *lib
                    .get::<unsafe extern "C" fn(*const u8, *const u8, *mut f32, i32, i32, i32)>(
                        name,
                    )
                    .expect("symbol");
                let n = n as i32;
                Box::new(move || f(black_box(a.as_ptr()), b.as_ptr(), c_ptr, n, n, n))
            }
            Work::Gemv(n) => {
                let f = *lib
                    .get::<unsafe extern "C" fn(*const u8, *const u8, *mut f32, i32, i32)>(b"gemv")
                    .expect("symbol");
                let n = n as i32;
                Box::new(move || f(black_box(a.as_ptr()), b.as_ptr(), c_ptr, n, n))
            }
            Work::Conv(n) => {
                let f = *lib
                    .get::<unsafe extern "C" fn(*const u8, *const u8, f32, *mut f32, i32, i32)>(
                        b"conv3x3_relu",
                    )
                    .expect("symbol");
                let n = n as i32;
                Box::new(move || f(black_box(a.as_ptr()), b.as_ptr(), 0.25, c_ptr, n, n))
            }
            Work::Edges(n) => {
                let f = *lib
                    .get::<unsafe extern "C" fn(*const u8, *mut f32, i32, i32)>(b"edges_u8")
                    .expect("symbol");
                let n = n as i32;
                Box::new(move || f(black_box(a.as_ptr()), c_ptr, n, n))
            }
            Work::Quantize(n) | Work::Dequantize(n) => {
                let (name, scale): (&[u8], f32) = match w {
                    Work::Quantize(_) => (b"quantize_i8", 40.0),
                    _ => (b"dequantize_i8", 0.05),
                };
                let f = *lib
                    .get::<unsafe extern "C" fn(*const u8, *mut f32, i32, f32, i32)>(name)
                    .expect("symbol");
                let n = n as i32;
                Box::new(move || f(black_box(a.as_ptr()), c_ptr, n, scale, 3))
            }
        }
    };
    Runner { run, output }
}

const VARIANTS: &[(&str, &str)] = &[
    ("original (clang -O2)", "O2"),
    ("barq", "O2.barq"),
    ("wasm-opt -O3", "O2.wasmopt"),
    ("wasm-opt -O3 + barq", "O2.wasmopt.barq"),
    ("clang -O3 -msimd128", "O3-simd"),
    ("clang -O3 -msimd128 -ffast-math", "O3-simd-ffast"),
    ("barq-opt --target native (barq-wasm kernels)", "O2.native"),
    ("barq-opt --target native --fast-math", "O2.native-fast"),
];

fn runners(engine: &Engine, dir: &Path, w: Work) -> Vec<(String, Runner)> {
    let mut out: Vec<(String, Runner)> = VARIANTS
        .iter()
        .map(|(label, suffix)| {
            let path = dir.join(format!("{}.{suffix}.wasm", w.file()));
            (label.to_string(), wasm_runner(engine, &path, w))
        })
        .collect();
    out.push((
        "native C (clang -O3 -march=native -ffp-contract=off)".into(),
        clang_native_runner(dir, w, false),
    ));
    out.push((
        "native C (clang -O3 -march=native -ffast-math)".into(),
        clang_native_runner(dir, w, true),
    ));
    out
}

/// Median µs per call, in interleaved rounds.
fn interleaved_medians(runners: &mut [(String, Runner)], calls: u32) -> Vec<f64> {
    const ROUNDS: usize = 15;
    for (_, r) in runners.iter_mut() {
        (r.run)();
    }
    let mut times = vec![Vec::with_capacity(ROUNDS); runners.len()];
    for _ in 0..ROUNDS {
        for (i, (_, r)) in runners.iter_mut().enumerate() {
            let start = std::time::Instant::now();
            for _ in 0..calls {
                (r.run)();
            }
            times[i].push(start.elapsed().as_secs_f64() * 1e6 / calls as f64);
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

/// This core's f32 FMA throughput with 256-bit vectors: twelve independent
/// chains of `vfmadd` (enough to cover two FMA pipes' latency), best of five.
fn avx2_peak_gflops() -> f64 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        #[target_feature(enable = "avx2,fma")]
        unsafe fn chains(iterations: u64) -> f32 {
            use std::arch::x86_64::*;
            let mut acc = [_mm256_set1_ps(1.0); 12];
            let (x, y) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
            for _ in 0..iterations {
                for a in acc.iter_mut() {
                    *a = _mm256_fmadd_ps(*a, x, y);
                }
            }
            let mut lanes = [0f32; 8];
            let sum = acc
                .iter()
                .fold(_mm256_setzero_ps(), |s, a| _mm256_add_ps(s, *a));
            _mm256_storeu_ps(lanes.as_mut_ptr(), sum);
            lanes.iter().sum()
        }
        let iterations = 20_000_000u64;
        let best = (0..5)
            .map(|_| {
                let start = std::time::Instant::now();
                // SAFETY: AVX2 and FMA are present.
                black_box(unsafe { chains(black_box(iterations)) });
                start.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min);
        return (iterations * 12 * 8 * 2) as f64 / best / 1e9;
    }
    f64::NAN
}

/// The same with 512-bit vectors, where the core has AVX-512 (matrixmultiply's
/// `--fast-math` kernel uses it when present).
fn avx512_peak_gflops() -> f64 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        #[target_feature(enable = "avx512f")]
        unsafe fn chains(iterations: u64) -> f32 {
            use std::arch::x86_64::*;
            let mut acc = [_mm512_set1_ps(1.0); 12];
            let (x, y) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-7));
            for _ in 0..iterations {
                for a in acc.iter_mut() {
                    *a = _mm512_fmadd_ps(*a, x, y);
                }
            }
            let sum = acc
                .iter()
                .fold(_mm512_setzero_ps(), |s, a| _mm512_add_ps(s, *a));
            _mm512_reduce_add_ps(sum)
        }
        let iterations = 20_000_000u64;
        let best = (0..5)
            .map(|_| {
                let start = std::time::Instant::now();
                // SAFETY: AVX-512F is present.
                black_box(unsafe { chains(black_box(iterations)) });
                start.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min);
        return (iterations * 12 * 16 * 2) as f64 / best / 1e9;
    }
    f64::NAN
}

fn main() {
    let dir = bench_dir();
    let engine = Engine::default();
    let only = std::env::var("BARQ_BENCH").unwrap_or_default();
    let peak = avx2_peak_gflops();
    println!(
        "Wasmtime 48; median of 15 interleaved rounds; exact rewrites unless a label says --fast-math"
    );
    println!(
        "FMA peak of this core, measured (f32): AVX2 {peak:.1} GFLOP/s, AVX-512 {:.1} GFLOP/s; % below is of the AVX2 peak",
        avx512_peak_gflops()
    );
    println!("| workload | variant | median | speedup vs original | vs clang -O3 -msimd128 | GFLOP/s (% of peak) |");
    println!("|---|---|---:|---:|---:|---:|");
    for &w in WORK {
        if !only.is_empty() && !only.split(',').any(|n| n == w.name()) {
            continue;
        }
        let mut runners = runners(&engine, &dir, w);
        // Every variant computes what the original computes (bit for bit, except
        // the -ffast-math builds, which may round differently: checked loosely).
        (runners[0].1.run)();
        let expected = (runners[0].1.output)();
        for (label, r) in runners.iter_mut().skip(1) {
            (r.run)();
            let got = (r.output)();
            if label.contains("fast-math") {
                continue;
            }
            assert!(
                got == expected,
                "{}: {label} computes something else",
                w.name()
            );
        }
        let calls = match w {
            Work::Gemm(512) | Work::GemmBt(512) | Work::GemmF64(512) => 1,
            Work::Gemm(128)
            | Work::GemmBt(128)
            | Work::GemmF64(128)
            | Work::Gemv(_)
            | Work::Conv(_)
            | Work::Edges(_) => 10,
            Work::Quantize(_) | Work::Dequantize(_) => 5,
            _ => 50,
        };
        let medians = interleaved_medians(&mut runners, calls);
        for ((label, _), t) in runners.iter().zip(&medians) {
            let rate = match w {
                Work::Gemm(n) | Work::GemmBt(n) | Work::GemmF64(n) => {
                    let gflops = 2.0 * (n as f64).powi(3) / (t * 1e3);
                    format!("{gflops:.1} ({:.0}%)", 100.0 * gflops / peak)
                }
                Work::Gemv(n) => {
                    let gbs = 4.0 * (n as f64).powi(2) / (t * 1e3);
                    format!("{gbs:.1} GB/s of A")
                }
                _ => String::new(),
            };
            println!(
                "| {} | {label} | {t:.1} µs | {:.2}x | {:.2}x | {rate} |",
                w.name(),
                medians[0] / t,
                medians[4] / t
            );
        }
    }
}
