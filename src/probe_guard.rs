//! Store guards for the prober's copy of a module: every instruction that writes
//! memory first checks its range against two windows the prober sets before each
//! run (the scratch region, and the red zone below the stack pointer) and, when
//! the range lies in neither, sets a flag. The prober then knows whether a run
//! wrote outside the scratch region without comparing the memory below it
//! (16 MiB for an emscripten module) after every run, and restores that memory
//! only when the flag says so.
//!
//! Exported (with the prober's prefix): `outside` (i32, set to 1 by a write
//! outside both windows; the prober clears it), `lo`, `hi` (the scratch window,
//! `[lo, hi)`, i64) and `zone_lo`, `zone_hi` (the red zone). A write of zero
//! bytes (`memory.fill`, `memory.copy`, `memory.init` with a length of 0)
//! writes nothing and passes.
//!
//! `dirty_lo`, `dirty_hi` (i64) bound what the writes outside the windows
//! touched, `[dirty_lo, dirty_hi)`, so that the prober restores only that.
//! Atomic read-modify-writes and compare-exchanges are guarded as stores.
//!
//! Not guarded (the prober falls back to comparing memory): modules with more
//! than one memory or a 64-bit memory.

use walrus::ir::{
    AtomicWidth, BinaryOp, Instr, InstrLocId, InstrSeqId, LoadSimdKind, MemArg, StoreKind, UnaryOp,
    Value,
};
use walrus::{GlobalId, LocalFunction, LocalId, Module, ValType};

/// The flag and the window globals.
#[derive(Clone, Copy)]
struct Globals {
    outside: GlobalId,
    /// The range the writes outside the windows touched: `[dirty_lo, dirty_hi)`.
    dirty_lo: GlobalId,
    dirty_hi: GlobalId,
    lo: GlobalId,
    hi: GlobalId,
    zone_lo: GlobalId,
    zone_hi: GlobalId,
}

/// The names the globals are exported under, after the prefix.
pub(crate) const OUTSIDE: &str = "outside";
pub(crate) const WINDOWS: [&str; 4] = ["lo", "hi", "zone_lo", "zone_hi"];
pub(crate) const DIRTY: [&str; 2] = ["dirty_lo", "dirty_hi"];

/// Guards every memory write of `module`'s functions and exports the globals
/// (`prefix` + name); `false` (and the module unchanged) where it cannot.
pub(crate) fn guard_stores(module: &mut Module, prefix: &str) -> bool {
    if module.memories.len() != 1 || module.memories.iter().any(|m| m.memory64) {
        return false;
    }
    let funcs: Vec<walrus::FunctionId> = module.funcs.iter_local().map(|(id, _)| id).collect();
    let mut add = |ty, name: &str| {
        let init = match ty {
            ValType::I32 => walrus::ConstExpr::Value(Value::I32(0)),
            _ => walrus::ConstExpr::Value(Value::I64(0)),
        };
        let id = module.globals.add_local(ty, true, false, init);
        module.exports.add(&format!("{prefix}{name}"), id);
        id
    };
    let globals = Globals {
        outside: add(ValType::I32, OUTSIDE),
        dirty_lo: add(ValType::I64, DIRTY[0]),
        dirty_hi: add(ValType::I64, DIRTY[1]),
        lo: add(ValType::I64, WINDOWS[0]),
        hi: add(ValType::I64, WINDOWS[1]),
        zone_lo: add(ValType::I64, WINDOWS[2]),
        zone_hi: add(ValType::I64, WINDOWS[3]),
    };
    for f in funcs {
        let locals = Locals {
            expected: [ValType::I32, ValType::I64].map(|ty| module.locals.add(ty)),
            addr: module.locals.add(ValType::I32),
            count: module.locals.add(ValType::I32),
            start: module.locals.add(ValType::I64),
            len: module.locals.add(ValType::I64),
            values: [
                ValType::I32,
                ValType::I64,
                ValType::F32,
                ValType::F64,
                ValType::V128,
            ]
            .map(|ty| module.locals.add(ty)),
        };
        let local = module.funcs.get_mut(f).kind.unwrap_local_mut();
        for seq in sequences(local) {
            let old = std::mem::take(&mut local.block_mut(seq).instrs);
            let mut new = Vec::with_capacity(old.len());
            for (instr, loc) in old {
                guard(&instr, loc, &locals, globals, local.builder_mut(), &mut new);
                new.push((instr, loc));
            }
            local.block_mut(seq).instrs = new;
        }
    }
    true
}

