//! Code for an elementwise match: an injected SIMD128 kernel, and the guard that
//! runs it in front of the original loop.
//!
//! The guard computes the trip count `T` at loop entry. When the closed form is
//! exact, the iterations are enough to pay, every accessed range lies inside memory
//! and the written range overlaps no read range (or is exactly in place), it calls
//! the kernel for the first `T - 1` iterations and advances every induction
//! variable by `T - 1` steps. The original loop then runs the last iteration and its
//! exit test, so locals, the exit path and everything after the loop see exactly
//! what they saw before. When any check fails the original loop runs unchanged,
//! traps and partial writes included.

use super::simd::{self, nonzero_mask, Repr, VectorBinop, VectorUnop};
use crate::analysis::trip_count::{has_bound, Predicate, TripCount};
use crate::analysis::value_graph::{ExitTest, LoopBody, Node};
use crate::fingerprints::bytes::Overlap;
use crate::fingerprints::elementwise::{Access, MapMatch};
use crate::fingerprints::types::Lanes;
use petgraph::graph::NodeIndex;
use std::collections::HashMap;
use walrus::ir::{BinaryOp, Block, InstrSeqId, LoadKind, MemArg, UnaryOp, Value};
use walrus::{
    FunctionBuilder, FunctionId, InstrSeqBuilder, LocalId, Module, ModuleLocals, ValType,
};

/// Fewest elements worth the guard and call (below it the original loop runs).
pub const MIN_ELEMENTS: i64 = 16;

/// Emits the scalar value of a load-free node as it is at loop entry (phis read the
/// locals' current values).
pub fn emit_entry_value(body: &LoopBody, node: NodeIndex, seq: &mut InstrSeqBuilder) {
    let operands = body.operands(node);
    for op in &operands {
        emit_entry_value(body, *op, seq);
    }
    match &body.graph[node] {
        Node::Phi(local) => {
            seq.local_get(*local);
        }
        Node::Const(value) => {
            seq.const_(*value);
        }
        Node::GlobalGet(global) => {
            seq.global_get(*global);
        }
        Node::Unop(op) => {
            seq.unop(*op);
        }
        Node::Binop(op) => {
            seq.binop(*op);
        }
        Node::Select => {
            seq.select(None);
        }
        // A hoisted invariant load (`LoopBody::hoist_loads`; the guard has checked
        // its bounds). Matches hand over no other load.
        Node::Load {
            kind, arg, memory, ..
        } if body.is_invariant(node) => {
            seq.load(*memory, *kind, *arg);
        }
        Node::Load { .. } | Node::Opaque => {
            seq.unreachable();
        }
    }
}

pub(crate) fn splat(ty: ValType) -> Option<UnaryOp> {
    Some(match ty {
        ValType::I32 => UnaryOp::I32x4Splat,
        ValType::I64 => UnaryOp::I64x2Splat,
        ValType::F32 => UnaryOp::F32x4Splat,
        ValType::F64 => UnaryOp::F64x2Splat,
        _ => return None,
    })
}

pub(crate) fn splat_const(value: Value) -> Value {
    let bits: u128 = match value {
        Value::I32(v) => (v as u32 as u128) * 0x0000_0001_0000_0001_0000_0001_0000_0001,
        Value::F32(v) => (v.to_bits() as u128) * 0x0000_0001_0000_0001_0000_0001_0000_0001,
        Value::I64(v) => (v as u64 as u128) * ((1u128 << 64) | 1),
        Value::F64(v) => (v.to_bits() as u128) * ((1u128 << 64) | 1),
        Value::V128(v) => v,
    };
    Value::V128(bits)
}

pub(crate) fn lane_splat(lanes: Lanes, scalar: u64) -> Value {
    match lanes {
        Lanes::F32x4 | Lanes::I32x4 => splat_const(Value::I32(scalar as i32)),
        Lanes::F64x2 | Lanes::I64x2 => splat_const(Value::I64(scalar as i64)),
    }
}

/// State for emitting one lane expression inside the kernel.
pub(crate) struct KernelCx<'a> {
    pub(crate) body: &'a LoopBody,
    pub(crate) lanes: Lanes,
    /// Invariant node -> (scalar parameter, splatted local).
    pub(crate) invariants: HashMap<NodeIndex, (LocalId, LocalId)>,
    /// Load node -> its stream's cursor (the address of the current element).
    pub(crate) load_base: HashMap<NodeIndex, LocalId>,
    /// Splatted constants, set before the loops: bit pattern -> local.
    pub(crate) constants: HashMap<u128, LocalId>,
    /// Nodes used more than once, cached in locals once computed.
    pub(crate) shared: HashMap<(NodeIndex, bool, Repr), LocalId>,
    pub(crate) use_counts: HashMap<NodeIndex, u32>,
    /// Bytes per element of the streams (the lane width unless widening).
    pub(crate) elem_bytes: u32,
    /// Elements one pass of the vector loop consumes (the lane count unless the
    /// kernel unrolls or widens).
    pub(crate) per_vector: u32,
    /// Added to every load's address: which 16-byte chunk of the current vector
    /// iteration is being computed.
    pub(crate) chunk_offset: u32,
    /// Vector loads of 8- and 16-bit elements read four of them, extended to i32x4
    /// lanes as the scalar load extends one (widening sums).
    pub(crate) widen: bool,
}

