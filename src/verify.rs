//! `barq-opt --verify`: translation validation by running. For every function
//! barq rewrote (exactly), the original and the rewritten module run that function
//! side by side in Wasmtime on generated inputs, and results, traps and the whole
//! memory afterwards must agree. A function where they do not has its rewrites
//! dropped (the module is optimized again without them) and is reported.
//!
//! Inputs: each numeric parameter takes, per case, a value from pools that suit
//! the kernels barq rewrites: pointers into a scratch region grown onto memory
//! (aligned, unaligned, overlapping, a few bytes before the end of memory), element
//! counts around the SIMD width and the unroll factors (0 to 1000, and -1), and
//! floats with the edge values (NaN, infinities, -0.0). Memory in the scratch region
//! is filled from a seeded generator; both modules see exactly the same. Imports
//! are the runner's `barq` kernels and, for anything else, default values (calls
//! return zeros), the same on both sides. Fuel bounds every run; a case where
//! either side runs out is inconclusive and skipped.
//!
//! Functions with `--fast-math` rewrites are not checked (their results may differ
//! by design; the tests bound them), nor functions taking non-numeric parameters.

use crate::driver::{self, Error, Optimized};
use barq_passes::module_io;
use barq_passes::probe::Rng;
use barq_passes::{Action, Options};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use wasmtime::{Engine, Instance, Linker, Module, Store, Val, ValType};

/// What `--verify` does on a difference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerifyMode {
    /// Report it, drop the rewrite, and fail (`--verify`).
    Fail,
    /// Report it, drop the rewrite, and go on (`--verify=drop`).
    Drop,
}

/// A function whose rewritten version behaved differently.
#[derive(Clone, Debug)]
pub struct Difference {
    /// Display name.
    pub function: String,
    /// Input function index.
    pub func_index: u32,
    /// The inputs and what differed.
    pub detail: String,
}

/// The outcome of an optimization checked by running.
pub struct Verified {
    /// The output: without the dropped rewrites, `verified` set on the findings.
    pub optimized: Optimized,
    /// Functions checked.
    pub checked: usize,
    /// Cases run (both sides), over all functions.
    pub cases: usize,
    /// The functions where a difference was found (their rewrites were dropped).
    pub differences: Vec<Difference>,
}

/// Cases per function.
const CASES: usize = 48;
/// Fuel per run: enough for any corpus kernel on the largest generated inputs
/// (a run that needs more is inconclusive, not a difference).
pub(crate) const FUEL: u64 = 5_000_000;
/// Bytes grown onto memory for the scratch region.
const SCRATCH: u64 = 4 * 65536;
/// Export name prefix of the functions under test in the instrumented copies.
const PREFIX: &str = "__barq_verify_";

/// A change applied to the rewritten module before it is run (tests use it to
/// inject a broken rewrite and see `--verify` catch it).
pub type Tamper<'a> = &'a dyn Fn(&mut walrus::Module);

