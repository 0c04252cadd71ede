//! Running minimums and maximums of 8- and 16-bit elements, with inputs the random
//! differential cases rarely make: the first element the strict extreme (rustc's
//! `iter().min()` over `i16` starts from it zero-extended and compares it
//! sign-extended, so a negative first element is a running value the loop
//! re-narrows: the guard must send it to the original loop), all elements equal,
//! the extreme last, and the type's ends. Results must match the original's, and
//! the fast path must run for inputs that start narrow.

mod common;

use barq_wasm::{optimize, Action, Options};
use common::fuel_engine as engine;
use wasmtime::{Linker, Module, Store, Val};

const AT: usize = 1 << 20;

/// `name(AT, n)` with `bytes` at `AT`: the result and the fuel used.
fn run(module: &Module, name: &str, bytes: &[u8], n: usize) -> (i32, u64) {
    let mut store = Store::new(engine(), ());
    store.set_fuel(u64::MAX / 2).expect("fuel");
    let linker = Linker::new(engine());
    let instance = linker.instantiate(&mut store, module).expect("instantiate");
    let memory = instance.get_memory(&mut store, "memory").expect("memory");
    let pages = ((AT + bytes.len()) / 65536 + 1) as u64;
    let have = memory.size(&store);
    if have < pages {
        memory.grow(&mut store, pages - have).expect("grow");
    }
    memory.data_mut(&mut store)[AT..AT + bytes.len()].copy_from_slice(bytes);
    let func = instance.get_func(&mut store, name).expect("export");
    let mut results = [Val::I32(0)];
    let before = store.get_fuel().expect("fuel");
    func.call(
        &mut store,
        &[Val::I32(AT as i32), Val::I32(n as i32)],
        &mut results,
    )
    .expect("call");
    let fuel = before - store.get_fuel().expect("fuel");
    (results[0].unwrap_i32(), fuel)
}

/// Element arrays (as i32 values) for an extreme: `low` and `high` are the
/// element type's ends.
fn cases(low: i32, high: i32) -> Vec<Vec<i32>> {
    let mut cases = Vec::new();
    for n in [17usize, 40, 100] {
        let mid = |i: usize| low / 2 + high / 2 + (i as i32 % 7) - 3;
        // The first element the strict minimum, then the strict maximum.
        let mut v: Vec<i32> = (0..n).map(mid).collect();
        v[0] = low;
        cases.push(v.clone());
        v[0] = low + 9;
        cases.push(v.clone());
        v[0] = high;
        cases.push(v.clone());
        v[0] = -16;
        cases.push(v.clone());
        // All equal (ends and a negative value), the extreme last.
        cases.push(vec![low; n]);
        cases.push(vec![high; n]);
        cases.push(vec![-7; n]);
        let mut last: Vec<i32> = (0..n).map(mid).collect();
        last[n - 1] = low;
        cases.push(last.clone());
        last[n - 1] = high;
        cases.push(last);
    }
    cases
}

#[test]
fn narrow_extremes_match_with_the_extreme_first_last_and_everywhere() {
    // (corpus stem, levels, functions with their element width and signedness)
    type Functions<'a> = &'a [(&'a str, u32, bool)];
    let files: &[(&str, &[&str], Functions)] = &[
        (
            "rust/minmax",
            &["O3", "Os"],
            &[("max_u8_rs", 1, false), ("min_i16_rs", 2, true)],
        ),
        (
            "c/extremes",
            &["O1", "O2", "O3", "Os", "Oz"],
            &[
                ("max_u8", 1, false),
                ("min_i16", 2, true),
                ("max_u8_int", 1, false),
            ],
        ),
    ];
    let mut failures = Vec::new();
    for (stem, levels, functions) in files {
        for level in *levels {
            let path = common::root().join(format!("corpus/{stem}.{level}.wasm"));
            let input = common::read(&path);
            let result = optimize(&input, &Options::default()).expect("optimize");
            let original = Module::new(engine(), &input).expect("original");
            let output = Module::new(engine(), &result.wasm).expect("output");
            for (name, width, signed) in *functions {
                let rewritten = result
                    .report
                    .findings
                    .iter()
                    .any(|f| f.function == *name && f.action == Action::Rewritten);
                assert!(rewritten, "{stem}.{level} {name}: not rewritten");
                let (low, high) = match (width, signed) {
                    (1, false) => (0, 255),
                    (1, true) => (-128, 127),
                    (_, false) => (0, 65535),
                    (_, true) => (-32768, 32767),
                };
                let mut fast = false;
                for values in cases(low, high) {
                    let values: Vec<i32> = values.into_iter().map(|v| v.clamp(low, high)).collect();
                    let bytes: Vec<u8> = values
                        .iter()
                        .flat_map(|v| v.to_le_bytes()[..*width as usize].to_vec())
                        .collect();
                    let (a, fuel_a) = run(&original, name, &bytes, values.len());
                    let (b, fuel_b) = run(&output, name, &bytes, values.len());
                    if a != b {
                        failures.push(format!("{stem}.{level} {name}({values:?}): {a} vs {b}"));
                    }
                    fast |= values.len() >= 40 && fuel_b < fuel_a;
                }
                if !fast {
                    failures.push(format!("{stem}.{level} {name}: the kernel never ran"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
