//! Code for a search loop (`find`): a skip loop in front of the original.
//!
//! Each round of the skip loop looks at the next block of `V` iterations. It
//! leaves (to the original loop, which then runs from the block's first
//! iteration) as soon as anything might happen in the block: a load's range
//! not wholly inside memory, a count exit that might fire (closed form on the
//! induction variables), or an exit on loaded elements whose lanes fire in any
//! iteration (`v128.any_true`). Otherwise nothing happens in those iterations
//! but the induction variables' steps, and the round advances them by `V`
//! steps. The original loop finds the exit, its values and any trap itself, so
//! locals and everything after the loop see exactly what they saw before.

use super::map::{emit_entry_value, emit_memory_bytes};
use crate::analysis::value_graph::LoopBody;
use crate::fingerprints::search::{CountExit, FindMatch, LaneValue, Truth};
use walrus::ir::{BinaryOp, Block, InstrSeqId, LoadKind, MemArg, UnaryOp, Value};
use walrus::{FunctionId, InstrSeqBuilder, LocalId, Module, ValType};

/// What the emitter holds while writing the skip loop.
struct Emit<'a> {
    body: &'a LoopBody,
    m: &'a FindMatch,
    /// Lane 0's address of each load, this round.
    addrs: Vec<LocalId>,
    /// Each invariant's splat.
    splats: Vec<LocalId>,
}

/// The `splat` for an invariant of `ty` in lanes of `width` bytes.
fn splat_op(width: u32, ty: ValType) -> UnaryOp {
    match (width, ty) {
        (1, _) => UnaryOp::I8x16Splat,
        (2, _) => UnaryOp::I16x8Splat,
        (_, ValType::F32) => UnaryOp::F32x4Splat,
        (_, ValType::F64) => UnaryOp::F64x2Splat,
        (_, ValType::I64) => UnaryOp::I64x2Splat,
        _ => UnaryOp::I32x4Splat,
    }
}

/// The lanes' "not zero" comparison.
fn nonzero_op(width: u32) -> BinaryOp {
    match width {
        1 => BinaryOp::I8x16Ne,
        2 => BinaryOp::I16x8Ne,
        4 => BinaryOp::I32x4Ne,
        _ => BinaryOp::I64x2Ne,
    }
}

