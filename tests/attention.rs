//! Attention under `--fast-math`: functions identified by probing as single-head
//! scaled dot-product attention (corpus/c/attention.c's three at every clang
//! level, a causal one and one with a fixed 512-float score array among them,
//! Rust's online softmax, AssemblyScript's) get the module's SIMD128
//! kernel (portable) or `barq::attention_f32_v1` (native) behind a guard. Checked
//! by running original and rewritten modules on shapes from 1x1x1 to 64 queries
//! and 129 keys, widths 1 to 64, values small, large (scores past where `expf`
//! overflows without the maximum subtracted), tiny, with a NaN or an infinity: every output
//! within `fingerprints::attention::bound` of an f64 reference (NaN where the
//! original gives NaN), every other byte identical but the stack below the stack
//! pointer (the original's score buffer, dead after it returns); zero or negative
//! counts, an output overlapping an input and arrays past the end of memory take
//! the original body (traps identical; memory too with the attention pass alone,
//! whose fallback is the original body unchanged); the kernel runs where the
//! guard lets it; near misses are never identified.

mod common;

use barq_passes::fingerprints::attention::reference;
use barq_passes::probe::Rng;
use barq_wasm::{optimize, Action, Options, Target, Tier};
use wasmtime::{Module, Val};

/// Pages grown onto memory for the arrays.
const PAGES: u64 = 2;
/// Bytes between the arrays' starts.
const STRIDE: i64 = 16384;

fn options(target: Target) -> Options {
    Options {
        target,
        fast_math: true,
        ..Options::default()
    }
}

/// A corpus function's parameters, by name and parameter count: positions of
/// (q, k, v, out, n, m, d, scale).
fn roles(name: &str, params: usize) -> [Option<usize>; 8] {
    match (name, params) {
        ("attention" | "attention_fixed", 6) => [
            Some(0),
            Some(1),
            Some(2),
            Some(3),
            Some(4),
            None,
            Some(5),
            None,
        ],
        ("attention", 8) => [0, 1, 2, 3, 4, 5, 6, 7].map(Some),
        ("attention_online" | "attention_causal", 7) => [
            Some(0),
            Some(1),
            Some(2),
            Some(3),
            Some(4),
            Some(5),
            Some(6),
            None,
        ],
        ("attention_scaled", 7) => [
            Some(1),
            Some(2),
            Some(3),
            Some(0),
            Some(5),
            None,
            Some(4),
            Some(6),
        ],
        _ => panic!("unknown corpus function {name}/{params}"),
    }
}

