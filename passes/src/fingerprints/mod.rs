//! Fingerprints: pure functions from a loop's facts to a match, or to the reason it
//! is not one. Each starts with a cheap reject before anything expensive.

pub mod attention;
pub mod brotli;
pub mod bytes;
pub mod checksum;
pub mod conv;
pub mod elementwise;
pub mod gemm;
pub mod lz4;
pub mod quantize;
pub mod reduction;
pub mod search;
pub mod softmax;
pub mod stencil;
pub mod types;
pub mod zstd;

/// Why a loop is not a match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoMatch {
    /// Nothing like this pattern: say nothing in the report.
    Unrelated,
    /// A near miss: it looks like `pattern`, but `reason` rules it out.
    Declined {
        /// The pattern it resembles.
        pattern: &'static str,
        /// What rules it out.
        reason: String,
    },
}

impl NoMatch {
    /// A near miss of `pattern`.
    pub fn declined(pattern: &'static str, reason: impl Into<String>) -> NoMatch {
        NoMatch::Declined {
            pattern,
            reason: reason.into(),
        }
    }
}

/// The C library functions (imported from `env` by C built with `-nostdlib`) that
/// probes and `--verify` run for real: memory fills and copies, f32 rounding.
pub const LIBC_PURE: [&str; 10] = [
    "memset",
    "memcpy",
    "memmove",
    "roundf",
    "rintf",
    "nearbyintf",
    "floorf",
    "ceilf",
    "truncf",
    "lrintf",
];

/// Whether `func` is an import of one of [`LIBC_PURE`] from `env`.
pub fn is_libc_pure(module: &walrus::Module, func: walrus::FunctionId) -> bool {
    match &module.funcs.get(func).kind {
        walrus::FunctionKind::Import(i) => {
            let import = module.imports.get(i.import);
            import.module == "env" && LIBC_PURE.contains(&import.name.as_str())
        }
        _ => false,
    }
}

/// Whether `func` touches nothing a probe run cannot see or undo: no calls (except,
/// when `calls`, imports of [`LIBC_PURE`], which probes run for real, and local
/// functions without `unreachable` that are probe-safe themselves, a few calls
/// deep, such as a compiler runtime's `memcpy`: never a panic path, whose
/// conditions the probes do not model), no global writes, memory growth, atomics,
/// table or segment operations, exceptions; stores only when `stores`.
/// Whole-function fingerprints that identify by probing start with it.
pub fn probe_safe(
    module: &walrus::Module,
    func: &walrus::LocalFunction,
    stores: bool,
    calls: bool,
) -> bool {
    probe_safe_within(module, func, stores, calls.then_some(3), None)
}

/// [`probe_safe`] with stores and calls, and writes to the C stack pointer
/// (`__stack_pointer`, by name) allowed too: functions with a stack frame (a
/// variable-length array, a local array). A run that returns has put it back; the
/// prober puts it back after a run that traps.
pub fn probe_safe_with_frame(module: &walrus::Module, func: &walrus::LocalFunction) -> bool {
    probe_safe_within(module, func, true, Some(3), stack_pointer(module))
}

/// The C stack pointer: the mutable i32 global named `__stack_pointer`.
pub fn stack_pointer(module: &walrus::Module) -> Option<walrus::GlobalId> {
    module
        .globals
        .iter()
        .find(|g| {
            g.name.as_deref() == Some("__stack_pointer")
                && g.mutable
                && g.ty == walrus::ValType::I32
                && matches!(g.kind, walrus::GlobalKind::Local(_))
        })
        .map(|g| g.id())
}

/// [`probe_safe`], with calls allowed `depth` deep (none when `None`) and writes
/// to `stack` (the stack pointer) allowed when given.
fn probe_safe_within(
    module: &walrus::Module,
    func: &walrus::LocalFunction,
    stores: bool,
    depth: Option<u32>,
    stack: Option<walrus::GlobalId>,
) -> bool {
    use walrus::ir::Instr;
    let callee_safe = |callee: walrus::FunctionId| match (&module.funcs.get(callee).kind, depth) {
        (_, None) => false,
        (walrus::FunctionKind::Local(local), Some(d)) => {
            d > 0
                && !crate::passes::simd_elementwise::instructions(local)
                    .any(|i| matches!(i, Instr::Unreachable(_)))
                && probe_safe_within(module, local, stores, Some(d - 1), stack)
        }
        _ => is_libc_pure(module, callee),
    };
    crate::passes::simd_elementwise::instructions(func).all(|instr| match instr {
        Instr::Call(c) => callee_safe(c.func),
        Instr::Store(_) | Instr::MemoryCopy(_) | Instr::MemoryFill(_) => stores,
        Instr::GlobalSet(g) if Some(g.global) == stack => true,
        Instr::CallIndirect(_)
        | Instr::ReturnCall(_)
        | Instr::ReturnCallIndirect(_)
        | Instr::CallRef(_)
        | Instr::ReturnCallRef(_)
        | Instr::GlobalSet(_)
        | Instr::MemoryGrow(_)
        | Instr::MemoryInit(_)
        | Instr::AtomicRmw(_)
        | Instr::Cmpxchg(_)
        | Instr::AtomicNotify(_)
        | Instr::AtomicWait(_)
        | Instr::AtomicFence(_)
        | Instr::TableSet(_)
        | Instr::TableGrow(_)
        | Instr::TableFill(_)
        | Instr::TableInit(_)
        | Instr::TableCopy(_)
        | Instr::ElemDrop(_)
        | Instr::DataDrop(_)
        | Instr::Throw(_)
        | Instr::Rethrow(_)
        | Instr::Try(_)
        | Instr::TryTable(_)
        | Instr::ThrowRef(_) => false,
        _ => true,
    })
}
