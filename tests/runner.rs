//! The runner: `barq_wasm::runtime::Runtime` (library) and `barq-wasm run` (spawned).
//! Programs: corpus/wasi/hello.c (a WASI command) and corpus/wasi/kernels.c (a
//! library module with loops barq rewrites, a trap and an endless loop).

mod common;

use barq_wasm::config::{Config, RunOptLevel};
use barq_wasm::runtime::{RunError, Runtime, Val};
use barq_wasm::Action;
use std::process::Command;
use std::time::Duration;

fn kernels() -> Vec<u8> {
    common::read(&common::root().join("corpus/wasi/kernels.wasm"))
}

fn quiet(config: Config) -> Config {
    Config {
        inherit_stdio: false,
        ..config
    }
}

fn scaled_sum(config: Config, n: i32) -> (i32, Option<usize>) {
    let mut runtime = Runtime::new(quiet(config)).expect("runtime");
    runtime.load_module(&kernels()).expect("load");
    runtime
        .invoke("fill", &[Val::I32(n), Val::I32(-7)])
        .expect("fill");
    let result = runtime
        .invoke("scaled_sum", &[Val::I32(n), Val::I32(3)])
        .expect("scaled_sum");
    let rewritten = runtime.report().map(|r| {
        r.findings
            .iter()
            .filter(|f| f.action == Action::Rewritten)
            .count()
    });
    (result[0].unwrap_i32(), rewritten)
}

#[test]
fn optimizing_on_load_keeps_results() {
    for n in [0, 1, 15, 16, 17, 100, 4096] {
        let (plain, none) = scaled_sum(Config::default(), n);
        let (optimized, rewritten) = scaled_sum(Config::default().with_pattern_detection(true), n);
        let (aggressive, _) = scaled_sum(
            Config::default()
                .with_pattern_detection(true)
                .with_opt_level(RunOptLevel::Aggressive),
            n,
        );
        assert_eq!(plain, n * -21);
        assert_eq!((optimized, aggressive), (plain, plain), "n={n}");
        assert_eq!(none, None);
        assert!(rewritten.unwrap_or(0) >= 2, "{rewritten:?}");
    }
}

#[test]
fn traps_carry_the_wasm_backtrace() {
    let mut runtime = Runtime::new(quiet(Config::default())).expect("runtime");
    runtime.load_module(&kernels()).expect("load");
    match runtime.invoke("divide", &[Val::I32(1), Val::I32(0)]) {
        Err(RunError::Trap { message, backtrace }) => {
            assert!(message.contains("divide by zero"), "{message}");
            assert!(backtrace.contains("divide"), "{backtrace}");
        }
        other => panic!("{other:?}"),
    }
    // The instance stays usable after a trap.
    let ok = runtime
        .invoke("divide", &[Val::I32(7), Val::I32(2)])
        .expect("divide");
    assert_eq!(ok[0].unwrap_i32(), 3);
}

#[test]
fn fuel_and_timeout_stop_endless_loops() {
    let mut runtime =
        Runtime::new(quiet(Config::default().with_fuel(Some(100_000)))).expect("runtime");
    runtime.load_module(&kernels()).expect("load");
    assert!(matches!(
        runtime.invoke("spin", &[Val::I32(1)]),
        Err(RunError::OutOfFuel(100_000))
    ));
    // The budget is per call: a short call still runs.
    assert!(runtime.invoke("spin", &[Val::I32(0)]).is_ok());

    let timeout = Duration::from_millis(100);
    let mut runtime =
        Runtime::new(quiet(Config::default().with_timeout(Some(timeout)))).expect("runtime");
    runtime.load_module(&kernels()).expect("load");
    let start = std::time::Instant::now();
    assert!(matches!(
        runtime.invoke("spin", &[Val::I32(1)]),
        Err(RunError::Timeout(_))
    ));
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(runtime.invoke("spin", &[Val::I32(0)]).is_ok());
}