impl KernelCx<'_> {
    /// Pushes the address of the current element of the stream whose cursor is `cursor`.
    fn element_address(&self, seq: &mut InstrSeqBuilder, cursor: LocalId) {
        seq.local_get(cursor);
    }

    /// Memory-argument offset of the current chunk.
    fn chunk(&self, align: u32) -> MemArg {
        MemArg {
            align,
            offset: self.chunk_offset as u64,
        }
    }

    /// Pushes a v128 constant, from its hoisted local when there is one.
    fn vector_const(&self, seq: &mut InstrSeqBuilder, value: Value) {
        let bits = match value {
            Value::V128(bits) => bits,
            _ => 0,
        };
        match self.constants.get(&bits) {
            Some(local) => seq.local_get(*local),
            None => seq.const_(value),
        };
    }

    pub(crate) fn emit(
        &mut self,
        locals: &mut ModuleLocals,
        seq: &mut InstrSeqBuilder,
        node: NodeIndex,
        vector: bool,
        repr: Repr,
    ) {
        let key = (node, vector, repr);
        if let Some(local) = self.shared.get(&key) {
            seq.local_get(*local);
            return;
        }
        self.emit_uncached(locals, seq, node, vector, repr);
        if self.use_counts.get(&node).copied().unwrap_or(0) > 1 {
            let ty = if vector {
                ValType::V128
            } else {
                scalar_type_of_repr(self, node)
            };
            let local = locals.add(ty);
            seq.local_tee(local);
            self.shared.insert(key, local);
        }
    }

    fn emit_uncached(
        &mut self,
        locals: &mut ModuleLocals,
        seq: &mut InstrSeqBuilder,
        node: NodeIndex,
        vector: bool,
        repr: Repr,
    ) {
        let body = self.body;
        let lanes = self.lanes;
        let zero = self.constants.get(&0).copied();
        let to_mask = |seq: &mut InstrSeqBuilder| {
            // Value -> mask: lanes != 0. (Planning allows this only where it exists.)
            if let Some(ne) = nonzero_mask(lanes) {
                match zero {
                    Some(local) => seq.local_get(local),
                    None => seq.const_(Value::V128(0)),
                };
                seq.binop(ne);
            }
        };
        if let Some((scalar, splatted)) = self.invariants.get(&node).copied() {
            seq.local_get(if vector { splatted } else { scalar });
            if vector && repr == Repr::Mask {
                to_mask(seq);
            }
            return;
        }
        match body.graph[node].clone() {
            Node::Const(value) => {
                if vector {
                    self.vector_const(seq, splat_const(value));
                    if repr == Repr::Mask {
                        to_mask(seq);
                    }
                } else {
                    seq.const_(value);
                }
            }
            Node::Load {
                kind, arg, memory, ..
            } => {
                let base = self.load_base[&node];
                self.element_address(seq, base);
                if vector && self.widen && kind.width() < 4 {
                    // Four elements, exactly the bytes the four iterations read,
                    // extended as the scalar load extends one.
                    use walrus::ir::{ExtendedLoad, LoadSimdKind};
                    let signed = matches!(
                        kind,
                        LoadKind::I32_8 {
                            kind: ExtendedLoad::SignExtend
                        } | LoadKind::I32_16 {
                            kind: ExtendedLoad::SignExtend
                        }
                    );
                    let (load, widen): (LoadSimdKind, &[UnaryOp]) = match (kind.width(), signed) {
                        (1, false) => (
                            LoadSimdKind::V128Load32Zero,
                            &[UnaryOp::I16x8WidenLowI8x16U, UnaryOp::I32x4WidenLowI16x8U],
                        ),
                        (1, true) => (
                            LoadSimdKind::V128Load32Zero,
                            &[UnaryOp::I16x8WidenLowI8x16S, UnaryOp::I32x4WidenLowI16x8S],
                        ),
                        (_, false) => (LoadSimdKind::V128Load16x4U, &[]),
                        (_, true) => (LoadSimdKind::V128Load16x4S, &[]),
                    };
                    seq.load_simd(memory, load, self.chunk(1));
                    for op in widen {
                        seq.unop(*op);
                    }
                    if repr == Repr::Mask {
                        to_mask(seq);
                    }
                } else if vector {
                    seq.load(memory, LoadKind::V128, self.chunk(1));
                    if repr == Repr::Mask {
                        to_mask(seq);
                    }
                } else {
                    seq.load(memory, kind, self.chunk(arg.align));
                }
            }
            Node::Binop(op) => {
                let ops = body.operands(node);
                if !vector {
                    self.emit(locals, seq, ops[0], false, Repr::Value);
                    self.emit(locals, seq, ops[1], false, Repr::Value);
                    seq.binop(op);
                    return;
                }
                match simd::binop(op, lanes) {
                    Some(VectorBinop::Plain(v)) => {
                        self.emit(locals, seq, ops[0], true, Repr::Value);
                        self.emit(locals, seq, ops[1], true, Repr::Value);
                        seq.binop(v);
                        if repr == Repr::Mask {
                            to_mask(seq);
                        }
                    }
                    Some(VectorBinop::Shift(v)) => {
                        self.emit(locals, seq, ops[0], true, Repr::Value);
                        self.emit(locals, seq, ops[1], false, Repr::Value);
                        if matches!(lanes, Lanes::F64x2 | Lanes::I64x2) {
                            seq.unop(UnaryOp::I32WrapI64);
                        }
                        seq.binop(v);
                        if repr == Repr::Mask {
                            to_mask(seq);
                        }
                    }
                    Some(VectorBinop::Copysign) => {
                        // bitselect(sign source, magnitude source, sign-bit mask)
                        self.emit(locals, seq, ops[1], true, Repr::Value);
                        self.emit(locals, seq, ops[0], true, Repr::Value);
                        let sign = match lanes {
                            Lanes::F64x2 | Lanes::I64x2 => lane_splat(lanes, 1 << 63),
                            _ => lane_splat(lanes, 1 << 31),
                        };
                        self.vector_const(seq, sign);
                        seq.v128_bitselect();
                        if repr == Repr::Mask {
                            to_mask(seq);
                        }
                    }
                    Some(VectorBinop::Compare(v)) => {
                        self.emit(locals, seq, ops[0], true, Repr::Value);
                        self.emit(locals, seq, ops[1], true, Repr::Value);
                        seq.binop(v);
                        if repr == Repr::Value {
                            self.vector_const(seq, lane_splat(lanes, 1));
                            seq.binop(BinaryOp::V128And);
                        }
                    }
                    None => {
                        seq.unreachable();
                    }
                }
            }
            Node::Unop(op) => {
                let operand = body.operands(node)[0];
                if !vector {
                    self.emit(locals, seq, operand, false, Repr::Value);
                    seq.unop(op);
                    return;
                }
                match simd::unop(op, lanes) {
                    Some(VectorUnop::Plain(v)) => {
                        self.emit(locals, seq, operand, true, Repr::Value);
                        seq.unop(v);
                        if repr == Repr::Mask {
                            to_mask(seq);
                        }
                    }
                    Some(VectorUnop::Chain(ops)) => {
                        self.emit(locals, seq, operand, true, Repr::Value);
                        for v in ops {
                            seq.unop(*v);
                        }
                        if repr == Repr::Mask {
                            to_mask(seq);
                        }
                    }
                    Some(VectorUnop::Identity) => {
                        self.emit(locals, seq, operand, true, repr);
                    }
                    Some(VectorUnop::Eqz) => {
                        self.emit(locals, seq, operand, true, Repr::Value);
                        self.vector_const(seq, Value::V128(0));
                        seq.binop(BinaryOp::I32x4Eq);
                        if repr == Repr::Value {
                            self.vector_const(seq, lane_splat(lanes, 1));
                            seq.binop(BinaryOp::V128And);
                        }
                    }
                    None => {
                        seq.unreachable();
                    }
                }
            }
            Node::Select => {
                let ops = body.operands(node);
                if !vector {
                    for op in &ops {
                        self.emit(locals, seq, *op, false, Repr::Value);
                    }
                    seq.select(None);
                    return;
                }
                if let Some(pseudo) = simd::pseudo_min_max(body, &ops, lanes) {
                    // select(a, b, a > b) is pmax(b, a) by definition (and the `<`
                    // forms pmin): one instruction instead of compare + bitselect.
                    self.emit(locals, seq, ops[1], true, Repr::Value);
                    self.emit(locals, seq, ops[0], true, Repr::Value);
                    seq.binop(pseudo);
                } else {
                    self.emit(locals, seq, ops[0], true, Repr::Value);
                    self.emit(locals, seq, ops[1], true, Repr::Value);
                    self.emit(locals, seq, ops[2], true, Repr::Mask);
                    seq.v128_bitselect();
                }
                if repr == Repr::Mask {
                    to_mask(seq);
                }
            }
            Node::Phi(_) | Node::GlobalGet(_) | Node::Opaque => {
                seq.unreachable();
            }
        }
    }
}