/// Values of kind `t`.
fn values(rng: &mut Rng, count: usize, t: usize) -> Vec<f32> {
    (0..count)
        .map(|i| {
            let unit = (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
            match t {
                0 => unit * 2.0 - 1.0,
                // Scores past 88 (expf overflows without the maximum subtracted).
                1 => 4.0 + 4.0 * unit,
                2 => (unit - 0.5) * 1e-3,
                3 if i == count / 2 => f32::NAN,
                5 if i == count / 3 => f32::INFINITY,
                6 if i == count / 3 => f32::NEG_INFINITY,
                _ => unit * 6.0 - 3.0,
            }
        })
        .collect()
}

struct Run {
    memory: Vec<u8>,
    trap: Option<String>,
    fuel: u64,
}

/// Where each array starts: bytes from the grown pages' start, or (negative)
/// from the end of memory.
struct Layout {
    at: [i64; 4],
}

/// Calls `name` with `q`, `k`, `v` written at their places, counts `(n, m, d)`
/// (`m` ignored by functions without it) and `scale` for those that take one.
fn call(
    side: &mut common::NativeSide,
    name: &str,
    arrays: [&[f32]; 3],
    (n, m, d): (i32, i32, i32),
    scale: f32,
    layout: &Layout,
) -> Run {
    let memory = side
        .instance
        .get_memory(&mut side.store, "memory")
        .expect("memory");
    let size = memory.data_size(&side.store) as i64;
    let at = layout
        .at
        .map(|a| if a < 0 { size + a } else { side.base + a });
    let data = memory.data_mut(&mut side.store);
    data[side.base as usize..].fill(0);
    for (t, array) in arrays.iter().enumerate() {
        for (i, x) in array.iter().enumerate() {
            let p = (at[t] + 4 * i as i64) as usize;
            if p + 4 <= data.len() {
                data[p..p + 4].copy_from_slice(&x.to_le_bytes());
            }
        }
    }
    let func = side
        .instance
        .get_func(&mut side.store, name)
        .expect("export");
    let params = func.ty(&side.store).params().len();
    let r = roles(name, params);
    let mut args = vec![Val::I32(0); params];
    for (role, value) in [
        (r[0], at[0] as i32),
        (r[1], at[1] as i32),
        (r[2], at[2] as i32),
        (r[3], at[3] as i32),
        (r[4], n),
        (r[5], m),
        (r[6], d),
    ] {
        if let Some(p) = role {
            args[p] = Val::I32(value);
        }
    }
    if let Some(p) = r[7] {
        args[p] = Val::F32(scale.to_bits());
    }
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

/// The 64 KiB below the initial stack pointer (`__stack_pointer` in the name
/// section): the C stack, dead once a function returns, where the original keeps
/// its scores (and libm spills); the kernel writes none of it.
fn stack(wasm: &[u8]) -> std::ops::Range<usize> {
    common::initial_stack_pointer(wasm).map_or(0..0, |sp| sp.saturating_sub(65536)..sp)
}

/// The first byte where `a` and `b` differ outside the `skip` ranges.
fn first_difference(a: &[u8], b: &[u8], skip: &[std::ops::Range<usize>]) -> Option<usize> {
    assert_eq!(a.len(), b.len());
    let mut skip: Vec<_> = skip.to_vec();
    skip.sort_by_key(|r| r.start);
    let mut at = 0;
    for r in skip.iter().chain([&(a.len()..a.len())]) {
        let end = r.start.clamp(at, a.len());
        if a[at..end] != b[at..end] {
            return (at..end).find(|i| a[*i] != b[*i]);
        }
        at = at.max(r.end.min(a.len()));
    }
    None
}

/// Every corpus attention function for `target`: (identified, runs large enough
/// for the kernel, runs where it was seen to run).
fn check(target: Target) -> (usize, usize, usize) {
    let mut identified = 0;
    let mut eligible = 0;
    let mut kernel_runs = 0;
    let paths: Vec<_> = common::corpus_files()
        .into_iter()
        .filter(|p| {
            let s = p.to_string_lossy();
            s.ends_with(".wasm") && s.contains("/attention.")
        })
        .collect();
    assert_eq!(paths.len(), 11, "{paths:?}");
    for path in paths {
        let input = common::read(&path);
        let stack = stack(&input);
        let result = optimize(&input, &options(target)).expect("optimize");
        let engine = common::fuel_engine();
        let original = Module::new(engine, &input).expect("original");
        let rewritten = Module::new(engine, &result.wasm).expect("rewritten");
        // The attention pass alone: its fallback is the original body, bit for
        // bit (the full pipeline's fallback may have --fast-math loop rewrites).
        let alone = Options {
            passes: Some(vec!["attention".to_string()]),
            ..options(target)
        };
        let alone = optimize(&input, &alone).expect("optimize alone");
        let alone = Module::new(engine, &alone.wasm).expect("alone");
        let found: Vec<_> = result
            .report
            .findings
            .iter()
            .filter(|f| f.pattern == "attention" && f.action == Action::Rewritten)
            .collect();
        let expected = if path.to_string_lossy().contains("/c/") {
            5
        } else {
            1
        };
        assert_eq!(found.len(), expected, "{}: {found:?}", path.display());
        for finding in found {
            let tier = match target {
                Target::Native => Tier::Native,
                _ => Tier::Simd128,
            };
            assert_eq!(finding.tier, Some(tier), "{finding:?}");
            assert!(!finding.exact, "{finding:?}");
            identified += 1;
            let name = finding.function.as_str();
            let mut a = common::native_side(&original, PAGES);
            let mut b = common::native_side(&rewritten, PAGES);
            let mut c = common::native_side(&alone, PAGES);
            let has_m = {
                let f = a.instance.get_func(&mut a.store, name).expect("export");
                let params = f.ty(&a.store).params().len();
                roles(name, params)[5].is_some()
            };
            let mut rng = Rng(0xa77e ^ identified as u64);
            let apart = Layout {
                at: [4, 4 + STRIDE, 4 + 2 * STRIDE, 4 + 3 * STRIDE],
            };
            for (n, m, d) in [
                (1, 1, 1),
                (3, 3, 3),
                (2, 5, 3),
                (16, 16, 16),
                (7, 33, 17),
                (64, 64, 32),
                (5, 129, 8),
                (40, 40, 64),
                (9, 4, 5),
            ] {
                let m = if has_m { m } else { n };
                for t in 0..7 {
                    let q = values(&mut rng, n * d, t);
                    let k = values(&mut rng, m * d, t);
                    let v = values(&mut rng, m * d, 0);
                    let scale = 0.7 / (d as f32).sqrt();
                    let what = format!(
                        "{target:?} {} {name} n={n} m={m} d={d} t={t}",
                        path.display()
                    );
                    let counts = (n as i32, m as i32, d as i32);
                    let ra = call(&mut a, name, [&q, &k, &v], counts, scale, &apart);
                    let rb = call(&mut b, name, [&q, &k, &v], counts, scale, &apart);
                    assert_eq!(ra.trap, rb.trap, "{what}: traps");
                    assert_eq!(ra.trap, None, "{what}: trapped");
                    let out = (a.base + apart.at[3]) as usize;
                    let outputs = out..out + 4 * n * d;
                    let differs =
                        first_difference(&ra.memory, &rb.memory, &[outputs.clone(), stack.clone()]);
                    assert_eq!(differs, None, "{what}: a byte differs");
                    // The scale the function uses: its parameter, or 1/sqrt(d).
                    let params = {
                        let f = a.instance.get_func(&mut a.store, name).expect("export");
                        f.ty(&a.store).params().len()
                    };
                    let used = if roles(name, params)[7].is_some() {
                        scale
                    } else {
                        1.0 / (d as f32).sqrt()
                    };
                    let causal = name == "attention_causal";
                    let want = reference((n, m, d), &q, &k, &v, used, causal);
                    for (i, (value, bound)) in want.iter().enumerate() {
                        let at = out + 4 * i;
                        let f =
                            |mem: &[u8]| f32::from_le_bytes(mem[at..at + 4].try_into().unwrap());
                        let (orig, got) = (f(&ra.memory), f(&rb.memory));
                        if orig.is_nan() || value.is_nan() {
                            assert!(got.is_nan(), "{what} out[{i}]: {got}, the original NaN");
                        } else {
                            assert!(
                                (got as f64 - value).abs() <= *bound,
                                "{what} out[{i}]: {got} vs {value} +- {bound} (original {orig})"
                            );
                        }
                    }
                    if n * m * d >= 4096 {
                        eligible += 1;
                        // The attention pass alone: the fallback is the original
                        // body, so fewer instructions mean the kernel ran.
                        let rc = call(&mut c, name, [&q, &k, &v], counts, scale, &apart);
                        assert_eq!(
                            rc.memory[outputs.clone()],
                            rb.memory[outputs.clone()],
                            "{what}: alone"
                        );
                        if rc.fuel * 5 < ra.fuel * 4 {
                            kernel_runs += 1;
                        }
                    }
                }
                // The guard's refusals run the original, bit for bit: zero counts,
                // the output overlapping Q, K or V, arrays past the end of memory.
                let q = values(&mut rng, n * d, 0);
                let k = values(&mut rng, m * d, 0);
                let v = values(&mut rng, m * d, 0);
                let bytes = 4 * (n * d) as i64;
                let v_bytes = 4 * (m * d) as i64;
                let mut cases = vec![
                    (
                        (0, m as i32, d as i32),
                        [4, 4 + STRIDE, 4 + 2 * STRIDE, 4 + 3 * STRIDE],
                    ),
                    (
                        (n as i32, m as i32, 0),
                        [4, 4 + STRIDE, 4 + 2 * STRIDE, 4 + 3 * STRIDE],
                    ),
                    (
                        (n as i32, m as i32, d as i32),
                        [4, 4 + STRIDE, 4 + 2 * STRIDE, 8],
                    ),
                    (
                        (n as i32, m as i32, d as i32),
                        [4, 4 + STRIDE, 4 + 2 * STRIDE, 4 + STRIDE + 4],
                    ),
                    (
                        (n as i32, m as i32, d as i32),
                        [4, 4 + STRIDE, 4 + 2 * STRIDE, 4 + 2 * STRIDE - bytes + 4],
                    ),
                    (
                        (n as i32, m as i32, d as i32),
                        [4, 4 + STRIDE, -v_bytes + 8, 4 + 3 * STRIDE],
                    ),
                    (
                        (n as i32, m as i32, d as i32),
                        [4, 4 + STRIDE, 4 + 2 * STRIDE, -bytes + 4],
                    ),
                    (
                        (-1, m as i32, d as i32),
                        [4, 4 + STRIDE, 4 + 2 * STRIDE, 4 + 3 * STRIDE],
                    ),
                ];
                if has_m {
                    cases.push((
                        (n as i32, 0, d as i32),
                        [4, 4 + STRIDE, 4 + 2 * STRIDE, 4 + 3 * STRIDE],
                    ));
                }
                for (counts, at) in cases {
                    let layout = Layout { at };
                    let what = format!("{} {name} {counts:?} {at:?}", path.display());
                    let ra = call(&mut a, name, [&q, &k, &v], counts, 0.5, &layout);
                    let rb = call(&mut b, name, [&q, &k, &v], counts, 0.5, &layout);
                    let rc = call(&mut c, name, [&q, &k, &v], counts, 0.5, &layout);
                    assert_eq!(ra.trap, rb.trap, "{what}: traps");
                    assert_eq!(ra.trap, rc.trap, "{what}: traps (alone)");
                    // (The stack below the stack pointer holds what earlier calls
                    // left: the original's scores, not the kernel's.)
                    let differs =
                        first_difference(&ra.memory, &rc.memory, std::slice::from_ref(&stack));
                    assert_eq!(differs, None, "{what}: a byte differs (alone)");
                }
            }
        }
    }
    (identified, eligible, kernel_runs)
}

#[test]
fn native_attention_stays_within_the_bound() {
    let (identified, eligible, kernel_runs) = check(Target::Native);
    // C: 5 functions x 7 levels; Rust 2; AssemblyScript 2.
    assert_eq!(identified, 39);
    assert_eq!(
        kernel_runs, eligible,
        "the kernel ran {kernel_runs} of {eligible} times"
    );
}

#[test]
fn portable_attention_stays_within_the_bound() {
    let (identified, eligible, kernel_runs) = check(Target::Portable);
    assert_eq!(identified, 39);
    assert_eq!(
        kernel_runs, eligible,
        "the kernel ran {kernel_runs} of {eligible} times"
    );
}

/// Without --fast-math nothing is identified (no exact rewrite exists).
#[test]
fn attention_needs_fast_math() {
    common::assert_needs_fast_math("c/attention.O2.wasm", "attention");
}

/// No maximum subtracted, a causal mask letting a query see one key too many, the
/// scale multiplied by sqrt(d), no normalization, V read transposed, scores left
/// in a caller's buffer: never identified, on either target.
#[test]
fn attention_near_misses_are_not_identified() {
    common::assert_never_identified_with(
        "attention_like",
        7,
        &[options(Target::Native), options(Target::Portable)],
        |f| f.pattern == "attention",
    );
}

/// `barq::attention_f32_v1` called directly with hostile arguments: ranges past
/// the end of memory, wrapping past 2^32 or with negative (huge unsigned) counts
/// trap before anything is written; an output overlapping an input is refused;
/// zero counts do nothing; a causal mask with fewer keys than queries is refused.
#[test]
fn attention_kernel_refuses_bad_ranges() {
    let wat = r#"(module
        (import "barq" "attention_f32_v1"
          (func $a (param i32 i32 i32 i32 i32 i32 i32 f32 i32)))
        (memory (export "memory") 1)
        (func (export "a") (param i32 i32 i32 i32 i32 i32 i32 i32)
          local.get 0 local.get 1 local.get 2 local.get 3
          local.get 4 local.get 5 local.get 6 f32.const 0.5 local.get 7 call $a))"#;
    let module = Module::new(common::fuel_engine(), wat::parse_str(wat).unwrap()).unwrap();
    let mut side = common::native_side(&module, 1);
    let end = 2 * 65536;
    let memory = side
        .instance
        .get_memory(&mut side.store, "memory")
        .expect("memory");
    for (i, chunk) in memory.data_mut(&mut side.store)[..16384]
        .chunks_exact_mut(4)
        .enumerate()
    {
        chunk.copy_from_slice(&((i % 7) as f32 - 3.0).to_le_bytes());
    }
    let f = side.instance.get_func(&mut side.store, "a").unwrap();
    let mut run = |args: [i32; 7]| {
        let before = memory.data(&side.store).to_vec();
        let (args, flags) = match args[4] {
            // (n = 5 marks the causal cases below.)
            5 => (args, 1),
            _ => (args, 0),
        };
        let args: Vec<Val> = args.iter().chain([&flags]).map(|a| Val::I32(*a)).collect();
        let err = f
            .call(&mut side.store, &args, &mut [])
            .err()
            .map(|e| format!("{}", e.root_cause()));
        (err, before != memory.data(&side.store))
    };
    assert_eq!(run([0, 1024, 2048, 8192, 0, 4, 4]), (None, false), "n = 0");
    assert_eq!(run([0, 1024, 2048, 8192, 4, 0, 4]), (None, false), "m = 0");
    assert_eq!(run([0, 1024, 2048, 8192, 4, 4, 0]), (None, false), "d = 0");
    assert_eq!(run([0, 1024, 2048, 8192, 4, 5, 6]), (None, true), "apart");
    assert_eq!(run([0, 0, 0, 8192, 4, 4, 6]), (None, true), "inputs shared");
    assert_eq!(run([0, 1024, 2048, 8192, 5, 7, 6]), (None, true), "causal");
    let (err, changed) = run([0, 1024, 2048, 8192, 5, 4, 6]);
    assert!(
        err.is_some_and(|e| e.contains("causal")),
        "causal with m < n accepted"
    );
    assert!(!changed, "causal with m < n: memory written");
    for args in [
        [end - 8, 1024, 2048, 8192, 4, 4, 4],
        [0, end - 8, 2048, 8192, 4, 4, 4],
        [0, 1024, end - 8, 8192, 4, 4, 4],
        [0, 1024, 2048, end - 8, 4, 4, 4],
        [-4, 1024, 2048, 8192, 1, 1, 4],
        [0, 1024, 2048, 8192, -1, 4, 4],
        [0, 1024, 2048, 8192, 4, -1, 4],
        [0, 1024, 2048, 8192, 4, 4, -1],
        [0, 1024, 2048, 8192, 65536, 1, 65536],
    ] {
        let (err, changed) = run(args);
        let err = err.unwrap_or_else(|| panic!("{args:?} accepted"));
        assert!(err.contains("out of bounds"), "{args:?}: {err}");
        assert!(!changed, "{args:?}: memory written before the trap");
    }
    for args in [
        [0, 1024, 2048, 8, 4, 4, 4],
        [0, 1024, 2048, 1024 + 60, 4, 4, 4],
        [0, 1024, 2048, 2040, 4, 4, 4],
    ] {
        let (err, changed) = run(args);
        assert!(
            err.is_some_and(|e| e.contains("overlaps")),
            "{args:?} accepted"
        );
        assert!(!changed, "{args:?}: memory written");
    }
}
