//! Where a native reduction kernel starts to pay: a float dot product of n elements
//! (`--fast-math`) called 1000 times from inside wasm, through barq's SIMD128
//! kernel (portable target) and through the host kernel `barq::dot_f32_v1`, once
//! with a store that hands the kernels its instance's memory (as barq-wasm's runtime
//! does) and once with one that makes them look up the caller's `memory` export on
//! every call. Prints nanoseconds per call; `rewrite::native::NATIVE_MIN_ELEMENTS`
//! is set from this table.
//!
//! `cargo bench --bench threshold` (no preparation: the modules are built here).

use std::time::Instant;
use wasmtime::{Engine, Instance, Linker, Memory, Module, Store, TypedFunc};

/// `dot(x, y, n)` as clang -O2 writes it, and `rep(x, y, n, r)` calling it r times.
const DOT: &str = r#"(module (memory (export "memory") 2)
  (func $dot (param $x i32) (param $y i32) (param $n i32) (result f32)
    (local $i i32) (local $s f32)
    (block $done
      (br_if $done (i32.le_s (local.get $n) (i32.const 0)))
      (loop $l
        (local.set $s (f32.add (local.get $s)
          (f32.mul
            (f32.load (i32.add (local.get $x) (i32.shl (local.get $i) (i32.const 2))))
            (f32.load (i32.add (local.get $y) (i32.shl (local.get $i) (i32.const 2)))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i32.lt_s (local.get $i) (local.get $n)))))
    (local.get $s))
  (func (export "rep") (param $x i32) (param $y i32) (param $n i32) (param $r i32) (result f32)
    (local $s f32)
    (loop $l
      (local.set $s (f32.add (local.get $s) (call $dot (local.get $x) (local.get $y) (local.get $n))))
      (br_if $l (local.tee $r (i32.sub (local.get $r) (i32.const 1)))))
    (local.get $s)))"#;

/// `rep` calling the host kernel directly.
const HOST: &str = r#"(module
  (import "barq" "dot_f32_v1" (func $dot (param i32 i32 i32) (result f32)))
  (memory (export "memory") 2)
  (func (export "rep") (param $x i32) (param $y i32) (param $n i32) (param $r i32) (result f32)
    (local $s f32)
    (loop $l
      (local.set $s (f32.add (local.get $s) (call $dot (local.get $x) (local.get $y) (local.get $n))))
      (br_if $l (local.tee $r (i32.sub (local.get $r) (i32.const 1)))))
    (local.get $s)))"#;

const REPS: i32 = 1000;

/// A store and its `rep` export.
type Instanced = (Store<Option<Memory>>, TypedFunc<(i32, i32, i32, i32), f32>);

/// An instance of `wasm` with the kernels, its inputs written; `known` says whether
/// the store hands the kernels the memory.
fn instance(engine: &Engine, wasm: &[u8], known: bool) -> Instanced {
    let module = Module::new(engine, wasm).expect("compile");
    let mut store = Store::new(engine, None);
    let mut linker = Linker::new(engine);
    barq_wasm::native::add_to_linker(&mut linker).expect("kernels");
    let instance: Instance = linker
        .instantiate(&mut store, &module)
        .expect("instantiate");
    let memory = instance.get_memory(&mut store, "memory").expect("memory");
    for (k, chunk) in memory.data_mut(&mut store)[..65536]
        .chunks_exact_mut(4)
        .enumerate()
    {
        chunk.copy_from_slice(&((k % 13) as f32 * 0.25 - 1.0).to_le_bytes());
    }
    if known {
        *store.data_mut() = Some(memory);
    }
    let rep = instance.get_typed_func(&mut store, "rep").expect("rep");
    (store, rep)
}

/// Nanoseconds per dot product: the best of 7 rounds of REPS calls.
fn ns_per_call((store, rep): &mut Instanced, n: i32) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..7 {
        let start = Instant::now();
        std::hint::black_box(rep.call(&mut *store, (0, 32768, n, REPS)).expect("rep"));
        best = best.min(start.elapsed().as_nanos() as f64 / REPS as f64);
    }
    best
}

fn main() {
    let engine = Engine::default();
    let options = barq_wasm::Options {
        fast_math: true,
        ..barq_wasm::Options::default()
    };
    let portable = barq_wasm::optimize(&wat::parse_str(DOT).unwrap(), &options)
        .expect("optimize")
        .wasm;
    let host = wat::parse_str(HOST).unwrap();
    let mut variants = [
        ("portable SIMD128", instance(&engine, &portable, false)),
        ("host kernel, memory known", instance(&engine, &host, true)),
        (
            "host kernel, export lookup",
            instance(&engine, &host, false),
        ),
    ];
    println!("float dot product (--fast-math), ns per call, best of 7 x {REPS} calls");
    print!("| n |");
    for (name, _) in &variants {
        print!(" {name} |");
    }
    println!("\n|---:|{}", "---:|".repeat(variants.len()));
    for n in [0, 8, 16, 32, 64, 128, 256, 300, 512, 1024, 4096] {
        print!("| {n} |");
        for (_, v) in &mut variants {
            print!(" {:.1} |", ns_per_call(v, n));
        }
        println!();
    }
}