impl<'a> KernelCx<'a> {
    /// A context for a kernel computing the lane expressions `roots`: maps each load
    /// of those expressions to its stream's cursor (`cursors[i]` for `loads[i]`,
    /// `default` for in-place loads), counts uses so shared nodes are computed once,
    /// and collects the constants the prologue splats.
    pub(crate) fn new(
        body: &'a LoopBody,
        lanes: Lanes,
        roots: &[NodeIndex],
        loads: &[&crate::fingerprints::elementwise::MapLoad],
        cursors: &[LocalId],
        default: LocalId,
    ) -> (KernelCx<'a>, Vec<Value>) {
        let mut cx = KernelCx {
            body,
            lanes,
            invariants: HashMap::new(),
            load_base: HashMap::new(),
            constants: HashMap::new(),
            shared: HashMap::new(),
            use_counts: HashMap::new(),
            elem_bytes: lanes.width(),
            per_vector: lanes.count(),
            chunk_offset: 0,
            widen: false,
        };
        for root in roots {
            for node in body.loads_under(*root) {
                let Node::Load { kind, .. } = body.graph[node] else {
                    continue;
                };
                let form = crate::analysis::affine::affine_i32(body, body.operands(node)[0]);
                let position = loads.iter().position(|l| {
                    Some(l.access.form.key()) == form.as_ref().map(|f| f.key())
                        && form.as_ref().map(|f| f.constant + node_offset(body, node)) == Some(l.access.total_offset())
                        && matches!(body.graph[l.node], Node::Load { kind: k, .. } if format!("{k:?}") == format!("{kind:?}"))
                });
                cx.load_base
                    .insert(node, position.map_or(default, |p| cursors[p]));
            }
        }
        let mut splats: Vec<Value> = vec![Value::V128(0), lane_splat(lanes, 1)];
        let mut seen = std::collections::HashSet::new();
        let mut work = roots.to_vec();
        while let Some(n) = work.pop() {
            match body.graph[n] {
                Node::Const(value) => splats.push(splat_const(value)),
                Node::Binop(op)
                    if matches!(simd::binop(op, lanes), Some(VectorBinop::Copysign)) =>
                {
                    splats.push(lane_splat(
                        lanes,
                        if lanes.count() == 2 { 1 << 63 } else { 1 << 31 },
                    ));
                }
                _ => {}
            }
            for op in body.operands(n) {
                *cx.use_counts.entry(op).or_insert(0) += 1;
                if seen.insert(op) {
                    work.push(op);
                }
            }
        }
        (cx, splats)
    }

    /// Emits the kernel prologue: splatted constants and invariants into locals,
    /// cursors set to their bases, and the end pointers of the vector part
    /// (`count & -per_vector` elements) and of the whole (`count` elements) of the stream
    /// starting at `driver_base`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn prologue(
        &mut self,
        entry: &mut InstrSeqBuilder,
        locals: &mut ModuleLocals,
        splats: Vec<Value>,
        invariants: &[(NodeIndex, ValType)],
        invariant_args: &[LocalId],
        cursors_and_bases: &[(LocalId, LocalId)],
        driver_base: LocalId,
        count: LocalId,
        ends: (LocalId, LocalId),
    ) {
        for value in splats {
            if let Value::V128(bits) = value {
                if let std::collections::hash_map::Entry::Vacant(slot) = self.constants.entry(bits)
                {
                    let local = locals.add(ValType::V128);
                    entry.const_(value).local_set(local);
                    slot.insert(local);
                }
            }
        }
        for ((node, ty), scalar) in invariants.iter().zip(invariant_args) {
            let splatted = locals.add(ValType::V128);
            if let Some(op) = splat(*ty) {
                entry.local_get(*scalar).unop(op).local_set(splatted);
            }
            self.invariants.insert(*node, (*scalar, splatted));
        }
        for (cursor, base) in cursors_and_bases {
            entry.local_get(*base).local_set(*cursor);
        }
        let width = self.elem_bytes as i32;
        let (vector_end, end) = ends;
        let bytes = |entry: &mut InstrSeqBuilder| {
            if width != 1 {
                entry.i32_const(width).binop(BinaryOp::I32Mul);
            }
        };
        entry
            .local_get(driver_base)
            .local_get(count)
            .i32_const(-(self.per_vector as i32))
            .binop(BinaryOp::I32And);
        bytes(entry);
        entry.binop(BinaryOp::I32Add).local_set(vector_end);
        entry.local_get(driver_base).local_get(count);
        bytes(entry);
        entry.binop(BinaryOp::I32Add).local_set(end);
    }
}

/// Emits `while driver != end { body; every cursor += step }` as a rotated loop:
/// one test before it, one branch per iteration.
pub(crate) fn emit_cursor_loop(
    seq: &mut InstrSeqBuilder,
    driver: LocalId,
    end: LocalId,
    cursors: &[LocalId],
    step: i32,
    body: impl FnMut(&mut InstrSeqBuilder),
) {
    let steps: Vec<(LocalId, i32)> = cursors.iter().map(|c| (*c, step)).collect();
    emit_cursor_loop_steps(seq, driver, end, &steps, body);
}

