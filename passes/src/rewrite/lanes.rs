//! Lockstep code for an outer loop: `4 * G` consecutive iterations of a loop run
//! together, iteration `t + l` in SIMD lane `l`, inner loops and all.
//!
//! Every value of the loop body gets a class. `Lin(s)` values are the same affine
//! function of the iteration in every lane (lane `l` holds lane 0's value plus
//! `s * l`, wrapping): loop-invariant values (`s = 0`), the loop's induction
//! variables and addresses derived from them. They stay scalar (lane 0's value).
//! `Vary` values differ in any other way and live in `G` v128 locals. Each scalar
//! instruction becomes the same operation on every lane (`simd::binop`/`unop`, exact
//! lane for lane), so each lane computes what its iteration computed, in the same
//! order: bit-exact, float or not.
//!
//! What must hold, checked here or by the caller's guard:
//! - control flow is the same in every lane: branch and `if` conditions are `Lin(0)`;
//! - every load reads either one address for all lanes (`Lin(0)`), consecutive
//!   elements (`Lin(width)`), or one 32-bit element per lane a loop-invariant
//!   stride apart (`Sym`: the rows of a matrix, gathered lane by lane); every
//!   store writes consecutive elements, at the top level of the body, after its
//!   last load and nested loop;
//! - no lane reads what another lane writes: each load is checked at run time
//!   against the stores' ranges for the whole run (computed by the guard); a hit
//!   leaves the lockstep code before the block's first store, and the original loop
//!   runs from there;
//! - a load any of whose lanes lies outside memory leaves the same way, so the
//!   original loop traps where it trapped, with the same writes done before it;
//! - the only values carried from one iteration to the next are induction
//!   variables, which the block advances by `4 * G` steps (a constant step, or
//!   an invariant one computed in front of the loop).
//!
//! A gathered load's lanes span `S * (lanes - 1)` bytes beyond lane 0's address:
//! its range check (at an inner loop's entry, or at the load) covers the corners
//! of lanes x iterations in i64, so no lane's `i32` address wrapped.

use super::map::{emit_entry_value, emit_first_failing, emit_memory_bytes, GuardLocals};
use super::simd::{self, VectorBinop, VectorUnop};
use crate::analysis::affine::{affine_i32, wrap32, Affine};
use crate::analysis::trip_count::TripCount;
use crate::analysis::value_graph::{ExitTest, LoopBody};
use crate::fingerprints::types::{binop_type, load_type, unop_type, Lanes};
use std::collections::{HashMap, HashSet};
use walrus::ir::{
    BinaryOp, Block, ExtendedLoad, IfElse, Instr, InstrSeqId, InstrSeqType, LoadKind, LoadSimdKind,
    Loop, MemArg, StoreKind, UnaryOp, Value,
};
use walrus::{FunctionBuilder, FunctionId, LocalId, MemoryId, Module, ModuleLocals, ValType};

/// How a value varies across the lanes of a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Lane `l` holds lane 0's value plus `s * l` (wrapping `i32`; `s = 0`: the same
    /// value in every lane).
    Lin(i64),
    /// Lane `l` holds lane 0's value plus `S * l` (wrapping `i32`), `S` the
    /// loop-invariant stride numbered here (`Stride`): a row pointer stepping by a
    /// row of `n` elements per iteration. Kept scalar like `Lin`.
    Sym(u32),
    /// Anything else.
    Vary,
    /// Not written yet in this iteration (a temporary of the loop body).
    Dead,
}

impl Class {
    /// Held as one scalar (lane 0's value).
    fn scalar(self) -> bool {
        matches!(self, Class::Lin(_) | Class::Sym(_))
    }
}

/// A loop-invariant stride of [`Class::Sym`] values, computed in front of the
/// loop: `S`, lane `l`'s offset `l * S` (`l < 16`), and the offsets four lanes
/// to a v128. `S` is an induction variable's step, or (`product`) an
/// invariant local times a constant step (`i * n`, `i` the counter), times
/// `factor` (1, 2, 4 or 8: an index scaled to bytes); `base` is the number of
/// the unscaled stride.
pub(crate) struct Stride {
    value: LocalId,
    offsets: Vec<LocalId>,
    vectors: Vec<LocalId>,
    base: u32,
    factor: i64,
    product: Option<(LocalId, i64)>,
}

impl Stride {
    /// Entries for `FACTORS`, the first numbered `base`.
    fn family(
        locals: &mut ModuleLocals,
        base: usize,
        product: Option<(LocalId, i64)>,
    ) -> Vec<Stride> {
        FACTORS
            .iter()
            .map(|factor| Stride {
                value: locals.add(ValType::I32),
                offsets: (0..16).map(|_| locals.add(ValType::I32)).collect(),
                vectors: (0..4).map(|_| locals.add(ValType::V128)).collect(),
                base: base as u32,
                factor: *factor,
                product,
            })
            .collect()
    }
}

/// The factors an induction variable's stride is kept at.
const FACTORS: [i64; 4] = [1, 2, 4, 8];

fn join(a: Class, b: Class) -> Class {
    match (a, b) {
        (Class::Dead, c) | (c, Class::Dead) => c,
        (x, y) if x == y => x,
        _ => Class::Vary,
    }
}

/// The class of every local the loop writes, at one point of the body.
type State = HashMap<LocalId, Class>;

fn join_states(a: &mut State, b: &State) {
    for (local, class) in b {
        let joined = a.get(local).map_or(*class, |c| join(*c, *class));
        a.insert(*local, joined);
    }
}

#[derive(Clone, Debug)]
enum Repr {
    Const(Value),
    Scalar(LocalId),
    Vector(Vec<LocalId>),
}

/// Where a value comes from, for naming the pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    Other,
    UniformLoad,
    LaneLoad,
}

#[derive(Clone, Debug)]
struct Val {
    class: Class,
    ty: ValType,
    repr: Repr,
    origin: Origin,
}

/// What the lockstep body contains, for the report.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Deepest loop nested in the body (0: none).
    pub depth: u32,
    /// Products of a value loaded once for all lanes with one loaded per lane,
    /// inside nested loops.
    pub products_in_loops: usize,
    /// Such products anywhere.
    pub products: usize,
    /// Loads of one element per lane.
    pub lane_loads: usize,
    /// The stores, in order.
    pub stores: Vec<StoreKind>,
    /// Iterations per block (the widest).
    pub lanes: u32,
    /// A float converted to an integer per lane.
    pub float_to_int: bool,
    /// An integer converted to a float per lane.
    pub int_to_float: bool,
    /// 8- or 16-bit elements loaded per lane.
    pub narrow_loads: bool,
}

/// The source instructions of the loop and every sequence nested in it, copied so
/// that the function can be changed while they are read.
type Source = HashMap<InstrSeqId, (InstrSeqType, Vec<Instr>)>;

fn snapshot(func: &walrus::LocalFunction, loop_seq: InstrSeqId) -> Source {
    let mut out = Source::new();
    let mut work = vec![loop_seq];
    while let Some(seq) = work.pop() {
        let block = func.block(seq);
        let instrs: Vec<Instr> = block.instrs.iter().map(|(i, _)| i.clone()).collect();
        for instr in &instrs {
            work.extend(crate::analysis::loops::opened_sequences(instr));
        }
        out.insert(seq, (block.ty, instrs));
    }
    out
}

/// The code generator for one block width.
struct Lockstep<'a> {
    locals: &'a mut ModuleLocals,
    fb: &'a mut FunctionBuilder,
    src: &'a Source,
    loop_seq: InstrSeqId,
    groups: u32,
    memory: MemoryId,
    /// Classes of the written locals here.
    state: State,
    /// Each label's state from the previous round (block ends and loop heads,
    /// keyed by the source sequence).
    previous: &'a HashMap<InstrSeqId, State>,
    /// This round's: the previous one's, or the first edge's.
    targets: HashMap<InstrSeqId, State>,
    /// The join of every edge's state, per label, for the next round.
    proposed: HashMap<InstrSeqId, State>,
    unsettled: bool,
    shadows: HashMap<LocalId, Vec<LocalId>>,
    labels: HashMap<InstrSeqId, InstrSeqId>,
    /// `else` arm -> its `if`'s consequent (the key of the shared label).
    arms: HashMap<InstrSeqId, InstrSeqId>,
    bail: InstrSeqId,
    memory_bytes: LocalId,
    regions: &'a [Region],
    stored: bool,
    top_exit_seen: bool,
    depth: u32,
    must_written: HashSet<LocalId>,
    /// Per label: the locals written on every edge to it so far.
    must_edges: HashMap<InstrSeqId, HashSet<LocalId>>,
    written_in_loop: &'a HashSet<LocalId>,
    inductions: &'a HashMap<LocalId, i64>,
    /// Induction variables stepping by an invariant: their stride's number.
    sym: &'a HashMap<LocalId, u32>,
    strides: &'a [Stride],
    /// The function's locals the loop reads and never writes.
    invariants: &'a HashSet<LocalId>,
    /// Products of an invariant and a counter seen without a stride (the next
    /// round has one).
    requests: Vec<(LocalId, i64)>,
    /// The strides values of this code step by.
    used: HashSet<u32>,
    global_types: &'a HashMap<walrus::GlobalId, ValType>,
    inner: &'a HashMap<InstrSeqId, Inner>,
    /// The block holding clang -Oz's top test, and how many instructions compute
    /// its condition.
    return_guard: Option<(InstrSeqId, usize)>,
    return_guard_len: usize,
    /// Innermost loops whose accesses were checked once, at their entry.
    prechecked: HashSet<InstrSeqId>,
    /// The source sequence being walked.
    walking: InstrSeqId,
    /// The lanes still running, when a branch on a lane-varying condition has
    /// sent some of them ahead (`None`: all lanes run).
    mask: Option<Vec<LocalId>>,
    /// Per block label: the lanes that branched to its end.
    exit_masks: HashMap<InstrSeqId, Vec<LocalId>>,
    /// The outermost block such a branch targets: at its end all lanes run again.
    region_root: Option<InstrSeqId>,
    /// The blocks being walked, outermost first.
    open_blocks: Vec<InstrSeqId>,
    /// The loop depth where lanes started to diverge (they must meet again there).
    depth_at_mask: Option<u32>,
    /// Top-level stores seen so far.
    store_index: usize,
    /// The stacks of the sequences being walked around the current one.
    stacks: Vec<Vec<Val>>,
    /// Per top-level store: its pair (group, 0 or 1) when an unrolled loop writes
    /// two consecutive elements per iteration.
    store_groups: &'a [Option<(usize, u32)>],
    /// Paired stores waiting for their partner.
    pending: HashMap<usize, Vec<PendingStore>>,
    /// Blocks whose branches taken by every lane set a flag (an `i32` local, 0 at
    /// the block's start): their end is also reached where only some lanes run.
    flagged: &'a HashSet<InstrSeqId>,
    /// This round's flag locals.
    flags: HashMap<InstrSeqId, LocalId>,
    /// Blocks found to need a flag (for the next round).
    wants_flags: HashSet<InstrSeqId>,
    /// Per top-level block of the body: the locals it sets to one value on every
    /// path through it (`value_graph::settled_writes`).
    settled: &'a HashMap<InstrSeqId, HashSet<LocalId>>,
    /// Such locals written while only some lanes ran: written for all lanes (every
    /// lane's path writes the same value), so a lane may read them only where
    /// every path has written them.
    early: HashSet<LocalId>,
    stats: Stats,
}

/// An innermost loop inside the lockstep body, with what checking its accesses
/// once at its entry needs.
pub(crate) struct Inner {
    body: LoopBody,
    trip: TripCount,
    steps: HashMap<LocalId, i64>,
}

type Step = Result<(), String>;

/// One store of a pair, waiting for the other: (0 or 1, its lanes, its address,
/// its memarg offset).
type PendingStore = (u32, Vec<LocalId>, LocalId, u64);

/// What one store writes over the whole run, `[lo, hi)`, and where the current
/// block writes (`cur`, advanced after each block by the block's lanes times
/// `width`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Region {
    lo: LocalId,
    hi: LocalId,
    cur: LocalId,
    width: i64,
    /// Bytes per iteration (the width, or twice it for a pair of stores).
    step: i64,
}