/// The locals a function's guards use.
struct Locals {
    /// The expected operand of a compare-exchange (i32, i64).
    expected: [LocalId; 2],
    addr: LocalId,
    /// The length operand of a bulk write.
    count: LocalId,
    start: LocalId,
    len: LocalId,
    /// One per stored value type: i32, i64, f32, f64, v128.
    values: [LocalId; 5],
}

impl Locals {
    fn value(&self, ty: ValType) -> LocalId {
        match ty {
            ValType::I32 => self.values[0],
            ValType::I64 => self.values[1],
            ValType::F32 => self.values[2],
            ValType::F64 => self.values[3],
            _ => self.values[4],
        }
    }
}

/// The function's instruction sequences: its body and every nested block.
fn sequences(local: &LocalFunction) -> Vec<InstrSeqId> {
    let mut out = vec![local.entry_block()];
    let mut i = 0;
    while i < out.len() {
        for (instr, _) in &local.block(out[i]).instrs {
            match instr {
                Instr::Block(b) => out.push(b.seq),
                Instr::Loop(l) => out.push(l.seq),
                Instr::IfElse(e) => {
                    out.push(e.consequent);
                    out.push(e.alternative);
                }
                _ => {}
            }
        }
        i += 1;
    }
    out
}

/// The stored value's type of a store.
fn stored_type(kind: StoreKind) -> ValType {
    match kind {
        StoreKind::I32 { .. } | StoreKind::I32_8 { .. } | StoreKind::I32_16 { .. } => ValType::I32,
        StoreKind::I64 { .. }
        | StoreKind::I64_8 { .. }
        | StoreKind::I64_16 { .. }
        | StoreKind::I64_32 { .. } => ValType::I64,
        StoreKind::F32 => ValType::F32,
        StoreKind::F64 => ValType::F64,
        StoreKind::V128 => ValType::V128,
    }
}

/// Pushes onto `out`, before `instr`, the guard of the write it makes, if any.
/// The guard takes the instruction's operands off the stack, checks, and puts
/// them back.
fn guard(
    instr: &Instr,
    loc: InstrLocId,
    l: &Locals,
    g: Globals,
    b: &mut walrus::FunctionBuilder,
    out: &mut Vec<(Instr, InstrLocId)>,
) {
    let mut emit = |i: Instr| out.push((i, loc));
    let lane = |kind: LoadSimdKind| match kind {
        LoadSimdKind::V128Store8Lane(_) => Some(1),
        LoadSimdKind::V128Store16Lane(_) => Some(2),
        LoadSimdKind::V128Store32Lane(_) => Some(4),
        LoadSimdKind::V128Store64Lane(_) => Some(8),
        _ => None,
    };
    // (address operand, value local, bytes, offset) of a fixed-size store.
    let atomic_type = |w: AtomicWidth| match w {
        AtomicWidth::I32 | AtomicWidth::I32_8 | AtomicWidth::I32_16 => ValType::I32,
        _ => ValType::I64,
    };
    // (value local, the expected operand's local for a compare-exchange,
    // bytes, offset) of a fixed-size write.
    let fixed = match instr {
        Instr::Store(s) => Some((l.value(stored_type(s.kind)), None, s.kind.width(), s.arg)),
        Instr::LoadSimd(s) => lane(s.kind).map(|w| (l.value(ValType::V128), None, w, s.arg)),
        Instr::AtomicRmw(a) => Some((l.value(atomic_type(a.width)), None, a.width.bytes(), a.arg)),
        Instr::Cmpxchg(c) => {
            let ty = atomic_type(c.width);
            let expected = l.expected[usize::from(ty == ValType::I64)];
            Some((l.value(ty), Some(expected), c.width.bytes(), c.arg))
        }
        _ => None,
    };
    if let Some((value, expected, width, MemArg { offset, .. })) = fixed {
        // [addr, (expected,) value] -> check -> [addr, (expected,) value]
        emit(set(value));
        if let Some(e) = expected {
            emit(set(e));
        }
        emit(tee(l.addr));
        emit(Instr::Unop(walrus::ir::Unop {
            op: UnaryOp::I64ExtendUI32,
        }));
        emit(i64c(offset as i64));
        emit(bin(BinaryOp::I64Add));
        emit(set(l.start));
        emit(i64c(width as i64));
        emit(set(l.len));
        check(l, g, b, &mut emit);
        emit(get(l.addr));
        if let Some(e) = expected {
            emit(get(e));
        }
        emit(get(value));
        return;
    }
    // memory.fill [dst, value, n], memory.copy [dst, src, n], memory.init
    // [dst, offset, n]: the range written is [dst, dst + n).
    if matches!(
        instr,
        Instr::MemoryFill(_) | Instr::MemoryCopy(_) | Instr::MemoryInit(_)
    ) {
        let middle = l.value(ValType::I32);
        emit(set(l.count));
        emit(set(middle));
        emit(tee(l.addr));
        emit(Instr::Unop(walrus::ir::Unop {
            op: UnaryOp::I64ExtendUI32,
        }));
        emit(set(l.start));
        emit(get(l.count));
        emit(Instr::Unop(walrus::ir::Unop {
            op: UnaryOp::I64ExtendUI32,
        }));
        emit(set(l.len));
        check(l, g, b, &mut emit);
        emit(get(l.addr));
        emit(get(middle));
        emit(get(l.count));
    }
}

