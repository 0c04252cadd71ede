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
//! traps or runs out of fuel makes the next run instantiate anew.

use crate::verify::{engine_error, instrument, Side, FUEL};
use crate::Error;
use barq_passes::module_io;
use barq_passes::{Probe, ProbeArg, ProbeRun};
use wasmtime::{Engine, Module, Val};

/// Export name prefix of the probed functions in the instrumented copy.
const PREFIX: &str = "__barq_probe_";

/// Bytes below the stack pointer a probed function may write without that
/// counting as a write outside the scratch region.
const RED_ZONE: usize = 256;

/// Runs functions of one input module.
pub(crate) struct Prober {
    binary: Vec<u8>,
    compiled: Option<Option<(Engine, Module)>>,
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
            compiled: None,
            side: None,
        }
    }

    fn compile(binary: &[u8]) -> Result<(Engine, Module), Error> {
        let loaded = module_io::load(binary, false)?;
        let all: Vec<(u32, String)> = loaded
            .input_func_index
            .values()
            .map(|index| (*index, String::new()))
            .collect();
        let (instrumented, _) = instrument(binary, &all, PREFIX)?;
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

    /// The instance, made if need be; `None` when the module cannot be probed.
    fn ready(&mut self) -> Option<&mut Ready> {
        let binary = &self.binary;
        let (engine, module) = self
            .compiled
            .get_or_insert_with(|| Self::compile(binary).ok())
            .as_ref()?;
        if self.side.is_none() {
            let side = Side::new(engine, module).ok()??;
            if side.end <= side.base {
                return None;
            }
            let below = side.memory_bytes()[..side.base as usize].to_vec();
            self.side = Some(Ready { side, below });
        }
        self.side.as_mut()
    }
}

impl Probe for Prober {
    fn scratch(&mut self) -> Option<(u32, u32)> {
        let ready = self.ready()?;
        let base = u32::try_from(ready.side.base).ok()?;
        let len = u32::try_from(ready.side.end - ready.side.base).ok()?;
        Some((base, len))
    }

    fn run(&mut self, func_index: u32, args: &[ProbeArg], scratch: &[u8]) -> ProbeRun {
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
            // (A trap may have left globals or memory half-written.)
            self.side = None;
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