impl Emit<'_> {
    /// Pushes the lanes of `v` for vector `g` of the block.
    fn value(&self, v: &LaneValue, g: u32, seq: &mut InstrSeqBuilder) {
        match v {
            LaneValue::Load(i) => {
                let load = &self.m.loads[*i];
                seq.local_get(self.addrs[*i]);
                if load.step < 0 {
                    // Lanes in reverse order; every lane load of the block runs the
                    // same way, so lane `l` is the same iteration in all of them.
                    let back = (self.m.iterations as i64 - 1) * load.step.abs();
                    seq.i32_const(back as i32).binop(BinaryOp::I32Sub);
                }
                seq.load(
                    self.m.memory,
                    LoadKind::V128,
                    MemArg {
                        align: 1,
                        offset: load.offset + 16 * g as u64,
                    },
                );
            }
            LaneValue::Splat(i) => {
                seq.local_get(self.splats[*i]);
            }
            LaneValue::Unop(op, a) => {
                self.value(a, g, seq);
                seq.unop(*op);
            }
            LaneValue::Binop(op, a, b) => {
                self.value(a, g, seq);
                self.value(b, g, seq);
                seq.binop(*op);
            }
            LaneValue::Shift(op, a, amount) => {
                self.value(a, g, seq);
                seq.i32_const(*amount).binop(*op);
            }
        }
    }

    /// Pushes the mask of lanes where `t` holds, for vector `g`.
    fn truth(&self, t: &Truth, g: u32, seq: &mut InstrSeqBuilder) {
        match t {
            Truth::Compare(op, a, b) => {
                self.value(a, g, seq);
                self.value(b, g, seq);
                seq.binop(*op);
            }
            Truth::NonZero(a) => {
                self.value(a, g, seq);
                seq.const_(Value::V128(0)).binop(nonzero_op(self.m.width));
            }
            Truth::Not(a) => {
                self.truth(a, g, seq);
                seq.unop(UnaryOp::V128Not);
            }
            Truth::And(a, b) => {
                self.truth(a, g, seq);
                self.truth(b, g, seq);
                seq.binop(BinaryOp::V128And);
            }
            Truth::Or(a, b) => {
                self.truth(a, g, seq);
                self.truth(b, g, seq);
                seq.binop(BinaryOp::V128Or);
            }
        }
    }

    /// Pushes 1 if count exit `c` might fire in an iteration of the block,
    /// else 0.
    fn count_exit(&self, c: &CountExit, temps: (LocalId, LocalId), seq: &mut InstrSeqBuilder) {
        use BinaryOp::*;
        let v = self.m.iterations as i64;
        let operand = |n: Option<_>, seq: &mut InstrSeqBuilder| match n {
            Some(n) => emit_entry_value(self.body, n, seq),
            None => {
                seq.i32_const(0);
            }
        };
        // On the stack: the comparison's truth; leaves whether it is not `stay`.
        let fires = |seq: &mut InstrSeqBuilder| {
            if c.stay {
                seq.unop(UnaryOp::I32Eqz);
            }
        };
        let d = crate::analysis::affine::wrap32(c.step_a - c.step_b);
        if d == 0 {
            // The same outcome in every iteration of the block.
            operand(c.a, seq);
            operand(c.b, seq);
            seq.binop(c.op);
            fires(seq);
            return;
        }
        if matches!(c.op, I32Eq | I32Ne) {
            // a - b takes (a0 - b0) + j * d: it is 0 in some iteration j < V
            // exactly when (b0 - a0) (d > 0) or (a0 - b0) (d < 0) is one of
            // 0, |d|, ..., (V - 1) * |d| (no wrap: (V - 1) * |d| < 2^31).
            if d > 0 {
                operand(c.b, seq);
                operand(c.a, seq);
            } else {
                operand(c.a, seq);
                operand(c.b, seq);
            }
            seq.binop(I32Sub)
                .i32_const(((v - 1) * d.abs()) as i32)
                .binop(I32LeU);
            return;
        }
        // An ordered comparison with one side moving: it may fire if the
        // moving side wraps within the block (in the comparison's signedness)
        // or if either end does not stay (in between it is monotonic).
        let signed = matches!(c.op, I32LtS | I32GtS | I32LeS | I32GeS);
        let (moving, step) = if c.step_a != 0 {
            (c.a, c.step_a)
        } else {
            (c.b, c.step_b)
        };
        let (first, last) = temps;
        operand(moving, seq);
        seq.local_tee(first)
            .i32_const(((v - 1) * step) as i32)
            .binop(I32Add)
            .local_tee(last)
            .local_get(first);
        let wrapped = match (step > 0, signed) {
            (true, true) => I32LeS,
            (true, false) => I32LeU,
            (false, true) => I32GeS,
            (false, false) => I32GeU,
        };
        seq.binop(wrapped);
        for end in [first, last] {
            if c.step_a != 0 {
                seq.local_get(end);
                operand(c.b, seq);
            } else {
                operand(c.a, seq);
                seq.local_get(end);
            }
            seq.binop(c.op);
            fires(seq);
            seq.binop(I32Or);
        }
    }
}

