//! The native target's checksums: functions identified by probing as CRC-32,
//! CRC-32C or Adler-32 call `barq::crc32_v1` / `crc32c_v1` / `adler32_v1` behind a
//! guard (and, under the portable target, Adler-32 its SIMD128 kernel). Checked by running original and rewritten modules (with the runner's
//! kernels) on buffers of every interesting length (around the guard's threshold
//! and Adler's 5552-byte reduction block, long runs of 0xff), unaligned, at the end
//! of memory and past it, with negative lengths and unreduced running values:
//! results and traps identical, the kernel run where the guard allows it; and the
//! near misses never identified.

mod common;

use barq_passes::probe::Rng;
use barq_wasm::{optimize, Action, Options, Tier};
use wasmtime::{Module, Val};

fn engine() -> &'static wasmtime::Engine {
    common::fuel_engine()
}

fn native() -> Options {
    common::native_options()
}

/// How many checksum functions each corpus source has.
const PER_FILE: &[(&str, usize)] = &[
    ("/c/checksums.", 7),
    ("/rust/checksums.", 3),
    ("/assemblyscript/checksums.", 2),
];

use common::NativeSide as Side;

fn side(module: &Module) -> Side {
    common::native_side(module, 2)
}

/// Writes `data` at `at` (a negative `at` counts from the end of memory), calls
/// `export(running?, ptr, len)`; the result (or trap) and the fuel used.
fn call(
    s: &mut Side,
    export: &str,
    running: Option<u32>,
    at: i64,
    data: &[u8],
    len: i32,
) -> (Result<u32, String>, u64) {
    let memory = s.instance.get_memory(&mut s.store, "memory").unwrap();
    let size = memory.data_size(&s.store) as i64;
    let ptr = if at < 0 {
        size + at
    } else {
        size - 2 * 65536 + at
    };
    let fits = (ptr as usize + data.len()).min(size as usize) - ptr as usize;
    memory.data_mut(&mut s.store)[ptr as usize..ptr as usize + fits].copy_from_slice(&data[..fits]);
    let func = s.instance.get_func(&mut s.store, export).unwrap();
    let mut args = vec![Val::I32(ptr as i32), Val::I32(len)];
    if let Some(v) = running {
        args.insert(0, Val::I32(v as i32));
    }
    let mut out = [Val::I32(0)];
    let before = s.store.get_fuel().unwrap();
    let result = func
        .call(&mut s.store, &args, &mut out)
        .map(|()| out[0].unwrap_i32() as u32)
        .map_err(|e| format!("{}", e.root_cause()));
    (result, before - s.store.get_fuel().unwrap())
}

#[test]
fn identified_checksums_behave_exactly_like_the_originals() {
    let (identified, kernel_runs) = check_identified(&native(), Tier::Native, PER_FILE, 10);
    assert_eq!(identified, 7 * 7 + 2 * 3 + 2 * 2);
    assert!(
        kernel_runs >= 3 * identified,
        "the kernel ran {kernel_runs} times"
    );
}

/// Under `--target portable` Adler-32 gets its SIMD128 kernel inside the module
/// (`barq_adler32_simd`), behind the same guard, with the same checks; CRCs are
/// reported `detected` and keep their code.
#[test]
fn adler32_runs_its_simd128_kernel_under_the_portable_target() {
    const ADLER_PER_FILE: &[(&str, usize)] = &[
        ("/c/checksums.", 2),
        ("/rust/checksums.", 1),
        ("/assemblyscript/checksums.", 1),
    ];
    let portable = Options::default();
    let (identified, kernel_runs) = check_identified(&portable, Tier::Simd128, ADLER_PER_FILE, 4);
    // (Two in each C level, one in each Rust and AssemblyScript level.)
    assert_eq!(identified, 7 * 2 + 2 + 2);
    assert!(
        kernel_runs >= 3 * identified,
        "the kernel ran {kernel_runs} times"
    );
    for path in common::corpus_files().iter().filter(|p| {
        let s = p.to_string_lossy();
        s.contains("/c/checksums.") && s.ends_with(".wasm")
    }) {
        let result = optimize(&common::read(path), &portable).expect("optimize");
        let crcs = result
            .report
            .findings
            .iter()
            .filter(|f| f.pattern == "crc32")
            .inspect(|f| assert_eq!(f.action, Action::Detected, "{f:?}"))
            .count();
        assert_eq!(crcs, 5, "{}", path.display());
    }
}

