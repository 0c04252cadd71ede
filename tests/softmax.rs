//! Softmax under `--fast-math`: functions identified by probing as a softmax (C at
//! every level, Rust, AssemblyScript; apart and in place) get the module's SIMD128
//! kernel (portable) or `barq::softmax_f32_v1` (native) behind a guard. Checked by
//! running original and rewritten modules on lengths around the guard's threshold
//! and odd ones, values small, large (|x| up to 200), tied, with NaN and
//! infinities: every output within the stated bound of an f64 softmax (NaN where
//! the original gives NaN), every other byte of memory identical; aliased,
//! partly overlapping and out-of-bounds arrays take the original body (memory and
//! traps identical, bit for bit); the kernel runs where the guard lets it; near
//! misses are never identified.

mod common;

use barq_passes::fingerprints::softmax::close;
use barq_passes::probe::Rng;
use barq_wasm::{optimize, Action, Options, Target, Tier};
use wasmtime::{Module, Val};

/// Pages grown onto memory for the arrays.
const PAGES: u64 = 2;
/// Where the output array starts, from the input's start (bytes).
const APART: i64 = 40_000;

fn options(target: Target) -> Options {
    Options {
        target,
        fast_math: true,
        ..Options::default()
    }
}

/// Inputs of kind `t`.
fn values(rng: &mut Rng, n: usize, t: usize) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let r = rng.next_u64();
            let unit = (r >> 16) as u32 as f32 / u32::MAX as f32;
            match t {
                0 => unit * 8.0 - 4.0,
                1 => unit * 400.0 - 200.0,
                2 => ((r >> 8) % 3) as f32,
                3 if i == n / 2 => f32::NAN,
                4 if i == n / 3 => f32::INFINITY,
                5 => f32::NEG_INFINITY,
                6 if i % 7 == 1 => f32::NEG_INFINITY,
                _ => unit * 30.0 - 15.0,
            }
        })
        .collect()
}

