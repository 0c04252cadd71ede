//! The driver's prober: runs functions of the input module in Wasmtime for the
//! whole-function fingerprints that identify by probing (`barq_passes::probe`).
//!
//! Made lazily: nothing is compiled until a fingerprint asks for its first run, so
//! modules without candidates cost nothing. The input gets an export for every
//! function that takes and returns only numbers, is instantiated once with the
//! runner's `barq` kernels and default values for every other import (as
//! `--verify` does), and a scratch region is grown onto its memory. Every run
//! starts from the memory as instantiation left it: a run that changes anything
//! outside the scratch region is reported so and the memory restored; a run that
//! traps or runs out of fuel has its memory restored, and the next run starts
//! from a fresh instance when the memory changed size or the fingerprint asks for
//! one (`Probe::isolate`, for functions that may write globals).

use crate::verify::{engine_error, export_numeric, export_stack_pointer, instrument, Side, FUEL};
use crate::Error;
use barq_passes::module_io;
use barq_passes::{Probe, ProbeArg, ProbeRun};
use std::collections::{BTreeSet, HashSet};
use wasmtime::{Engine, Module, Val};

/// Export name prefix of the probed functions in the instrumented copy.
const PREFIX: &str = "__barq_probe_";

/// Bytes below the stack pointer a probed function may write without that
/// counting as a write outside the scratch region.
const RED_ZONE: usize = 256;

/// Bytes of scratch region grown onto the probed module's memory: room for a
/// decoder's input and an output with a Zstandard block's literals past it; the
/// smaller size where the memory's maximum does not allow that.
const SCRATCH: [u64; 2] = [16 * 65536, 4 * 65536];

/// An engine and the module compiled in it.
type Compiled = (Engine, Module);

/// Runs functions of one input module.
pub(crate) struct Prober {
    binary: Vec<u8>,
    /// Functions (input indices) the passes want to probe.
    wanted: BTreeSet<u32>,
    /// The module compiled for `wanted` as it was then (`None`: it cannot be).
    compiled: Option<(BTreeSet<u32>, Option<Compiled>)>,
    side: Option<Ready>,
}

struct Ready {
    side: Side,
    /// Memory below the scratch region, as instantiation left it.
    below: Vec<u8>,
}

impl Prober {
    /// A prober for `binary` (the input module); nothing is compiled yet.
    pub(crate) fn new(binary: &[u8]) -> Prober {
        Prober {
            binary: binary.to_vec(),
            wanted: BTreeSet::new(),
            compiled: None,
            side: None,
        }
    }

    /// The input cut down to the `wanted` functions (exported for probing as
    /// `PREFIX` + input index), what they and the start function call, the
    /// memories, globals and data: every other export and the element segments
    /// dropped (kept when a wanted function may call indirectly), then walrus's
    /// garbage collection. A real module of thousands of functions then compiles
    /// in a fraction of the time. Not cut when the start function calls
    /// indirectly (what it reaches is then unknown): all functions are exported
    /// then, as `--verify` does.
    fn pruned(binary: &[u8], wanted: &BTreeSet<u32>) -> Result<Vec<u8>, Error> {
        let mut loaded = module_io::load(binary, false)?;
        let module = &mut loaded.module;
        let start_indirect = calls_indirectly(module, module.start.into_iter().collect());
        let wanted_ids: Vec<walrus::FunctionId> = loaded
            .input_func_index
            .iter()
            .filter(|(_, index)| wanted.contains(index))
            .map(|(id, _)| *id)
            .collect();
        let wanted_indirect = calls_indirectly(module, wanted_ids);
        if start_indirect {
            let all: Vec<(u32, String)> = loaded
                .input_func_index
                .values()
                .map(|index| (*index, String::new()))
                .collect();
            return Ok(instrument(binary, &all, PREFIX)?.0);
        }
        let dropped: Vec<walrus::ExportId> = module
            .exports
            .iter()
            .filter(|e| !matches!(e.item, walrus::ExportItem::Memory(_)))
            .map(|e| e.id())
            .collect();
        for id in dropped {
            module.exports.delete(id);
        }
        if !wanted_indirect {
            let elements: Vec<walrus::ElementId> = module.elements.iter().map(|e| e.id()).collect();
            for id in elements {
                module.elements.delete(id);
            }
        }
        for (id, index) in &loaded.input_func_index {
            if wanted.contains(index) {
                export_numeric(module, *id, &format!("{PREFIX}{index}"));
            }
        }
        export_stack_pointer(module, PREFIX);
        walrus::passes::gc::run(module);
        Ok(module_io::emit(module))
    }

    fn compile(binary: &[u8], wanted: &BTreeSet<u32>) -> Result<(Engine, Module), Error> {
        let instrumented = Self::pruned(binary, wanted)?;
        let mut config = wasmtime::Config::new();
        config.consume_fuel(true);
        config.shared_memory(true);
        // Probes run small inputs: compile time is what counts (a whole real
        // module is compiled when one of its functions passes a prefilter).
        config.cranelift_opt_level(wasmtime::OptLevel::None);
        let engine = Engine::new(&config).map_err(engine_error)?;
        let module = Module::new(&engine, &instrumented).map_err(engine_error)?;
        Ok((engine, module))
    }