#[test]
fn missing_imports_are_named() {
    let env = wat::parse_str(r#"(module (import "env" "log" (func (param i32))))"#).unwrap();
    let native =
        wat::parse_str(r#"(module (import "barq" "gemm_f32_v9" (func (param i32 i32 i32))))"#)
            .unwrap();
    let mut runtime = Runtime::new(quiet(Config::default())).expect("runtime");
    let e = runtime.load_module(&env).expect_err("env import");
    assert!(e.to_string().contains("env::log"), "{e}");
    let e = runtime.load_module(&native).expect_err("barq import");
    assert!(
        e.to_string().contains("barq::gemm_f32_v9") && e.to_string().contains("does not provide"),
        "{e}"
    );
    assert!(matches!(
        runtime.invoke("anything", &[]),
        Err(RunError::NotLoaded)
    ));
}

#[test]
fn reactors_are_initialized() {
    let wasm = wat::parse_str(
        r#"(module
            (global $g (mut i32) (i32.const 0))
            (func (export "_initialize") (global.set $g (i32.const 41)))
            (func (export "get") (result i32) (i32.add (global.get $g) (i32.const 1))))"#,
    )
    .unwrap();
    let mut runtime = Runtime::new(quiet(Config::default())).expect("runtime");
    runtime.load_module(&wasm).expect("load");
    assert_eq!(runtime.invoke("get", &[]).expect("get")[0].unwrap_i32(), 42);
    assert!(matches!(
        runtime.invoke("get", &[Val::I32(1)]),
        Err(RunError::BadArgument(_))
    ));
}

fn barq_wasm(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_barq-wasm"))
        .args(args)
        .output()
        .expect("spawn barq-wasm")
}

#[test]
fn cli_runs_a_wasi_command() {
    let dir = std::env::temp_dir().join(format!("barq-runner-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("out")).unwrap();
    let hello = common::root().join("corpus/wasi/hello.wasm");
    let mapping = format!("{}::.", dir.display());
    let out = barq_wasm(&[
        "run",
        "--dir",
        &mapping,
        "--env",
        "GREETING=salaam",
        hello.to_str().unwrap(),
        "3",
        "--not-a-flag",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(stdout.contains("arg 0: hello.wasm"), "{stdout}");
    assert!(stdout.contains("arg 2: --not-a-flag"), "{stdout}");
    assert!(stdout.contains("GREETING=salaam"), "{stdout}");
    assert!(
        stdout.contains("read back: written by hello.wasm"),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("out/note.txt")).unwrap(),
        "written by hello.wasm\n"
    );
    // Without the directory the program says so and exits 0.
    let out = barq_wasm(&["run", "--opt-level", "none", hello.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("no out/ directory"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn cli_invokes_exports_and_reports_errors() {
    let kernels = common::root().join("corpus/wasi/kernels.wasm");
    let path = kernels.to_str().unwrap();
    let out = barq_wasm(&["run", "--invoke", "wide", path, "-5", "2.5"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "-3");

    let out = barq_wasm(&[
        "run",
        "--report",
        "--invoke",
        "scaled_sum",
        path,
        "0x10",
        "3",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("rewritten"));

    let cases: &[(&[&str], i32, &str)] = &[
        (
            &["run", "--invoke", "divide", path, "1", "0"],
            134,
            "divide by zero",
        ),
        (
            &["run", "--invoke", "spin", "--fuel", "10000", path, "1"],
            134,
            "out of fuel",
        ),
        (
            &["run", "--invoke", "spin", "--timeout", "0.1", path, "1"],
            134,
            "timed out",
        ),
        (
            &["run", "--invoke", "divide", path, "x", "1"],
            1,
            "not a valid i32",
        ),
        (
            &["run", "--invoke", "divide", path, "1"],
            1,
            "takes 2 arguments",
        ),
        (
            &["run", "--invoke", "nope", path],
            1,
            "no exported function `nope`",
        ),
        (&["run", "/nonexistent/x.wasm"], 1, "cannot read"),
        (&["run", path], 1, "_start"),
    ];
    for (args, code, message) in cases {
        let out = barq_wasm(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(*code), "{args:?}: {stderr}");
        assert!(stderr.starts_with("barq-wasm: "), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}

/// The host kernels called directly with hostile pointers and lengths: every bad
/// range is a wasm trap (never a host fault), zero lengths at the very end of memory
/// are fine, unaligned and aliased buffers work, and results match the scalar
/// definition.
#[test]
fn native_kernels_check_every_range() {
    let wasm = wat::parse_str(
        r#"(module
            (import "barq" "axpy_f32_v1" (func $axpy (param i32 i32 f32 i32)))
            (import "barq" "dot_f32_v1" (func $dotf (param i32 i32 i32) (result f32)))
            (import "barq" "dot_i32_v1" (func $doti (param i32 i32 i32) (result i32)))
            (import "barq" "sum_squares_f32_v1" (func $ss (param i32 i32) (result f32)))
            (import "barq" "cosine_f32_v1" (func $cos (param i32 i32 i32) (result f32 f32 f32)))
            (import "barq" "dot_u8_u8_v1" (func $uu (param i32 i32 i32) (result i32)))
            (import "barq" "dot_u8_i8_v1" (func $ui (param i32 i32 i32) (result i32)))
            (import "barq" "dot_i8_u8_v1" (func $iu (param i32 i32 i32) (result i32)))
            (import "barq" "dot_i8_i8_v1" (func $ii (param i32 i32 i32) (result i32)))
            (memory (export "memory") 1)
            (func (export "ss") (param i32 i32) (result f32) (call $ss (local.get 0) (local.get 1)))
            (func (export "cos") (param i32 i32 i32) (result f32 f32 f32) (call $cos (local.get 0) (local.get 1) (local.get 2)))
            (func (export "uu") (param i32 i32 i32) (result i32) (call $uu (local.get 0) (local.get 1) (local.get 2)))
            (func (export "ui") (param i32 i32 i32) (result i32) (call $ui (local.get 0) (local.get 1) (local.get 2)))
            (func (export "iu") (param i32 i32 i32) (result i32) (call $iu (local.get 0) (local.get 1) (local.get 2)))
            (func (export "ii") (param i32 i32 i32) (result i32) (call $ii (local.get 0) (local.get 1) (local.get 2)))
            (func (export "setb") (param i32 i32) (i32.store8 (local.get 0) (local.get 1)))
            (func (export "getb") (param i32) (result i32) (i32.load8_u (local.get 0)))
            (func (export "axpy") (param i32 i32 f32 i32) (call $axpy (local.get 0) (local.get 1) (local.get 2) (local.get 3)))
            (func (export "dotf") (param i32 i32 i32) (result f32) (call $dotf (local.get 0) (local.get 1) (local.get 2)))
            (func (export "doti") (param i32 i32 i32) (result i32) (call $doti (local.get 0) (local.get 1) (local.get 2)))
            (func (export "setf") (param i32 f32) (f32.store (local.get 0) (local.get 1)))
            (func (export "getf") (param i32) (result f32) (f32.load (local.get 0)))
            (func (export "seti") (param i32 i32) (i32.store (local.get 0) (local.get 1))))"#,
    )
    .unwrap();
    let mut rt = Runtime::new(quiet(Config::default())).expect("runtime");
    rt.load_module(&wasm).expect("load");
    let i = Val::I32;
    let f = |v: f32| Val::F32(v.to_bits());
    let traps = |rt: &mut Runtime, name: &str, args: &[Val]| matches!(rt.invoke(name, args), Err(RunError::Trap { message, .. }) if message.contains("out of bounds"));
    let end = 65536;
    for (x, n) in [
        (end - 4, 2),               // runs past the end
        (end, 1),                   // starts at the end
        (-16, 8),                   // 0xfffffff0: past the end
        (0, -1),                    // n = 2^32 - 1 elements
        (0x7fff_fff0, 0x4000_0000), // ptr + 4n overflows 32 bits
    ] {
        assert!(traps(&mut rt, "dotf", &[i(x), i(0), i(n)]), "dotf {x} {n}");
        assert!(traps(&mut rt, "doti", &[i(0), i(x), i(n)]), "doti {x} {n}");
        assert!(traps(&mut rt, "ss", &[i(x), i(n)]), "ss {x} {n}");
        assert!(traps(&mut rt, "cos", &[i(0), i(x), i(n)]), "cos {x} {n}");
        for dot in ["uu", "ui", "iu", "ii"] {
            // (Bytes: 4n elements reach as far as n words.)
            let bytes = n.wrapping_mul(4);
            assert!(
                traps(&mut rt, dot, &[i(x), i(0), i(bytes)]),
                "{dot} {x} {n}"
            );
            assert!(
                traps(&mut rt, dot, &[i(0), i(x), i(bytes)]),
                "{dot} y {x} {n}"
            );
        }
        assert!(
            traps(&mut rt, "axpy", &[i(x), i(0), f(1.0), i(n)]),
            "axpy {x} {n}"
        );
        assert!(
            traps(&mut rt, "axpy", &[i(0), i(x), f(1.0), i(n)]),
            "axpy x {x} {n}"
        );
    }
    // Zero elements at the end of memory: nothing to read, no trap.
    assert!(rt.invoke("dotf", &[i(end), i(end), i(0)]).is_ok());
    assert!(rt.invoke("axpy", &[i(end), i(end), f(2.0), i(0)]).is_ok());

    // Unaligned, odd-length buffers; the exact kernels against the scalar definition.
    let (x, y, n) = (1001, 3003, 37);
    for k in 0..n {
        rt.invoke("setf", &[i(x + 4 * k), f(k as f32 * 0.25 - 3.0)])
            .unwrap();
        rt.invoke("setf", &[i(y + 4 * k), f(1.5 - k as f32)])
            .unwrap();
    }
    rt.invoke("axpy", &[i(y), i(x), f(0.1), i(n)]).unwrap();
    for k in 0..n {
        let got = rt.invoke("getf", &[i(y + 4 * k)]).unwrap()[0].unwrap_f32();
        let want = (1.5 - k as f32) + 0.1 * (k as f32 * 0.25 - 3.0);
        assert_eq!(got.to_bits(), want.to_bits(), "axpy element {k}");
    }
    // In place (y == x): y = y + a * y, element by element.
    rt.invoke("axpy", &[i(x), i(x), f(2.0), i(n)]).unwrap();
    for k in 0..n {
        let got = rt.invoke("getf", &[i(x + 4 * k)]).unwrap()[0].unwrap_f32();
        let v = k as f32 * 0.25 - 3.0;
        assert_eq!(
            got.to_bits(),
            (v + 2.0 * v).to_bits(),
            "in-place element {k}"
        );
    }
    for k in 0..n {
        rt.invoke("seti", &[i(x + 4 * k), i(k * 1_000_003 - 77)])
            .unwrap();
        rt.invoke("seti", &[i(y + 4 * k), i(i32::MAX - k)]).unwrap();
    }
    let want = (0..n).fold(0i32, |acc, k| {
        acc.wrapping_add((k * 1_000_003 - 77).wrapping_mul(i32::MAX - k))
    });
    let got = rt.invoke("doti", &[i(x), i(y), i(n)]).unwrap()[0].unwrap_i32();
    assert_eq!(got, want);

    // Widening byte dots: every signedness, against the scalar definition, at odd
    // lengths around the 32-byte step, unaligned and aliased.
    let bytes: Vec<i32> = (0..301).map(|k| (k * 97 + 13) % 256).collect();
    for (k, b) in bytes.iter().enumerate() {
        rt.invoke("setb", &[i(x + k as i32), i(*b)]).unwrap();
        rt.invoke("setb", &[i(y + k as i32), i(255 - *b)]).unwrap();
    }
    let widen = |b: i32, signed: bool| if signed { b as u8 as i8 as i32 } else { b };
    for (name, sx, sy) in [
        ("uu", false, false),
        ("ui", false, true),
        ("iu", true, false),
        ("ii", true, true),
    ] {
        for len in [0usize, 1, 15, 16, 31, 32, 33, 64, 301] {
            for (px, py) in [(x, y), (x, x), (x + 1, y + 3)] {
                let read = |rt: &mut Runtime, p: i32| -> Vec<i32> {
                    (0..len as i32)
                        .map(|k| rt.invoke("getb", &[i(p + k)]).unwrap()[0].unwrap_i32())
                        .collect()
                };
                let (a, b) = (read(&mut rt, px), read(&mut rt, py));
                let want = a.iter().zip(&b).fold(0i32, |acc, (p, q)| {
                    acc.wrapping_add(widen(*p, sx).wrapping_mul(widen(*q, sy)))
                });
                let got = rt.invoke(name, &[i(px), i(py), i(len as i32)]).unwrap()[0].unwrap_i32();
                assert_eq!(got, want, "{name} len={len} at {px}, {py}");
            }
        }
    }

    // The --fast-math sums: within n * eps * sum|terms| of the sequential sums.
    for k in 0..n {
        rt.invoke("setf", &[i(x + 4 * k), f((k % 7) as f32 * 0.25 - 0.5)])
            .unwrap();
        rt.invoke("setf", &[i(y + 4 * k), f(1.0 - (k % 5) as f32 * 0.3)])
            .unwrap();
    }
    let xs: Vec<f32> = (0..n).map(|k| (k % 7) as f32 * 0.25 - 0.5).collect();
    let ys: Vec<f32> = (0..n).map(|k| 1.0 - (k % 5) as f32 * 0.3).collect();
    let close = |got: f32, want: f32| (got - want).abs() <= n as f32 * n as f32 * f32::EPSILON;
    let sum = |f: &dyn Fn(usize) -> f32| (0..n as usize).map(f).sum::<f32>();
    let ss = rt.invoke("ss", &[i(x), i(n)]).unwrap()[0].unwrap_f32();
    assert!(close(ss, sum(&|k| xs[k] * xs[k])), "sum_squares {ss}");
    let cos = rt.invoke("cos", &[i(x), i(y), i(n)]).unwrap();
    let (xy, xx, yy) = (
        cos[0].unwrap_f32(),
        cos[1].unwrap_f32(),
        cos[2].unwrap_f32(),
    );
    assert!(close(xy, sum(&|k| xs[k] * ys[k])), "cosine x.y {xy}");
    assert!(close(xx, sum(&|k| xs[k] * xs[k])), "cosine x.x {xx}");
    assert!(close(yy, sum(&|k| ys[k] * ys[k])), "cosine y.y {yy}");
}

/// `y[i] += a * x[i]` as an exported `axpy(a, x, y, n)`, with `memory` declared.
fn axpy_module(memory: &str) -> String {
    format!(
        r#"(module {memory}
            (func (export "axpy") (param $a f32) (param $x i32) (param $y i32) (param $n i32)
              (local $i i32)
              (block $done
                (br_if $done (i32.le_s (local.get $n) (i32.const 0)))
                (loop $l
                  (f32.store (i32.add (local.get $y) (i32.shl (local.get $i) (i32.const 2)))
                    (f32.add
                      (f32.load (i32.add (local.get $y) (i32.shl (local.get $i) (i32.const 2))))
                      (f32.mul (local.get $a)
                        (f32.load (i32.add (local.get $x) (i32.shl (local.get $i) (i32.const 2)))))))
                  (local.set $i (i32.add (local.get $i) (i32.const 1)))
                  (br_if $l (i32.lt_s (local.get $i) (local.get $n)))))))"#
    )
}

/// barq-opt --target native calls a host kernel for an axpy loop over a plain
/// memory, exported as `memory` or not (the output then exports it as `memory`,
/// where the kernels find it: emscripten exports its memory as `f`), and falls
/// back to SIMD128 for a shared memory (host kernels take plain memories only) or
/// when the export `memory` is something else.
#[test]
fn native_target_needs_a_plain_memory() {
    let axpy = axpy_module;
    let options = barq_wasm::Options {
        target: barq_wasm::Target::Native,
        ..barq_wasm::Options::default()
    };
    let tier = |memory: &str| {
        let wasm = wat::parse_str(axpy(memory)).unwrap();
        let result = barq_wasm::optimize(&wasm, &options).expect("optimize");
        let finding = &result.report.findings[0];
        assert_eq!(finding.action, Action::Rewritten, "{finding:?}");
        let module = wasmtime::Module::new(&wasmtime::Engine::default(), &result.wasm).unwrap();
        let exported = module
            .exports()
            .any(|e| e.name() == "memory" && e.ty().memory().is_some());
        (finding.tier, exported)
    };
    use barq_wasm::Tier;
    assert_eq!(
        tier(r#"(memory (export "memory") 1)"#),
        (Some(Tier::Native), true)
    );
    assert_eq!(
        tier(r#"(memory (export "f") 1)"#),
        (Some(Tier::Native), true)
    );
    assert_eq!(tier(r#"(memory 1)"#), (Some(Tier::Native), true));
    assert_eq!(
        tier(r#"(memory (export "memory") 1 1 shared)"#),
        (Some(Tier::Simd128), true)
    );
    assert_eq!(
        tier(r#"(memory 1) (global (export "memory") i32 (i32.const 0))"#),
        (Some(Tier::Simd128), false)
    );

    // And the native output runs in the runner with the same results.
    let wasm = wat::parse_str(axpy(r#"(memory (export "memory") 1)"#)).unwrap();
    let native = barq_wasm::optimize(&wasm, &options).expect("optimize").wasm;
    let run = |bytes: &[u8]| {
        let mut rt = Runtime::new(quiet(Config::default())).expect("runtime");
        rt.load_module(bytes).expect("load");
        let data: Vec<u8> = (0..12_000u32)
            .flat_map(|k| ((k % 97) as f32 * 0.37 - 11.0).to_le_bytes())
            .take(60_000)
            .collect();
        rt.write_memory(0, &data).expect("write");
        let f = |v: f32| Val::F32(v.to_bits());
        rt.invoke(
            "axpy",
            &[f(0.5), Val::I32(0), Val::I32(4001), Val::I32(999)],
        )
        .expect("axpy");
        // A range past the end traps in both, after the same partial writes.
        let trap = rt.invoke(
            "axpy",
            &[f(1.0), Val::I32(0), Val::I32(60000), Val::I32(2000)],
        );
        assert!(matches!(trap, Err(RunError::Trap { .. })), "{trap:?}");
        rt.read_memory(0, 65536).expect("read")
    };
    assert!(run(&wasm) == run(&native), "memory differs");
}

/// The runtime hands its instance's memory to the native kernels (no export lookup
/// per call): a second module loaded into the same runtime must get its own
/// memory, not the first one's.
#[test]
fn native_kernels_follow_the_loaded_module() {
    let axpy = |pages: u32| axpy_module(&format!(r#"(memory (export "memory") {pages})"#));
    let options = barq_wasm::Options {
        target: barq_wasm::Target::Native,
        ..barq_wasm::Options::default()
    };
    let native = |text: String| {
        let result =
            barq_wasm::optimize(&wat::parse_str(text).unwrap(), &options).expect("optimize");
        assert_eq!(
            result.report.findings[0].tier,
            Some(barq_wasm::Tier::Native)
        );
        result.wasm
    };
    let n = 3000usize;
    let f = |v: f32| Val::F32(v.to_bits());
    let mut rt = Runtime::new(quiet(Config::default())).expect("runtime");
    let mut results = Vec::new();
    for (pages, scale, fill) in [(1u32, 2.0f32, 1.0f32), (3, 3.0, 5.0)] {
        rt.load_module(&native(axpy(pages))).expect("load");
        let xs: Vec<u8> = (0..n).flat_map(|_| fill.to_le_bytes()).collect();
        rt.write_memory(0, &xs).expect("write");
        rt.invoke(
            "axpy",
            &[
                f(scale),
                Val::I32(0),
                Val::I32(4 * n as i32),
                Val::I32(n as i32),
            ],
        )
        .expect("axpy");
        let y = rt.read_memory(4 * n, 4 * n).expect("read");
        let at = |i: usize| f32::from_le_bytes([y[i], y[i + 1], y[i + 2], y[i + 3]]);
        results.push(at(0));
        results.push(at(4 * n - 4));
        // Past the first module's single page: only the second module's memory has it.
        if pages == 3 {
            rt.invoke(
                "axpy",
                &[f(scale), Val::I32(0), Val::I32(100_000), Val::I32(n as i32)],
            )
            .expect("axpy past the first memory");
        }
    }
    assert_eq!(results, [2.0, 2.0, 15.0, 15.0]);
}