/// [`emit_cursor_loop`] with a step per cursor.
pub(crate) fn emit_cursor_loop_steps(
    seq: &mut InstrSeqBuilder,
    driver: LocalId,
    end: LocalId,
    cursors: &[(LocalId, i32)],
    mut body: impl FnMut(&mut InstrSeqBuilder),
) {
    seq.block(None, |done| {
        let done_id = done.id();
        done.local_get(driver)
            .local_get(end)
            .binop(BinaryOp::I32Eq)
            .br_if(done_id);
        done.loop_(None, |repeat| {
            let repeat_id = repeat.id();
            body(repeat);
            for (cursor, step) in cursors {
                repeat
                    .local_get(*cursor)
                    .i32_const(*step)
                    .binop(BinaryOp::I32Add)
                    .local_set(*cursor);
            }
            repeat
                .local_get(driver)
                .local_get(end)
                .binop(BinaryOp::I32Ne)
                .br_if(repeat_id);
        });
    });
}

fn scalar_type_of_repr(cx: &KernelCx<'_>, node: NodeIndex) -> ValType {
    // Scalar mode caches values only; their type is the node's type, which the
    // kernel knows from the store (the lane type) except for comparisons (i32).
    match &cx.body.graph[node] {
        Node::Binop(op) if matches!(simd::binop(*op, cx.lanes), Some(VectorBinop::Compare(_))) => {
            ValType::I32
        }
        Node::Unop(UnaryOp::I32Eqz) => ValType::I32,
        Node::Load { kind, .. } => crate::fingerprints::types::load_type(*kind),
        _ => match cx.lanes {
            Lanes::F32x4 => ValType::F32,
            Lanes::I32x4 => ValType::I32,
            Lanes::F64x2 => ValType::F64,
            Lanes::I64x2 => ValType::I64,
        },
    }
}

/// Adds the kernel `barq_<pattern>_<elem>_x<unroll>_<n>` for `m` to the module and
/// returns it (`n` numbers the kernels of one run, so every name is unique).
/// Parameters: store base, one base per distinct non-in-place load, the invariants,
/// and the element count.
pub fn build_kernel(
    module: &mut Module,
    body: &LoopBody,
    m: &MapMatch,
    serial: usize,
) -> FunctionId {
    if let Some(plan) = &m.narrow {
        return super::narrow::build_kernel(module, body, m, plan, serial);
    }
    let (params, distinct_loads) = kernel_params(m);
    let mut builder = FunctionBuilder::new(&mut module.types, &params, &[]);
    builder.name(
        format!(
            "barq_{}_{:?}_x{}_{serial}",
            m.pattern,
            m.lanes.elem(),
            m.unroll
        )
        .to_lowercase(),
    );
    let args: Vec<LocalId> = params.iter().map(|ty| module.locals.add(*ty)).collect();
    let store_base = args[0];
    let count = *args.last().unwrap_or(&store_base);
    let width = m.lanes.width() as i32;

    // One cursor per stream: the store's and each distinct load's, advanced together.
    let store_cursor = module.locals.add(ValType::I32);
    let load_cursors: Vec<LocalId> = distinct_loads
        .iter()
        .map(|_| module.locals.add(ValType::I32))
        .collect();
    let vector_end = module.locals.add(ValType::I32);
    let end = module.locals.add(ValType::I32);

    let invariant_args: Vec<LocalId> = args[1 + distinct_loads.len()..args.len() - 1].to_vec();
    let (mut cx, splats) = KernelCx::new(
        body,
        m.lanes,
        &[m.value],
        &distinct_loads,
        &load_cursors,
        store_cursor,
    );
    // Two vectors per pass of the vector loop: independent work for the engine to
    // overlap (the chunks neither overlap nor depend on each other).
    cx.per_vector = 2 * m.lanes.count();
    let mut entry = builder.func_body();
    let mut cursors_and_bases = vec![(store_cursor, store_base)];
    cursors_and_bases.extend(load_cursors.iter().zip(&args[1..]).map(|(c, b)| (*c, *b)));
    cx.prologue(
        &mut entry,
        &mut module.locals,
        splats,
        &m.invariants,
        &invariant_args,
        &cursors_and_bases,
        store_base,
        count,
        (vector_end, end),
    );
    let memory = m.memory;
    let store_kind = m.store_kind;
    let cursors: Vec<LocalId> = std::iter::once(store_cursor)
        .chain(load_cursors.iter().copied())
        .collect();
    // Vector loop, then the scalar tail: the same expression, one element at a time.
    emit_cursor_loop(
        &mut entry,
        store_cursor,
        vector_end,
        &cursors,
        32,
        |repeat| {
            for chunk in 0..2 {
                cx.shared.clear();
                cx.chunk_offset = 16 * chunk;
                cx.element_address(repeat, store_cursor);
                cx.emit(&mut module.locals, repeat, m.value, true, Repr::Value);
                repeat.store(memory, walrus::ir::StoreKind::V128, cx.chunk(1));
            }
            cx.chunk_offset = 0;
        },
    );
    emit_cursor_loop(&mut entry, store_cursor, end, &cursors, width, |repeat| {
        cx.shared.clear();
        cx.element_address(repeat, store_cursor);
        cx.emit(&mut module.locals, repeat, m.value, false, Repr::Value);
        repeat.store(
            memory,
            store_kind,
            MemArg {
                align: 1,
                offset: 0,
            },
        );
    });
    builder.finish(args, &mut module.funcs)
}

/// A map kernel's parameters (the store base, one base per distinct non-in-place
/// load, the invariants, the element count) and those loads.
pub(crate) fn kernel_params(
    m: &MapMatch,
) -> (
    Vec<ValType>,
    Vec<&crate::fingerprints::elementwise::MapLoad>,
) {
    let distinct_loads: Vec<_> = m.loads.iter().filter(|l| !l.in_place).collect();
    let mut params = vec![ValType::I32];
    params.extend(distinct_loads.iter().map(|_| ValType::I32));
    params.extend(m.invariants.iter().map(|(_, ty)| *ty));
    params.push(ValType::I32);
    (params, distinct_loads)
}

pub(crate) fn node_offset(body: &LoopBody, node: NodeIndex) -> i64 {
    match body.graph[node] {
        Node::Load { arg, .. } => arg.offset as i64,
        _ => 0,
    }
}

/// Scratch locals of one guard.
pub(crate) struct GuardLocals {
    pub(crate) x0: LocalId,
    pub(crate) k: LocalId,
    pub(crate) iterations: LocalId,
    pub(crate) memory_bytes: LocalId,
}

/// Pushes the 64-bit extension of an entry-time `i32` node.
fn entry_i64(body: &LoopBody, node: NodeIndex, signed: bool, seq: &mut InstrSeqBuilder) {
    emit_entry_value(body, node, seq);
    seq.unop(if signed {
        UnaryOp::I64ExtendSI32
    } else {
        UnaryOp::I64ExtendUI32
    });
}

