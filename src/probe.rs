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
/// counting as a write outside the scratch region: the C stack (its frames, a
/// variable-length or local array, what a callee spills), dead once the function
/// returns. Never below the end of a data segment under the stack pointer (see
/// [`stack_floor`]); 256 bytes where that is not known.
const STACK_ZONE: usize = 16 * 1024;

/// [`STACK_ZONE`] where the data segments' places are not all known.
const RED_ZONE: usize = 256;

/// Bytes of scratch region grown onto the probed module's memory: room for a
/// decoder's input and an output with a Zstandard block's literals past it; the
/// smaller size where the memory's maximum does not allow that.
const SCRATCH: [u64; 2] = [16 * 65536, 4 * 65536];

/// An engine, the module compiled in it, and its [`stack_floor`].
type Compiled = (Engine, Module, usize);

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
    /// The store guards' flag and windows (`probe_guard`), when the copy has them.
    guards: Option<Guards>,
    /// The lowest address of the stack zone ([`stack_floor`]).
    floor: usize,
}

/// The exported globals of `probe_guard`.
struct Guards {
    outside: wasmtime::Global,
    /// `lo`, `hi`, `zone_lo`, `zone_hi`.
    windows: [wasmtime::Global; 4],
    /// `dirty_lo`, `dirty_hi`.
    dirty: [wasmtime::Global; 2],
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
    fn pruned(binary: &[u8], wanted: &BTreeSet<u32>) -> Result<(Vec<u8>, usize), Error> {
        let mut loaded = module_io::load(binary, false)?;
        let module = &mut loaded.module;
        let floor = stack_floor(module);
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
            return Ok((instrument(binary, &all, PREFIX)?.0, floor));
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
        // (Unguarded where it cannot be: then runs compare memory instead.)
        crate::probe_guard::guard_stores(module, PREFIX);
        Ok((module_io::emit(module), floor))
    }

    fn compile(binary: &[u8], wanted: &BTreeSet<u32>) -> Result<Compiled, Error> {
        let (instrumented, floor) = Self::pruned(binary, wanted)?;
        let mut config = wasmtime::Config::new();
        config.consume_fuel(true);
        config.shared_memory(true);
        // Probes run small inputs: compile time is what counts (a whole real
        // module is compiled when one of its functions passes a prefilter).
        config.cranelift_opt_level(wasmtime::OptLevel::None);
        let engine = Engine::new(&config).map_err(engine_error)?;
        let module = Module::new(&engine, &instrumented).map_err(engine_error)?;
        Ok((engine, module, floor))
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
        let (engine, module, floor) = self.compiled.as_ref()?.1.as_ref()?;
        let floor = *floor;
        if self.side.is_none() {
            let mut side = Side::new(engine, module, SCRATCH[0]).ok()??;
            if side.end <= side.base {
                side = Side::new(engine, module, SCRATCH[1]).ok()??;
            }
            if side.end <= side.base {
                return None;
            }
            let below = side.memory_bytes()[..side.base as usize].to_vec();
            let mut global = |name: &str| {
                side.instance
                    .get_global(&mut side.store, &format!("{PREFIX}{name}"))
            };
            let guards = match (
                global(crate::probe_guard::OUTSIDE),
                crate::probe_guard::WINDOWS.map(&mut global),
                crate::probe_guard::DIRTY.map(&mut global),
            ) {
                (Some(outside), [Some(a), Some(b), Some(c), Some(d)], [Some(e), Some(f)]) => {
                    Some(Guards {
                        outside,
                        windows: [a, b, c, d],
                        dirty: [e, f],
                    })
                }
                _ => None,
            };
            self.side = Some(Ready {
                side,
                below,
                guards,
                floor,
            });
        }
        self.side.as_mut()
    }
}