/// Optimizes `bytes` and checks every exactly rewritten function by running it.
pub fn optimize_verified(
    bytes: &[u8],
    options: &Options,
    tamper: Option<Tamper<'_>>,
    mut progress: impl FnMut(usize, usize),
) -> Result<Verified, Error> {
    let first = driver::optimize(bytes, options)?;
    if first.passed_through.is_some() {
        return Ok(Verified {
            optimized: first,
            checked: 0,
            cases: 0,
            differences: Vec::new(),
        });
    }
    // Functions whose every rewrite is exact.
    let mut exact: BTreeMap<u32, (String, bool)> = BTreeMap::new();
    for f in first
        .report
        .findings
        .iter()
        .filter(|f| f.action == Action::Rewritten)
    {
        let entry = exact
            .entry(f.func_index)
            .or_insert_with(|| (f.function.clone(), true));
        entry.1 &= f.exact;
    }
    let candidates: Vec<(u32, String)> = exact
        .into_iter()
        .filter(|(_, (_, all_exact))| *all_exact)
        .map(|(index, (name, _))| (index, name))
        .collect();

    let binary = driver::binary(bytes)?;
    let (original, exported) = instrument(&binary, &candidates, PREFIX)?;
    let rewritten = driver::optimize(&original, options)?.wasm;
    let rewritten = match tamper {
        Some(change) => {
            let mut loaded = module_io::load(&rewritten, options.keep_dwarf)?;
            change(&mut loaded.module);
            module_io::emit(&mut loaded.module)
        }
        None => rewritten,
    };

    let mut config = wasmtime::Config::new();
    config.consume_fuel(true);
    // Modules built with threads import a shared memory (made here, unshared by
    // any other thread).
    config.shared_memory(true);
    let engine = Engine::new(&config).map_err(|e| Error::Verify(e.to_string()))?;
    let compile =
        |wasm: &[u8]| Module::new(&engine, wasm).map_err(|e| Error::Verify(e.to_string()));
    let (a, b) = (compile(&original)?, compile(&rewritten)?);

    let mut differences = Vec::new();
    let mut passed = BTreeSet::new();
    let mut cases = 0;
    for (done, (index, name)) in exported.iter().enumerate() {
        progress(done, exported.len());
        match check_function(&engine, &a, &b, *index)? {
            // (No conclusive case at all proves nothing: not marked verified.)
            Check::Same(n) => {
                cases += n;
                if n > 0 {
                    passed.insert(*index);
                }
            }
            Check::Differs(n, detail) => {
                cases += n;
                differences.push(Difference {
                    function: name.clone(),
                    func_index: *index,
                    detail,
                });
            }
        }
    }
    progress(exported.len(), exported.len());

    let mut optimized = if differences.is_empty() {
        first
    } else {
        let mut again = options.clone();
        again
            .skip_functions
            .extend(differences.iter().map(|d| d.func_index));
        driver::optimize(bytes, &again)?
    };
    for f in &mut optimized.report.findings {
        if f.action == Action::Rewritten && passed.contains(&f.func_index) {
            f.verified = Some(true);
        }
    }
    optimized.report.notes.push(if differences.is_empty() {
        format!(
            "verified by running: {} rewritten functions, {cases} cases, no difference",
            exported.len()
        )
    } else {
        format!(
            "verify: {} of {} rewritten functions behaved differently; their rewrites were dropped",
            differences.len(),
            exported.len()
        )
    });
    Ok(Verified {
        optimized,
        checked: exported.len(),
        cases,
        differences,
    })
}

/// A function to check: its input index and display name.
pub(crate) type Candidate = (u32, String);

/// The input with an export added for each candidate function that takes only
/// numbers (the ones `--verify` can call); returns it and those functions.
pub(crate) fn instrument(
    binary: &[u8],
    candidates: &[(u32, String)],
    prefix: &str,
) -> Result<(Vec<u8>, Vec<Candidate>), Error> {
    let mut loaded = module_io::load(binary, false)?;
    let by_index: BTreeMap<u32, walrus::FunctionId> = loaded
        .input_func_index
        .iter()
        .map(|(id, index)| (*index, *id))
        .collect();
    let mut exported = Vec::new();
    for (index, name) in candidates {
        let Some(id) = by_index.get(index) else {
            continue;
        };
        if export_numeric(&mut loaded.module, *id, &format!("{prefix}{index}")) {
            exported.push((*index, name.clone()));
        }
    }
    export_stack_pointer(&mut loaded.module, prefix);
    Ok((module_io::emit(&mut loaded.module), exported))
}

/// Exports function `id` as `name` when it takes and returns only numbers (what a
/// host can call with generated values); says whether it did.
pub(crate) fn export_numeric(
    module: &mut walrus::Module,
    id: walrus::FunctionId,
    name: &str,
) -> bool {
    let ty = module.types.get(module.funcs.get(id).ty());
    let numeric = |t: &walrus::ValType| {
        matches!(
            t,
            walrus::ValType::I32
                | walrus::ValType::I64
                | walrus::ValType::F32
                | walrus::ValType::F64
        )
    };
    let all = ty.params().iter().chain(ty.results()).all(numeric);
    if all {
        module.exports.add(name, id);
    }
    all
}

/// Exports the stack pointer as `{prefix}stack_pointer`, found by its name (clang
/// and rustc keep it in the name section), for the prober: bytes just below it
/// are dead by the C ABI.
pub(crate) fn export_stack_pointer(module: &mut walrus::Module, prefix: &str) {
    if let Some(id) = barq_passes::fingerprints::stack_pointer(module) {
        module.exports.add(&format!("{prefix}stack_pointer"), id);
    }
}

enum Check {
    /// No difference in this many conclusive cases.
    Same(usize),
    /// A difference, after this many cases.
    Differs(usize, String),
}

/// One run's result (memory is compared in place, in both instances).
struct Outcome {
    result: Result<Vec<u128>, String>,
}