fn entry_bound_i64(body: &LoopBody, trip: &TripCount, signed: bool, seq: &mut InstrSeqBuilder) {
    if has_bound(trip) {
        entry_i64(body, trip.bound, signed, seq);
    } else {
        seq.i64_const(0);
    }
}

fn entry_bound_i32(body: &LoopBody, trip: &TripCount, seq: &mut InstrSeqBuilder) {
    if has_bound(trip) {
        emit_entry_value(body, trip.bound, seq);
    } else {
        seq.i32_const(0);
    }
}

/// The guard's first test, for loops that mostly run short (a decoder's literal
/// and match copies): branches to `skip` when the distance from the induction
/// variable's entry value to its bound, as an unsigned i32, is at most
/// `(min_iterations - 1) * |inc|`, so that `k` (and the iterations the kernel
/// would take) is below `min_iterations`. It skips nothing the full test would
/// take; it only gets there in four instructions instead of the full test's
/// i64 closed form. Measured on corpus/c/lz4.c in Wasmtime (callgrind): guards
/// made never to pass cost 1.433 M instructions a 100 KiB decode with the full
/// test alone, 1.375 M with this one first (README, "Copy and fill loops").
fn emit_quick_reject(
    body: &LoopBody,
    trip: &TripCount,
    min_iterations: i64,
    skip: InstrSeqId,
    seq: &mut InstrSeqBuilder,
) {
    use Predicate::*;
    let a = trip.inc.unsigned_abs() as i64;
    let Some(threshold) = (min_iterations - 1)
        .checked_mul(a)
        .and_then(|t| t.checked_add(1))
        .filter(|t| (2..=u32::MAX as i64).contains(t))
    else {
        return;
    };
    let up = match trip.pred {
        Ne => trip.inc > 0,
        LtU | LtS | LeU | LeS => true,
        GtU | GtS | GeU | GeS => false,
        _ => return,
    };
    let inclusive = matches!(trip.pred, LeU | LeS | GeU | GeS);
    if up {
        // (B + inclusive) - X0
        entry_bound_i32(body, trip, seq);
        if inclusive {
            seq.i32_const(1).binop(BinaryOp::I32Add);
        }
        emit_entry_value(body, trip.x, seq);
    } else {
        // X0 - (B - inclusive)
        emit_entry_value(body, trip.x, seq);
        entry_bound_i32(body, trip, seq);
        if inclusive {
            seq.i32_const(1).binop(BinaryOp::I32Sub);
        }
    }
    seq.binop(BinaryOp::I32Sub)
        .i32_const(threshold as u32 as i32)
        .binop(BinaryOp::I32LtU)
        .br_if(skip);
}

/// Emits `k`: the first iteration index whose test fails; branches to `skip` when
/// the closed form would not be exact.
pub(crate) fn emit_first_failing(
    body: &LoopBody,
    trip: &TripCount,
    l: &GuardLocals,
    skip: InstrSeqId,
    seq: &mut InstrSeqBuilder,
) {
    let a = trip.inc.unsigned_abs() as i64;
    let shift = a.trailing_zeros() as i64;
    let signed = trip.pred.is_signed();
    use Predicate::*;
    match trip.pred {
        Ne => {
            // d = (B - X0) mod 2^32 (counting up) or (X0 - B) (counting down).
            if trip.inc > 0 {
                entry_bound_i32(body, trip, seq);
                emit_entry_value(body, trip.x, seq);
            } else {
                emit_entry_value(body, trip.x, seq);
                entry_bound_i32(body, trip, seq);
            }
            seq.binop(BinaryOp::I32Sub)
                .unop(UnaryOp::I64ExtendUI32)
                .local_set(l.k);
            if a > 1 {
                seq.local_get(l.k)
                    .i64_const(a - 1)
                    .binop(BinaryOp::I64And)
                    .i64_const(0)
                    .binop(BinaryOp::I64Ne)
                    .br_if(skip);
            }
            seq.local_get(l.k)
                .i64_const(shift)
                .binop(BinaryOp::I64ShrU)
                .local_set(l.k);
        }
        Eq => {
            emit_entry_value(body, trip.x, seq);
            entry_bound_i32(body, trip, seq);
            seq.binop(BinaryOp::I32Eq)
                .unop(UnaryOp::I64ExtendUI32)
                .local_set(l.k);
        }
        LtU | LtS | LeU | LeS | GtU | GtS | GeU | GeS => {
            // Counting up to (or down to) a bound b' (B, one past it for <= / >=):
            // k = ceil(distance / a) while x0 is on the running side of b', else 0.
            // Exact only if no value wraps first: the first failing value
            // x0 +/- a * k must lie within [lo, hi] (the ones before it lie between
            // x0 and b').
            let up = matches!(trip.pred, LtU | LtS | LeU | LeS);
            let inclusive = i64::from(matches!(trip.pred, LeU | LeS | GeU | GeS));
            let (lo, hi): (i64, i64) = if signed {
                (i32::MIN as i64, i32::MAX as i64)
            } else {
                (0, u32::MAX as i64)
            };
            let (toward, limit, beyond, running) = if up {
                (BinaryOp::I64Add, hi, BinaryOp::I64GtS, BinaryOp::I64LtS)
            } else {
                (BinaryOp::I64Sub, lo, BinaryOp::I64LtS, BinaryOp::I64GtS)
            };
            entry_i64(body, trip.x, signed, seq);
            seq.local_set(l.x0);
            entry_bound_i64(body, trip, signed, seq);
            seq.i64_const(inclusive).binop(toward).local_set(l.k);
            if up {
                seq.local_get(l.k).local_get(l.x0);
            } else {
                seq.local_get(l.x0).local_get(l.k);
            }
            seq.binop(BinaryOp::I64Sub)
                .i64_const(a - 1)
                .binop(BinaryOp::I64Add)
                .i64_const(shift)
                .binop(BinaryOp::I64ShrS)
                .i64_const(0)
                .local_get(l.x0)
                .local_get(l.k)
                .binop(running)
                .select(None)
                .local_set(l.k);
            seq.local_get(l.x0)
                .local_get(l.k)
                .i64_const(a)
                .binop(BinaryOp::I64Mul)
                .binop(toward)
                .i64_const(limit)
                .binop(beyond)
                .br_if(skip);
        }
    }
}

