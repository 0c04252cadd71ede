//! Malformed input: any bytes (libFuzzer mutates the corpus modules it is given)
//! go through barq-opt's optimizer; it must never panic, and must return either a
//! valid module or one clean error line.
#![no_main]

#[path = "../../tests/common/fuzz.rs"]
#[allow(dead_code)]
mod fuzz;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(bug) = fuzz::check_malformed(data) {
        panic!("{bug}");
    }
});