fn reference(x: &[f32]) -> Vec<f64> {
    let m = x.iter().fold(f64::NEG_INFINITY, |m, v| m.max(*v as f64));
    let e: Vec<f64> = x.iter().map(|v| (*v as f64 - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

struct Run {
    memory: Vec<u8>,
    trap: Option<String>,
    fuel: u64,
}

/// Calls `export(x, y, n)` (or `(x, n)` in place) with the input at `x_at` bytes
/// from the grown pages' start (negative: from the end of memory) and the output
/// `y_off` bytes after it.
fn call(
    side: &mut common::NativeSide,
    export: &str,
    input: &[f32],
    n: i32,
    x_at: i64,
    y_off: i64,
) -> Run {
    let memory = side
        .instance
        .get_memory(&mut side.store, "memory")
        .expect("memory");
    let size = memory.data_size(&side.store) as i64;
    let x = if x_at < 0 {
        size + x_at
    } else {
        side.base + x_at
    };
    let data = memory.data_mut(&mut side.store);
    data[side.base as usize..].fill(0);
    for (i, v) in input.iter().enumerate() {
        let at = (x + 4 * i as i64) as usize;
        if at + 4 <= data.len() {
            data[at..at + 4].copy_from_slice(&v.to_le_bytes());
        }
    }
    let func = side
        .instance
        .get_func(&mut side.store, export)
        .expect("export");
    let args: Vec<Val> = if func.ty(&side.store).params().len() == 2 {
        vec![Val::I32(x as i32), Val::I32(n)]
    } else {
        vec![
            Val::I32(x as i32),
            Val::I32((x + y_off) as i32),
            Val::I32(n),
        ]
    };
    let before = side.store.get_fuel().expect("fuel");
    let trap = func
        .call(&mut side.store, &args, &mut [])
        .err()
        .map(|e| format!("{}", e.root_cause()));
    let fuel = before - side.store.get_fuel().expect("fuel");
    Run {
        memory: memory.data(&side.store).to_vec(),
        trap,
        fuel,
    }
}

/// The 256 bytes below the initial stack pointer (`__stack_pointer` in the name
/// section): dead by the C ABI, where Rust's libm spills without moving it
/// (`force_eval!`), which the kernels do not do (the prober allows the same).
fn red_zone(wasm: &[u8]) -> std::ops::Range<usize> {
    common::initial_stack_pointer(wasm).map_or(0..0, |sp| sp.saturating_sub(256)..sp)
}

/// Every corpus softmax, for `target`: (identified, kernel runs).
fn check(target: Target) -> (usize, usize) {
    let mut identified = 0;
    let mut kernel_runs = 0;
    let paths: Vec<_> = common::corpus_files()
        .into_iter()
        .filter(|p| {
            let s = p.to_string_lossy();
            s.ends_with(".wasm") && s.contains("/softmax.")
        })
        .collect();
    for path in paths {
        let input = common::read(&path);
        let red_zone = red_zone(&input);
        let result = optimize(&input, &options(target)).expect("optimize");
        let engine = common::fuel_engine();
        let original = Module::new(engine, &input).expect("original");
        let rewritten = Module::new(engine, &result.wasm).expect("rewritten");
        let tier = match target {
            Target::Native => Tier::Native,
            _ => Tier::Simd128,
        };
        let found: Vec<_> = result
            .report
            .findings
            .iter()
            .filter(|f| f.pattern == "softmax" && f.action == Action::Rewritten)
            .collect();
        assert!(!found.is_empty(), "{}: no softmax", path.display());
        for finding in found {
            assert_eq!(finding.tier, Some(tier), "{finding:?}");
            assert!(!finding.exact, "{finding:?}");
            identified += 1;
            let mut a = common::native_side(&original, PAGES);
            let mut b = common::native_side(&rewritten, PAGES);
            let mut rng = Rng(0x50f7 ^ identified as u64);
            let in_place = a
                .instance
                .get_func(&mut a.store, &finding.function)
                .expect("export")
                .ty(&a.store)
                .params()
                .len()
                == 2;
            for n in [0usize, 1, 3, 15, 16, 17, 64, 100, 333, 1000, 4099] {
                for t in 0..8 {
                    let xs = values(&mut rng, n, t);
                    let what = format!(
                        "{target:?} {} {} n={n} t={t}",
                        path.display(),
                        finding.function
                    );
                    // Apart, and (for three parameters) the output on the input.
                    for y_off in [APART, 0] {
                        if in_place && y_off == APART {
                            continue;
                        }
                        let ra = call(&mut a, &finding.function, &xs, n as i32, 4, y_off);
                        let rb = call(&mut b, &finding.function, &xs, n as i32, 4, y_off);
                        assert_eq!(ra.trap, rb.trap, "{what}: traps");
                        let out = (a.base + 4 + if in_place { 0 } else { y_off }) as usize;
                        let outputs = out..out + 4 * n;
                        // Every other byte as the original left it (NaN payloads
                        // aside: an earlier call's outputs below the input may hold
                        // NaNs of either sign, see below).
                        let outside = |m: &[u8]| {
                            let mut m = m.to_vec();
                            m[outputs.clone()].fill(0);
                            m[red_zone.clone()].fill(0);
                            m
                        };
                        let (ma, mb) = (outside(&ra.memory), outside(&rb.memory));
                        if let Some(i) = barq_wasm::verify::first_difference(&ma, &mb) {
                            panic!("{what}: byte {i} differs");
                        }
                        let want = reference(&xs);
                        for (i, want) in want.iter().enumerate() {
                            let at = out + 4 * i;
                            let f =
                                |m: &[u8]| f32::from_le_bytes(m[at..at + 4].try_into().unwrap());
                            let (orig, got) = (f(&ra.memory), f(&rb.memory));
                            if orig.is_nan() || want.is_nan() {
                                assert!(got.is_nan(), "{what} y[{i}]: {got}, the original NaN");
                            } else {
                                assert!(
                                    close(got, *want as f32, n),
                                    "{what} y[{i}]: {got} vs {want} (original {orig})"
                                );
                            }
                        }
                        if n >= 333 && rb.fuel * 3 < ra.fuel {
                            kernel_runs += 1;
                        }
                    }
                    if in_place || n < 16 {
                        continue;
                    }
                    // Partly overlapping, and past the end of memory: the original
                    // runs (bit for bit, traps included).
                    for (x_at, y_off) in [(4, 8), (4, -8), (-(4 * n as i64) - 4, 8), (4, 1 << 30)] {
                        let ra = call(&mut a, &finding.function, &xs, n as i32, x_at, y_off);
                        let rb = call(&mut b, &finding.function, &xs, n as i32, x_at, y_off);
                        assert_eq!(ra.trap, rb.trap, "{what} {x_at} {y_off}: traps");
                        // (NaN payloads aside, as everywhere: the original's own loops
                        // may have exact rewrites, such as AssemblyScript's maximum by
                        // `f32.max`, whose NaN's sign wasm leaves open.)
                        assert!(
                            barq_wasm::verify::first_difference(&ra.memory, &rb.memory).is_none(),
                            "{what} {x_at} {y_off}: memory"
                        );
                    }
                }
            }
        }
    }
    (identified, kernel_runs)
}

#[test]
fn portable_softmax_stays_within_the_bound() {
    let (identified, kernel_runs) = check(Target::Portable);
    // C: 3 functions x 7 levels; Rust 2; AssemblyScript 2.
    assert!(identified >= 25, "only {identified} identified");
    assert!(
        kernel_runs >= 8 * identified,
        "the kernel ran {kernel_runs} times"
    );
}

#[test]
fn native_softmax_stays_within_the_bound() {
    let (identified, kernel_runs) = check(Target::Native);
    assert!(identified >= 25, "only {identified} identified");
    assert!(
        kernel_runs >= 8 * identified,
        "the kernel ran {kernel_runs} times"
    );
}

/// Without --fast-math nothing is identified (the rewrite is not exact).
#[test]
fn softmax_needs_fast_math() {
    common::assert_needs_fast_math("c/softmax.O2.wasm", "softmax");
}

/// A softmax without the maximum subtracted, log-softmax, a temperature, a sum
/// missing one term, normalizing by the maximum, an epsilon: never identified.
#[test]
fn softmax_near_misses_are_not_identified() {
    common::assert_never_identified_with(
        "softmax_like",
        7,
        &[options(Target::Native), options(Target::Portable)],
        |f| f.pattern == "softmax",
    );
}

/// `barq::softmax_f32_v1` called directly with hostile arguments: ranges past the
/// end of memory, wrapping past 2^32 or with a negative (huge unsigned) count
/// trap before anything is written; a partly overlapping output is refused; zero
/// elements and the output on the input are fine.
#[test]
fn softmax_kernel_refuses_bad_ranges() {
    let wat = r#"(module
        (import "barq" "softmax_f32_v1" (func $s (param i32 i32 i32)))
        (memory (export "memory") 1)
        (func (export "s") (param i32 i32 i32) local.get 0 local.get 1 local.get 2 call $s))"#;
    let module = Module::new(common::fuel_engine(), wat::parse_str(wat).unwrap()).unwrap();
    let mut side = common::native_side(&module, PAGES);
    let end = (1 + PAGES as i32) * 65536;
    let memory = side
        .instance
        .get_memory(&mut side.store, "memory")
        .expect("memory");
    for (i, chunk) in memory.data_mut(&mut side.store)[..4096]
        .chunks_exact_mut(4)
        .enumerate()
    {
        chunk.copy_from_slice(&((i % 7) as f32).to_le_bytes());
    }
    let f = side.instance.get_func(&mut side.store, "s").unwrap();
    let mut run = |x: i32, y: i32, n: i32| {
        let before = memory.data(&side.store).to_vec();
        let err = f
            .call(
                &mut side.store,
                &[Val::I32(x), Val::I32(y), Val::I32(n)],
                &mut [],
            )
            .err()
            .map(|e| format!("{}", e.root_cause()));
        (err, before != memory.data(&side.store))
    };
    assert_eq!(run(0, 8192, 0), (None, false), "zero elements");
    assert_eq!(run(0, 8192, 100), (None, true), "apart");
    assert_eq!(run(0, 0, 100), (None, true), "in place");
    for (x, y, n) in [
        (end - 8, 0, 100),
        (0, end - 8, 100),
        (-4, 8192, 2),
        (0, 8192, -1),
    ] {
        let (err, changed) = run(x, y, n);
        let err = err.unwrap_or_else(|| panic!("{x} {y} {n} accepted"));
        assert!(err.contains("out of bounds"), "{x} {y} {n}: {err}");
        assert!(!changed, "{x} {y} {n}: memory written before the trap");
    }
    let (err, changed) = run(0, 8, 100);
    assert!(
        err.is_some_and(|e| e.contains("overlaps")),
        "partial overlap accepted"
    );
    assert!(!changed, "partial overlap: memory written");
}