/// Sets `local` (i64) to the memory's size in bytes, capped at 2^32 - 1 so that
/// no range end checked against it wraps to 0 in `i32` cursors.
pub(crate) fn emit_memory_bytes(
    memory: walrus::MemoryId,
    local: LocalId,
    seq: &mut InstrSeqBuilder,
) {
    seq.memory_size(memory)
        .unop(UnaryOp::I64ExtendUI32)
        .i64_const(16)
        .binop(BinaryOp::I64Shl)
        .local_tee(local)
        .i64_const(u32::MAX as i64)
        .local_get(local)
        .i64_const(u32::MAX as i64)
        .binop(BinaryOp::I64LtU)
        .select(None)
        .local_set(local);
}

/// What the guard does once its checks pass.
#[derive(Clone, Copy, Debug)]
pub enum Kernel {
    /// Calls this kernel function with the ranges' starts, the invariants, the
    /// seeds and the element count.
    Call(FunctionId),
    /// A copy of `width`-byte elements, emitted in place (no call): 16-byte
    /// `v128` moves when source and destination are apart (else the original
    /// loop runs). For copy loops in hot code: a call there makes the engine
    /// keep the loop's values out of the registers a call clobbers.
    InlineCopy {
        /// Bytes per element.
        width: u32,
    },
    /// A fill of `width`-byte elements, emitted in place: 16-byte `v128` stores
    /// of one byte, the low byte of the fill value (of type `value`; the guard
    /// has checked that it repeats one byte), as `memory.fill` would write.
    InlineFill {
        /// Bytes per element.
        width: u32,
        /// The fill value's type.
        value: ValType,
    },
}

/// The locals of an inline copy or fill.
struct InlineMove {
    kernel: Kernel,
    width: u32,
    dst: LocalId,
    /// The source address (copy) or the fill value.
    second: LocalId,
    bytes: LocalId,
    cursor: LocalId,
    /// The fill byte in every lane (fills only).
    splat: Option<LocalId>,
}

impl InlineMove {
    fn new(locals: &mut walrus::ModuleLocals, kernel: Kernel) -> Option<InlineMove> {
        let (width, second) = match kernel {
            Kernel::Call(_) => return None,
            Kernel::InlineCopy { width } => (width, ValType::I32),
            Kernel::InlineFill { width, value, .. } => (width, value),
        };
        Some(InlineMove {
            kernel,
            width,
            dst: locals.add(ValType::I32),
            second: locals.add(second),
            bytes: locals.add(ValType::I32),
            cursor: locals.add(ValType::I32),
            splat: matches!(kernel, Kernel::InlineFill { .. }).then(|| locals.add(ValType::V128)),
        })
    }

    /// Takes `dst, src or value, count` from the stack and writes `count * width`
    /// bytes (at least 16: the guard's minimum); a copy branches to `skip` when
    /// the two ranges overlap. Moves 16 bytes at a time from the start, then the
    /// 16 that end at the last byte (rewriting some bytes with the values just
    /// written there).
    fn emit(&self, memory: walrus::MemoryId, skip: InstrSeqId, seq: &mut InstrSeqBuilder) {
        let chunk = MemArg {
            align: 1,
            offset: 0,
        };
        if self.width > 1 {
            seq.i32_const(self.width as i32).binop(BinaryOp::I32Mul);
        }
        seq.local_set(self.bytes)
            .local_set(self.second)
            .local_set(self.dst);
        let copy = matches!(self.kernel, Kernel::InlineCopy { .. });
        if copy {
            // Apart: dst - src >= bytes and src - dst >= bytes, unsigned.
            seq.local_get(self.dst)
                .local_get(self.second)
                .binop(BinaryOp::I32Sub)
                .local_get(self.bytes)
                .binop(BinaryOp::I32LtU)
                .local_get(self.second)
                .local_get(self.dst)
                .binop(BinaryOp::I32Sub)
                .local_get(self.bytes)
                .binop(BinaryOp::I32LtU)
                .binop(BinaryOp::I32Or)
                .br_if(skip);
        }
        if let (Kernel::InlineFill { value, .. }, Some(splat)) = (self.kernel, self.splat) {
            seq.local_get(self.second);
            super::bulk::low_bits_as_i32(seq, value);
            seq.unop(UnaryOp::I8x16Splat).local_set(splat);
        }
        // One 16-byte move at `dst + at` (from `src + at`).
        let step = |seq: &mut InstrSeqBuilder, at: &dyn Fn(&mut InstrSeqBuilder, LocalId)| {
            at(seq, self.dst);
            match self.splat {
                Some(splat) => {
                    seq.local_get(splat);
                }
                None => {
                    at(seq, self.second);
                    seq.load(memory, LoadKind::V128, chunk);
                }
            }
            seq.store(memory, walrus::ir::StoreKind::V128, chunk);
        };
        seq.i32_const(0).local_set(self.cursor);
        seq.loop_(None, |moves| {
            let again = moves.id();
            step(moves, &|seq, base| {
                seq.local_get(base)
                    .local_get(self.cursor)
                    .binop(BinaryOp::I32Add);
            });
            moves
                .local_get(self.cursor)
                .i32_const(16)
                .binop(BinaryOp::I32Add)
                .local_tee(self.cursor)
                .i32_const(16)
                .binop(BinaryOp::I32Add)
                .local_get(self.bytes)
                .binop(BinaryOp::I32LeU)
                .br_if(again);
        });
        step(seq, &|seq, base| {
            seq.local_get(base)
                .local_get(self.bytes)
                .binop(BinaryOp::I32Add)
                .i32_const(16)
                .binop(BinaryOp::I32Sub);
        });
    }
}

/// What a guard checks and does, independent of the kind of kernel.
pub struct GuardSpec<'a> {
    /// How many iterations run.
    pub trip: &'a TripCount,
    /// Bytes every stream advances per iteration (the read streams: unless
    /// `read_strides` says otherwise).
    pub stride: i64,
    /// Elements per iteration (the compiler's unroll factor).
    pub unroll: u32,
    /// The memory accessed.
    pub memory: walrus::MemoryId,
    /// Induction steps, to advance the variables past the kernel's iterations.
    pub steps: &'a HashMap<LocalId, i64>,
    /// The written stream, if any: checked against every read stream for overlap.
    pub written: Option<&'a Access>,
    /// The read streams passed to the kernel (in-place reads excluded).
    pub reads: Vec<&'a Access>,
    /// Bytes each read stream advances per iteration, where it differs from
    /// `stride` (an 8-bit map reading 16-bit elements); empty: all `stride`.
    pub read_strides: Vec<i64>,
    /// Loop invariants passed to the kernel after the stream bases.
    pub invariants: &'a [(NodeIndex, ValType)],
    /// Locals updated from the kernel's results: `local = local <op> result`.
    pub accumulators: Vec<(LocalId, BinaryOp, ValType)>,
    /// The kernel takes the accumulators' values (after the invariants) and
    /// returns their final values: `local = result`.
    pub seeded: bool,
    /// Which overlaps of the written range with the read ranges the kernel allows.
    pub overlap: Overlap,
    /// The fewest elements worth calling the kernel for.
    pub min_elements: i64,
    /// An entry-time `i32` whose low 16 bits must be one byte repeated (a 16-bit
    /// fill done by `memory.fill`).
    pub repeated_byte: Option<NodeIndex>,
    /// Two addresses that must be the same at entry (see [`SameElement`]).
    pub same_element: Option<SameElement>,
    /// An accumulator (its phi) whose entry value the normalization must leave
    /// unchanged (see [`crate::fingerprints::reduction::Normalize`]).
    pub normalized: Option<(NodeIndex, crate::fingerprints::reduction::Normalize)>,
}

