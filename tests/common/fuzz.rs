//! Generators and checks shared by the fuzz smoke tests (`tests/fuzz_smoke.rs`) and
//! the time-budgeted fuzzer (`cargo run --release --example fuzz`) and the
//! cargo-fuzz targets (`fuzz/`):
//! - malformed input: corpus modules truncated, with bytes flipped, inserted,
//!   deleted or repeated; barq-opt must never panic and must return either a valid
//!   module or one clean error line that blames the input;
//! - generated modules (wasm-smith, deterministic per seed): every module must
//!   optimize and validate, and every export without parameters must give the same
//!   results and traps before and after (wasm-smith's no-trap mode, NaNs
//!   canonicalized so that results compare bit for bit).

use barq_wasm::{optimize, Error, Options};

/// xorshift64: deterministic, seedable, no dependencies.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One mutant of `bytes`.
pub fn mutate(rng: &mut Rng, bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        let len = out.len();
        match rng.below(6) {
            0 => out.truncate(rng.below(len + 1)),
            1 | 2 => {
                if len > 0 {
                    let at = rng.below(len);
                    out[at] ^= 1 << rng.below(8);
                }
            }
            3 => {
                let at = rng.below(len + 1);
                let byte = rng.next() as u8;
                out.insert(at, byte);
            }
            4 => {
                let at = rng.below(len + 1);
                let end = (at + 1 + rng.below(16)).min(len);
                if at < end {
                    out.drain(at..end);
                }
            }
            _ => {
                // Repeat a chunk (duplicated sections, entries, instructions).
                let at = rng.below(len + 1);
                let end = (at + 1 + rng.below(32)).min(len);
                let chunk: Vec<u8> = out[at.min(end)..end].to_vec();
                let to = rng.below(out.len() + 1);
                out.splice(to..to, chunk);
            }
        }
    }
    out
}

/// Runs barq on a malformed (or valid) module: `Ok(true)` when it was optimized,
/// `Ok(false)` when refused with a clean error; `Err` describes a bug (a panic, an
/// internal error, or an error message that is not one line).
pub fn check_malformed(bytes: &[u8]) -> Result<bool, String> {
    let options = Options::default();
    let outcome = std::panic::catch_unwind(|| optimize(bytes, &options));
    match outcome {
        Err(panic) => {
            let text = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(format!("panic: {text}"))
        }
        Ok(Ok(out)) => barq_wasm::validate(&out.wasm)
            .map(|()| true)
            .map_err(|e| format!("invalid output: {e}")),
        Ok(Err(e @ (Error::Pass(_) | Error::InvalidOutput(_) | Error::Verify(_)))) => {
            Err(format!("internal error: {e}"))
        }
        Ok(Err(e)) => {
            let text = e.to_string();
            if text.contains('\n') || text.is_empty() {
                Err(format!("error is not one line: {text:?}"))
            } else {
                Ok(false)
            }
        }
    }
}

/// The wasm-smith configuration: every proposal walrus reads, no traps, NaNs
/// canonicalized, a memory and exports to call.
pub fn smith_config() -> wasm_smith::Config {
    wasm_smith::Config {
        disallow_traps: true,
        canonicalize_nans: true,
        export_everything: true,
        min_funcs: 1,
        max_memories: 1,
        // Proposals walrus 0.28 does not represent: such modules are passed
        // through unchanged (tested separately), which would test nothing here.
        gc_enabled: false,
        exceptions_enabled: false,
        memory64_enabled: false,
        custom_page_sizes_enabled: false,
        shared_everything_threads_enabled: false,
        ..wasm_smith::Config::default()
    }
}

/// Generates the module of `seed`, optimizes it, validates the output, and runs
/// every export without parameters in both. Returns whether a module was made.
pub fn check_generated(seed: u64, engine: &wasmtime::Engine) -> Result<bool, String> {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let data: Vec<u8> = (0..4096).map(|_| rng.next() as u8).collect();
    check_smith(&data, engine).map_err(|e| format!("seed {seed}: {e}"))
}

/// The same for the module wasm-smith makes of `data` (the cargo-fuzz target
/// `generated` feeds libFuzzer's inputs here).
pub fn check_smith(data: &[u8], engine: &wasmtime::Engine) -> Result<bool, String> {
    let mut u = arbitrary::Unstructured::new(data);
    let Ok(module) = wasm_smith::Module::new(smith_config(), &mut u) else {
        return Ok(false);
    };
    let input = module.to_bytes();
    let out = optimize(&input, &Options::default()).map_err(|e| e.to_string())?;
    barq_wasm::validate(&out.wasm).map_err(|e| format!("invalid output: {e}"))?;
    let (Ok(a), Ok(b)) = (
        wasmtime::Module::new(engine, &input),
        wasmtime::Module::new(engine, &out.wasm),
    ) else {
        // (An engine limit on the input, say: both or neither compile.)
        return Ok(true);
    };
    let (ra, rb) = (run_exports(engine, &a), run_exports(engine, &b));
    if ra != rb {
        return Err(format!("results differ: {ra:?} vs {rb:?}"));
    }
    Ok(true)
}

/// Calls each export without parameters (with fuel), in order; the results' bits,
/// or the trap, of each.
fn run_exports(engine: &wasmtime::Engine, module: &wasmtime::Module) -> Vec<String> {
    use wasmtime::{Linker, Store, Val};
    let mut store = Store::new(engine, ());
    let _ = store.set_fuel(1_000_000);
    let mut linker: Linker<()> = Linker::new(engine);
    if linker
        .define_unknown_imports_as_default_values(&mut store, module)
        .is_err()
    {
        return vec!["imports".to_string()];
    }
    let instance = match linker.instantiate(&mut store, module) {
        Ok(i) => i,
        Err(e) => return vec![format!("instantiate: {}", short(&e))],
    };
    let exports: Vec<String> = module.exports().map(|e| e.name().to_string()).collect();
    let mut out = Vec::new();
    for name in exports {
        let Some(func) = instance.get_func(&mut store, &name) else {
            continue;
        };
        let ty = func.ty(&store);
        if ty.params().len() > 0 {
            continue;
        }
        let _ = store.set_fuel(1_000_000);
        let mut results: Vec<Val> = ty.results().map(|_| Val::I32(0)).collect();
        let text = match func.call(&mut store, &[], &mut results) {
            Ok(()) => results
                .iter()
                .map(|v| match v {
                    Val::I32(x) => format!("{x}"),
                    Val::I64(x) => format!("{x}"),
                    Val::F32(x) => format!("f32:{x:#x}"),
                    Val::F64(x) => format!("f64:{x:#x}"),
                    Val::V128(x) => format!("v128:{:#x}", x.as_u128()),
                    other => format!(
                        "ref:{}",
                        other.ty(&store).map(|t| t.to_string()).unwrap_or_default()
                    ),
                })
                .collect::<Vec<_>>()
                .join(","),
            Err(e) => format!("trap: {}", short(&e)),
        };
        out.push(format!("{name}={text}"));
    }
    out
}

fn short(e: &wasmtime::Error) -> String {
    match e.downcast_ref::<wasmtime::Trap>() {
        Some(t) => t.to_string(),
        None => "error".to_string(),
    }
}