impl Lockstep<'_> {
    fn out(&mut self, cur: InstrSeqId) -> walrus::InstrSeqBuilder<'_> {
        self.fb.instr_seq(cur)
    }

    fn class_of(&self, local: LocalId) -> Class {
        self.state.get(&local).copied().unwrap_or(Class::Lin(0))
    }

    /// The state a label expects its edges to arrive in.
    fn target(&mut self, label: InstrSeqId) -> State {
        if let Some(t) = self.targets.get(&label) {
            return t.clone();
        }
        let t = self
            .previous
            .get(&label)
            .cloned()
            .unwrap_or_else(|| self.state.clone());
        self.targets.insert(label, t.clone());
        t
    }

    /// Whether going from here to `target` needs code (a local held as a scalar
    /// here that the label holds in lanes).
    fn needs_conversion(&self, target: &State) -> bool {
        target
            .iter()
            .any(|(local, to)| *to == Class::Vary && self.class_of(*local).scalar())
    }

    /// Records an edge to `label` and emits into `out` what moves the locals into
    /// the label's representation.
    fn edge(&mut self, label: InstrSeqId, out: InstrSeqId) -> Step {
        let target = self.target(label);
        let current = self.state.clone();
        join_states(self.proposed.entry(label).or_default(), &current);
        let must = match self.must_edges.remove(&label) {
            Some(m) => m.intersection(&self.must_written).copied().collect(),
            None => self.must_written.clone(),
        };
        self.must_edges.insert(label, must);
        let mut locals: Vec<(LocalId, Class)> = target.into_iter().collect();
        locals.sort_by_key(|(l, _)| l.index());
        for (local, to) in locals {
            let from = self.class_of(local);
            if from == to || from == Class::Dead {
                continue;
            }
            match (from, to) {
                (Class::Lin(_) | Class::Sym(_), Class::Vary) => {
                    let ty = self.locals.get(local).ty();
                    let v = Val {
                        class: from,
                        ty,
                        repr: Repr::Scalar(local),
                        origin: Origin::Other,
                    };
                    let shadows = self.shadow(local);
                    for (g, sh) in shadows.iter().enumerate() {
                        self.push_group(&v, g as u32, out)?;
                        self.out(out).local_set(*sh);
                    }
                }
                _ => self.unsettled = true,
            }
        }
        Ok(())
    }

    /// Continues after a label: in its state, with the locals written on every
    /// path to it.
    fn arrive(&mut self, label: InstrSeqId) {
        self.state = self.target(label);
        if let Some(must) = self.must_edges.get(&label) {
            self.must_written = must.clone();
        }
    }

    fn scalar_tmp(&mut self, ty: ValType) -> LocalId {
        self.locals.add(ty)
    }

    fn vector_tmp(&mut self) -> Vec<LocalId> {
        (0..self.groups)
            .map(|_| self.locals.add(ValType::V128))
            .collect()
    }

    fn push_scalar(&mut self, v: &Val, cur: InstrSeqId) -> Step {
        match &v.repr {
            Repr::Const(c) => {
                self.out(cur).const_(*c);
            }
            Repr::Scalar(l) => {
                self.out(cur).local_get(*l);
            }
            Repr::Vector(_) => return Err("internal: vector value used as a scalar".into()),
        }
        Ok(())
    }

    /// Pushes group `g` of `v` as a v128.
    fn push_group(&mut self, v: &Val, g: u32, cur: InstrSeqId) -> Step {
        if let Repr::Vector(ls) = &v.repr {
            let l = ls[g as usize];
            self.out(cur).local_get(l);
            return Ok(());
        }
        let splat = match v.ty {
            ValType::I32 => UnaryOp::I32x4Splat,
            ValType::F32 => UnaryOp::F32x4Splat,
            _ => return Err("64-bit values that differ across iterations".into()),
        };
        self.push_scalar(v, cur)?;
        self.out(cur).unop(splat);
        match v.class {
            Class::Lin(0) => {}
            Class::Lin(s) => {
                let mut bytes = [0u8; 16];
                for lane in 0..4u32 {
                    let value = wrap32(s * (4 * g + lane) as i64) as i32;
                    bytes[lane as usize * 4..lane as usize * 4 + 4]
                        .copy_from_slice(&value.to_le_bytes());
                }
                self.out(cur)
                    .const_(Value::V128(u128::from_le_bytes(bytes)))
                    .binop(BinaryOp::I32x4Add);
            }
            Class::Sym(k) => {
                let offsets = self.strides[k as usize].vectors[g as usize];
                self.out(cur).local_get(offsets).binop(BinaryOp::I32x4Add);
            }
            Class::Vary | Class::Dead => return Err("internal: varying value without lanes".into()),
        }
        Ok(())
    }

    fn splat_i32(&mut self, value: i32, cur: InstrSeqId) {
        let lane = value as u32 as u128;
        self.out(cur)
            .const_(Value::V128(lane | lane << 32 | lane << 64 | lane << 96));
    }

    fn read_local(&mut self, local: LocalId, cur: InstrSeqId) -> Result<Val, String> {
        let ty = self.locals.get(local).ty();
        if self.early.contains(&local) && !self.must_written.contains(&local) {
            return Err("a value read where only some lanes have set it".into());
        }
        if !self.must_written.contains(&local)
            && self.written_in_loop.contains(&local)
            && !self.inductions.contains_key(&local)
            && !self.sym.contains_key(&local)
        {
            // Carried from the previous iteration: only induction variables may be.
            return Err("a value carried from one iteration to the next".into());
        }
        // The value refers to the local itself; a later write to the local first
        // copies such references away (`spill`).
        let _ = cur;
        Ok(match self.class_of(local) {
            Class::Dead => return Err("a value carried from one iteration to the next".into()),
            Class::Vary => Val {
                class: Class::Vary,
                ty,
                repr: Repr::Vector(self.shadow(local)),
                origin: Origin::Other,
            },
            class => Val {
                class,
                ty,
                repr: Repr::Scalar(local),
                origin: Origin::Other,
            },
        })
    }

    /// Before `local` (or its lanes) is written: values on any stack that still
    /// refer to it get a copy of what it holds now.
    fn spill(&mut self, local: LocalId, current: &mut [Val], cur: InstrSeqId) {
        let shadows = self.shadows.get(&local).cloned();
        let refers = |v: &Val| match &v.repr {
            Repr::Scalar(l) => *l == local,
            Repr::Vector(ls) => shadows.as_ref() == Some(ls),
            Repr::Const(_) => false,
        };
        let mut stacks = std::mem::take(&mut self.stacks);
        for v in stacks.iter_mut().flatten().chain(current.iter_mut()) {
            if !refers(v) {
                continue;
            }
            match v.repr.clone() {
                Repr::Scalar(l) => {
                    let t = self.scalar_tmp(v.ty);
                    self.out(cur).local_get(l).local_set(t);
                    v.repr = Repr::Scalar(t);
                }
                Repr::Vector(ls) => {
                    let copy = self.vector_tmp();
                    for (s, c) in ls.iter().zip(&copy) {
                        self.out(cur).local_get(*s).local_set(*c);
                    }
                    v.repr = Repr::Vector(copy);
                }
                Repr::Const(_) => {}
            }
        }
        self.stacks = stacks;
    }

    fn shadow(&mut self, local: LocalId) -> Vec<LocalId> {
        if let Some(s) = self.shadows.get(&local) {
            return s.clone();
        }
        let s = self.vector_tmp();
        self.shadows.insert(local, s.clone());
        s
    }

    fn write_local(&mut self, local: LocalId, v: &Val, cur: InstrSeqId) -> Step {
        let settled = matches!(v.class, Class::Lin(_))
            && self
                .open_blocks
                .first()
                .and_then(|b| self.settled.get(b))
                .is_some_and(|set| set.contains(&local));
        if settled && self.mask.is_some() {
            // Every lane's path sets it to this value: all lanes take it now.
            self.early.insert(local);
        } else if let Some(mask) = self.mask.clone() {
            // Only the running lanes take the new value.
            if !self.written_in_loop.contains(&local) {
                return Err("internal: write to a local the loop does not write".into());
            }
            let ty = self.locals.get(local).ty();
            if matches!(ty, ValType::I64 | ValType::F64) {
                return Err("64-bit values that differ across iterations".into());
            }
            let old = match self.class_of(local) {
                Class::Dead => None,
                Class::Vary => Some(Val {
                    class: Class::Vary,
                    ty,
                    repr: Repr::Vector(self.shadow(local)),
                    origin: Origin::Other,
                }),
                class => Some(Val {
                    class,
                    ty,
                    repr: Repr::Scalar(local),
                    origin: Origin::Other,
                }),
            };
            let blended = self.vector_tmp();
            for (g, out) in blended.iter().enumerate() {
                self.push_group(v, g as u32, cur)?;
                match &old {
                    Some(o) => self.push_group(o, g as u32, cur)?,
                    None => self.push_group(v, g as u32, cur)?,
                }
                self.out(cur)
                    .local_get(mask[g])
                    .v128_bitselect()
                    .local_set(*out);
            }
            let shadows = self.shadow(local);
            for (s, b) in shadows.iter().zip(&blended) {
                self.out(cur).local_get(*b).local_set(*s);
            }
            self.must_written.insert(local);
            self.state.insert(local, Class::Vary);
            return Ok(());
        }
        self.must_written.insert(local);
        if self.written_in_loop.contains(&local) {
            self.state.insert(local, v.class);
        } else {
            return Err("internal: write to a local the loop does not write".into());
        }
        match v.class {
            Class::Vary => {
                let shadows = self.shadow(local);
                for (g, s) in shadows.iter().enumerate() {
                    self.push_group(v, g as u32, cur)?;
                    self.out(cur).local_set(*s);
                }
            }
            Class::Lin(_) | Class::Sym(_) => {
                self.push_scalar(v, cur)?;
                self.out(cur).local_set(local);
            }
            Class::Dead => return Err("internal: dead value".into()),
        }
        Ok(())
    }

    /// Leaves the lockstep code unless `[addr + offset, + bytes)` lies inside memory
    /// (when `bounds`) and outside every store range.
    fn check(
        &mut self,
        addr: &Val,
        offset: u64,
        bytes: u64,
        bounds: bool,
        cur: InstrSeqId,
    ) -> Step {
        if (!bounds && self.regions.is_empty()) || self.prechecked.contains(&self.walking) {
            return Ok(());
        }
        let x = self.scalar_tmp(ValType::I64);
        self.push_scalar(addr, cur)?;
        let (bail, memory_bytes) = (self.bail, self.memory_bytes);
        self.out(cur)
            .unop(UnaryOp::I64ExtendUI32)
            .i64_const(offset as i64)
            .binop(BinaryOp::I64Add)
            .local_set(x);
        if bounds {
            self.out(cur)
                .local_get(x)
                .i64_const(bytes as i64)
                .binop(BinaryOp::I64Add)
                .local_get(memory_bytes)
                .binop(BinaryOp::I64GtU)
                .br_if(bail);
        }
        let lanes = 4 * self.groups as i64;
        let seen = self.store_index;
        for (index, r) in self.regions.iter().copied().enumerate() {
            self.out(cur)
                .local_get(x)
                .local_get(r.hi)
                .binop(BinaryOp::I64LtU)
                .local_get(x)
                .i64_const(bytes as i64)
                .binop(BinaryOp::I64Add)
                .local_get(r.lo)
                .binop(BinaryOp::I64GtU)
                .binop(BinaryOp::I32And);
            // Reading exactly the elements this block's lanes store, each lane its
            // own, before the store (`C[j] = f(C[j])`), is in place: allowed.
            // (Only before that store: after it the lane must see its new value.)
            if bounds && r.step == r.width && bytes as i64 == lanes * r.width && index >= seen {
                self.out(cur)
                    .local_get(x)
                    .local_get(r.cur)
                    .binop(BinaryOp::I64Ne)
                    .binop(BinaryOp::I32And);
            }
            self.out(cur).br_if(bail);
        }
        Ok(())
    }

    /// The stride `factor` times stride `k`, if it is kept.
    fn scaled(&self, k: u32, factor: i64) -> Option<u32> {
        let s = &self.strides[k as usize];
        let want = s.factor.checked_mul(factor)?;
        self.strides
            .iter()
            .position(|t| t.base == s.base && t.factor == want)
            .map(|i| i as u32)
    }

    /// [`Self::check`] for a load whose lanes lie `S` (stride `k`) apart: the
    /// range from the lowest lane's `[addr + offset, + bytes)` to the highest's,
    /// computed in i64 (inside memory, no lane's address wrapped).
    fn check_spread(
        &mut self,
        addr: &Val,
        k: u32,
        offset: u64,
        bytes: u64,
        cur: InstrSeqId,
    ) -> Step {
        if self.prechecked.contains(&self.walking) {
            return Ok(());
        }
        let (lo, hi, d) = (
            self.scalar_tmp(ValType::I64),
            self.scalar_tmp(ValType::I64),
            self.scalar_tmp(ValType::I64),
        );
        self.push_scalar(addr, cur)?;
        let (bail, memory_bytes) = (self.bail, self.memory_bytes);
        let lanes = 4 * self.groups as i64;
        let stride = self.strides[k as usize].value;
        let regions = self.regions.to_vec();
        let mut seq = self.fb.instr_seq(cur);
        // Lane 0's range, then stretched to the lowest and highest lane's.
        seq.unop(UnaryOp::I64ExtendUI32)
            .i64_const(offset as i64)
            .binop(BinaryOp::I64Add)
            .local_tee(lo)
            .i64_const(bytes as i64)
            .binop(BinaryOp::I64Add)
            .local_set(hi);
        emit_spread(stride, lanes, d, lo, &mut seq);
        emit_spread_high(d, hi, &mut seq);
        emit_range_exit(lo, hi, 0, memory_bytes, &regions, bail, &mut seq);
        Ok(())
    }

    /// `G` locals holding `value` in every lane (all-ones or zeros).
    fn mask_of(&mut self, ones: bool, cur: InstrSeqId) -> Vec<LocalId> {
        let out = self.vector_tmp();
        for o in &out {
            self.splat_i32(if ones { -1 } else { 0 }, cur);
            self.out(cur).local_set(*o);
        }
        out
    }

    /// The lanes where `c` is non-zero.
    fn cond_mask(&mut self, c: &Val, cur: InstrSeqId) -> Result<Vec<LocalId>, String> {
        let out = self.vector_tmp();
        for (g, o) in out.iter().enumerate() {
            self.push_group(c, g as u32, cur)?;
            self.splat_i32(0, cur);
            self.out(cur).binop(BinaryOp::I32x4Ne).local_set(*o);
        }
        Ok(out)
    }

    /// `a & b` (or `a & !b` with `not_b`), lane by lane, into new locals.
    fn mask_and(
        &mut self,
        a: &[LocalId],
        b: &[LocalId],
        not_b: bool,
        cur: InstrSeqId,
    ) -> Vec<LocalId> {
        let out = self.vector_tmp();
        for g in 0..out.len() {
            self.out(cur)
                .local_get(a[g])
                .local_get(b[g])
                .binop(if not_b {
                    BinaryOp::V128AndNot
                } else {
                    BinaryOp::V128And
                })
                .local_set(out[g]);
        }
        out
    }

    fn mask_or(&mut self, a: &[LocalId], b: &[LocalId], cur: InstrSeqId) -> Vec<LocalId> {
        let out = self.vector_tmp();
        for g in 0..out.len() {
            self.out(cur)
                .local_get(a[g])
                .local_get(b[g])
                .binop(BinaryOp::V128Or)
                .local_set(out[g]);
        }
        out
    }

    /// The flag of block `label` that branches taken by every lane set, if the
    /// block has one.
    fn flag_of(&mut self, label: InstrSeqId) -> Option<LocalId> {
        if !self.flagged.contains(&label) || !self.open_blocks.contains(&label) {
            return None;
        }
        if let Some(f) = self.flags.get(&label) {
            return Some(*f);
        }
        let f = self.locals.add(ValType::I32);
        self.flags.insert(label, f);
        Some(f)
    }

    /// A branch to block `label` taken by the running lanes where `cond` holds
    /// (all running lanes without one): they wait at the block's end.
    fn masked_branch(&mut self, label: InstrSeqId, cond: Option<&Val>, cur: InstrSeqId) -> Step {
        let key = self.label_key(label);
        if !self.open_blocks.contains(&key) {
            return Err("a branch that depends on the iteration leaves a loop".into());
        }
        if self.depth_at_mask.is_some_and(|d| d != self.depth) {
            return Err("a branch that depends on the iteration inside a nested loop".into());
        }
        self.depth_at_mask = Some(self.depth);
        let running = match self.mask.clone() {
            Some(m) => m,
            None => self.mask_of(true, cur),
        };
        let taken = match cond {
            Some(c) => {
                let cm = self.cond_mask(c, cur)?;
                self.mask_and(&running, &cm, false, cur)
            }
            None => running.clone(),
        };
        let waiting = match self.exit_masks.remove(&key) {
            Some(w) => self.mask_or(&w, &taken, cur),
            None => taken.clone(),
        };
        self.exit_masks.insert(key, waiting);
        let must = match self.must_edges.remove(&key) {
            Some(m) => m.intersection(&self.must_written).copied().collect(),
            None => self.must_written.clone(),
        };
        self.must_edges.insert(key, must);
        // The outermost targeted block ends the region.
        let position = |b: &InstrSeqId| self.open_blocks.iter().position(|o| o == b);
        if self
            .region_root
            .is_none_or(|root| position(&key) < position(&root))
        {
            self.region_root = Some(key);
        }
        self.mask = Some(self.mask_and(&running, &taken, true, cur));
        Ok(())
    }

    /// Checks, at the entry of innermost loop `src`, every range its loads read
    /// over all its iterations, so that the loads inside need no check. Does
    /// nothing (the loads keep their own checks) when the loop's trip count or an
    /// address is not understood.
    fn precheck(&mut self, src: InstrSeqId, cur: InstrSeqId) -> Step {
        let Some(inner) = self.inner.get(&src) else {
            return Ok(());
        };
        let head = self.target(src);
        let class_at_head = |local: LocalId| head.get(&local).copied().unwrap_or(Class::Lin(0));
        // Each load: its address, offset, the bytes a lockstep access covers, and
        // its growth per iteration.
        let mut ranges = Vec::new();
        for node in inner.body.graph.node_indices() {
            let crate::analysis::value_graph::Node::Load {
                memory, kind, arg, ..
            } = inner.body.graph[node]
            else {
                continue;
            };
            if memory != self.memory {
                return Ok(());
            }
            let addr = inner.body.operands(node)[0];
            let Some(form) = affine_i32(&inner.body, addr) else {
                return Ok(());
            };
            let mut lanes = 0i64;
            // Lanes a stride apart (a row pointer): its number.
            let mut spread = None;
            for (atom, coef) in &form.terms {
                let class = match &inner.body.graph[*atom] {
                    crate::analysis::value_graph::Node::Phi(local) => class_at_head(*local),
                    _ => {
                        // An invariant expression: the same in every lane if every
                        // local under it is.
                        let uniform = inner.body.loads_under(*atom).is_empty()
                            && inner.body.graph.node_indices().all(|n| {
                                !inner.body.uses(*atom, n)
                                    || !matches!(
                                        &inner.body.graph[n],
                                        crate::analysis::value_graph::Node::Phi(l)
                                            if class_at_head(*l) != Class::Lin(0)
                                    )
                            });
                        if uniform {
                            Class::Lin(0)
                        } else {
                            return Ok(());
                        }
                    }
                };
                match class {
                    Class::Lin(s) => lanes = wrap32(lanes + coef * s),
                    Class::Sym(k) if *coef == 1 && spread.is_none() => spread = Some(k),
                    _ => return Ok(()),
                }
            }
            let width = kind.width() as i64;
            let per_group = match kind {
                LoadKind::F32 | LoadKind::I32 { .. } => 16,
                LoadKind::I32_8 { .. } => 4,
                LoadKind::I32_16 { .. } => 8,
                _ => return Ok(()),
            };
            let bytes = match (lanes, spread) {
                (0, _) => width,
                (s, None) if s == width => per_group * self.groups as i64,
                _ => return Ok(()),
            };
            let Some(inc) = step_of(&inner.body, &form, &inner.steps) else {
                return Ok(());
            };
            ranges.push((addr, arg.offset as i64, bytes, inc, spread));
        }
        let l = GuardLocals {
            x0: self.locals.add(ValType::I64),
            k: self.locals.add(ValType::I64),
            iterations: self.locals.add(ValType::I64),
            memory_bytes: self.memory_bytes,
        };
        let (lo, hi) = (self.locals.add(ValType::I64), self.locals.add(ValType::I64));
        let (first, last) = (self.locals.add(ValType::I64), self.locals.add(ValType::I64));
        let d = self.locals.add(ValType::I64);
        let lanes = 4 * self.groups as i64;
        let strides: Vec<LocalId> = self.strides.iter().map(|s| s.value).collect();
        let bail = self.bail;
        let regions = self.regions.to_vec();
        let mut seq = self.fb.instr_seq(cur);
        // Iterations that may run the loads: k + 1 (a top-tested loop may read
        // before its test once more; a bottom-tested one runs k + 1 times).
        emit_first_failing(&inner.body, &inner.trip, &l, bail, &mut seq);
        seq.local_get(l.k)
            .i64_const(1)
            .binop(BinaryOp::I64Add)
            .local_set(l.iterations);
        for (addr, offset, bytes, (inc_terms, inc_constant), spread) in ranges {
            // first = addr + offset; last = first + step * (iterations - 1), the
            // step as the i32 the loop adds (wrapping), sign-extended: the range is
            // exact when both ends lie in [0, 2^32), which the checks below ask.
            emit_entry_value(&inner.body, addr, &mut seq);
            seq.unop(UnaryOp::I64ExtendUI32)
                .i64_const(offset)
                .binop(BinaryOp::I64Add)
                .local_tee(first)
                .local_get(l.iterations)
                .i64_const(1)
                .binop(BinaryOp::I64Sub);
            seq.i32_const(inc_constant as i32);
            for (atom, coef) in &inc_terms {
                emit_entry_value(&inner.body, *atom, &mut seq);
                seq.i32_const(*coef as i32)
                    .binop(BinaryOp::I32Mul)
                    .binop(BinaryOp::I32Add);
            }
            seq.unop(UnaryOp::I64ExtendSI32)
                .binop(BinaryOp::I64Mul)
                .binop(BinaryOp::I64Add)
                .local_set(last);
            // lo = min(first, last), hi = max(first, last)
            seq.local_get(first)
                .local_get(last)
                .local_get(first)
                .local_get(last)
                .binop(BinaryOp::I64LtS)
                .select(None)
                .local_set(lo)
                .local_get(last)
                .local_get(first)
                .local_get(first)
                .local_get(last)
                .binop(BinaryOp::I64LtS)
                .select(None)
                .local_set(hi);
            // Lanes a stride apart: from the lowest lane's range to the highest's
            // (the corners of lanes x iterations).
            if let Some(k) = spread {
                emit_spread(strides[k as usize], lanes, d, lo, &mut seq);
                emit_spread_high(d, hi, &mut seq);
            }
            emit_range_exit(lo, hi, bytes, l.memory_bytes, &regions, bail, &mut seq);
        }
        self.prechecked.insert(src);
        Ok(())
    }

    fn memarg(offset: u64) -> Result<MemArg, String> {
        if offset > u32::MAX as u64 - 64 {
            return Err("memory offset too large".into());
        }
        Ok(MemArg { align: 1, offset })
    }

    /// Walks source sequence `src`, emitting into `cur`. `top`: the loop body itself
    /// (or the body of a Binaryen-style `if`-guarded loop).
    fn walk(&mut self, src: InstrSeqId, cur: InstrSeqId, top: bool) -> Step {
        let outer = std::mem::replace(&mut self.walking, src);
        let result = self.walk_instrs(src, cur, top);
        self.walking = outer;
        result
    }

    fn walk_instrs(&mut self, src: InstrSeqId, cur: InstrSeqId, top: bool) -> Step {
        let instrs = self.src[&src].1.clone();
        let last = instrs.len().saturating_sub(1);
        // This sequence's stack lives on `stacks` while nested ones are walked, so
        // that `spill` sees it.
        self.stacks.push(Vec::new());
        let mut result = Ok(());
        for (position, instr) in instrs.iter().enumerate() {
            let closing = top && position == last;
            let mut stack = self.stacks.pop().unwrap_or_default();
            result = self.step(instr, &mut stack, cur, top, closing);
            self.stacks.push(stack);
            if result.is_err() {
                break;
            }
        }
        self.stacks.pop();
        result
    }

    fn pop(stack: &mut Vec<Val>) -> Result<Val, String> {
        stack
            .pop()
            .ok_or_else(|| "loop body reads values from outside it".to_string())
    }

    fn nested(&mut self, src: InstrSeqId, is_loop: bool) -> Result<InstrSeqId, String> {
        let ty = self.src[&src].0;
        if !matches!(ty, InstrSeqType::Simple(None)) {
            return Err("nested block with parameters or results".into());
        }
        if self.stored {
            return Err("nested block after a store".into());
        }
        let new = self.fb.dangling_instr_seq(None).id();
        self.labels.insert(src, new);
        if is_loop {
            self.depth += 1;
            self.stats.depth = self.stats.depth.max(self.depth);
            self.arrive(src);
        }
        self.walk(src, new, false)?;
        if is_loop {
            self.depth -= 1;
        }
        Ok(new)
    }

    /// The label a branch to `seq` reaches (an `if`'s two arms share one).
    fn label_key(&self, seq: InstrSeqId) -> InstrSeqId {
        self.arms.get(&seq).copied().unwrap_or(seq)
    }

    /// The `else` arm of an `if` whose label is `consequent`.
    fn nested_arm(
        &mut self,
        src: InstrSeqId,
        consequent: InstrSeqId,
    ) -> Result<InstrSeqId, String> {
        self.arms.insert(src, consequent);
        let new = self.nested(src, false)?;
        // Branches to the else arm are mapped to its own new sequence.
        Ok(new)
    }

    fn step(
        &mut self,
        instr: &Instr,
        stack: &mut Vec<Val>,
        cur: InstrSeqId,
        top: bool,
        closing: bool,
    ) -> Step {
        match instr {
            Instr::LocalGet(g) => {
                let v = self.read_local(g.local, cur)?;
                stack.push(v);
            }
            Instr::LocalSet(s) => {
                let mut v = Self::pop(stack)?;
                self.spill(s.local, std::slice::from_mut(&mut v), cur);
                self.spill(s.local, stack, cur);
                self.write_local(s.local, &v, cur)?;
            }
            Instr::LocalTee(t) => {
                let mut v = Self::pop(stack)?;
                self.spill(t.local, std::slice::from_mut(&mut v), cur);
                self.spill(t.local, stack, cur);
                self.write_local(t.local, &v, cur)?;
                stack.push(v);
            }
            Instr::Const(c) => {
                let ty = match c.value {
                    Value::I32(_) => ValType::I32,
                    Value::I64(_) => ValType::I64,
                    Value::F32(_) => ValType::F32,
                    Value::F64(_) => ValType::F64,
                    Value::V128(_) => return Err("function already uses SIMD".into()),
                };
                stack.push(Val {
                    class: Class::Lin(0),
                    ty,
                    repr: Repr::Const(c.value),
                    origin: Origin::Other,
                });
            }
            Instr::GlobalGet(g) => {
                let ty = self.global_types[&g.global];
                let t = self.scalar_tmp(ty);
                self.out(cur).global_get(g.global).local_set(t);
                stack.push(Val {
                    class: Class::Lin(0),
                    ty,
                    repr: Repr::Scalar(t),
                    origin: Origin::Other,
                });
            }
            Instr::Drop(_) => {
                Self::pop(stack)?;
            }
            Instr::Unop(u) => {
                let a = Self::pop(stack)?;
                let v = self.unop(u.op, &a, cur)?;
                stack.push(v);
            }
            Instr::Binop(b) => {
                let rhs = Self::pop(stack)?;
                let lhs = Self::pop(stack)?;
                let v = self.binop(b.op, &lhs, &rhs, cur)?;
                stack.push(v);
            }
            Instr::Select(_) => {
                let c = Self::pop(stack)?;
                let b = Self::pop(stack)?;
                let a = Self::pop(stack)?;
                let v = self.select(&a, &b, &c, cur)?;
                stack.push(v);
            }
            Instr::Load(l) => {
                let addr = Self::pop(stack)?;
                let v = self.load(l.memory, l.kind, l.arg, &addr, cur)?;
                stack.push(v);
            }
            Instr::Store(s) => {
                let value = Self::pop(stack)?;
                let addr = Self::pop(stack)?;
                if !top {
                    return Err("store inside a nested loop or block".into());
                }
                self.store(s.memory, s.kind, s.arg, &addr, &value, cur)?;
            }
            // clang -Oz's top test, `block { cond; br_if 0; <exit>; return }`:
            // the trip count covers it, and the exit runs after the last
            // iteration, in the original loop.
            Instr::Block(b)
                if top
                    && !self.top_exit_seen
                    && !self.stored
                    && self.return_guard == Some((b.seq, self.return_guard_len)) =>
            {
                self.top_exit_seen = true;
                let instrs = self.src[&b.seq].1[..self.return_guard_len].to_vec();
                let mut inner: Vec<Val> = Vec::new();
                let outer = std::mem::replace(&mut self.walking, b.seq);
                for instr in &instrs {
                    self.step(instr, &mut inner, cur, false, false)?;
                }
                self.walking = outer;
                Self::pop(&mut inner)?;
            }
            Instr::Block(b) => {
                self.open_blocks.push(b.seq);
                let new = self.nested(b.seq, false);
                self.open_blocks.pop();
                let new = new?;
                if let Some(flag) = self.flags.get(&b.seq).copied() {
                    self.out(cur).i32_const(0).local_set(flag);
                }
                self.out(cur).instr(Block { seq: new });
                // Branches taken by every lane (before any lane left the others)
                // arrive with all lanes running.
                let every_lane = self.proposed.contains_key(&b.seq);
                let waiting = self.exit_masks.remove(&b.seq);
                if waiting.is_none() && self.mask.is_none() {
                    // Falling out of the block is an edge to its end.
                    self.edge(b.seq, new)?;
                    self.arrive(b.seq);
                } else {
                    if every_lane {
                        self.edge(b.seq, new)?;
                        self.arrive(b.seq);
                    }
                    if let Some(waiting) = waiting {
                        // Lanes that branched here run again; locals are as written
                        // (blended) on every path.
                        let running = match self.mask.clone() {
                            Some(m) => self.mask_or(&m, &waiting, cur),
                            None => waiting,
                        };
                        self.mask = Some(running);
                        if let Some(must) = self.must_edges.get(&b.seq) {
                            self.must_written =
                                must.intersection(&self.must_written).copied().collect();
                        }
                    }
                    if self.region_root == Some(b.seq) {
                        self.mask = None;
                        self.region_root = None;
                        self.depth_at_mask = None;
                    } else if every_lane {
                        // Lanes may still differ here, but where a branch taken by
                        // every lane arrived, all run (its flag says so; the
                        // fall-through's mask was never computed on that path).
                        match (self.flags.get(&b.seq).copied(), self.mask.clone()) {
                            (Some(flag), Some(mask)) => {
                                let running = self.vector_tmp();
                                for (g, r) in running.iter().enumerate() {
                                    self.splat_i32(-1, cur);
                                    self.out(cur)
                                        .local_get(mask[g])
                                        .local_get(flag)
                                        .select(Some(ValType::V128))
                                        .local_set(*r);
                                }
                                self.mask = Some(running);
                            }
                            _ => {
                                self.wants_flags.insert(b.seq);
                                self.unsettled = true;
                            }
                        }
                    }
                }
            }
            Instr::Loop(_) | Instr::IfElse(_) | Instr::Unreachable(_) if self.mask.is_some() => {
                return Err("control flow on a path that depends on the iteration".into());
            }
            Instr::Loop(l) => {
                // Entering is an edge to the loop's head; falling out of its body
                // leaves it in the state the body ends in.
                self.edge(l.seq, cur)?;
                self.precheck(l.seq, cur)?;
                let new = self.nested(l.seq, true)?;
                self.out(cur).instr(Loop { seq: new });
            }
            Instr::IfElse(i) => {
                let c = Self::pop(stack)?;
                // Binaryen's top-tested loop: `loop { cond; if { body; br loop } }`
                // (the condition is the loop's own test).
                if closing
                    && self.src[&i.alternative].1.is_empty()
                    && matches!(self.src[&i.consequent].1.last(),
                        Some(Instr::Br(br)) if br.block == self.loop_seq)
                {
                    return self.walk(i.consequent, cur, true);
                }
                if c.class != Class::Lin(0) {
                    return Err("a branch that depends on the iteration".into());
                }
                // Both arms start here and meet at the label of the consequent.
                let start = (self.state.clone(), self.must_written.clone());
                let then = self.nested(i.consequent, false)?;
                self.edge(i.consequent, then)?;
                (self.state, self.must_written) = start;
                let otherwise = self.nested_arm(i.alternative, i.consequent)?;
                self.edge(i.consequent, otherwise)?;
                self.arrive(i.consequent);
                self.push_scalar(&c, cur)?;
                self.out(cur).instr(IfElse {
                    consequent: then,
                    alternative: otherwise,
                });
            }
            Instr::Br(b) if self.mask.is_some() && self.labels.contains_key(&b.block) => {
                self.masked_branch(b.block, None, cur)?;
            }
            Instr::Br(b) => match self.labels.get(&b.block) {
                Some(target) => {
                    let target = *target;
                    let key = self.label_key(b.block);
                    self.edge(key, cur)?;
                    if let Some(flag) = self.flag_of(key) {
                        self.out(cur).i32_const(1).local_set(flag);
                    }
                    self.out(cur).br(target);
                }
                None if closing && b.block == self.loop_seq => {}
                None => return Err("branch out of the loop body".into()),
            },
            Instr::BrIf(b) => {
                let c = Self::pop(stack)?;
                match self.labels.get(&b.block) {
                    Some(_) if c.class != Class::Lin(0) || self.mask.is_some() => {
                        if self.stored {
                            return Err("a branch that depends on the iteration".into());
                        }
                        self.masked_branch(b.block, Some(&c), cur)?;
                    }
                    Some(target) => {
                        let target = *target;
                        let key = self.label_key(b.block);
                        let expected = self.target(key);
                        self.push_scalar(&c, cur)?;
                        let flag = self.flag_of(key);
                        if self.needs_conversion(&expected) {
                            let taken = self.fb.dangling_instr_seq(None).id();
                            let empty = self.fb.dangling_instr_seq(None).id();
                            self.edge(key, taken)?;
                            if let Some(flag) = flag {
                                self.out(taken).i32_const(1).local_set(flag);
                            }
                            self.out(taken).br(target);
                            self.out(cur).instr(IfElse {
                                consequent: taken,
                                alternative: empty,
                            });
                        } else {
                            self.edge(key, cur)?;
                            if let Some(flag) = flag {
                                self.out(cur).local_tee(flag);
                            }
                            self.out(cur).br_if(target);
                        }
                    }
                    // The loop's own test: the block's trip count covers it.
                    None if closing && b.block == self.loop_seq => {}
                    None if top && !self.top_exit_seen && !self.stored && self.depth == 0 => {
                        self.top_exit_seen = true;
                    }
                    None => return Err("branch out of the loop body".into()),
                }
            }
            Instr::Unreachable(_) if !self.stored => {
                self.out(cur).unreachable();
            }
            Instr::Call(_) | Instr::CallIndirect(_) | Instr::CallRef(_) => {
                return Err("call inside the loop".into())
            }
            Instr::Return(_) => return Err("return inside the loop".into()),
            other => {
                let name = format!("{other:?}");
                let name = name
                    .split([' ', '(', '{'])
                    .next()
                    .unwrap_or("?")
                    .to_string();
                return Err(format!("unsupported instruction in the loop ({name})"));
            }
        }
        Ok(())
    }

    fn unop(&mut self, op: UnaryOp, a: &Val, cur: InstrSeqId) -> Result<Val, String> {
        let ty = unop_type(op).ok_or_else(|| format!("unsupported operator {op:?}"))?;
        let trapping = matches!(op, UnaryOp::I32TruncSF32 | UnaryOp::I32TruncUF32);
        if trapping && (a.class != Class::Lin(0) || self.mask.is_some()) {
            return self.checked_truncation(op, a, cur);
        }
        if a.class == Class::Lin(0) {
            let t = self.scalar_tmp(ty);
            self.push_scalar(a, cur)?;
            self.out(cur).unop(op).local_set(t);
            return Ok(Val {
                class: Class::Lin(0),
                ty,
                repr: Repr::Scalar(t),
                origin: a.origin,
            });
        }
        let mapped = simd::unop(op, Lanes::F32x4)
            .ok_or_else(|| format!("no lane-wise SIMD form for {op:?}"))?;
        match op {
            UnaryOp::I32TruncSSatF32 | UnaryOp::I32TruncUSatF32 => self.stats.float_to_int = true,
            UnaryOp::F32ConvertSI32 | UnaryOp::F32ConvertUI32 => self.stats.int_to_float = true,
            _ => {}
        }
        let out = self.vector_tmp();
        for (g, o) in out.iter().enumerate() {
            self.push_group(a, g as u32, cur)?;
            match mapped {
                VectorUnop::Plain(v) => {
                    self.out(cur).unop(v);
                }
                VectorUnop::Identity => {}
                VectorUnop::Chain(ops) => {
                    for v in ops {
                        self.out(cur).unop(*v);
                    }
                }
                VectorUnop::Eqz => {
                    self.splat_i32(0, cur);
                    self.out(cur).binop(BinaryOp::I32x4Eq);
                    self.splat_i32(1, cur);
                    self.out(cur).binop(BinaryOp::V128And);
                }
            }
            self.out(cur).local_set(*o);
        }
        Ok(Val {
            class: Class::Vary,
            ty,
            repr: Repr::Vector(out),
            origin: a.origin,
        })
    }

    /// `i32.trunc_f32_s/u` on every lane: the saturating SIMD form, after leaving
    /// the lockstep code if a running lane holds a value the scalar form traps on
    /// (NaN, out of range), so that the original loop traps there.
    fn checked_truncation(&mut self, op: UnaryOp, a: &Val, cur: InstrSeqId) -> Result<Val, String> {
        if self.stored {
            return Err("a conversion that may trap after a store".into());
        }
        let signed = matches!(op, UnaryOp::I32TruncSF32);
        self.stats.float_to_int = true;
        // In range: lo < v < hi (exclusive bounds, exact in f32); NaN fails both.
        let (lo, hi) = if signed {
            (-2147483904.0f32, 2147483648.0f32)
        } else {
            (-1.0f32, 4294967296.0f32)
        };
        let running = match self.mask.clone() {
            Some(m) => m,
            None => self.mask_of(true, cur),
        };
        let bail = self.bail;
        let out = self.vector_tmp();
        for (g, o) in out.iter().enumerate() {
            let g32 = g as u32;
            // running & !(lo < v < hi): any such lane leaves.
            self.out(cur).local_get(running[g]);
            self.push_group(a, g32, cur)?;
            self.splat_f32(lo, cur);
            self.out(cur).binop(BinaryOp::F32x4Gt);
            self.push_group(a, g32, cur)?;
            self.splat_f32(hi, cur);
            self.out(cur)
                .binop(BinaryOp::F32x4Lt)
                .binop(BinaryOp::V128And)
                .binop(BinaryOp::V128AndNot)
                .unop(UnaryOp::V128AnyTrue)
                .br_if(bail);
            self.push_group(a, g32, cur)?;
            self.out(cur)
                .unop(if signed {
                    UnaryOp::I32x4TruncSatF32x4S
                } else {
                    UnaryOp::I32x4TruncSatF32x4U
                })
                .local_set(*o);
        }
        Ok(Val {
            class: Class::Vary,
            ty: ValType::I32,
            repr: Repr::Vector(out),
            origin: Origin::Other,
        })
    }

    fn splat_f32(&mut self, value: f32, cur: InstrSeqId) {
        let lane = value.to_bits() as u128;
        self.out(cur)
            .const_(Value::V128(lane | lane << 32 | lane << 64 | lane << 96));
    }

    fn binop(&mut self, op: BinaryOp, a: &Val, b: &Val, cur: InstrSeqId) -> Result<Val, String> {
        if self.mask.is_some()
            && matches!(
                op,
                BinaryOp::I32DivS
                    | BinaryOp::I32DivU
                    | BinaryOp::I32RemS
                    | BinaryOp::I32RemU
                    | BinaryOp::I64DivS
                    | BinaryOp::I64DivU
                    | BinaryOp::I64RemS
                    | BinaryOp::I64RemU
            )
        {
            return Err("a division on a lane-varying path".into());
        }
        let ty = binop_type(op).ok_or_else(|| format!("unsupported operator {op:?}"))?;
        let constant = |v: &Val| match v.repr {
            Repr::Const(Value::I32(c)) => Some(c as i64),
            _ => None,
        };
        // A product of a value loaded per lane with one shared by all lanes.
        let shared = |v: &Val| v.origin == Origin::UniformLoad || v.class == Class::Lin(0);
        let product = matches!(op, BinaryOp::F32Mul | BinaryOp::I32Mul)
            && ((a.origin == Origin::LaneLoad && shared(b))
                || (b.origin == Origin::LaneLoad && shared(a)));
        if product {
            self.stats.products += 1;
            if self.depth > 0 {
                self.stats.products_in_loops += 1;
            }
        }
        // A row pointer moved by an invariant amount steps by the same stride.
        let stride = match (op, a.class, b.class) {
            (BinaryOp::I32Add, Class::Sym(k), Class::Lin(0))
            | (BinaryOp::I32Add, Class::Lin(0), Class::Sym(k))
            | (BinaryOp::I32Sub, Class::Sym(k), Class::Lin(0)) => Some(k),
            // Scaled by a constant: the stride scaled alike (kept at 2, 4, 8).
            (BinaryOp::I32Shl, Class::Sym(k), Class::Lin(0)) => {
                constant(b).and_then(|c| self.scaled(k, 1i64.checked_shl((c & 31) as u32)?))
            }
            (BinaryOp::I32Mul, Class::Sym(k), Class::Lin(0)) => {
                constant(b).and_then(|c| self.scaled(k, c))
            }
            (BinaryOp::I32Mul, Class::Lin(0), Class::Sym(k)) => {
                constant(a).and_then(|c| self.scaled(k, c))
            }
            // An invariant local times a counter (`i * n`): lanes `s * n` apart.
            (BinaryOp::I32Mul, Class::Lin(x), Class::Lin(y)) if (x == 0) != (y == 0) => {
                let (step, other) = if x != 0 { (x, b) } else { (y, a) };
                match other.repr {
                    // (A local of the function the loop never writes: not a
                    // temporary of this code, which may hold a per-iteration value.)
                    Repr::Scalar(local) if self.invariants.contains(&local) => {
                        let found = self
                            .strides
                            .iter()
                            .position(|t| t.factor == 1 && t.product == Some((local, step)));
                        if found.is_none() && !self.requests.contains(&(local, step)) {
                            self.requests.push((local, step));
                        }
                        found.map(|i| i as u32)
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        if let Some(k) = stride {
            self.used.insert(k);
            let t = self.scalar_tmp(ty);
            self.push_scalar(a, cur)?;
            self.push_scalar(b, cur)?;
            self.out(cur).binop(op).local_set(t);
            return Ok(Val {
                class: Class::Sym(k),
                ty,
                repr: Repr::Scalar(t),
                origin: Origin::Other,
            });
        }
        if let (Class::Lin(x), Class::Lin(y)) = (a.class, b.class) {
            use BinaryOp::*;
            let lin = match op {
                I32Add => Some(wrap32(x + y)),
                I32Sub => Some(wrap32(x - y)),
                I32Mul => match (constant(a), constant(b)) {
                    (_, Some(c)) => Some(wrap32(x * c)),
                    (Some(c), _) => Some(wrap32(y * c)),
                    _ if x == 0 && y == 0 => Some(0),
                    _ => None,
                },
                I32Shl => match constant(b) {
                    Some(c) => Some(wrap32(x.wrapping_shl((c & 31) as u32))),
                    None if x == 0 && y == 0 => Some(0),
                    None => None,
                },
                _ if x == 0 && y == 0 => Some(0),
                _ => None,
            };
            if let Some(s) = lin {
                let t = self.scalar_tmp(ty);
                self.push_scalar(a, cur)?;
                self.push_scalar(b, cur)?;
                self.out(cur).binop(op).local_set(t);
                let origin = if a.origin == b.origin {
                    a.origin
                } else {
                    Origin::Other
                };
                return Ok(Val {
                    class: Class::Lin(s),
                    ty,
                    repr: Repr::Scalar(t),
                    origin,
                });
            }
        }
        let mapped = simd::binop(op, Lanes::F32x4)
            .ok_or_else(|| format!("no lane-wise SIMD form for {op:?}"))?;
        let out = self.vector_tmp();
        for (g, o) in out.iter().enumerate() {
            let g = g as u32;
            match mapped {
                VectorBinop::Plain(v) => {
                    self.push_group(a, g, cur)?;
                    self.push_group(b, g, cur)?;
                    self.out(cur).binop(v);
                }
                VectorBinop::Compare(v) => {
                    self.push_group(a, g, cur)?;
                    self.push_group(b, g, cur)?;
                    self.out(cur).binop(v);
                    self.splat_i32(1, cur);
                    self.out(cur).binop(BinaryOp::V128And);
                }
                VectorBinop::Shift(v) => {
                    if b.class != Class::Lin(0) {
                        return Err("shift by an amount that differs across iterations".into());
                    }
                    self.push_group(a, g, cur)?;
                    self.push_scalar(b, cur)?;
                    self.out(cur).binop(v);
                }
                VectorBinop::Copysign => {
                    self.push_group(b, g, cur)?;
                    self.push_group(a, g, cur)?;
                    self.splat_i32(i32::MIN, cur);
                    self.out(cur).v128_bitselect();
                }
            }
            self.out(cur).local_set(*o);
        }
        Ok(Val {
            class: Class::Vary,
            ty,
            repr: Repr::Vector(out),
            origin: Origin::Other,
        })
    }

    fn select(&mut self, a: &Val, b: &Val, c: &Val, cur: InstrSeqId) -> Result<Val, String> {
        if c.class == Class::Lin(0)
            && a.class == b.class
            && a.class != Class::Vary
            && !matches!(a.repr, Repr::Vector(_))
            && !matches!(b.repr, Repr::Vector(_))
        {
            let t = self.scalar_tmp(a.ty);
            self.push_scalar(a, cur)?;
            self.push_scalar(b, cur)?;
            self.push_scalar(c, cur)?;
            self.out(cur).select(None).local_set(t);
            return Ok(Val {
                class: a.class,
                ty: a.ty,
                repr: Repr::Scalar(t),
                origin: Origin::Other,
            });
        }
        let out = self.vector_tmp();
        for (g, o) in out.iter().enumerate() {
            let g = g as u32;
            self.push_group(a, g, cur)?;
            self.push_group(b, g, cur)?;
            if c.class == Class::Lin(0) {
                self.push_scalar(c, cur)?;
                self.out(cur).select(None);
            } else {
                self.push_group(c, g, cur)?;
                self.splat_i32(0, cur);
                self.out(cur).binop(BinaryOp::I32x4Ne).v128_bitselect();
            }
            self.out(cur).local_set(*o);
        }
        Ok(Val {
            class: Class::Vary,
            ty: a.ty,
            repr: Repr::Vector(out),
            origin: Origin::Other,
        })
    }

    fn load(
        &mut self,
        memory: MemoryId,
        kind: LoadKind,
        arg: MemArg,
        addr: &Val,
        cur: InstrSeqId,
    ) -> Result<Val, String> {
        if memory != self.memory {
            return Err("loads from a second memory".into());
        }
        if kind.atomic() {
            return Err("atomic access in the loop".into());
        }
        if self.stored {
            return Err("a load after a store".into());
        }
        let ty = load_type(kind);
        let width = kind.width() as i64;
        match addr.class {
            Class::Lin(0) => {
                // (With lanes diverged, maybe no lane runs it: leave rather than
                // trap where the original would not.)
                let bounds = self.mask.is_some();
                self.check(addr, arg.offset, width as u64, bounds, cur)?;
                let t = self.scalar_tmp(ty);
                self.push_scalar(addr, cur)?;
                self.out(cur).load(memory, kind, arg).local_set(t);
                Ok(Val {
                    class: Class::Lin(0),
                    ty,
                    repr: Repr::Scalar(t),
                    origin: Origin::UniformLoad,
                })
            }
            Class::Lin(s) if s == width => {
                let (simd, step): (Option<LoadSimdKind>, u64) = match kind {
                    LoadKind::F32 | LoadKind::I32 { atomic: false } => (None, 16),
                    LoadKind::I32_8 {
                        kind: ExtendedLoad::SignExtend | ExtendedLoad::ZeroExtend,
                    } => (Some(LoadSimdKind::V128Load32Zero), 4),
                    LoadKind::I32_16 {
                        kind: ExtendedLoad::SignExtend,
                    } => (Some(LoadSimdKind::V128Load16x4S), 8),
                    LoadKind::I32_16 {
                        kind: ExtendedLoad::ZeroExtend,
                    } => (Some(LoadSimdKind::V128Load16x4U), 8),
                    _ => return Err("64-bit values that differ across iterations".into()),
                };
                let bytes = step * self.groups as u64;
                self.check(addr, arg.offset, bytes, true, cur)?;
                let signed = matches!(
                    kind,
                    LoadKind::I32_8 {
                        kind: ExtendedLoad::SignExtend
                    }
                );
                let out = self.vector_tmp();
                for (g, o) in out.iter().enumerate() {
                    let m = Self::memarg(arg.offset + step * g as u64)?;
                    self.push_scalar(addr, cur)?;
                    match simd {
                        None => {
                            self.out(cur).load(memory, LoadKind::V128, m);
                        }
                        Some(LoadSimdKind::V128Load32Zero) => {
                            let (to16, to32) = if signed {
                                (UnaryOp::I16x8WidenLowI8x16S, UnaryOp::I32x4WidenLowI16x8S)
                            } else {
                                (UnaryOp::I16x8WidenLowI8x16U, UnaryOp::I32x4WidenLowI16x8U)
                            };
                            self.out(cur)
                                .load_simd(memory, LoadSimdKind::V128Load32Zero, m)
                                .unop(to16)
                                .unop(to32);
                        }
                        Some(k) => {
                            self.out(cur).load_simd(memory, k, m);
                        }
                    }
                    self.out(cur).local_set(*o);
                }
                Ok(self.lane_loaded(ty, out, width))
            }
            // An unrolled loop reading element k of u per iteration: lane l wants
            // element l*u + k of the block's elements; load them all and pick.
            Class::Lin(s) if [2, 4].contains(&(s / width.max(1))) && s % width == 0 => {
                let u = (s / width) as u64;
                let w = width as u64;
                let supported = matches!(
                    kind,
                    LoadKind::F32
                        | LoadKind::I32 { atomic: false }
                        | LoadKind::I32_8 { .. }
                        | LoadKind::I32_16 { .. }
                );
                if !supported
                    || matches!(
                        kind,
                        LoadKind::I32_8 {
                            kind: ExtendedLoad::ZeroExtendAtomic
                        } | LoadKind::I32_16 {
                            kind: ExtendedLoad::ZeroExtendAtomic
                        }
                    )
                {
                    return Err("a load whose address is not consecutive across iterations".into());
                }
                let per_group = 4 * u * w;
                self.check(addr, arg.offset, per_group * self.groups as u64, true, cur)?;
                let out = self.vector_tmp();
                for (g, o) in out.iter().enumerate() {
                    let base = arg.offset + per_group * g as u64;
                    // The group's 4u elements, 16 bytes at a time (or one 8-byte load).
                    let chunks = per_group.div_ceil(16);
                    let mut parts = Vec::new();
                    for c in 0..chunks {
                        let m = Self::memarg(base + 16 * c)?;
                        let t = self.locals.add(ValType::V128);
                        self.push_scalar(addr, cur)?;
                        if per_group < 16 {
                            self.out(cur)
                                .load_simd(memory, LoadSimdKind::V128Load64Zero, m);
                        } else {
                            self.out(cur).load(memory, LoadKind::V128, m);
                        }
                        self.out(cur).local_set(t);
                        parts.push(t);
                    }
                    // Bytes of lane l's element: l*u*w .. + w, within the parts.
                    let picked = self.pick_elements(&parts, u, w, cur);
                    self.out(cur).local_get(picked);
                    match kind {
                        LoadKind::I32_8 { kind: e } => {
                            let signed = matches!(e, ExtendedLoad::SignExtend);
                            self.out(cur)
                                .unop(if signed {
                                    UnaryOp::I16x8WidenLowI8x16S
                                } else {
                                    UnaryOp::I16x8WidenLowI8x16U
                                })
                                .unop(if signed {
                                    UnaryOp::I32x4WidenLowI16x8S
                                } else {
                                    UnaryOp::I32x4WidenLowI16x8U
                                });
                        }
                        LoadKind::I32_16 { kind: e } => {
                            let signed = matches!(e, ExtendedLoad::SignExtend);
                            self.out(cur).unop(if signed {
                                UnaryOp::I32x4WidenLowI16x8S
                            } else {
                                UnaryOp::I32x4WidenLowI16x8U
                            });
                        }
                        _ => {}
                    }
                    self.out(cur).local_set(*o);
                }
                Ok(self.lane_loaded(ty, out, width))
            }
            // Lanes `S` bytes apart (rows of a matrix): one element per lane.
            Class::Sym(k) => {
                // Each lane's element into its lane (8- and 16-bit ones into the
                // low lanes, then widened).
                let (lane_kind, widen): (fn(u8) -> LoadSimdKind, &[UnaryOp]) = match kind {
                    LoadKind::F32 | LoadKind::I32 { atomic: false } => {
                        (LoadSimdKind::V128Load32Lane, &[])
                    }
                    LoadKind::I32_16 {
                        kind: ExtendedLoad::SignExtend,
                    } => (
                        LoadSimdKind::V128Load16Lane,
                        &[UnaryOp::I32x4WidenLowI16x8S],
                    ),
                    LoadKind::I32_16 {
                        kind: ExtendedLoad::ZeroExtend,
                    } => (
                        LoadSimdKind::V128Load16Lane,
                        &[UnaryOp::I32x4WidenLowI16x8U],
                    ),
                    LoadKind::I32_8 {
                        kind: ExtendedLoad::SignExtend,
                    } => (
                        LoadSimdKind::V128Load8Lane,
                        &[UnaryOp::I16x8WidenLowI8x16S, UnaryOp::I32x4WidenLowI16x8S],
                    ),
                    LoadKind::I32_8 {
                        kind: ExtendedLoad::ZeroExtend,
                    } => (
                        LoadSimdKind::V128Load8Lane,
                        &[UnaryOp::I16x8WidenLowI8x16U, UnaryOp::I32x4WidenLowI16x8U],
                    ),
                    _ => {
                        return Err(
                            "a 64-bit or atomic load whose address steps by an invariant".into(),
                        )
                    }
                };
                self.check_spread(addr, k, arg.offset, width as u64, cur)?;
                let m = Self::memarg(arg.offset)?;
                let offsets = self.strides[k as usize].offsets.clone();
                let out = self.vector_tmp();
                for (g, o) in out.iter().enumerate() {
                    self.out(cur).const_(Value::V128(0)).local_set(*o);
                    for lane in 0..4u8 {
                        let l = 4 * g + lane as usize;
                        self.push_scalar(addr, cur)?;
                        if l > 0 {
                            self.out(cur).local_get(offsets[l]).binop(BinaryOp::I32Add);
                        }
                        self.out(cur)
                            .local_get(*o)
                            .load_simd(memory, lane_kind(lane), m)
                            .local_set(*o);
                    }
                    if !widen.is_empty() {
                        self.out(cur).local_get(*o);
                        for op in widen {
                            self.out(cur).unop(*op);
                        }
                        self.out(cur).local_set(*o);
                    }
                }
                Ok(self.lane_loaded(ty, out, width))
            }
            _ => Err("a load whose address is not consecutive across iterations".into()),
        }
    }

    /// The value of a load of one element per lane into `out` (counted for the
    /// report).
    fn lane_loaded(&mut self, ty: ValType, out: Vec<LocalId>, width: i64) -> Val {
        self.stats.lane_loads += 1;
        self.stats.narrow_loads |= width < 4;
        Val {
            class: Class::Vary,
            ty,
            repr: Repr::Vector(out),
            origin: Origin::LaneLoad,
        }
    }

    /// `out` = the first `bytes` bytes of `a`, then the first `bytes` of `b`.
    fn concat_low(&mut self, a: LocalId, b: LocalId, bytes: u8, out: LocalId, cur: InstrSeqId) {
        let mut indices = [0u8; 16];
        for i in 0..bytes {
            indices[i as usize] = i;
            indices[(bytes + i) as usize] = 16 + i;
        }
        self.out(cur)
            .local_get(a)
            .local_get(b)
            .i8x16_shuffle(indices)
            .local_set(out);
    }

    /// One of the two stores of an unrolled loop writing elements 2t and 2t + 1
    /// (`k` = 0 or 1): kept until both are known, then interleaved and written.
    #[allow(clippy::too_many_arguments)]
    fn paired_store(
        &mut self,
        memory: MemoryId,
        kind: StoreKind,
        arg: MemArg,
        addr: &Val,
        value: &Val,
        group: usize,
        k: u32,
        cur: InstrSeqId,
    ) -> Step {
        let width = kind.width() as i64;
        if addr.class != Class::Lin(2 * width) {
            return Err("a store whose address is not consecutive across iterations".into());
        }
        let lanes: Vec<LocalId> = (0..self.groups)
            .map(|_| self.locals.add(ValType::V128))
            .collect();
        for (g, t) in lanes.iter().enumerate() {
            self.push_group(value, g as u32, cur)?;
            self.out(cur).local_set(*t);
        }
        let address = self.scalar_tmp(ValType::I32);
        self.push_scalar(addr, cur)?;
        self.out(cur).local_set(address);
        let entry = self.pending.entry(group).or_default();
        entry.push((k, lanes, address, arg.offset));
        if entry.len() < 2 {
            return Ok(());
        }
        self.stored = true;
        let mut both = self.pending.remove(&group).unwrap_or_default();
        both.sort_by_key(|(k, ..)| *k);
        let (_, first, base, offset) = both[0].clone();
        let (_, second, _, _) = both[1].clone();
        let w = width as usize;
        // Memory: element 2l from `first` lane l, element 2l + 1 from `second`.
        let bytes_per_group = 8 * w;
        for g in 0..self.groups as usize {
            let mut done = 0;
            while done < bytes_per_group {
                let mut indices = [0u8; 16];
                for (i, index) in indices.iter_mut().enumerate() {
                    let b = done + i;
                    let element = b / w;
                    let lane = element / 2;
                    let source = if element.is_multiple_of(2) { 0 } else { 16 };
                    *index = (source + lane * 4 + b % w).min(31) as u8;
                }
                let m = Self::memarg(offset + (bytes_per_group * g + done) as u64)?;
                self.out(cur)
                    .local_get(base)
                    .local_get(first[g])
                    .local_get(second[g])
                    .i8x16_shuffle(indices);
                match bytes_per_group - done {
                    8 => {
                        self.out(cur)
                            .load_simd(memory, LoadSimdKind::V128Store64Lane(0), m);
                        done += 8;
                    }
                    _ => {
                        self.out(cur).store(memory, StoreKind::V128, m);
                        done += 16;
                    }
                }
            }
        }
        Ok(())
    }

    /// From `parts` (consecutive 16-byte chunks of memory), a v128 whose first
    /// `4 * w` bytes are elements 0, u, 2u, 3u (each `w` bytes wide), packed.
    fn pick_elements(&mut self, parts: &[LocalId], u: u64, w: u64, cur: InstrSeqId) -> LocalId {
        // Byte b of the result comes from byte (b / w) * u * w + b % w of memory.
        let source = |b: u64| (b / w) * u * w + b % w;
        let out = self.locals.add(ValType::V128);
        let n = 4 * w;
        match parts.len() {
            1 | 2 => {
                let first = parts[0];
                let second = *parts.get(1).unwrap_or(&parts[0]);
                let mut indices = [0u8; 16];
                for (b, index) in indices.iter_mut().enumerate().take(n as usize) {
                    *index = source(b as u64) as u8;
                }
                self.out(cur)
                    .local_get(first)
                    .local_get(second)
                    .i8x16_shuffle(indices)
                    .local_set(out);
            }
            _ => {
                // Four chunks (u = 4, 32-bit elements): element l sits at byte 0 of
                // chunk l; pairs first, then the pairs.
                let low = self.locals.add(ValType::V128);
                let high = self.locals.add(ValType::V128);
                self.concat_low(parts[0], parts[1], 4, low, cur);
                self.concat_low(parts[2], parts[3], 4, high, cur);
                self.concat_low(low, high, 8, out, cur);
            }
        }
        out
    }

    fn store(
        &mut self,
        memory: MemoryId,
        kind: StoreKind,
        arg: MemArg,
        addr: &Val,
        value: &Val,
        cur: InstrSeqId,
    ) -> Step {
        if memory != self.memory {
            return Err("stores to a second memory".into());
        }
        if kind.atomic() {
            return Err("atomic access in the loop".into());
        }
        if self.mask.is_some() {
            return Err("a store on a path that depends on the iteration".into());
        }
        self.stats.stores.push(kind);
        let width = kind.width() as i64;
        let index = self.store_index;
        self.store_index += 1;
        if let Some(Some((group, k))) = self.store_groups.get(index).copied() {
            // (Nothing is written until the pair is complete: code in between may
            // still leave the block.)
            return self.paired_store(memory, kind, arg, addr, value, group, k, cur);
        }
        self.stored = true;
        if addr.class != Class::Lin(width) {
            return Err("a store whose address is not consecutive across iterations".into());
        }
        let (lane_store, step, shuffle): (Option<LoadSimdKind>, u64, [u8; 16]) = match kind {
            StoreKind::F32 | StoreKind::I32 { atomic: false } => (None, 16, [0; 16]),
            StoreKind::I32_8 { atomic: false } => (
                Some(LoadSimdKind::V128Store32Lane(0)),
                4,
                [0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            ),
            StoreKind::I32_16 { atomic: false } => (
                Some(LoadSimdKind::V128Store64Lane(0)),
                8,
                [0, 1, 4, 5, 8, 9, 12, 13, 0, 0, 0, 0, 0, 0, 0, 0],
            ),
            _ => return Err("64-bit values that differ across iterations".into()),
        };
        for g in 0..self.groups {
            let m = Self::memarg(arg.offset + step * g as u64)?;
            self.push_scalar(addr, cur)?;
            self.push_group(value, g, cur)?;
            match lane_store {
                None => {
                    self.out(cur).store(memory, StoreKind::V128, m);
                }
                Some(k) => {
                    self.push_group(value, g, cur)?;
                    self.out(cur).i8x16_shuffle(shuffle).load_simd(memory, k, m);
                }
            }
        }
        Ok(())
    }
}

/// How much an affine address grows per iteration of an innermost loop, as a
/// combination of loop-invariant nodes plus a constant (`p += stride`, with
/// `stride` a parameter, grows by `stride`), if every local in it is either
/// unchanged by the loop or changed by such an amount.
#[allow(clippy::type_complexity)]
fn step_of(
    body: &LoopBody,
    form: &crate::analysis::affine::Affine,
    steps: &HashMap<LocalId, i64>,
) -> Option<(Vec<(petgraph::graph::NodeIndex, i64)>, i64)> {
    use crate::analysis::value_graph::Node;
    let mut terms: std::collections::BTreeMap<petgraph::graph::NodeIndex, i64> = Default::default();
    let mut constant = 0i64;
    for (atom, coef) in &form.terms {
        let Node::Phi(local) = body.graph[*atom] else {
            continue;
        };
        let Some(end) = body.end_values.get(&local).filter(|end| **end != *atom) else {
            continue;
        };
        if let Some(step) = steps.get(&local) {
            constant = wrap32(constant + coef * step);
            continue;
        }
        // local' = local + (invariant atoms) + c
        let end_form = affine_i32(body, *end)?;
        if end_form.terms.get(atom) != Some(&1) {
            return None;
        }
        for (other, c) in &end_form.terms {
            if other == atom {
                continue;
            }
            let invariant = match body.graph[*other] {
                Node::Phi(l) => body.end_values.get(&l).is_none_or(|e| e == other),
                _ => body.is_invariant(*other),
            };
            if !invariant {
                return None;
            }
            let entry = terms.entry(*other).or_insert(0);
            *entry = wrap32(*entry + coef * c);
        }
        constant = wrap32(constant + coef * end_form.constant);
    }
    terms.retain(|_, c| *c != 0);
    Some((terms.into_iter().collect(), constant))
}

/// Each top-level store's growth per iteration, and for an unrolled loop that
/// writes two consecutive elements per iteration, the pairs: (pair, 0 or 1).
#[allow(clippy::type_complexity)]
fn store_layout(
    body: &LoopBody,
    steps: &HashMap<LocalId, i64>,
) -> Result<(Vec<i64>, Vec<Option<(usize, u32)>>), String> {
    let mut forms = Vec::new();
    for store in &body.stores {
        let form = affine_i32(body, store.addr)
            .ok_or("a store whose address is not affine in the loop's counters")?;
        let inc = form
            .exact_increment(body, steps)
            .ok_or("a store whose address is not consecutive across iterations")?;
        forms.push((form, inc));
    }
    let mut groups = vec![None; body.stores.len()];
    let mut next = 0;
    for (i, (form, inc)) in forms.iter().enumerate() {
        let width = body.stores[i].kind.width() as i64;
        if *inc == width {
            continue;
        }
        if *inc != 2 * width || groups[i].is_some() {
            if groups[i].is_none() {
                return Err("a store whose address is not consecutive across iterations".into());
            }
            continue;
        }
        let at = |j: usize| forms[j].0.constant + body.stores[j].arg.offset as i64;
        let partner = (0..body.stores.len()).find(|j| {
            *j != i
                && groups[*j].is_none()
                && forms[*j].0.key() == form.key()
                && forms[*j].1 == *inc
                && format!("{:?}", body.stores[*j].kind) == format!("{:?}", body.stores[i].kind)
                && (at(*j) - at(i)).abs() == width
        });
        let Some(j) = partner else {
            return Err("a store whose address is not consecutive across iterations".into());
        };
        let (low, high) = if at(i) < at(j) { (i, j) } else { (j, i) };
        groups[low] = Some((next, 0));
        groups[high] = Some((next, 1));
        next += 1;
    }
    Ok((forms.into_iter().map(|(_, inc)| inc).collect(), groups))
}

/// Branches to `exit` when `[lo, hi)` (i64 locals) overlaps store range `r`.
fn emit_overlap_exit(
    lo: LocalId,
    hi: LocalId,
    r: &Region,
    exit: InstrSeqId,
    seq: &mut walrus::InstrSeqBuilder,
) {
    seq.local_get(lo)
        .local_get(r.hi)
        .binop(BinaryOp::I64LtU)
        .local_get(hi)
        .local_get(r.lo)
        .binop(BinaryOp::I64GtU)
        .binop(BinaryOp::I32And)
        .br_if(exit);
}

/// `d = S * (lanes - 1)` in i64 (`stride`: the i32 `S`, signed), and
/// `lo += min(d, 0)`: the lowest lane's end of a range whose lane 0 starts at
/// `lo`.
fn emit_spread(
    stride: LocalId,
    lanes: i64,
    d: LocalId,
    lo: LocalId,
    seq: &mut walrus::InstrSeqBuilder,
) {
    seq.local_get(stride)
        .unop(UnaryOp::I64ExtendSI32)
        .i64_const(lanes - 1)
        .binop(BinaryOp::I64Mul)
        .local_set(d)
        .local_get(lo)
        .local_get(d)
        .i64_const(0)
        .local_get(d)
        .i64_const(0)
        .binop(BinaryOp::I64LtS)
        .select(None)
        .binop(BinaryOp::I64Add)
        .local_set(lo);
}

/// Branches to `exit` unless `[lo, hi + bytes)` (i64 locals; `hi` is moved
/// there) lies inside memory and clear of every store range.
fn emit_range_exit(
    lo: LocalId,
    hi: LocalId,
    bytes: i64,
    memory_bytes: LocalId,
    regions: &[Region],
    exit: InstrSeqId,
    seq: &mut walrus::InstrSeqBuilder,
) {
    seq.local_get(lo)
        .i64_const(0)
        .binop(BinaryOp::I64LtS)
        .br_if(exit)
        .local_get(hi);
    if bytes != 0 {
        seq.i64_const(bytes).binop(BinaryOp::I64Add).local_tee(hi);
    }
    seq.local_get(memory_bytes)
        .binop(BinaryOp::I64GtU)
        .br_if(exit);
    for r in regions {
        emit_overlap_exit(lo, hi, r, exit, seq);
    }
}

/// `hi += max(d, 0)`: the highest lane's end (see [`emit_spread`]).
fn emit_spread_high(d: LocalId, hi: LocalId, seq: &mut walrus::InstrSeqBuilder) {
    seq.local_get(hi)
        .local_get(d)
        .i64_const(0)
        .local_get(d)
        .i64_const(0)
        .binop(BinaryOp::I64GtS)
        .select(None)
        .binop(BinaryOp::I64Add)
        .local_set(hi);
}

/// A load at the top level of the loop body, for the check in front of the loop.
struct TopLoad {
    addr: petgraph::graph::NodeIndex,
    offset: i64,
    /// Bytes per iteration (its width), or 0 for one address for all iterations.
    per_lane: i64,
    width: i64,
    /// Per store: whether this load reads exactly what that store writes, in the
    /// same iteration (`C[j] = f(C[j])`).
    in_place: Vec<bool>,
}

/// The loads at the top level of the body (outside nested blocks and loops), if
/// every one reads one address for all iterations or consecutive elements; `None`
/// leaves them to be checked where they run.
fn top_level_loads(
    body: &LoopBody,
    steps: &HashMap<LocalId, i64>,
    memory: MemoryId,
) -> Option<Vec<TopLoad>> {
    use crate::analysis::value_graph::Node;
    let mut out = Vec::new();
    for node in body.graph.node_indices() {
        let Node::Load {
            memory: m,
            kind,
            arg,
            order,
        } = body.graph[node]
        else {
            continue;
        };
        if m != memory || kind.atomic() {
            return None;
        }
        let addr = body.operands(node)[0];
        let form = affine_i32(body, addr)?;
        let inc = form.exact_increment(body, steps)?;
        let width = kind.width() as i64;
        let supported = matches!(
            kind,
            LoadKind::F32 | LoadKind::I32 { .. } | LoadKind::I32_8 { .. } | LoadKind::I32_16 { .. }
        );
        let per_lane = match inc {
            0 => 0,
            w if supported && (w == width || w == 2 * width || w == 4 * width) => w,
            _ => return None,
        };
        // In place: the load reads its own iteration's elements of what the store
        // writes (or elements no iteration of the run writes with it).
        let in_place = body
            .stores
            .iter()
            .map(|store| {
                affine_i32(body, store.addr).is_some_and(|target| {
                    let d = form.constant + arg.offset as i64
                        - (target.constant + store.arg.offset as i64);
                    per_lane > 0
                        && order < store.order
                        && target.key() == form.key()
                        && target.exact_increment(body, steps) == Some(inc)
                        && store.kind.width() as i64 == width
                        && d.abs() < inc
                        && d % width == 0
                })
            })
            .collect();
        out.push(TopLoad {
            addr,
            offset: arg.offset as i64,
            per_lane,
            width,
            in_place,
        });
    }
    Some(out)
}

/// Everything one lockstep body needs besides the code generator's own state.
struct Setup<'a> {
    src: &'a Source,
    loop_seq: InstrSeqId,
    memory: MemoryId,
    memory_bytes: LocalId,
    regions: &'a [Region],
    written_in_loop: &'a HashSet<LocalId>,
    inductions: &'a HashMap<LocalId, i64>,
    sym: &'a HashMap<LocalId, u32>,
    invariants: &'a HashSet<LocalId>,
    global_types: &'a HashMap<walrus::GlobalId, ValType>,
    inner: &'a HashMap<InstrSeqId, Inner>,
    /// The loads at the top level of the body are checked once, in front of the
    /// loop, for the whole run.
    top_prechecked: bool,
    return_guard: Option<(InstrSeqId, usize)>,
    store_groups: &'a [Option<(usize, u32)>],
    /// Per top-level block of the body, the locals it settles.
    settled: &'a HashMap<InstrSeqId, HashSet<LocalId>>,
}

/// What one round of code generation found.
struct Round {
    /// The label states it used.
    targets: HashMap<InstrSeqId, State>,
    /// The join of the states that reached each label.
    proposed: HashMap<InstrSeqId, State>,
    /// Every edge arrived in its label's state.
    consistent: bool,
    /// Blocks that need a flag.
    wants_flags: HashSet<InstrSeqId>,
    /// Products of an invariant and a counter that want a stride.
    requests: Vec<(LocalId, i64)>,
    /// The strides the code uses.
    used: HashSet<u32>,
    stats: Stats,
}

/// What earlier rounds found: each label's state, and the blocks that need a flag.
struct Known<'k> {
    labels: &'k HashMap<InstrSeqId, State>,
    strides: &'k [Stride],
    flagged: &'k HashSet<InstrSeqId>,
}

/// Emits the lockstep body for `groups` into `cur`, assuming what `known` says;
/// `bail` leaves it.
fn generate(
    locals: &mut ModuleLocals,
    fb: &mut FunctionBuilder,
    setup: &Setup<'_>,
    known: Known<'_>,
    groups: u32,
    bail: InstrSeqId,
    cur: InstrSeqId,
) -> Result<Round, String> {
    let state: State = setup
        .written_in_loop
        .iter()
        .map(|local| {
            let class = match (setup.inductions.get(local), setup.sym.get(local)) {
                (Some(step), _) => Class::Lin(*step),
                (None, Some(k)) => Class::Sym(*k),
                (None, None) => Class::Dead,
            };
            (*local, class)
        })
        .collect();
    let mut ls = Lockstep {
        locals,
        fb,
        src: setup.src,
        loop_seq: setup.loop_seq,
        groups,
        memory: setup.memory,
        state,
        previous: known.labels,
        targets: HashMap::new(),
        proposed: HashMap::new(),
        unsettled: false,
        shadows: HashMap::new(),
        labels: HashMap::new(),
        arms: HashMap::new(),
        bail,
        memory_bytes: setup.memory_bytes,
        regions: setup.regions,
        stored: false,
        top_exit_seen: false,
        depth: 0,
        must_written: HashSet::new(),
        must_edges: HashMap::new(),
        written_in_loop: setup.written_in_loop,
        inductions: setup.inductions,
        sym: setup.sym,
        strides: known.strides,
        invariants: setup.invariants,
        requests: Vec::new(),
        used: setup.sym.values().copied().collect(),
        global_types: setup.global_types,
        inner: setup.inner,
        return_guard: setup.return_guard,
        return_guard_len: setup.return_guard.map_or(0, |(_, n)| n),
        prechecked: if setup.top_prechecked {
            HashSet::from([setup.loop_seq])
        } else {
            HashSet::new()
        },
        walking: setup.loop_seq,
        mask: None,
        exit_masks: HashMap::new(),
        region_root: None,
        open_blocks: Vec::new(),
        depth_at_mask: None,
        store_index: 0,
        stacks: Vec::new(),
        store_groups: setup.store_groups,
        pending: HashMap::new(),
        flagged: known.flagged,
        flags: HashMap::new(),
        wants_flags: HashSet::new(),
        settled: setup.settled,
        early: HashSet::new(),
        stats: Stats::default(),
    };
    let walked = ls.walk(setup.loop_seq, cur, true);
    if !ls.requests.is_empty() {
        // (Whatever failed may need the strides: again with them.)
        return Ok(Round {
            targets: ls.targets,
            proposed: ls.proposed,
            consistent: false,
            wants_flags: ls.wants_flags,
            requests: ls.requests,
            used: ls.used,
            stats: ls.stats,
        });
    }
    walked?;
    if !ls.pending.is_empty() {
        return Err("a store of an unrolled pair without its partner".into());
    }
    if ls.mask.is_some() {
        return Err("lanes that take different paths do not meet again".into());
    }
    // The induction variables must end the iteration as they started.
    for (local, step) in setup.inductions {
        if ls.class_of(*local) != Class::Lin(*step) {
            return Err("an induction variable that changes irregularly".into());
        }
    }
    for (local, k) in setup.sym {
        if ls.class_of(*local) != Class::Sym(*k) {
            return Err("an induction variable that changes irregularly".into());
        }
    }
    Ok(Round {
        targets: ls.targets,
        proposed: ls.proposed,
        consistent: !ls.unsettled && ls.requests.is_empty(),
        wants_flags: ls.wants_flags,
        requests: ls.requests,
        used: ls.used,
        stats: ls.stats,
    })
}

/// Inserts, in front of the loop at `position` in `parent_seq`, code that runs all
/// but the last of its iterations in lockstep blocks of 16 and then 4 (see the
/// module documentation), and leaves the rest, the last iteration and the exit test
/// to the original loop. `body` is the loop's outer value graph
/// (`value_graph::build_outer`), `trip` and `steps` its trip count and induction
/// variables; `symbolic` the induction variables stepping by an invariant
/// (`affine::symbolic_inductions`), whose lanes lie that stride apart. Nothing is
/// changed when it returns an error.
#[allow(clippy::too_many_arguments)]
pub fn insert_lockstep(
    module: &mut Module,
    func: FunctionId,
    parent_seq: InstrSeqId,
    position: usize,
    loop_seq: InstrSeqId,
    body: &LoopBody,
    trip: &TripCount,
    steps: &HashMap<LocalId, i64>,
    symbolic: &HashMap<LocalId, Affine>,
) -> Result<Stats, String> {
    let Some(first) = body.stores.first() else {
        return Err("no store".into());
    };
    let memory = first.memory;
    let (increments, store_groups) = store_layout(body, steps)?;
    let global_types: HashMap<walrus::GlobalId, ValType> =
        module.globals.iter().map(|g| (g.id(), g.ty)).collect();
    let local_func = module.funcs.get(func).kind.unwrap_local();
    let src = snapshot(local_func, loop_seq);
    // Innermost loops inside, for checking their loads once per entry.
    let mut inner = HashMap::new();
    for (seq, (_, instrs)) in &src {
        if *seq == loop_seq
            || !instrs
                .iter()
                .all(|i| crate::analysis::loops::opened_sequences(i).is_empty())
        {
            continue;
        }
        let is_loop = src.values().any(|(_, list)| {
            list.iter()
                .any(|i| matches!(i, Instr::Loop(l) if l.seq == *seq))
        });
        if !is_loop {
            continue;
        }
        let body = crate::analysis::value_graph::build(module, local_func, *seq);
        if !body.blockers.is_empty() {
            continue;
        }
        let steps = crate::analysis::affine::inductions(&body);
        if let Ok(trip) = crate::analysis::trip_count::trip_count(&body, &steps) {
            inner.insert(*seq, Inner { body, trip, steps });
        }
    }
    let top_loads = top_level_loads(body, steps, memory);
    // clang -Oz's top test, if the loop has one: the first block of the body.
    let return_guard = local_func
        .block(loop_seq)
        .instrs
        .iter()
        .find_map(|(i, _)| match i {
            Instr::Block(b) => Some(b.seq),
            _ => None,
        })
        .and_then(|seq| {
            crate::analysis::value_graph::return_guard(local_func, seq, loop_seq)
                .map(|cond| (seq, cond.len()))
        });
    let settled: HashMap<InstrSeqId, HashSet<LocalId>> = local_func
        .block(loop_seq)
        .instrs
        .iter()
        .filter_map(|(i, _)| match i {
            Instr::Block(b) => Some((
                b.seq,
                crate::analysis::value_graph::settled_writes(local_func, i)
                    .into_keys()
                    .collect(),
            )),
            _ => None,
        })
        .collect();
    let Module { funcs, locals, .. } = module;
    let written_in_loop: HashSet<LocalId> = src
        .values()
        .flat_map(|(_, instrs)| instrs)
        .filter_map(|i| match i {
            Instr::LocalSet(s) => Some(s.local),
            Instr::LocalTee(t) => Some(t.local),
            _ => None,
        })
        .collect();
    let invariants: HashSet<LocalId> = src
        .values()
        .flat_map(|(_, instrs)| instrs)
        .filter_map(|i| match i {
            Instr::LocalGet(g) if !written_in_loop.contains(&g.local) => Some(g.local),
            _ => None,
        })
        .collect();
    let l = GuardLocals {
        x0: locals.add(ValType::I64),
        k: locals.add(ValType::I64),
        iterations: locals.add(ValType::I64),
        memory_bytes: locals.add(ValType::I64),
    };
    let regions: Vec<Region> = body
        .stores
        .iter()
        .zip(&increments)
        .map(|(store, step)| Region {
            lo: locals.add(ValType::I64),
            hi: locals.add(ValType::I64),
            cur: locals.add(ValType::I64),
            width: store.kind.width() as i64,
            step: *step,
        })
        .collect();
    // (Sorted before the saved copies are made, so the output is reproducible.)
    let mut sorted: Vec<(LocalId, i64)> = steps.iter().map(|(l, s)| (*l, *s)).collect();
    sorted.sort_by_key(|(local, _)| local.index());
    let inductions: Vec<(LocalId, i64, LocalId)> = sorted
        .into_iter()
        .map(|(local, step)| (local, step, locals.add(ValType::I32)))
        .collect();
    // Induction variables stepping by an invariant: one stride each, and a saved
    // copy.
    let mut stepped: Vec<(LocalId, &Affine)> = symbolic.iter().map(|(l, a)| (*l, a)).collect();
    stepped.sort_by_key(|(local, _)| local.index());
    // (Entry `FACTORS.len() * i + f`: induction `i`'s step times `FACTORS[f]`;
    // products of an invariant and a counter follow as they are found.)
    let mut strides: Vec<Stride> = (0..stepped.len())
        .flat_map(|i| Stride::family(locals, FACTORS.len() * i, None))
        .collect();
    let sym: HashMap<LocalId, u32> = stepped
        .iter()
        .enumerate()
        .map(|(i, (local, _))| (*local, (FACTORS.len() * i) as u32))
        .collect();
    let sym_saved: Vec<(LocalId, LocalId, LocalId)> = stepped
        .iter()
        .enumerate()
        .map(|(i, (local, _))| {
            let stride = strides[FACTORS.len() * i].value;
            (*local, stride, locals.add(ValType::I32))
        })
        .collect();
    let setup = Setup {
        src: &src,
        loop_seq,
        memory,
        memory_bytes: l.memory_bytes,
        regions: &regions,
        written_in_loop: &written_in_loop,
        inductions: steps,
        sym: &sym,
        invariants: &invariants,
        global_types: &global_types,
        inner: &inner,
        top_prechecked: top_loads.is_some(),
        return_guard,
        store_groups: &store_groups,
        settled: &settled,
    };
    let fb = funcs.get_mut(func).kind.unwrap_local_mut().builder_mut();

    // Classify: find the state of every label (block end, loop head), repeating
    // until each edge arrives in its label's state (the code of these rounds is
    // discarded).
    let mut labels: HashMap<InstrSeqId, State> = HashMap::new();
    let mut flagged: HashSet<InstrSeqId> = HashSet::new();
    let mut settled = false;
    for _ in 0..12 {
        let scratch = fb.dangling_instr_seq(None).id();
        let known = Known {
            labels: &labels,
            strides: &strides,
            flagged: &flagged,
        };
        let round = generate(locals, fb, &setup, known, 1, scratch, scratch)?;
        flagged.extend(round.wants_flags.iter().copied());
        if !round.requests.is_empty() {
            // Products that want a stride: the same round again with them.
            for product in round.requests {
                let base = strides.len();
                strides.extend(Stride::family(locals, base, Some(product)));
            }
            continue;
        }
        if round.consistent {
            labels = round.targets;
            settled = true;
            break;
        }
        labels = round.targets;
        for (label, state) in &round.proposed {
            join_states(labels.entry(*label).or_default(), state);
        }
    }
    if !settled {
        return Err("classification did not settle".into());
    }

    let guard = fb.dangling_instr_seq(None).id();
    let prelude = fb.dangling_instr_seq(None).id();
    {
        let mut seq = fb.instr_seq(guard);
        emit_first_failing(body, trip, &l, guard, &mut seq);
        seq.local_get(l.k);
        if trip.test == ExitTest::Top {
            seq.i64_const(1).binop(BinaryOp::I64Sub);
        }
        seq.local_tee(l.iterations)
            .i64_const(4)
            .binop(BinaryOp::I64LtS)
            .br_if(guard);
        emit_memory_bytes(memory, l.memory_bytes, &mut seq);
        // The strides (filled in once the blocks are generated: those they use).
        if !strides.is_empty() {
            seq.instr(Block { seq: prelude });
        }
        // The range each store writes over all the iterations the blocks may run:
        // inside memory, and disjoint from the others.
        for (store, (r, inc)) in body.stores.iter().zip(regions.iter().zip(&increments)) {
            emit_entry_value(body, store.addr, &mut seq);
            seq.unop(UnaryOp::I64ExtendUI32)
                .i64_const(store.arg.offset as i64)
                .binop(BinaryOp::I64Add)
                .local_tee(r.lo)
                .local_tee(r.cur)
                .local_get(l.iterations)
                .i64_const(*inc)
                .binop(BinaryOp::I64Mul)
                .binop(BinaryOp::I64Add)
                .local_tee(r.hi)
                .local_get(l.memory_bytes)
                .binop(BinaryOp::I64GtU)
                .br_if(guard);
        }
        // The loads at the top level of the body, over the whole run: inside
        // memory, and clear of every store range unless exactly in place.
        let (lo, hi) = (locals.add(ValType::I64), locals.add(ValType::I64));
        for load in top_loads.iter().flatten() {
            emit_entry_value(body, load.addr, &mut seq);
            seq.unop(UnaryOp::I64ExtendUI32)
                .i64_const(load.offset)
                .binop(BinaryOp::I64Add)
                .local_tee(lo);
            if load.per_lane > 0 {
                seq.local_get(l.iterations)
                    .i64_const(load.per_lane)
                    .binop(BinaryOp::I64Mul);
            } else {
                seq.i64_const(load.width);
            }
            seq.binop(BinaryOp::I64Add)
                .local_tee(hi)
                .local_get(l.memory_bytes)
                .binop(BinaryOp::I64GtU)
                .br_if(guard);
            for (r, in_place) in regions.iter().zip(&load.in_place) {
                if *in_place {
                    continue;
                }
                emit_overlap_exit(lo, hi, r, guard, &mut seq);
            }
        }
        for (i, a) in regions.iter().enumerate() {
            for (j, b) in regions.iter().enumerate().skip(i + 1) {
                // (The two stores of a pair interleave: disjoint elements.)
                let pair = |x: usize| store_groups[x].map(|(g, _)| g);
                if pair(i).is_some() && pair(i) == pair(j) {
                    continue;
                }
                seq.local_get(a.lo)
                    .local_get(b.hi)
                    .binop(BinaryOp::I64LtU)
                    .local_get(b.lo)
                    .local_get(a.hi)
                    .binop(BinaryOp::I64LtU)
                    .binop(BinaryOp::I32And)
                    .br_if(guard);
            }
        }
    }
    let mut stats = Stats::default();
    let mut used: HashSet<u32> = HashSet::new();
    // 16 lanes a block (four v128 per value: register blocking for shared loads),
    // then 4. (Measured: 4 lanes alone make straight-line stencils slower too.)
    let widths: &[u32] = &[4, 1];
    for &groups in widths {
        let width = 4 * groups as i64;
        let done = fb.dangling_instr_seq(None).id();
        let again = fb.dangling_instr_seq(None).id();
        let bail = fb.dangling_instr_seq(None).id();
        let known = Known {
            labels: &labels,
            strides: &strides,
            flagged: &flagged,
        };
        let round = generate(locals, fb, &setup, known, groups, bail, bail)?;
        if !round.requests.is_empty() {
            return Err("internal: a stride appeared after classification".into());
        }
        used.extend(round.used.iter().copied());
        if !round.wants_flags.is_empty() {
            return Err("internal: a block's flag appeared after classification".into());
        }
        if !round.consistent {
            return Err("classification did not settle".into());
        }
        if groups == widths[0] {
            stats = round.stats;
            stats.lanes = 4 * groups;
        }
        {
            let mut seq = fb.instr_seq(bail);
            for (local, step, saved) in &inductions {
                seq.local_get(*saved)
                    .i32_const(wrap32(step * width) as i32)
                    .binop(BinaryOp::I32Add)
                    .local_set(*local);
            }
            for (local, stride, saved) in &sym_saved {
                seq.local_get(*saved)
                    .local_get(*stride)
                    .i32_const(width as i32)
                    .binop(BinaryOp::I32Mul)
                    .binop(BinaryOp::I32Add)
                    .local_set(*local);
            }
            for r in &regions {
                seq.local_get(r.cur)
                    .i64_const(width * r.step)
                    .binop(BinaryOp::I64Add)
                    .local_set(r.cur);
            }
            seq.local_get(l.iterations)
                .i64_const(width)
                .binop(BinaryOp::I64Sub)
                .local_set(l.iterations)
                .br(again);
        }
        {
            let mut seq = fb.instr_seq(again);
            seq.local_get(l.iterations)
                .i64_const(width)
                .binop(BinaryOp::I64LtS)
                .br_if(done);
            for (local, _, saved) in &inductions {
                seq.local_get(*local).local_set(*saved);
            }
            for (local, _, saved) in &sym_saved {
                seq.local_get(*local).local_set(*saved);
            }
            seq.instr(Block { seq: bail });
            // Left early: back to where the block started, and the original loop.
            for (local, _, saved) in &inductions {
                seq.local_get(*saved).local_set(*local);
            }
            for (local, _, saved) in &sym_saved {
                seq.local_get(*saved).local_set(*local);
            }
            seq.br(guard);
        }
        fb.instr_seq(done).instr(Loop { seq: again });
        fb.instr_seq(guard).instr(Block { seq: done });
    }
    // The strides used, each after its unscaled one (numbered before it).
    {
        let bases: Vec<u32> = used.iter().map(|k| strides[*k as usize].base).collect();
        used.extend(bases);
        let mut seq = fb.instr_seq(prelude);
        // Each: `S`, each lane's offset, and those four to a v128.
        for (k, stride) in strides.iter().enumerate() {
            if !used.contains(&(k as u32)) {
                continue;
            }
            if let (1, Some((local, step))) = (stride.factor, stride.product) {
                seq.local_get(local)
                    .i32_const(step as i32)
                    .binop(BinaryOp::I32Mul);
            } else if stride.factor == 1 {
                let step = stepped[stride.base as usize / FACTORS.len()].1;
                seq.i32_const(step.constant as i32);
                for (atom, coef) in &step.terms {
                    emit_entry_value(body, *atom, &mut seq);
                    seq.i32_const(*coef as i32)
                        .binop(BinaryOp::I32Mul)
                        .binop(BinaryOp::I32Add);
                }
            } else {
                seq.local_get(strides[stride.base as usize].value)
                    .i32_const(stride.factor as i32)
                    .binop(BinaryOp::I32Mul);
            }
            seq.local_set(stride.value);
            for (lane, offset) in stride.offsets.iter().enumerate() {
                seq.local_get(stride.value)
                    .i32_const(lane as i32)
                    .binop(BinaryOp::I32Mul)
                    .local_set(*offset);
            }
            for (g, vector) in stride.vectors.iter().enumerate() {
                let mut lanes = [0u8; 16];
                for lane in 0..4 {
                    lanes[4 * lane..4 * lane + 4]
                        .copy_from_slice(&((4 * g + lane) as u32).to_le_bytes());
                }
                seq.local_get(stride.value)
                    .unop(UnaryOp::I32x4Splat)
                    .const_(Value::V128(u128::from_le_bytes(lanes)))
                    .binop(BinaryOp::I32x4Mul)
                    .local_set(*vector);
            }
        }
    }
    fb.instr_seq(parent_seq)
        .instr_at(position, Block { seq: guard });
    Ok(stats)
}