/// For an argmax that re-reads its extreme through the index (`x[i] > x[best]`):
/// the re-read at the first element's index must read the first element, so that
/// every re-read reads the element last taken. Both addresses are `i32`s the loop
/// computes with wrapping arithmetic, plus static offsets; the guard compares the
/// effective addresses at entry.
pub struct SameElement {
    /// The first element's address node and static offset.
    pub element: (NodeIndex, u64),
    /// The re-read's address node (at the running index) and static offset.
    pub reload: (NodeIndex, u64),
    /// Added to the re-read's address (wrapping): `coefficient * entry value` per
    /// entry, moving it from the running index to the first element's.
    pub shift: Vec<(NodeIndex, i32)>,
}

impl<'a> GuardSpec<'a> {
    /// The guard of an elementwise match.
    pub fn of_map(m: &'a MapMatch) -> GuardSpec<'a> {
        GuardSpec {
            trip: &m.trip,
            stride: m.stride,
            unroll: m.unroll,
            memory: m.memory,
            steps: &m.steps,
            written: Some(&m.store),
            reads: m
                .loads
                .iter()
                .filter(|l| !l.in_place)
                .map(|l| &l.access)
                .collect(),
            read_strides: m
                .loads
                .iter()
                .filter(|l| !l.in_place)
                .map(|l| m.stride / m.elem_bytes() as i64 * l.width as i64)
                .collect(),
            invariants: &m.invariants,
            accumulators: Vec::new(),
            seeded: false,
            overlap: Overlap::Disjoint,
            min_elements: m.min_elements(),
            repeated_byte: None,
            normalized: None,
            same_element: None,
        }
    }
}

/// Inserts the guarded kernel call in front of the loop at `position` in
/// `parent_seq` of function `func`.
pub fn insert_guard(
    module: &mut Module,
    func: FunctionId,
    parent_seq: InstrSeqId,
    position: usize,
    body: &LoopBody,
    spec: &GuardSpec<'_>,
    kernel: Kernel,
) {
    let Module { funcs, locals, .. } = module;
    let inline = InlineMove::new(locals, kernel);
    let l = GuardLocals {
        x0: locals.add(ValType::I64),
        k: locals.add(ValType::I64),
        iterations: locals.add(ValType::I64),
        memory_bytes: locals.add(ValType::I64),
    };
    let accesses: Vec<&Access> = spec
        .written
        .into_iter()
        .chain(spec.reads.iter().copied())
        .collect();
    let hoisted_start = locals.add(ValType::I64);
    let starts: Vec<LocalId> = accesses.iter().map(|_| locals.add(ValType::I64)).collect();
    let ends: Vec<LocalId> = accesses.iter().map(|_| locals.add(ValType::I64)).collect();
    // (A seeded kernel's results go straight into the accumulators.)
    let results: Vec<LocalId> = spec
        .accumulators
        .iter()
        .filter(|_| !spec.seeded)
        .map(|(_, _, ty)| locals.add(*ty))
        .collect();
    let builder = funcs.get_mut(func).kind.unwrap_local_mut().builder_mut();
    let mut seq = builder.dangling_instr_seq(None);
    let skip = seq.id();

    // Hoisted invariant loads (`LoopBody::hoist_loads`) first: each inside memory
    // before anything reads it (the loop might not have run it at all), innermost
    // first.
    let hoisted = body.invariant_loads();
    let hoisted_range = |seq: &mut InstrSeqBuilder, load: NodeIndex| {
        let Node::Load { kind, arg, .. } = body.graph[load] else {
            unreachable!("invariant_loads returns loads");
        };
        entry_i64(body, body.operands(load)[0], false, seq);
        seq.i64_const(arg.offset as i64).binop(BinaryOp::I64Add);
        kind.width() as i64
    };
    if !hoisted.is_empty() {
        emit_memory_bytes(spec.memory, l.memory_bytes, &mut seq);
        for load in &hoisted {
            let width = hoisted_range(&mut seq, *load);
            seq.i64_const(width)
                .binop(BinaryOp::I64Add)
                .local_get(l.memory_bytes)
                .binop(BinaryOp::I64GtU)
                .br_if(skip);
        }
    }
    let min_iterations = (spec.min_elements + spec.unroll as i64 - 1) / spec.unroll as i64;
    emit_quick_reject(body, spec.trip, min_iterations, skip, &mut seq);
    emit_first_failing(body, spec.trip, &l, skip, &mut seq);
    // Iterations for the kernel: all but the last, which the loop itself runs.
    seq.local_get(l.k);
    if spec.trip.test == ExitTest::Top {
        seq.i64_const(1).binop(BinaryOp::I64Sub);
    }
    seq.local_tee(l.iterations);
    seq.i64_const(min_iterations)
        .binop(BinaryOp::I64LtS)
        .br_if(skip);

    // Every accessed range inside memory.
    // (Capped at 2^32 - 1 so that no range end wraps to 0 in the kernel's i32 cursors.)
    emit_memory_bytes(spec.memory, l.memory_bytes, &mut seq);
    for (i, access) in accesses.iter().enumerate() {
        let read = i.checked_sub(usize::from(spec.written.is_some()));
        let stride = read
            .and_then(|r| spec.read_strides.get(r).copied())
            .unwrap_or(spec.stride);
        entry_i64(body, access.addr, false, &mut seq);
        seq.i64_const(access.offset as i64).binop(BinaryOp::I64Add);
        if stride > 0 {
            // [first, first + iterations * stride)
            seq.local_tee(starts[i])
                .local_get(l.iterations)
                .i64_const(stride)
                .binop(BinaryOp::I64Mul)
                .binop(BinaryOp::I64Add);
        } else {
            // Backward: [first - (iterations - 1) * |stride|, first + |stride|),
            // whose start must not fall below address 0.
            seq.local_tee(ends[i])
                .local_get(l.iterations)
                .i64_const(1)
                .binop(BinaryOp::I64Sub)
                .i64_const(stride)
                .binop(BinaryOp::I64Mul)
                .binop(BinaryOp::I64Add)
                .local_tee(starts[i])
                .i64_const(0)
                .binop(BinaryOp::I64LtS)
                .br_if(skip)
                .local_get(ends[i])
                .i64_const(-stride)
                .binop(BinaryOp::I64Add);
        }
        seq.local_tee(ends[i])
            .local_get(l.memory_bytes)
            .binop(BinaryOp::I64GtU)
            .br_if(skip);
    }
    // No store may write a hoisted load's bytes (the loop would read the new value).
    if spec.written.is_some() {
        for load in &hoisted {
            let width = hoisted_range(&mut seq, *load);
            // start < written end && written start < start + width
            seq.local_tee(hoisted_start)
                .local_get(ends[0])
                .binop(BinaryOp::I64LtU)
                .local_get(starts[0])
                .local_get(hoisted_start)
                .i64_const(width)
                .binop(BinaryOp::I64Add)
                .binop(BinaryOp::I64LtU)
                .binop(BinaryOp::I32And)
                .br_if(skip);
        }
    }
    // Overlaps of the written range with each read range that would change results.
    if spec.written.is_some() {
        for i in 1..accesses.len() {
            // (a, b): skip when a's start lies strictly inside (b.start, b.end).
            let inside = |seq: &mut InstrSeqBuilder, a: usize, b: usize| {
                seq.local_get(starts[a])
                    .local_get(starts[b])
                    .binop(BinaryOp::I64GtU)
                    .local_get(starts[a])
                    .local_get(ends[b])
                    .binop(BinaryOp::I64LtU)
                    .binop(BinaryOp::I32And)
                    .br_if(skip);
            };
            match spec.overlap {
                Overlap::Disjoint => {
                    seq.local_get(ends[0])
                        .local_get(starts[i])
                        .binop(BinaryOp::I64GtU)
                        .local_get(ends[i])
                        .local_get(starts[0])
                        .binop(BinaryOp::I64GtU)
                        .binop(BinaryOp::I32And)
                        .br_if(skip);
                }
                // A forward loop is memmove unless the destination starts inside
                // the source past its start; a backward one, unless the source
                // starts inside the destination past its start.
                Overlap::Forward => inside(&mut seq, 0, i),
                Overlap::Backward => inside(&mut seq, i, 0),
                Overlap::Any => {}
            }
        }
    }
    // A 16-bit fill value that memory.fill can write.
    if let Some(value) = spec.repeated_byte {
        emit_entry_value(body, value, &mut seq);
        seq.i32_const(0xffff).binop(BinaryOp::I32And);
        emit_entry_value(body, value, &mut seq);
        seq.i32_const(0xff)
            .binop(BinaryOp::I32And)
            .i32_const(0x0101)
            .binop(BinaryOp::I32Mul)
            .binop(BinaryOp::I32Ne)
            .br_if(skip);
    }
    // A running extreme that starts normalized (then every value it takes is).
    if let Some((value, how)) = spec.normalized {
        use crate::fingerprints::reduction::Normalize;
        emit_entry_value(body, value, &mut seq);
        match how {
            Normalize::Mask(mask) => {
                seq.i32_const(mask).binop(BinaryOp::I32And);
            }
            Normalize::SignExtend(bits) => {
                seq.i32_const(32 - bits as i32)
                    .binop(BinaryOp::I32Shl)
                    .i32_const(32 - bits as i32)
                    .binop(BinaryOp::I32ShrS);
            }
        }
        emit_entry_value(body, value, &mut seq);
        seq.binop(BinaryOp::I32Ne).br_if(skip);
    }
    if let Some(same) = &spec.same_element {
        emit_entry_value(body, same.element.0, &mut seq);
        seq.unop(UnaryOp::I64ExtendUI32)
            .i64_const(same.element.1 as i64)
            .binop(BinaryOp::I64Add);
        emit_entry_value(body, same.reload.0, &mut seq);
        for (node, coefficient) in &same.shift {
            emit_entry_value(body, *node, &mut seq);
            seq.i32_const(*coefficient)
                .binop(BinaryOp::I32Mul)
                .binop(BinaryOp::I32Add);
        }
        seq.unop(UnaryOp::I64ExtendUI32)
            .i64_const(same.reload.1 as i64)
            .binop(BinaryOp::I64Add)
            .binop(BinaryOp::I64Ne)
            .br_if(skip);
    }
    // The kernel call.
    for start in &starts {
        seq.local_get(*start).unop(UnaryOp::I32WrapI64);
    }
    for (node, _) in spec.invariants {
        emit_entry_value(body, *node, &mut seq);
    }
    if spec.seeded {
        for (local, _, _) in &spec.accumulators {
            seq.local_get(*local);
        }
    }
    seq.local_get(l.iterations)
        .i64_const(spec.unroll as i64)
        .binop(BinaryOp::I64Mul)
        .unop(UnaryOp::I32WrapI64);
    match (kernel, &inline) {
        (Kernel::Call(kernel), _) => {
            seq.call(kernel);
        }
        (_, Some(moves)) => moves.emit(spec.memory, skip, &mut seq),
        (_, None) => unreachable!("InlineMove::new makes one for every inline kernel"),
    }
    // Results come back in order; fold each into its accumulator.
    if spec.seeded {
        for (local, _, _) in spec.accumulators.iter().rev() {
            seq.local_set(*local);
        }
    }
    for result in results.iter().rev() {
        seq.local_set(*result);
    }
    for ((local, op, _), result) in spec.accumulators.iter().zip(&results) {
        seq.local_get(*local)
            .local_get(*result)
            .binop(*op)
            .local_set(*local);
    }
    // Advance the induction variables past the iterations the kernel did.
    let mut steps: Vec<(&LocalId, &i64)> = spec.steps.iter().collect();
    steps.sort_by_key(|(local, _)| local.index());
    for (local, step) in steps {
        seq.local_get(*local)
            .local_get(l.iterations)
            .i64_const(*step)
            .binop(BinaryOp::I64Mul)
            .unop(UnaryOp::I32WrapI64)
            .binop(BinaryOp::I32Add)
            .local_set(*local);
    }
    let guard = seq.id();
    builder
        .instr_seq(parent_seq)
        .instr_at(position, Block { seq: guard });
}
