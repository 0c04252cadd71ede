//! Pass-through: wasm-smith makes a module of libFuzzer's bytes (every proposal
//! walrus reads, no traps, NaNs canonicalized); barq's output must validate and
//! every export without parameters must give the same results and traps.
#![no_main]

#[path = "../../tests/common/fuzz.rs"]
#[allow(dead_code)]
mod fuzz;

use std::sync::OnceLock;

fn engine() -> &'static wasmtime::Engine {
    static ENGINE: OnceLock<wasmtime::Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = wasmtime::Config::new();
        config.consume_fuel(true);
        wasmtime::Engine::new(&config).expect("engine")
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(bug) = fuzz::check_smith(data, engine()) {
        panic!("{bug}");
    }
});