    /// The instance, made if need be (compiled again when more functions are
    /// wanted than it was compiled for); `None` when the module cannot be probed.
    fn ready(&mut self) -> Option<&mut Ready> {
        if self
            .compiled
            .as_ref()
            .is_none_or(|(set, _)| *set != self.wanted)
        {
            let compiled = Self::compile(&self.binary, &self.wanted).ok();
            self.compiled = Some((self.wanted.clone(), compiled));
            self.side = None;
        }
        let (engine, module) = self.compiled.as_ref()?.1.as_ref()?;
        if self.side.is_none() {
            let mut side = Side::new(engine, module, SCRATCH[0]).ok()??;
            if side.end <= side.base {
                side = Side::new(engine, module, SCRATCH[1]).ok()??;
            }
            if side.end <= side.base {
                return None;
            }
            let below = side.memory_bytes()[..side.base as usize].to_vec();
            self.side = Some(Ready { side, below });
        }
        self.side.as_mut()
    }
}

/// Whether a function reachable from `roots` by direct calls calls indirectly (or
/// takes a function reference).
fn calls_indirectly(module: &walrus::Module, roots: Vec<walrus::FunctionId>) -> bool {
    use walrus::ir::Instr;
    let mut seen = HashSet::new();
    let mut work = roots;
    while let Some(f) = work.pop() {
        if !seen.insert(f) {
            continue;
        }
        if let walrus::FunctionKind::Local(local) = &module.funcs.get(f).kind {
            for instr in barq_passes::passes::simd_elementwise::instructions(local) {
                match instr {
                    Instr::Call(c) => work.push(c.func),
                    Instr::ReturnCall(c) => work.push(c.func),
                    Instr::CallIndirect(_)
                    | Instr::ReturnCallIndirect(_)
                    | Instr::CallRef(_)
                    | Instr::ReturnCallRef(_)
                    | Instr::RefFunc(_) => return true,
                    _ => {}
                }
            }
        }
    }
    false
}

impl Probe for Prober {
    fn want(&mut self, func_index: u32) {
        self.wanted.insert(func_index);
    }

    fn scratch(&mut self) -> Option<(u32, u32)> {
        let ready = self.ready()?;
        let base = u32::try_from(ready.side.base).ok()?;
        let len = u32::try_from(ready.side.end - ready.side.base).ok()?;
        Some((base, len))
    }

    fn isolate(&mut self) {
        self.side = None;
    }

    fn run(&mut self, func_index: u32, args: &[ProbeArg], scratch: &[u8]) -> ProbeRun {
        self.wanted.insert(func_index);
        let Some(ready) = self.ready() else {
            return ProbeRun::Failed;
        };
        let (base, end) = (ready.side.base as usize, ready.side.end as usize);
        if scratch.len() > end - base {
            return ProbeRun::Failed;
        }
        match ready.side.memory_bytes_mut() {
            Some(memory) => memory[base..base + scratch.len()].copy_from_slice(scratch),
            None => return ProbeRun::Failed,
        }
        let name = format!("{PREFIX}{func_index}");
        let side = &mut ready.side;
        let Some(func) = side.instance.get_func(&mut side.store, &name) else {
            return ProbeRun::Failed;
        };
        let args: Vec<Val> = args
            .iter()
            .map(|a| match a {
                ProbeArg::I32(v) => Val::I32(*v),
                ProbeArg::F32(v) => Val::F32(v.to_bits()),
            })
            .collect();
        // Bytes below the stack pointer are free by the C ABI: a callee may spill
        // there without moving it (Rust's libm does, in `force_eval!`).
        let stack_pointer = side
            .instance
            .get_global(&mut side.store, &format!("{PREFIX}stack_pointer"))
            .and_then(|g| g.get(&mut side.store).i32())
            .map(|sp| sp as u32 as usize);
        let mut results = vec![Val::I32(0); func.ty(&side.store).results().len()];
        let returned = side.store.set_fuel(FUEL).is_ok()
            && func.call(&mut side.store, &args, &mut results).is_ok();
        if !returned {
            // A trap may have left memory half-written: back to the memory as
            // instantiated. (Globals and tables cannot have changed: the passes
            // probe only functions `fingerprints::probe_safe` accepts, which write
            // neither, nor grow memory; a memory of another size is instantiated
            // anew.) Instantiating a large module again for every trapping reading
            // cost seconds.
            let below = &ready.below;
            let restored = match ready.side.memory_bytes_mut() {
                Some(memory) if memory.len() == end => {
                    memory[..base].copy_from_slice(below);
                    memory[base..].fill(0);
                    true
                }
                _ => false,
            };
            if !restored {
                self.side = None;
            }
            return ProbeRun::Failed;
        }
        let memory = side.memory_bytes();
        if memory.len() != end {
            self.side = None;
            return ProbeRun::Failed;
        }
        let after = memory[base..base + scratch.len()].to_vec();
        // (The scratch region past what this run was given stays zero, as grown.)
        let tail = base + scratch.len()..end;
        let below_changed = memory[..base] != ready.below[..];
        let outside_changed = memory[tail.clone()].iter().any(|b| *b != 0)
            || (below_changed
                && match stack_pointer {
                    // Only the red zone changed?
                    Some(sp) if sp <= base && sp >= RED_ZONE => {
                        memory[..sp - RED_ZONE] != ready.below[..sp - RED_ZONE]
                            || memory[sp..base] != ready.below[sp..]
                    }
                    _ => true,
                });
        if let Some(memory) = ready.side.memory_bytes_mut() {
            // Back to the memory as instantiated: the scratch region zero again.
            memory[base..base + scratch.len()].fill(0);
            if outside_changed || below_changed {
                memory[..base].copy_from_slice(&ready.below);
                memory[tail].fill(0);
            }
        }
        let results = results
            .iter()
            .map(|v| match v {
                Val::I32(x) => *x as u32 as u64,
                Val::I64(x) => *x as u64,
                Val::F32(x) => *x as u64,
                Val::F64(x) => *x,
                _ => 0,
            })
            .collect();
        ProbeRun::Returned {
            results,
            scratch: after,
            outside_changed,
        }
    }
}