/// Where the stack zone below the stack pointer must stop: the end of the last
/// active data segment below the stack pointer's initial value (0 when there is
/// none: the stack comes first, as rustc lays it out), or 256 bytes below the
/// stack pointer when a segment's offset is not a constant or a segment is
/// passive (then the zone is the red zone only). Static data past the last segment (zero-initialized, without a
/// segment) could lie under the zone only in a module whose stack is smaller than
/// [`STACK_ZONE`]; wasm-ld's default is 64 KiB.
fn stack_floor(module: &walrus::Module) -> usize {
    use walrus::{ConstExpr, DataKind, GlobalKind};
    let Some(sp) = barq_passes::fingerprints::stack_pointer(module).and_then(|g| {
        match module.globals.get(g).kind {
            GlobalKind::Local(ConstExpr::Value(walrus::ir::Value::I32(v))) => {
                Some(v as u32 as usize)
            }
            _ => None,
        }
    }) else {
        return 0;
    };
    let mut floor = 0;
    for data in module.data.iter() {
        match &data.kind {
            DataKind::Active {
                offset: ConstExpr::Value(walrus::ir::Value::I32(at)),
                ..
            } => {
                let end = *at as u32 as usize + data.value.len();
                if end <= sp {
                    floor = floor.max(end);
                }
            }
            // (Segments placed at run time, by `memory.init` or at an offset
            // read from a global: where they land is not known here.)
            DataKind::Active { .. } | DataKind::Passive => return sp.saturating_sub(RED_ZONE),
        }
    }
    floor
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
                ProbeArg::F64(v) => Val::F64(v.to_bits()),
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
        // The store guards' windows: the scratch this run is given, and the red
        // zone below the stack pointer.
        let zone = match stack_pointer {
            Some(sp) if sp <= base && sp > ready.floor => {
                sp.saturating_sub(STACK_ZONE).max(ready.floor)..sp
            }
            _ => 0..0,
        };
        if let Some(guards) = &ready.guards {
            let bounds = [base, base + scratch.len(), zone.start, zone.end];
            for (global, at) in guards.windows.iter().zip(bounds) {
                if global.set(&mut side.store, Val::I64(at as i64)).is_err() {
                    return ProbeRun::Failed;
                }
            }
            let cleared = guards.outside.set(&mut side.store, Val::I32(0)).is_ok()
                && guards.dirty[0].set(&mut side.store, Val::I64(-1)).is_ok()
                && guards.dirty[1].set(&mut side.store, Val::I64(0)).is_ok();
            if !cleared {
                return ProbeRun::Failed;
            }
        }
        // (A guard costs ~20 instructions a write: a loop that only stores, in
        // five instructions an iteration, takes up to 5 times as much fuel.)
        let fuel = if ready.guards.is_some() {
            5 * FUEL
        } else {
            FUEL
        };
        let returned = side.store.set_fuel(fuel).is_ok()
            && func.call(&mut side.store, &args, &mut results).is_ok();
        // Whether the guards saw a write outside both windows (`None`: no
        // guards), and the range such writes touched.
        let wrote_outside = ready
            .guards
            .as_ref()
            .map(|g| g.outside.get(&mut side.store).i32() != Some(0));
        let dirty = match &ready.guards {
            Some(g) => {
                let mut at = |i: usize| g.dirty[i].get(&mut side.store).i64().unwrap_or(0) as u64;
                (at(0).min(end as u64) as usize)..(at(1).min(end as u64) as usize)
            }
            None => 0..end,
        };
        if !returned {
            // A function with a stack frame that traps leaves the stack pointer
            // moved: back to where it was.
            if let Some(sp) = stack_pointer {
                let put_back = side
                    .instance
                    .get_global(&mut side.store, &format!("{PREFIX}stack_pointer"))
                    .is_some_and(|g| g.set(&mut side.store, Val::I32(sp as i32)).is_ok());
                if !put_back {
                    self.side = None;
                    return ProbeRun::Failed;
                }
            }
            // A trap may have left memory half-written: back to the memory as
            // instantiated. (Other globals and tables cannot have changed: the
            // passes probe only functions `fingerprints::probe_safe` accepts, which
            // write neither, nor grow memory; a memory of another size is
            // instantiated anew.) Instantiating a large module again for every trapping reading
            // cost seconds.
            let below = &ready.below;
            let restored = match ready.side.memory_bytes_mut() {
                // Guarded and nothing written outside: the scratch and the red zone.
                Some(memory) if memory.len() == end && wrote_outside == Some(false) => {
                    memory[base..base + scratch.len()].fill(0);
                    memory[zone.clone()].copy_from_slice(&below[zone]);
                    true
                }
                Some(memory) if memory.len() == end => {
                    restore(memory, below, dirty, base);
                    memory[base..base + scratch.len()].fill(0);
                    memory[zone.clone()].copy_from_slice(&below[zone]);
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
        let (outside_changed, below_changed) = match wrote_outside {
            // The guards saw every write: only the red zone to put back.
            Some(outside) => (outside, outside || !zone.is_empty()),
            None => {
                let below_changed = memory[..base] != ready.below[..];
                let outside_changed = !all_zero(&memory[tail.clone()])
                    || (below_changed
                        && (zone.is_empty()
                            || memory[..zone.start] != ready.below[..zone.start]
                            || memory[zone.end..base] != ready.below[zone.end..]));
                (outside_changed, below_changed)
            }
        };
        if let Some(memory) = ready.side.memory_bytes_mut() {
            // Back to the memory as instantiated: the scratch region zero again.
            memory[base..base + scratch.len()].fill(0);
            if outside_changed {
                restore(memory, &ready.below, dirty, base);
            }
            if below_changed && !zone.is_empty() {
                memory[zone.clone()].copy_from_slice(&ready.below[zone]);
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

/// Whether `bytes` are all zero: 64 at a time, or-ed together without an early
/// exit per byte (the probes check the unused scratch region, ~1 MiB, after
/// every run; a byte-wise `any` took longer than the run).
fn all_zero(bytes: &[u8]) -> bool {
    let mut chunks = bytes.chunks_exact(64);
    for chunk in &mut chunks {
        if chunk.iter().fold(0u8, |acc, b| acc | b) != 0 {
            return false;
        }
    }
    chunks.remainder().iter().all(|b| *b == 0)
}

/// Puts `dirty` back as instantiated: the part below the scratch region from
/// `below`, the part in it zero (as grown).
fn restore(memory: &mut [u8], below: &[u8], dirty: std::ops::Range<usize>, base: usize) {
    let end = memory.len();
    let (start, stop) = (dirty.start.min(end), dirty.end.min(end));
    if start >= stop {
        return;
    }
    if start < base {
        let upto = stop.min(base);
        memory[start..upto].copy_from_slice(&below[start..upto]);
    }
    if stop > base {
        memory[start.max(base)..stop].fill(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use barq_passes::probe::{Probe, ProbeArg, ProbeRun};

    /// Functions (by index) that write inside the scratch region, outside it, in
    /// the red zone, zero bytes, then trap, and one that reads a byte of static
    /// data; the data lies below the scratch region.
    const WAT: &str = r#"(module
      (memory (export "memory") 2)
      (global $__stack_pointer (mut i32) (i32.const 65536))
      (data (i32.const 100) "\2a")
      (func $inside (param i32) (result i32)
        (i32.store (local.get 0) (i32.const 7)) (i32.const 0))
      (func $outside (param i32) (result i32)
        (i32.store8 (i32.const 100) (i32.const 9)) (i32.const 0))
      (func $fill_outside (param i32) (result i32)
        (memory.fill (i32.const 200) (i32.const 1) (local.get 0)) (i32.const 0))
      (func $red_zone (param i32) (result i32)
        (i64.store (i32.sub (global.get $__stack_pointer) (i32.const 8)) (i64.const -1))
        (i32.const 0))
      (func $trap_after_outside (param i32) (result i32)
        (i32.store8 (i32.const 100) (i32.const 5)) unreachable)
      (func $read (param i32) (result i32) (i32.load8_u (i32.const 100)))
      (func $rmw_outside (param i32) (result i32)
        (drop (i32.atomic.rmw.add (i32.const 104) (i32.const 1))) (i32.const 0))
      (func $lane_outside (param i32) (result i32)
        (v128.store8_lane 0 (i32.const 108) (v128.const i64x2 3 3)) (i32.const 0))
      (func $call (param i32) (result i32) (call $outside (local.get 0)))
    )"#;

    fn outside(run: &ProbeRun) -> Option<bool> {
        match run {
            ProbeRun::Returned {
                outside_changed, ..
            } => Some(*outside_changed),
            ProbeRun::Failed => None,
        }
    }

    /// The store guards tell writes inside the scratch region and the red zone
    /// from writes outside them (stores, bulk, atomic and lane writes, in callees
    /// too), and memory is back as instantiated after each run, a trapped one too.
    #[test]
    fn guards_see_writes_outside_the_scratch_region_and_memory_is_restored() {
        let binary = wat::parse_str(WAT).unwrap();
        let mut prober = Prober::new(&binary);
        for f in 0..9 {
            prober.want(f);
        }
        let (base, _) = prober.scratch().expect("scratch");
        assert!(prober.ready().unwrap().guards.is_some(), "guarded");
        let scratch = [0u8; 64];
        let arg = |v: i32| [ProbeArg::I32(v)];
        let run = |p: &mut Prober, f: u32, v: i32| p.run(f, &arg(v), &scratch);
        let read = |p: &mut Prober| match p.run(5, &arg(0), &scratch) {
            ProbeRun::Returned { results, .. } => results[0],
            ProbeRun::Failed => panic!("read"),
        };
        assert_eq!(read(&mut prober), 42);
        let inside = run(&mut prober, 0, base as i32 + 8);
        assert_eq!(outside(&inside), Some(false));
        if let ProbeRun::Returned { scratch: after, .. } = &inside {
            assert_eq!(after[8], 7);
        }
        // Past the scratch it was given (but inside the region grown): outside.
        assert_eq!(outside(&run(&mut prober, 0, base as i32 + 64)), Some(true));
        assert_eq!(outside(&run(&mut prober, 1, 0)), Some(true));
        assert_eq!(read(&mut prober), 42, "restored");
        assert_eq!(outside(&run(&mut prober, 2, 10)), Some(true));
        assert_eq!(outside(&run(&mut prober, 2, 0)), Some(false), "zero bytes");
        assert_eq!(outside(&run(&mut prober, 3, 0)), Some(false), "red zone");
        assert_eq!(outside(&run(&mut prober, 4, 0)), None);
        assert_eq!(read(&mut prober), 42, "restored after the trap");
        assert_eq!(outside(&run(&mut prober, 6, 0)), Some(true), "atomic");
        assert_eq!(outside(&run(&mut prober, 7, 0)), Some(true), "lane");
        assert_eq!(outside(&run(&mut prober, 8, 0)), Some(true), "in a callee");
        assert_eq!(read(&mut prober), 42);
    }

    /// The stack zone runs from the stack pointer down 16 KiB, never into a data
    /// segment below it; a function that moves the stack pointer and traps has
    /// it put back.
    #[test]
    fn the_stack_zone_stops_at_static_data_and_the_stack_pointer_is_put_back() {
        let wat = r#"(module
          (memory (export "memory") 2)
          (global $__stack_pointer (mut i32) (i32.const 65536))
          (data (i32.const 60000) "\2a")
          (func $below (param i32) (result i32)
            (i32.store8 (i32.sub (global.get $__stack_pointer) (local.get 0)) (i32.const 1))
            (i32.const 0))
          (func $frame_then_trap (param i32) (result i32)
            (global.set $__stack_pointer (i32.sub (global.get $__stack_pointer) (i32.const 1024)))
            unreachable)
          (func $sp (param i32) (result i32) (global.get $__stack_pointer)))"#;
        let binary = wat::parse_str(wat).unwrap();
        let mut prober = Prober::new(&binary);
        for f in 0..3 {
            prober.want(f);
        }
        let scratch = [0u8; 16];
        let below = |p: &mut Prober, by: i32| outside(&p.run(0, &[ProbeArg::I32(by)], &scratch));
        assert_eq!(below(&mut prober, 8), Some(false), "red zone");
        assert_eq!(below(&mut prober, 4096), Some(false), "a frame's array");
        assert_eq!(below(&mut prober, 5535), Some(false), "just above the data");
        assert_eq!(below(&mut prober, 5536), Some(true), "the data segment");
        assert_eq!(below(&mut prober, 20000), Some(true), "past 16 KiB");
        assert_eq!(outside(&prober.run(1, &[ProbeArg::I32(0)], &scratch)), None);
        match prober.run(2, &[ProbeArg::I32(0)], &scratch) {
            ProbeRun::Returned { results, .. } => assert_eq!(results[0], 65536, "put back"),
            ProbeRun::Failed => panic!("sp"),
        }
    }
}