/// Memory size above which the instances are made anew for the next case.
const MAX_MEMORY: usize = 64 << 20;

fn check_function(engine: &Engine, a: &Module, b: &Module, index: u32) -> Result<Check, Error> {
    let name = format!("{PREFIX}{index}");
    let Some(ty) = a.get_export(&name).and_then(|e| e.func().cloned()) else {
        return Ok(Check::Same(0));
    };
    let params: Vec<ValType> = ty.params().collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (index as u64).wrapping_mul(0x2545_f491));
    let mut conclusive = 0;
    // One instance per side, reused across cases while both behave alike (their
    // states stay equal); both are made anew after an inconclusive case.
    let mut sides: Option<(Side, Side)> = None;
    for case in 0..CASES {
        let seed = rng.next_u64();
        let (side_a, side_b) = match &mut sides {
            Some(s) => s,
            None => {
                let (Some(x), Some(y)) = (
                    Side::new(engine, a, SCRATCH)?,
                    Side::new(engine, b, SCRATCH)?,
                ) else {
                    return Ok(Check::Same(conclusive));
                };
                sides.insert((x, y))
            }
        };
        let (args_a, out_a) = match side_a.run(&name, &params, seed)? {
            Some(x) => x,
            None => {
                sides = None;
                continue;
            }
        };
        let Some((_, out_b)) = side_b.run(&name, &params, seed)? else {
            sides = None;
            continue;
        };
        conclusive += 1;
        let inputs = format!("inputs ({})", args_text(&args_a));
        let same_result = match (&out_a.result, &out_b.result) {
            (Ok(x), Ok(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p == q || both_nan(*p, *q))
            }
            (Err(x), Err(y)) => x == y,
            _ => false,
        };
        if !same_result {
            return Ok(Check::Differs(
                case + 1,
                format!(
                    "{inputs}: original {:?}, rewritten {:?}",
                    out_a.result, out_b.result
                ),
            ));
        }
        let (mem_a, mem_b) = (side_a.memory_bytes(), side_b.memory_bytes());
        if let Some(at) = first_difference(mem_a, mem_b) {
            return Ok(Check::Differs(
                case + 1,
                format!(
                    "{inputs}: memory differs first at byte {at}: original {:#04x}, rewritten {:#04x}",
                    mem_a.get(at).copied().unwrap_or(0),
                    mem_b.get(at).copied().unwrap_or(0)
                ),
            ));
        }
        // Fresh instances for the next case when the memories differ only in NaN
        // bits (a later case could read those bits as integers: the difference
        // wasm allows must not turn into one it does not), or when the function
        // grew memory a lot (garbage sizes to an allocator), to keep cases cheap.
        if mem_a != mem_b || mem_a.len() > MAX_MEMORY {
            sides = None;
        }
    }
    Ok(Check::Same(conclusive))
}

