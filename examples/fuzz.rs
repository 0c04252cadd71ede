//! Runs barq's fuzzers for a chosen time and prints how many cases ran:
//!
//! ```text
//! cargo run --release --example fuzz -- 60          # 60 s, both fuzzers
//! cargo run --release --example fuzz -- 60 1234     # another seed
//! ```
//!
//! - malformed: corpus modules truncated, with bytes flipped, inserted, deleted or
//!   repeated; barq must never panic, and must return a valid module or one clean
//!   error line;
//! - generated: wasm-smith modules (every proposal walrus reads, no traps, NaNs
//!   canonicalized) must optimize, validate, and give the same results from every
//!   export without parameters before and after.
//!
//! A failing case prints its seed and stops with exit code 1. The generators are
//! the ones `tests/fuzz_smoke.rs` runs (a few thousand cases) in every test run.

#[path = "../tests/common/fuzz.rs"]
mod fuzz;

use fuzz::{check_generated, check_malformed, mutate, Rng};
use std::time::{Duration, Instant};

fn corpus_inputs() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut work = vec![std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus")];
    while let Some(dir) = work.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                if !path.ends_with("node_modules") {
                    work.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "wasm") {
                if let Ok(bytes) = std::fs::read(&path) {
                    if bytes.len() < 64 * 1024 {
                        out.push(bytes);
                    }
                }
            }
        }
    }
    out.sort();
    out
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seconds: u64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(60);
    let seed: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1);
    let budget = Duration::from_secs(seconds) / 2;

    // Malformed input.
    let inputs = corpus_inputs();
    let mut rng = Rng(seed.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1);
    let start = Instant::now();
    let (mut malformed, mut valid) = (0u64, 0u64);
    while start.elapsed() < budget {
        let input = &inputs[rng.below(inputs.len())];
        let mutant = mutate(&mut rng, input);
        match check_malformed(&mutant) {
            Ok(optimized) => valid += u64::from(optimized),
            Err(e) => {
                eprintln!("malformed case {malformed} (seed {seed}) fails: {e}");
                std::process::exit(1);
            }
        }
        malformed += 1;
    }

    // Generated modules.
    let mut config = wasmtime::Config::new();
    config.consume_fuel(true);
    let engine = wasmtime::Engine::new(&config).expect("engine");
    let start = Instant::now();
    let (mut generated, mut made) = (0u64, 0u64);
    while start.elapsed() < budget {
        let case = seed.wrapping_mul(1_000_003).wrapping_add(generated);
        match check_generated(case, &engine) {
            Ok(true) => made += 1,
            Ok(false) => {}
            Err(e) => {
                eprintln!("generated case {case} fails: {e}");
                std::process::exit(1);
            }
        }
        generated += 1;
    }
    println!(
        "fuzz: {seconds} s, seed {seed}: {malformed} mutated inputs ({valid} still valid, optimized), {made} generated modules ({generated} seeds); no failure"
    );
}