/// Puts the skip loop for `m` in front of the loop at `position` of `parent_seq`.
pub fn insert_skip(
    module: &mut Module,
    func: FunctionId,
    parent_seq: InstrSeqId,
    position: usize,
    body: &LoopBody,
    m: &FindMatch,
) {
    use BinaryOp::*;
    let Module { funcs, locals, .. } = module;
    let memory_bytes = locals.add(ValType::I64);
    let addrs: Vec<LocalId> = m.loads.iter().map(|_| locals.add(ValType::I32)).collect();
    let limits: Vec<LocalId> = m.loads.iter().map(|_| locals.add(ValType::I32)).collect();
    let splats: Vec<LocalId> = m
        .invariants
        .iter()
        .map(|_| locals.add(ValType::V128))
        .collect();
    let temps = (locals.add(ValType::I32), locals.add(ValType::I32));
    let scratch = locals.add(ValType::I64);
    let builder = funcs.get_mut(func).kind.unwrap_local_mut().builder_mut();
    let done = builder.dangling_instr_seq(None).id();
    let skip = builder.dangling_instr_seq(None).id();
    let e = Emit {
        body,
        m,
        addrs,
        splats,
    };
    let v = m.iterations as i64;

    let mut seq = builder.instr_seq(done);
    // Invariants the lanes compare with, in range and splatted.
    for (inv, splat) in m.invariants.iter().zip(&e.splats) {
        if let Some((lo, hi)) = inv.range {
            emit_entry_value(body, inv.node, &mut seq);
            seq.i32_const(lo as i32)
                .binop(I32Sub)
                .i32_const((hi - lo) as i32)
                .binop(I32GtU)
                .br_if(done);
        }
        emit_entry_value(body, inv.node, &mut seq);
        seq.unop(splat_op(m.width, inv.ty)).local_set(*splat);
    }
    // The highest lane-0 address of each load whose block lies inside memory.
    emit_memory_bytes(m.memory, memory_bytes, &mut seq);
    for (load, limit) in m.loads.iter().zip(&limits) {
        let span = if load.step >= 0 {
            (v - 1) * load.step + load.width as i64
        } else {
            load.width as i64
        };
        seq.local_get(memory_bytes)
            .i64_const(load.offset as i64 + span)
            .binop(I64Sub)
            .local_tee(scratch)
            .i64_const(0)
            .binop(I64LtS)
            .br_if(done)
            .local_get(scratch)
            .unop(UnaryOp::I32WrapI64)
            .local_set(*limit);
    }
    seq.instr(walrus::ir::Loop { seq: skip });

    let mut round = builder.instr_seq(skip);
    for ((load, addr), limit) in m.loads.iter().zip(&e.addrs).zip(&limits) {
        emit_entry_value(body, load.addr, &mut round);
        round
            .local_tee(*addr)
            .local_get(*limit)
            .binop(I32GtU)
            .br_if(done);
        if load.step < 0 {
            round
                .local_get(*addr)
                .i32_const(((v - 1) * -load.step) as i32)
                .binop(I32LtU)
                .br_if(done);
        }
    }
    for c in &m.count_exits {
        e.count_exit(c, temps, &mut round);
        round.br_if(done);
    }
    // The exits on elements: those without a gate in one `any_true`, each gated
    // one in its own, and-ed with its gate.
    let groups = (v as u32 * m.width) / 16;
    let any_true = |t: &Truth, round: &mut InstrSeqBuilder| {
        for g in 0..groups {
            e.truth(t, g, round);
            if g > 0 {
                round.binop(V128Or);
            }
        }
    };
    let mut first = true;
    for exit in m.lane_exits.iter().filter(|x| x.gate.is_none()) {
        any_true(&exit.truth, &mut round);
        if !first {
            round.binop(V128Or);
        }
        first = false;
    }
    if !first {
        round.unop(UnaryOp::V128AnyTrue).br_if(done);
    }
    for exit in &m.lane_exits {
        if let Some(gate) = &exit.gate {
            any_true(&exit.truth, &mut round);
            round.unop(UnaryOp::V128AnyTrue);
            e.count_exit(gate, temps, &mut round);
            round.binop(I32And).br_if(done);
        }
    }
    for (local, step) in &m.steps {
        round
            .local_get(*local)
            .i32_const((v * step) as i32)
            .binop(I32Add)
            .local_set(*local);
    }
    round.br(skip);
    builder
        .instr_seq(parent_seq)
        .instr_at(position, Block { seq: done });
}