/// The check of `[start, start + len)`: in the scratch window (the common case,
/// ~12 instructions), else in the red zone or empty, else a write outside:
/// `outside = 1` and the dirty range widened to cover it.
fn check(l: &Locals, g: Globals, b: &mut walrus::FunctionBuilder, emit: &mut impl FnMut(Instr)) {
    let within = |lo, hi| {
        [
            get(l.start),
            gget(lo),
            bin(BinaryOp::I64GeU),
            get(l.start),
            get(l.len),
            bin(BinaryOp::I64Add),
            gget(hi),
            bin(BinaryOp::I64LeU),
            bin(BinaryOp::I32And),
        ]
    };
    let mut mark = b.dangling_instr_seq(None);
    for i in [
        Instr::Const(walrus::ir::Const {
            value: Value::I32(1),
        }),
        Instr::GlobalSet(walrus::ir::GlobalSet { global: g.outside }),
        // dirty_lo = min(dirty_lo, start), dirty_hi = max(dirty_hi, start + len)
        get(l.start),
        gget(g.dirty_lo),
        get(l.start),
        gget(g.dirty_lo),
        bin(BinaryOp::I64LtU),
        Instr::Select(walrus::ir::Select { ty: None }),
        Instr::GlobalSet(walrus::ir::GlobalSet { global: g.dirty_lo }),
        get(l.start),
        get(l.len),
        bin(BinaryOp::I64Add),
        tee(l.start),
        gget(g.dirty_hi),
        get(l.start),
        gget(g.dirty_hi),
        bin(BinaryOp::I64GtU),
        Instr::Select(walrus::ir::Select { ty: None }),
        Instr::GlobalSet(walrus::ir::GlobalSet { global: g.dirty_hi }),
    ] {
        mark.instr(i);
    }
    let mark = mark.id();
    let no_zone = b.dangling_instr_seq(None).id();
    let mut zone = b.dangling_instr_seq(None);
    for i in within(g.zone_lo, g.zone_hi) {
        zone.instr(i);
    }
    zone.instr(get(l.len))
        .instr(un(UnaryOp::I64Eqz))
        .instr(bin(BinaryOp::I32Or))
        .instr(un(UnaryOp::I32Eqz))
        .instr(Instr::IfElse(walrus::ir::IfElse {
            consequent: mark,
            alternative: no_zone,
        }));
    let zone = zone.id();
    let in_scratch = b.dangling_instr_seq(None).id();
    for i in within(g.lo, g.hi) {
        emit(i);
    }
    emit(un(UnaryOp::I32Eqz));
    emit(Instr::IfElse(walrus::ir::IfElse {
        consequent: zone,
        alternative: in_scratch,
    }));
}

fn un(op: UnaryOp) -> Instr {
    Instr::Unop(walrus::ir::Unop { op })
}

fn get(local: LocalId) -> Instr {
    Instr::LocalGet(walrus::ir::LocalGet { local })
}
fn set(local: LocalId) -> Instr {
    Instr::LocalSet(walrus::ir::LocalSet { local })
}
fn tee(local: LocalId) -> Instr {
    Instr::LocalTee(walrus::ir::LocalTee { local })
}
fn gget(global: GlobalId) -> Instr {
    Instr::GlobalGet(walrus::ir::GlobalGet { global })
}
fn i64c(v: i64) -> Instr {
    Instr::Const(walrus::ir::Const {
        value: Value::I64(v),
    })
}
fn bin(op: BinaryOp) -> Instr {
    Instr::Binop(walrus::ir::Binop { op })
}
