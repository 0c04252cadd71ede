//! Seeded fuzz smoke runs, part of every test run (issue: trust). The same
//! generators run for a chosen time with `cargo run --release --example fuzz`.

mod common;

#[path = "common/fuzz.rs"]
mod fuzz;

use fuzz::{check_generated, check_malformed, mutate, Rng};

/// Mutated and truncated corpus modules never panic barq; each is either
/// optimized into a valid module or refused with one clean error line.
#[test]
fn malformed_modules_get_one_clean_error_never_a_panic() {
    let inputs: Vec<Vec<u8>> = common::corpus_files()
        .into_iter()
        .filter(|p| {
            let name = p.to_string_lossy();
            name.ends_with(".wasm") && [".O2.", ".Oz.", "O3.wasm"].iter().any(|l| name.contains(l))
        })
        .map(|p| common::read(&p))
        .filter(|b| b.len() < 64 * 1024)
        .collect();
    assert!(inputs.len() >= 20, "{} inputs", inputs.len());
    let mut rng = Rng(0x5eed_ba51_c0de_f00d);
    let mut failures = Vec::new();
    let cases = 3000;
    let mut optimized = 0;
    for case in 0..cases {
        let input = &inputs[case % inputs.len()];
        let mutant = mutate(&mut rng, input);
        match check_malformed(&mutant) {
            Ok(true) => optimized += 1,
            Ok(false) => {}
            Err(e) => failures.push(format!("case {case}: {e}")),
        }
    }
    eprintln!("{cases} mutants: {optimized} still valid and optimized, the rest refused cleanly");
    // Mutations that keep a module valid exercise the passes on odd code.
    assert!(optimized >= 100, "only {optimized} valid mutants");
    assert!(
        failures.is_empty(),
        "{} of {cases}:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// wasm-smith modules (deterministic seeds) pass through barq: valid output, and
/// every export without parameters gives the same results before and after.
#[test]
fn generated_modules_pass_through_with_the_same_behaviour() {
    let mut config = wasmtime::Config::new();
    config.consume_fuel(true);
    let engine = wasmtime::Engine::new(&config).expect("engine");
    let mut made = 0;
    let mut failures = Vec::new();
    for seed in 0..400 {
        match check_generated(seed, &engine) {
            Ok(true) => made += 1,
            Ok(false) => {}
            Err(e) => failures.push(e),
        }
    }
    eprintln!("400 seeds: {made} modules generated, optimized and run");
    assert!(made >= 300, "only {made} modules generated");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
