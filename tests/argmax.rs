//! The index of the extreme (`argmax`/`argmin`, corpus/c/argmax.c at every level),
//! original against rewritten, on arrays drawn from a few values so that the
//! extreme is tied many times over: zeros of both signs (equal, different bits),
//! NaNs of several payloads (never taken, or a NaN running value that keeps every
//! lane's pair), infinities, the integer extremes. Lengths around the vector widths
//! and the kernel's threshold, aligned and not; running pairs passed in with indices
//! below, inside and above the elements' (a `>=` kernel whose running index is not
//! below every element's folds in order instead). Results and memory must be
//! identical, bit for bit.

mod common;

use barq_wasm::{optimize, Action, Options};
use wasmtime::{Instance, Module, Store, Val};

#[path = "common/fuzz.rs"]
#[allow(dead_code)]
mod fuzz;

const F32S: &[u32] = &[
    0x0000_0000,
    0x8000_0000,
    0x3f80_0000,
    0xbf80_0000,
    0x7fc0_0000,
    0x7fc0_0001,
    0xffc0_0000,
    0x7f80_0000,
    0xff80_0000,
    0x4000_0000,
    0x7f7f_ffff,
];
const F64S: &[u64] = &[
    0,
    0x8000_0000_0000_0000,
    0x3ff0_0000_0000_0000,
    0xbff0_0000_0000_0000,
    0x7ff8_0000_0000_0000,
    0x7ff8_0000_0000_0001,
    0x7ff0_0000_0000_0000,
    0xfff0_0000_0000_0000,
    0x4000_0000_0000_0000,
];
const I64S: &[i64] = &[
    0,
    -1,
    1,
    7,
    i64::MIN,
    i64::MAX,
    i32::MIN as i64,
    u32::MAX as i64,
];
const LENGTHS: &[i32] = &[
    0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 257, 1000,
];

/// Fills `bytes` with elements of `width` bytes drawn from three values of the
/// element type's set (so that ties are everywhere); `zeros`: from the first four
/// (both zeros, 1.0 and -1.0 for floats), where the extreme is often a zero.
fn fill(rng: &mut fuzz::Rng, bytes: &mut [u8], export: &str, zeros: bool) {
    let mut pool: Vec<Vec<u8>> = if export.ends_with("f64") {
        F64S.iter().map(|v| v.to_le_bytes().to_vec()).collect()
    } else if export.ends_with("i64") {
        I64S.iter().map(|v| v.to_le_bytes().to_vec()).collect()
    } else if export.ends_with("f32") {
        F32S.iter().map(|v| v.to_le_bytes().to_vec()).collect()
    } else {
        I64S.iter()
            .map(|v| (*v as i32).to_le_bytes().to_vec())
            .collect()
    };
    if zeros {
        pool.truncate(4);
    }
    let chosen: Vec<&Vec<u8>> = (0..3).map(|_| &pool[rng.below(pool.len())]).collect();
    let width = chosen[0].len();
    for chunk in bytes.chunks_exact_mut(width) {
        chunk.copy_from_slice(chosen[rng.below(3)]);
    }
}

fn run(module: &Module, memory: &[u8], export: &str, args: &[Val]) -> (String, Vec<u8>) {
    let engine = module.engine();
    let mut store = Store::new(engine, ());
    let instance = Instance::new(&mut store, module, &[]).expect("instantiate");
    let mem = instance.get_memory(&mut store, "memory").expect("memory");
    mem.data_mut(&mut store)[..memory.len()].copy_from_slice(memory);
    let f = instance.get_func(&mut store, export).expect("export");
    let mut results = vec![Val::I32(0)];
    let outcome = match f.call(&mut store, args, &mut results) {
        Ok(()) => format!("{:?}", results[0].unwrap_i32()),
        Err(e) => format!("trap {:?}", e.downcast_ref::<wasmtime::Trap>()),
    };
    (outcome, mem.data(&store)[..memory.len()].to_vec())
}