fn args_text(args: &[Val]) -> String {
    args.iter()
        .map(|v| match v {
            Val::I32(x) => format!("{x}"),
            Val::I64(x) => format!("{x}"),
            Val::F32(x) => format!("{}", f32::from_bits(*x)),
            Val::F64(x) => format!("{}", f64::from_bits(*x)),
            _ => "?".to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The memory a function works on: the instance's own or a shared one (modules
/// built with threads import it; the one made here is used by this thread only).
#[derive(Clone)]
pub(crate) enum Mem {
    Plain(wasmtime::Memory),
    Shared(wasmtime::SharedMemory),
}

/// One module instantiated for the cases of one function: its store, instance,
/// memory and the scratch region grown onto that memory.
pub(crate) struct Side {
    pub(crate) store: Store<()>,
    pub(crate) instance: Instance,
    memory: Option<Mem>,
    pub(crate) base: u64,
    pub(crate) end: u64,
}

pub(crate) fn engine_error(e: wasmtime::Error) -> Error {
    Error::Verify(format!("{e:#}"))
}

impl Side {
    /// `None` when instantiation fails (a start function that traps or runs out of
    /// fuel): nothing to compare.
    pub(crate) fn new(
        engine: &Engine,
        module: &Module,
        scratch: u64,
    ) -> Result<Option<Side>, Error> {
        let mut store = Store::new(engine, ());
        store.set_fuel(FUEL).map_err(engine_error)?;
        let mut linker = Linker::new(engine);
        crate::native::add_to_linker(&mut linker).map_err(engine_error)?;
        let mut imported_shared = None;
        for import in module.imports() {
            if let wasmtime::ExternType::Memory(ty) = import.ty() {
                if ty.is_shared() {
                    let shared = wasmtime::SharedMemory::new(engine, ty).map_err(engine_error)?;
                    linker
                        .define(&store, import.module(), import.name(), shared.clone())
                        .map_err(engine_error)?;
                    imported_shared.get_or_insert(shared);
                }
            }
        }
        // clang's memset/memcpy/memmove calls behave as they do, where the module
        // imports them with their C signature.
        let named = |i: &wasmtime::ImportType<'_>| {
            i.module() == "env" && barq_passes::fingerprints::LIBC_PURE.contains(&i.name())
        };
        let c_signature = |i: &wasmtime::ImportType<'_>| {
            let wasmtime::ExternType::Func(f) = i.ty() else {
                return false;
            };
            let types: Vec<ValType> = f.params().chain(f.results()).collect();
            let is = |t: &ValType, want: &ValType| t.matches(want);
            match i.name() {
                "memset" | "memcpy" | "memmove" => {
                    f.params().len() == 3 && types.iter().all(|t| is(t, &ValType::I32))
                }
                "lrintf" => {
                    f.params().len() == 1
                        && is(&types[0], &ValType::F32)
                        && is(&types[1], &ValType::I32)
                }
                _ => f.params().len() == 1 && types.iter().all(|t| is(t, &ValType::F32)),
            }
        };
        let libc = module.imports().any(|i| named(&i))
            && module.imports().filter(named).all(|i| c_signature(&i));
        if libc {
            crate::native::add_libc_memory_to_linker(&mut linker).map_err(engine_error)?;
        }
        linker
            .define_unknown_imports_as_default_values(&mut store, module)
            .map_err(engine_error)?;
        let Ok(instance) = linker.instantiate(&mut store, module) else {
            return Ok(None);
        };
        let exported = instance
            .exports(&mut store)
            .find_map(|e| match e.into_extern() {
                wasmtime::Extern::Memory(m) => Some(Mem::Plain(m)),
                wasmtime::Extern::SharedMemory(m) => Some(Mem::Shared(m)),
                _ => None,
            });
        let memory = exported.or(imported_shared.map(Mem::Shared));
        let (mut base, mut end) = (0, 0);
        let pages = scratch / 65536;
        let grown = match &memory {
            Some(Mem::Plain(m)) => {
                Some(m.data_size(&store) as u64).filter(|_| m.grow(&mut store, pages).is_ok())
            }
            Some(Mem::Shared(m)) => Some(m.data_size() as u64).filter(|_| m.grow(pages).is_ok()),
            None => None,
        };
        if let Some(have) = grown {
            (base, end) = (have, have + scratch);
        }
        Ok(Some(Side {
            store,
            instance,
            memory,
            base,
            end,
        }))
    }

    /// Fills the scratch region from `seed` and calls the function with arguments
    /// drawn from `seed`. `None` when the run ran out of fuel (inconclusive).
    fn run(
        &mut self,
        name: &str,
        params: &[ValType],
        seed: u64,
    ) -> Result<Option<(Vec<Val>, Outcome)>, Error> {
        let (base, end) = (self.base, self.end);
        let mut rng = Rng(seed | 1);
        if end > base {
            if let Some(scratch) = self.memory_bytes_mut() {
                for chunk in scratch[base as usize..end as usize].chunks_mut(8) {
                    let word = rng.next_u64().to_le_bytes();
                    chunk.copy_from_slice(&word[..chunk.len()]);
                }
            }
        }
        self.store.set_fuel(FUEL).map_err(engine_error)?;
        let pointers: Vec<i64> = if end > base {
            [
                0,
                1,
                4,
                64,
                4096 + 3,
                SCRATCH / 2,
                SCRATCH / 2 + 4,
                end - base - 16,
            ]
            .iter()
            .map(|o| (base + o) as i64)
            .collect()
        } else {
            vec![0]
        };
        let lengths = [
            0i64, 1, 3, 4, 7, 8, 15, 16, 17, 31, 33, 64, 100, 257, 1000, -1,
        ];
        let floats = [
            1.5f64,
            -0.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.1,
            -3.0,
            1e-40,
        ];
        let args: Vec<Val> = params
            .iter()
            .map(|ty| {
                let int = if rng.next_u64().is_multiple_of(2) {
                    rng.pick(&pointers)
                } else {
                    rng.pick(&lengths)
                };
                match ty {
                    ValType::I32 => Val::I32(int as i32),
                    ValType::I64 => Val::I64(int),
                    ValType::F32 => Val::F32((rng.pick(&floats) as f32).to_bits()),
                    _ => Val::F64(rng.pick(&floats).to_bits()),
                }
            })
            .collect();
        let func = self
            .instance
            .get_func(&mut self.store, name)
            .ok_or_else(|| Error::Verify(format!("no export {name}")))?;
        let mut results = vec![Val::I32(0); func.ty(&self.store).results().len()];
        let result = match func.call(&mut self.store, &args, &mut results) {
            Ok(()) => Ok(results.iter().map(bits).collect()),
            Err(e) => match e.downcast_ref::<wasmtime::Trap>() {
                Some(wasmtime::Trap::OutOfFuel) => return Ok(None),
                Some(trap) => Err(format!("trap: {trap}")),
                None => Err(format!("error: {e}")),
            },
        };
        Ok(Some((args, Outcome { result })))
    }

    /// The instance's whole memory (empty without one).
    pub(crate) fn memory_bytes(&self) -> &[u8] {
        match &self.memory {
            Some(Mem::Plain(m)) => m.data(&self.store),
            Some(Mem::Shared(m)) => {
                let cells = m.data();
                // SAFETY: the shared memory was made by `Side::new` for this side
                // alone; no other thread has it, and no wasm runs while the slice
                // lives (it is read between calls).
                unsafe { std::slice::from_raw_parts(cells.as_ptr() as *const u8, cells.len()) }
            }
            None => &[],
        }
    }

    pub(crate) fn memory_bytes_mut(&mut self) -> Option<&mut [u8]> {
        match &self.memory {
            Some(Mem::Plain(m)) => Some(m.data_mut(&mut self.store)),
            Some(Mem::Shared(m)) => {
                let cells = m.data();
                // SAFETY: as in `memory_bytes`; the slice is written before the
                // call and dropped before it runs.
                Some(unsafe {
                    std::slice::from_raw_parts_mut(cells.as_ptr() as *mut u8, cells.len())
                })
            }
            None => None,
        }
    }
}

fn bits(v: &Val) -> u128 {
    match v {
        Val::I32(x) => *x as u32 as u128,
        Val::I64(x) => *x as u64 as u128,
        Val::F32(x) => *x as u128,
        Val::F64(x) => *x as u128,
        _ => u128::MAX,
    }
}

/// Whether two result bit patterns (f32 or f64 results) are both NaNs.
pub fn both_nan(a: u128, b: u128) -> bool {
    let nan32 = |v: u128| v <= u32::MAX as u128 && f32::from_bits(v as u32).is_nan();
    let nan64 = |v: u128| v <= u64::MAX as u128 && f64::from_bits(v as u64).is_nan();
    (nan32(a) && nan32(b)) || (nan64(a) && nan64(b))
}

/// The first byte where two memories differ, other than inside a NaN both hold at
/// the same place (wasm leaves NaN sign and payload bits nondeterministic).
pub fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    if a.len() != b.len() {
        return Some(a.len().min(b.len()));
    }
    if a == b {
        return None;
    }
    let nan_at = |m: &[u8], start: usize, width: usize| -> bool {
        match width {
            4 => m
                .get(start..start + 4)
                .is_some_and(|w| f32::from_le_bytes([w[0], w[1], w[2], w[3]]).is_nan()),
            _ => m.get(start..start + 8).is_some_and(|w| {
                f64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]).is_nan()
            }),
        }
    };
    let mut i = 0;
    while i < a.len() {
        if a[i] == b[i] {
            i += 1;
            continue;
        }
        let excused = [4usize, 8].iter().find_map(|&width| {
            (i.saturating_sub(width - 1)..=i)
                .find(|&s| nan_at(a, s, width) && nan_at(b, s, width))
                .map(|s| s + width)
        });
        match excused {
            Some(next) => i = next,
            None => return Some(i),
        }
    }
    None
}

/// Calls `progress` only once a second has passed (so short runs print nothing).
pub fn after_a_second(mut show: impl FnMut(usize, usize)) -> impl FnMut(usize, usize) {
    let start = Instant::now();
    move |done, total| {
        if start.elapsed() >= Duration::from_secs(1) {
            show(done, total)
        }
    }
}