/// Runs every checksum of the corpus that `options` rewrites with `tier` (as many
/// per file as `per_file` says) against its original; returns how many were
/// checked and how often the rewritten one used `speedup` times less fuel on 1000
/// bytes or more (its kernel ran).
fn check_identified(
    options: &Options,
    tier: Tier,
    per_file: &[(&str, usize)],
    speedup: u64,
) -> (usize, usize) {
    let mut identified = 0;
    let mut kernel_runs = 0;
    let mut rng = Rng(0xc4c);
    for path in common::corpus_files().iter().filter(|p| {
        let s = p.to_string_lossy();
        s.contains("/checksums.") && s.ends_with(".wasm")
    }) {
        let input = common::read(path);
        let result = optimize(&input, options).expect("optimize");
        let found: Vec<_> = result
            .report
            .findings
            .iter()
            .filter(|f| f.tier == Some(tier) && f.action == Action::Rewritten)
            .collect();
        let name = path.to_string_lossy();
        let (_, expected) = per_file
            .iter()
            .find(|(k, _)| name.contains(k))
            .expect("listed");
        assert_eq!(found.len(), *expected, "{}: {found:?}", path.display());
        let original = Module::new(engine(), &input).unwrap();
        let rewritten = Module::new(engine(), &result.wasm).unwrap();
        for finding in found {
            let export = finding.function.as_str();
            let running = original
                .get_export(export)
                .and_then(|e| e.func().map(|f| f.params().len() == 3))
                .expect("exported function");
            identified += 1;
            let (mut a, mut b) = (side(&original), side(&rewritten));
            let lengths = [0usize, 1, 63, 64, 65, 100, 1000, 5552, 5553, 70_000];
            for (t, &n) in lengths.iter().enumerate() {
                for at in [0i64, 3, -(n as i64) - 16, -(n as i64) - 3, -(n as i64) + 5] {
                    let data: Vec<u8> = if t % 3 == 2 {
                        vec![0xff; n]
                    } else {
                        (0..n).map(|_| rng.next_u64() as u8).collect()
                    };
                    let values: Vec<Option<u32>> = if running {
                        // A reduced value, an unreduced one (Adler falls back).
                        vec![
                            Some(rng.next_u64() as u32 % 65521 * 65537),
                            Some(0xfff1_fff2),
                        ]
                    } else {
                        vec![None]
                    };
                    for v in values {
                        for len in [n as i32, -(n as i32) - 1] {
                            if len < 0 && n > 100 {
                                continue; // (a negative length may loop for 2^32 bytes)
                            }
                            let (ra, fa) = call(&mut a, export, v, at, &data, len);
                            let (rb, fb) = call(&mut b, export, v, at, &data, len);
                            let what = format!(
                                "{} {export} n={n} at={at} v={v:?} len={len}",
                                path.display()
                            );
                            assert_eq!(ra, rb, "{what}");
                            if ra.is_ok() && n >= 1000 && fb * speedup < fa {
                                kernel_runs += 1;
                            }
                        }
                    }
                }
            }
        }
    }
    (identified, kernel_runs)
}

/// Checksums that differ from the standard ones in one detail (another initial
/// value, the last byte skipped, another polynomial, Adler's modulus off by one,
/// signed bytes) are never identified, at any level, native or portable.
#[test]
fn checksum_near_misses_are_not_identified() {
    common::assert_never_identified_with(
        "/checksums_like.",
        7,
        &[native(), Options::default()],
        |f| f.pattern == "crc32" || f.pattern == "adler32",
    );
}

/// The kernels on hostile arguments: past the end, wrapping, huge lengths trap
/// (a pointer past the end too, even with length zero, as every `barq` kernel);
/// a zero length inside memory returns the value unchanged.
#[test]
fn checksum_kernels_trap_on_bad_ranges() {
    let wat = r#"(module
        (import "barq" "crc32_v1" (func $c (param i32 i32 i32) (result i32)))
        (import "barq" "crc32c_v1" (func $cc (param i32 i32 i32) (result i32)))
        (import "barq" "adler32_v1" (func $a (param i32 i32 i32) (result i32)))
        (memory (export "memory") 1)
        (func (export "c") (param i32 i32 i32) (result i32) local.get 0 local.get 1 local.get 2 call $c)
        (func (export "cc") (param i32 i32 i32) (result i32) local.get 0 local.get 1 local.get 2 call $cc)
        (func (export "a") (param i32 i32 i32) (result i32) local.get 0 local.get 1 local.get 2 call $a))"#;
    let module = Module::new(engine(), wat::parse_str(wat).unwrap()).unwrap();
    let mut s = side(&module);
    let end = 3 * 65536;
    for name in ["c", "cc", "a"] {
        let f = s.instance.get_func(&mut s.store, name).unwrap();
        let mut run = |v: i32, p: i32, n: i32| {
            let mut out = [Val::I32(0)];
            f.call(
                &mut s.store,
                &[Val::I32(v), Val::I32(p), Val::I32(n)],
                &mut out,
            )
            .map(|()| out[0].unwrap_i32())
            .map_err(|e| format!("{}", e.root_cause()))
        };
        assert_eq!(run(7, 100, 0), Ok(7), "{name}");
        assert!(run(1, 0, end).is_ok(), "{name}");
        for (p, n) in [
            (1, end),
            (end - 3, 4),
            (-4, 8),
            (0, -1),
            (16, i32::MAX),
            (-1, 0),
        ] {
            let err = run(1, p, n).expect_err(name);
            assert!(err.contains("out of bounds"), "{name} {p} {n}: {err}");
        }
    }
}