#[test]
fn indices_of_extremes_match_the_loops_on_ties_zeros_and_nans() {
    let exports = [
        "argmax_first_f32",
        "argmin_i32",
        "argmax_last_f64",
        "argmin_last_f32",
        "argmax_u32",
        "argmax_i64",
        "argmax_abs_f32",
        "argmax_from_f32",
        "argmin_from_f32",
        "argmax_ref_f32",
        "argmin_ref_last_i32",
    ];
    let engine = common::engine();
    let mut rng = fuzz::Rng(0xa7a7_0123_4567_89ab);
    let mut failures = Vec::new();
    for level in ["O1", "O2", "O3", "Os", "Oz"] {
        let path = common::root().join(format!("corpus/c/argmax.{level}.wasm"));
        let wasm = common::read(&path);
        let optimized = optimize(&wasm, &Options::default()).expect("optimize");
        for export in exports {
            let rewritten = optimized
                .report
                .findings
                .iter()
                .any(|f| f.function == export && f.action == Action::Rewritten);
            if !rewritten {
                failures.push(format!("argmax.{level} {export}: not rewritten"));
            }
        }
        let original = Module::new(engine, &wasm).expect("compile");
        let output = Module::new(engine, &optimized.wasm).expect("compile");
        let running = [
            (0x7fc0_0000u32, 0i32),
            (0xffc0_0001, 3),
            (0x8000_0000, -1),
            (0x0000_0000, 5),
            (0xff80_0000, 100),
            (0x7f80_0000, i32::MAX),
            (0x3f80_0000, i32::MIN),
            (0xbf80_0000, 0),
        ];
        for export in exports {
            for &len in LENGTHS {
                for case in 0..8usize {
                    let mut memory = vec![0u8; 65536];
                    let x = 4096 + (case as i32 % 2) * 3;
                    fill(
                        &mut rng,
                        &mut memory[x as usize..x as usize + 8 * 1024],
                        export,
                        case >= 3,
                    );
                    // (A running pair continued: every one of them.)
                    let calls: Vec<Vec<Val>> = if export.contains("_from_") {
                        running
                            .iter()
                            .map(|(m, k)| {
                                vec![
                                    Val::I32(x),
                                    Val::I32(65536 - 16),
                                    Val::I32(len),
                                    Val::F32(*m),
                                    Val::I32(*k),
                                ]
                            })
                            .collect()
                    } else {
                        vec![vec![Val::I32(x), Val::I32(len)]]
                    };
                    for args in calls {
                        let (ra, ma) = run(&original, &memory, export, &args);
                        let (rb, mb) = run(&output, &memory, export, &args);
                        if ra != rb || ma != mb {
                            failures.push(format!(
                                "argmax.{level} {export} len {len} args {args:?}: {ra} vs {rb}{}",
                                if ma != mb { ", memory differs" } else { "" }
                            ));
                        }
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures[..failures.len().min(30)].join("\n")
    );
}

/// An index of the maximum that re-reads the maximum through the index from a
/// base of its own (`x[i] > y[best]`): the kernel is the loop only when `y` is `x`,
/// which the guard checks at run time; with `y` elsewhere (one element off, another
/// array) the original loop must run. Results identical in every case, and the
/// rewrite is there.
#[test]
fn a_reread_through_another_base_runs_the_loop_unless_it_is_the_same_array() {
    let wat = r#"(module
      (memory (export "memory") 1)
      (func (export "argmax") (param $x i32) (param $y i32) (param $n i32) (result i32)
        (local $i i32) (local $best i32)
        (local.set $i (i32.const 1))
        (block $exit
          (br_if $exit (i32.le_s (local.get $n) (i32.const 1)))
          (loop $l
            (local.set $best
              (select (local.get $i) (local.get $best)
                (f32.gt (f32.load (i32.add (local.get $x) (i32.shl (local.get $i) (i32.const 2))))
                        (f32.load (i32.add (local.get $y) (i32.shl (local.get $best) (i32.const 2)))))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br_if $l (i32.lt_s (local.get $i) (local.get $n)))))
        (local.get $best)))"#;
    let wasm = wat::parse_str(wat).expect("valid WAT");
    let optimized = optimize(&wasm, &Options::default()).expect("optimize");
    assert!(
        optimized
            .report
            .findings
            .iter()
            .any(|f| f.pattern == "argmax" && f.action == Action::Rewritten),
        "{:?}",
        optimized.report.findings
    );
    let engine = common::engine();
    let original = Module::new(engine, &wasm).expect("compile");
    let output = Module::new(engine, &optimized.wasm).expect("compile");
    let mut rng = fuzz::Rng(0x5eed_0bad_0bad_0001);
    let mut failures = Vec::new();
    for &len in LENGTHS {
        for y in [4096, 4100, 4092, 20000] {
            let mut memory = vec![0u8; 65536];
            fill(&mut rng, &mut memory[4000..28000], "f32", false);
            let args = [Val::I32(4096), Val::I32(y), Val::I32(len)];
            let (ra, ma) = run(&original, &memory, "argmax", &args);
            let (rb, mb) = run(&output, &memory, "argmax", &args);
            if ra != rb || ma != mb {
                failures.push(format!("len {len}, y {y}: {ra} vs {rb}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
