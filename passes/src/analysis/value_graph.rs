//! The value graph of one loop iteration, built by symbolic execution of the operand
//! stack and the locals. Each local read before it is written in the iteration is a
//! [`Node::Phi`]: its value at the start of the iteration (the loop-carried value).
//!
//! Only straight-line bodies are modelled, with the exits compilers emit for counted
//! loops: a bottom test (`br_if` back to the loop as the last instruction, as clang
//! emits rotated loops) or a top test (an exit `br_if`, or clang -Oz's
//! `block { cond; br_if 0; return }`, before any effect, and `br` back at the end).
//! Anything else (calls, nested control flow, atomics, memory growth, global writes,
//! other exits) is recorded as a *blocker* with a reason, so that a fingerprint can
//! tell a near miss from an unrelated loop.

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use petgraph::Direction;
use std::collections::{HashMap, HashSet};
use walrus::ir::{
    BinaryOp, Instr, InstrSeqId, InstrSeqType, LoadKind, MemArg, StoreKind, UnaryOp, Value,
};
use walrus::{GlobalId, LocalFunction, LocalId, MemoryId, Module, TypeId};

/// One value computed in an iteration. (walrus's operator types have no `PartialEq`;
/// compare nodes through their `Debug` text where needed.)
#[derive(Clone, Debug)]
pub enum Node {
    /// The value of a local at the start of the iteration.
    Phi(LocalId),
    /// A constant.
    Const(Value),
    /// A global read (globals cannot change inside a loop without blockers).
    GlobalGet(GlobalId),
    /// A memory read; `order` is its position among the iteration's memory accesses.
    Load {
        /// The memory read.
        memory: MemoryId,
        /// Width and extension.
        kind: LoadKind,
        /// Static offset and alignment.
        arg: MemArg,
        /// Position among memory accesses in program order.
        order: usize,
    },
    /// A unary operator applied to operand 0.
    Unop(UnaryOp),
    /// A binary operator applied to operands 0 and 1.
    Binop(BinaryOp),
    /// `select`: operand 0 if operand 2 is non-zero, else operand 1.
    Select,
    /// A value we do not model (the reason is among the blockers).
    Opaque,
}

/// A store in the iteration.
#[derive(Clone, Debug)]
pub struct Store {
    /// The memory written.
    pub memory: MemoryId,
    /// Width.
    pub kind: StoreKind,
    /// Static offset and alignment.
    pub arg: MemArg,
    /// Address operand.
    pub addr: NodeIndex,
    /// Stored value.
    pub value: NodeIndex,
    /// Position among memory accesses in program order.
    pub order: usize,
}

/// Where the loop decides whether to run another iteration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitTest {
    /// Tested at the end of the iteration (`br_if` back to the loop): the body runs
    /// at least once and repeats while the condition holds.
    Bottom,
    /// Tested at the start of the iteration, before any effect: the body runs only
    /// while the condition holds.
    Top,
}

/// The loop's single exit.
#[derive(Clone, Copy, Debug)]
pub struct Exit {
    /// Where the test sits.
    pub test: ExitTest,
    /// The `i32` condition.
    pub cond: NodeIndex,
    /// The loop continues when `cond != 0` equals this (false: it continues when
    /// `cond == 0`).
    pub continue_when_nonzero: bool,
}

/// One iteration of a loop, as a value graph.
#[derive(Debug, Default)]
pub struct LoopBody {
    /// Nodes; an edge `user -> operand` carries the operand's position.
    pub graph: DiGraph<Node, u8>,
    /// The phi node of each local read in the iteration.
    pub phis: HashMap<LocalId, NodeIndex>,
    /// The value of each local written in the iteration, at its end.
    pub end_values: HashMap<LocalId, NodeIndex>,
    /// Stores in program order.
    pub stores: Vec<Store>,
    /// The exit, if the loop has exactly one of a recognised form.
    pub exit: Option<Exit>,
    /// Reasons this loop cannot be modelled exactly (empty when it can).
    pub blockers: Vec<String>,
    /// Number of instructions in the body (a size hint for cost models).
    pub instructions: usize,
    /// Nested blocks, loops and ifs modelled as opaque statements (only by
    /// [`build_outer`]).
    pub nested: usize,
    /// Whether a load from a loop-invariant address counts as invariant (an
    /// AssemblyScript typed array's `dataStart`, a C struct's `len` that a byte
    /// store might alias): only for a pass whose guard checks, before anything
    /// else, that each such load lies inside memory and that no store of the loop
    /// writes its bytes ([`LoopBody::invariant_loads`]). Off by default.
    pub hoist_loads: bool,
    /// The value of each local a nested statement reads or the iteration wrote
    /// before it, as the statement starts, keyed by the statement's (first)
    /// sequence (only by [`build_outer`]): what an inner loop's entry values are
    /// in this loop's terms. A local missing here holds its value at the start
    /// of the iteration (its phi). Only [`build_outer_entries`] fills it.
    pub entries: HashMap<InstrSeqId, HashMap<LocalId, NodeIndex>>,
}

impl LoopBody {
    /// The operands of `node`, in order.
    pub fn operands(&self, node: NodeIndex) -> Vec<NodeIndex> {
        let mut edges: Vec<(u8, NodeIndex)> = self
            .graph
            .edges_directed(node, Direction::Outgoing)
            .map(|e| (*e.weight(), e.target()))
            .collect();
        edges.sort_unstable_by_key(|(position, _)| *position);
        edges.into_iter().map(|(_, target)| target).collect()
    }

    /// Whether `node`'s value is the same in every iteration: it depends only on
    /// constants, globals and phis of locals the loop never changes (no loads).
    pub fn is_invariant(&self, node: NodeIndex) -> bool {
        let mut work = vec![node];
        let mut seen = std::collections::HashSet::new();
        while let Some(n) = work.pop() {
            if !seen.insert(n) {
                continue;
            }
            match &self.graph[n] {
                Node::Phi(local) => {
                    if self.end_values.get(local).is_some_and(|end| *end != n) {
                        return false;
                    }
                }
                Node::Const(_) | Node::GlobalGet(_) => {}
                Node::Load { .. } if self.hoist_loads => work.extend(self.operands(n)),
                Node::Load { .. } | Node::Opaque => return false,
                Node::Unop(_) | Node::Binop(_) | Node::Select => work.extend(self.operands(n)),
            }
        }
        true
    }

    /// The loads that count as invariant (with [`LoopBody::hoist_loads`]), those
    /// whose address holds no other such load first.
    pub fn invariant_loads(&self) -> Vec<NodeIndex> {
        if !self.hoist_loads {
            return Vec::new();
        }
        let mut loads: Vec<(usize, NodeIndex)> = self
            .graph
            .node_indices()
            .filter(|n| matches!(self.graph[*n], Node::Load { .. }) && self.is_invariant(*n))
            .map(|n| (self.loads_under(n).len(), n))
            .collect();
        loads.sort();
        loads.into_iter().map(|(_, n)| n).collect()
    }

    /// Whether `node` (transitively) uses `target`.
    pub fn uses(&self, node: NodeIndex, target: NodeIndex) -> bool {
        let mut work = vec![node];
        let mut seen = std::collections::HashSet::new();
        while let Some(n) = work.pop() {
            if n == target {
                return true;
            }
            if seen.insert(n) {
                work.extend(self.operands(n));
            }
        }
        false
    }

    /// The loads reachable from `node` that read a different element each
    /// iteration: with [`LoopBody::hoist_loads`], loads from invariant addresses
    /// (and what lies under them) are left out; otherwise every load.
    pub fn stream_loads_under(&self, node: NodeIndex) -> Vec<NodeIndex> {
        self.loads_under_but(node, |load| self.hoist_loads && self.is_invariant(load))
    }

    /// Every load reachable from `node`.
    pub fn loads_under(&self, node: NodeIndex) -> Vec<NodeIndex> {
        self.loads_under_but(node, |_| false)
    }

    /// The loads reachable from `node`, in node order, but those `skip` says (and
    /// what lies under them).
    fn loads_under_but(&self, node: NodeIndex, skip: impl Fn(NodeIndex) -> bool) -> Vec<NodeIndex> {
        let mut work = vec![node];
        let mut seen = std::collections::HashSet::new();
        let mut loads = Vec::new();
        while let Some(n) = work.pop() {
            if !seen.insert(n) {
                continue;
            }
            if matches!(self.graph[n], Node::Load { .. }) {
                if skip(n) {
                    continue;
                }
                loads.push(n);
            }
            work.extend(self.operands(n));
        }
        loads.sort_by_key(|n| n.index());
        loads
    }
}

struct Builder<'m> {
    module: &'m Module,
    body: LoopBody,
    stack: Vec<NodeIndex>,
    locals: HashMap<LocalId, NodeIndex>,
    memory_ops: usize,
    effects_seen: bool,
    /// Model nested blocks, loops and ifs as opaque statements (see
    /// [`build_outer`]) instead of giving up on them.
    summarize: Option<&'m LocalFunction>,
    /// The function the loop is in.
    func: &'m LocalFunction,
    /// Whether to record [`LoopBody::entries`] (only [`build_outer_entries`]).
    entries: bool,
}

impl<'m> Builder<'m> {
    fn new(
        module: &'m Module,
        func: &'m LocalFunction,
        summarize: Option<&'m LocalFunction>,
        entries: bool,
    ) -> Builder<'m> {
        Builder {
            module,
            body: LoopBody::default(),
            stack: Vec::new(),
            locals: HashMap::new(),
            memory_ops: 0,
            effects_seen: false,
            summarize,
            func,
            entries,
        }
    }

    fn add(&mut self, node: Node, operands: &[NodeIndex]) -> NodeIndex {
        let index = self.body.graph.add_node(node);
        for (position, operand) in operands.iter().enumerate() {
            self.body.graph.add_edge(index, *operand, position as u8);
        }
        index
    }

    fn block(&mut self, reason: impl Into<String>) {
        let reason = reason.into();
        if !self.body.blockers.contains(&reason) {
            self.body.blockers.push(reason);
        }
    }

    fn pop(&mut self) -> NodeIndex {
        match self.stack.pop() {
            Some(n) => n,
            None => {
                // A value from outside the loop body (a block parameter): opaque.
                self.block("loop with parameters");
                self.add(Node::Opaque, &[])
            }
        }
    }

    /// Records the end-of-iteration value of every local written.
    fn finish_locals(&mut self) {
        for (local, value) in &self.locals {
            if self.body.phis.get(local) != Some(value) {
                self.body.end_values.insert(*local, *value);
            }
        }
    }

    fn pop_n(&mut self, n: usize) -> Vec<NodeIndex> {
        let mut values: Vec<NodeIndex> = (0..n).map(|_| self.pop()).collect();
        values.reverse();
        values
    }

    fn local(&mut self, local: LocalId) -> NodeIndex {
        if let Some(n) = self.locals.get(&local) {
            return *n;
        }
        let phi = self.add(Node::Phi(local), &[]);
        self.body.phis.insert(local, phi);
        self.locals.insert(local, phi);
        phi
    }

    /// A call: its effects are unknown, but its stack effect is not, so the values
    /// around it stay meaningful for the report.
    fn opaque_call(&mut self, ty: TypeId, extra_operands: usize) {
        self.block("call inside loop");
        self.effects_seen = true;
        let ty = self.module.types.get(ty);
        let (params, results) = (ty.params().len(), ty.results().len());
        self.pop_n(params + extra_operands);
        for _ in 0..results {
            let n = self.add(Node::Opaque, &[]);
            self.stack.push(n);
        }
    }

    /// Runs one instruction of the straight-line part.
    fn step(&mut self, instr: &Instr) {
        self.body.instructions += 1;
        match instr {
            Instr::LocalGet(g) => {
                let n = self.local(g.local);
                self.stack.push(n);
            }
            Instr::LocalSet(s) => {
                let v = self.pop();
                self.locals.insert(s.local, v);
            }
            Instr::LocalTee(t) => {
                let v = self.pop();
                self.locals.insert(t.local, v);
                self.stack.push(v);
            }
            Instr::Const(c) => {
                let n = self.add(Node::Const(c.value), &[]);
                self.stack.push(n);
            }
            Instr::GlobalGet(g) => {
                let n = self.add(Node::GlobalGet(g.global), &[]);
                self.stack.push(n);
            }
            Instr::Unop(u) => {
                let a = self.pop();
                let n = self.add(Node::Unop(u.op), &[a]);
                self.stack.push(n);
            }
            Instr::Binop(b) => {
                let ops = self.pop_n(2);
                let n = self.add(Node::Binop(b.op), &ops);
                self.stack.push(n);
            }
            Instr::Select(_) => {
                let ops = self.pop_n(3);
                let n = self.add(Node::Select, &ops);
                self.stack.push(n);
            }
            Instr::Drop(_) => {
                self.pop();
            }
            Instr::Load(l) => {
                if l.kind.atomic() {
                    self.block("atomic access in loop");
                }
                let addr = self.pop();
                let order = self.memory_ops;
                self.memory_ops += 1;
                let n = self.add(
                    Node::Load {
                        memory: l.memory,
                        kind: l.kind,
                        arg: l.arg,
                        order,
                    },
                    &[addr],
                );
                self.stack.push(n);
            }
            Instr::Store(s) => {
                if s.kind.atomic() {
                    self.block("atomic access in loop");
                }
                let ops = self.pop_n(2);
                let order = self.memory_ops;
                self.memory_ops += 1;
                self.effects_seen = true;
                self.body.stores.push(Store {
                    memory: s.memory,
                    kind: s.kind,
                    arg: s.arg,
                    addr: ops[0],
                    value: ops[1],
                    order,
                });
            }
            Instr::Call(c) => {
                let ty = self.module.funcs.get(c.func).ty();
                self.opaque_call(ty, 0);
            }
            Instr::CallIndirect(c) => self.opaque_call(c.ty, 1),
            Instr::Block(_) | Instr::Loop(_) | Instr::IfElse(_) if self.summarize.is_some() => {
                self.nested_statement(instr)
            }
            Instr::Block(_) | Instr::IfElse(_) if self.guarded_store(instr) => {}
            Instr::IfElse(_) if self.guarded_sets(instr) => {}
            other => {
                let reason = match other {
                    Instr::CallRef(_) => "call inside loop",
                    Instr::GlobalSet(_) => "global written in loop",
                    Instr::MemoryGrow(_) => "memory.grow in loop",
                    Instr::AtomicRmw(_)
                    | Instr::Cmpxchg(_)
                    | Instr::AtomicNotify(_)
                    | Instr::AtomicWait(_)
                    | Instr::AtomicFence(_) => "atomic access in loop",
                    Instr::Block(_) | Instr::Loop(_) | Instr::IfElse(_) | Instr::BrTable(_) => {
                        "control flow inside loop body"
                    }
                    Instr::Br(_) | Instr::BrIf(_) | Instr::Return(_) | Instr::Unreachable(_) => {
                        "early exit"
                    }
                    _ => "unsupported instruction in loop",
                };
                self.block(reason);
                self.effects_seen = true;
                // Keep the stack roughly right so later facts stay meaningful.
                self.stack.clear();
            }
        }
    }
}

impl Builder<'_> {
    /// A store that runs only when a condition holds, as compilers write
    /// `if (c) p[i] = v`: `block { <cond>; br_if 0; <addr>; <value>; store }` (the
    /// store skipped when `cond != 0`) or `<cond>; if { <addr>; <value>; store }`.
    /// Modelled as the unconditional store `p[i] = c ? v : p[i]`: a load of the
    /// stored location (same width) and a `select`. That stores the same bytes, so
    /// only when the store would not have run does anything differ: the location is
    /// read and written back unchanged. A rewrite of the loop is guarded by bounds
    /// on every location it touches (the fallback is this loop), so the extra access
    /// cannot trap; what it rules out is a shared memory, where writing back an
    /// unchanged value can overwrite another thread's store.
    ///
    /// The code before the test may be any straight-line code; the code after it
    /// computes the address and value only (no local writes, no other store).
    /// Returns false, having done nothing, for anything else.
    fn guarded_store(&mut self, instr: &Instr) -> bool {
        let func = self.func;
        let (cond_instrs, store_instrs, store_when_nonzero) = match instr {
            Instr::Block(block) => {
                let seq = func.block(block.seq);
                if !matches!(seq.ty, InstrSeqType::Simple(None)) {
                    return false;
                }
                let Some(test) = seq
                    .instrs
                    .iter()
                    .position(|(i, _)| matches!(i, Instr::BrIf(b) if b.block == block.seq))
                else {
                    return false;
                };
                (&seq.instrs[..test], &seq.instrs[test + 1..], false)
            }
            Instr::IfElse(branch) => {
                let then = func.block(branch.consequent);
                if !func.block(branch.alternative).instrs.is_empty()
                    || !matches!(then.ty, InstrSeqType::Simple(None))
                {
                    return false;
                }
                (&[][..], &then.instrs[..], true)
            }
            _ => return false,
        };
        let Some(((Instr::Store(store), _), operands)) = store_instrs.split_last() else {
            return false;
        };
        if store.kind.atomic() || self.module.memories.get(store.memory).shared {
            return false;
        }
        let straight = |i: &Instr, writes: bool| match i {
            Instr::LocalGet(_)
            | Instr::Const(_)
            | Instr::GlobalGet(_)
            | Instr::Unop(_)
            | Instr::Binop(_)
            | Instr::Select(_) => true,
            Instr::LocalSet(_) | Instr::LocalTee(_) | Instr::Drop(_) => writes,
            Instr::Load(l) => !l.kind.atomic(),
            _ => false,
        };
        if !cond_instrs.iter().all(|(i, _)| straight(i, true))
            || !operands.iter().all(|(i, _)| straight(i, false))
        {
            return false;
        }
        // The `if` form's condition is already on the stack.
        let cond = if matches!(instr, Instr::IfElse(_)) {
            let Some(cond) = self.stack.pop() else {
                return false;
            };
            Some(cond)
        } else {
            None
        };
        let outer = std::mem::take(&mut self.stack);
        let cond = match cond {
            Some(cond) => cond,
            None => {
                for (i, _) in cond_instrs {
                    self.step(i);
                }
                self.pop()
            }
        };
        let stack_clean = self.stack.is_empty();
        for (i, _) in operands {
            self.step(i);
        }
        let ops = self.pop_n(2);
        if !stack_clean || !self.stack.is_empty() {
            self.block("unbalanced guarded store");
        }
        self.stack = outer;
        let order = self.memory_ops;
        self.memory_ops += 2;
        self.effects_seen = true;
        // The condition usually reads the location already (`if (x[i] < 0)`): that
        // load, when no store came after it, is the old value (its extension does
        // not matter, the store keeps the low bytes).
        let last_store = self.body.stores.last().map(|s| s.order);
        let earlier = self.body.graph.node_indices().find(|n| {
            let Node::Load {
                memory,
                kind,
                arg,
                order,
            } = &self.body.graph[*n]
            else {
                return false;
            };
            *memory == store.memory
                && arg.offset == store.arg.offset
                && reads_back(*kind, store.kind)
                && last_store.is_none_or(|s| s < *order)
                && self.body.operands(*n) == [ops[0]]
        });
        let old = match earlier {
            Some(load) => load,
            None => self.add(
                Node::Load {
                    memory: store.memory,
                    kind: load_kind_of(store.kind),
                    arg: store.arg,
                    order,
                },
                &[ops[0]],
            ),
        };
        let value = if store_when_nonzero {
            self.add(Node::Select, &[ops[1], old, cond])
        } else {
            self.add(Node::Select, &[old, ops[1], cond])
        };
        self.body.stores.push(Store {
            memory: store.memory,
            kind: store.kind,
            arg: store.arg,
            addr: ops[0],
            value,
            order: order + 1,
        });
        true
    }
}

impl Builder<'_> {
    /// An `if` (with or without `else`) whose arms only compute and set locals, as
    /// AssemblyScript (Binaryen) leaves `if (v > m) { m = v; k = i; }`: modelled as
    /// both arms computed and each local they write set to `cond ? then : else`
    /// (`select`). Exact where no operation in the arms can trap (no loads, integer
    /// divisions or float-to-integer truncations), which is all this admits; an arm
    /// computed when it would not have run changes nothing then. Returns false,
    /// having done nothing, for anything else.
    fn guarded_sets(&mut self, instr: &Instr) -> bool {
        let Instr::IfElse(branch) = instr else {
            return false;
        };
        let func = self.func;
        let arms = [
            func.block(branch.consequent),
            func.block(branch.alternative),
        ];
        let pure = |i: &Instr| match i {
            Instr::LocalGet(_)
            | Instr::LocalSet(_)
            | Instr::LocalTee(_)
            | Instr::Const(_)
            | Instr::GlobalGet(_)
            | Instr::Select(_)
            | Instr::Drop(_) => true,
            Instr::Unop(u) => {
                let name = format!("{:?}", u.op);
                !(name.starts_with('I') && name.contains("Trunc") && !name.contains("Sat"))
            }
            Instr::Binop(b) => {
                let name = format!("{:?}", b.op);
                !(name.starts_with('I') && (name.contains("Div") || name.contains("Rem")))
            }
            _ => false,
        };
        if arms.iter().any(|a| {
            !matches!(a.ty, InstrSeqType::Simple(None)) || !a.instrs.iter().all(|(i, _)| pure(i))
        }) {
            return false;
        }
        let Some(cond) = self.stack.pop() else {
            return false;
        };
        let outer = std::mem::take(&mut self.stack);
        let before = self.locals.clone();
        let mut after = Vec::new();
        for arm in arms {
            self.locals = before.clone();
            for (i, _) in &arm.instrs {
                self.step(i);
            }
            if !self.stack.is_empty() {
                self.block("unbalanced if");
                self.stack.clear();
            }
            after.push(std::mem::take(&mut self.locals));
        }
        self.locals = before;
        // (Phis an arm created are the values of locals nothing set before.)
        for (local, phi) in &self.body.phis {
            self.locals.entry(*local).or_insert(*phi);
        }
        let mut written: Vec<LocalId> = after
            .iter()
            .flat_map(|values| values.iter())
            .filter(|(local, value)| self.locals.get(*local) != Some(*value))
            .map(|(local, _)| *local)
            .collect();
        written.sort_by_key(|l| l.index());
        written.dedup();
        for local in written {
            let prior = self.local(local);
            let [then, otherwise] = [0, 1].map(|a| after[a].get(&local).copied().unwrap_or(prior));
            let value = if then == otherwise {
                then
            } else {
                self.add(Node::Select, &[then, otherwise, cond])
            };
            self.locals.insert(local, value);
        }
        self.stack = outer;
        true
    }
}

/// Whether a load of `kind` reads, as the same type, the bytes a store of `store`
/// writes (narrow loads of either extension: the store keeps the low bytes).
fn reads_back(kind: LoadKind, store: StoreKind) -> bool {
    use walrus::ir::ExtendedLoad::ZeroExtend;
    let unsigned = match kind {
        LoadKind::I32_8 { .. } => LoadKind::I32_8 { kind: ZeroExtend },
        LoadKind::I32_16 { .. } => LoadKind::I32_16 { kind: ZeroExtend },
        LoadKind::I64_8 { .. } => LoadKind::I64_8 { kind: ZeroExtend },
        LoadKind::I64_16 { .. } => LoadKind::I64_16 { kind: ZeroExtend },
        LoadKind::I64_32 { .. } => LoadKind::I64_32 { kind: ZeroExtend },
        other => other,
    };
    // (walrus's kinds have no `PartialEq`.)
    format!("{unsigned:?}") == format!("{:?}", load_kind_of(store))
}

/// The load reading back what a store of `kind` writes (zero-extended when narrow:
/// the store keeps the low bits, which are the bytes read).
fn load_kind_of(kind: StoreKind) -> LoadKind {
    use walrus::ir::ExtendedLoad::ZeroExtend;
    match kind {
        StoreKind::I32 { .. } => LoadKind::I32 { atomic: false },
        StoreKind::I64 { .. } => LoadKind::I64 { atomic: false },
        StoreKind::F32 => LoadKind::F32,
        StoreKind::F64 => LoadKind::F64,
        StoreKind::V128 => LoadKind::V128,
        StoreKind::I32_8 { .. } => LoadKind::I32_8 { kind: ZeroExtend },
        StoreKind::I32_16 { .. } => LoadKind::I32_16 { kind: ZeroExtend },
        StoreKind::I64_8 { .. } => LoadKind::I64_8 { kind: ZeroExtend },
        StoreKind::I64_16 { .. } => LoadKind::I64_16 { kind: ZeroExtend },
        StoreKind::I64_32 { .. } => LoadKind::I64_32 { kind: ZeroExtend },
    }
}

impl Builder<'_> {
    /// A nested block, loop or if without parameters or results, as one opaque
    /// statement: every local written inside it holds an unknown value after it,
    /// and it counts as an effect.
    fn nested_statement(&mut self, instr: &Instr) {
        let Some(func) = self.summarize else {
            return;
        };
        let simple = super::loops::opened_sequences(instr)
            .iter()
            .all(|seq| matches!(func.block(*seq).ty, InstrSeqType::Simple(None)));
        if !simple {
            self.block("nested block with parameters or results");
            self.stack.clear();
            return;
        }
        if matches!(instr, Instr::IfElse(_)) {
            self.pop();
        }
        self.body.nested += 1;
        self.effects_seen = true;
        // What the locals it reads hold as it starts.
        let opened = super::loops::opened_sequences(instr);
        if let Some(first) = opened.first().filter(|_| self.entries) {
            let mut sequences = opened.clone();
            for seq in &opened {
                sequences.extend(super::loops::nested_sequences(
                    func,
                    &func.block(*seq).instrs,
                ));
            }
            // (A local written before it in the iteration holds what was
            // written; any other, its value at the iteration's start.)
            let mut entry = self.locals.clone();
            for seq in sequences {
                for (inner, _) in &func.block(seq).instrs {
                    if let Instr::LocalGet(g) = inner {
                        let value = self.local(g.local);
                        entry.insert(g.local, value);
                    }
                }
            }
            self.body.entries.insert(*first, entry);
            if let Instr::Block(block) = instr {
                self.guarded_entries(func, block.seq);
            }
        }
        // A local the statement sets to one value on every path through it (a
        // counter advanced on each side of the branches of an unrolled, padded
        // window, clang -O2) keeps that value, computed from the value before it.
        let mut settled: Vec<_> = settled_writes(func, instr).into_iter().collect();
        settled.sort_by_key(|(local, _)| local.index());
        let settled: Vec<(LocalId, NodeIndex, i32)> = settled
            .into_iter()
            .map(|(local, (base, c))| (local, self.local(base), c))
            .collect();
        let opened = super::loops::opened_sequences(instr);
        let mut nested = opened.clone();
        for seq in opened {
            nested.extend(super::loops::nested_sequences(
                func,
                &func.block(seq).instrs,
            ));
        }
        for seq in nested {
            let instrs = &func.block(seq).instrs;
            for (position, (inner, _)) in instrs.iter().enumerate() {
                let written = match inner {
                    Instr::LocalSet(s) => s.local,
                    Instr::LocalTee(t) => t.local,
                    _ => continue,
                };
                // `local.get x; local.tee x` (clang -O1 writes such copies) keeps x.
                let copy = position.checked_sub(1).is_some_and(
                    |p| matches!(&instrs[p].0, Instr::LocalGet(g) if g.local == written),
                );
                if copy {
                    continue;
                }
                let opaque = self.add(Node::Opaque, &[]);
                self.locals.insert(written, opaque);
            }
        }
        for (local, base, c) in settled {
            let c = self.add(Node::Const(Value::I32(c)), &[]);
            let value = self.add(Node::Binop(BinaryOp::I32Add), &[base, c]);
            self.locals.insert(local, value);
        }
    }
}

impl Builder<'_> {
    /// Entries of the blocks inside block `seq` that its straight-line start
    /// reaches (`block { br_if 0 (n == 0); i = 0; ...; block (inner loop) }`,
    /// rustc -Os's guard around an inner loop): the locals as that start leaves
    /// them. Stops at anything else.
    fn guarded_entries(&mut self, func: &LocalFunction, seq: InstrSeqId) {
        let saved = (self.locals.clone(), std::mem::take(&mut self.stack));
        let (effects, instructions) = (self.effects_seen, self.body.instructions);
        let blockers = self.body.blockers.len();
        for (instr, _) in &func.block(seq).instrs {
            match instr {
                Instr::LocalGet(_)
                | Instr::LocalSet(_)
                | Instr::LocalTee(_)
                | Instr::Const(_)
                | Instr::Unop(_)
                | Instr::Binop(_) => self.step(instr),
                Instr::BrIf(_) => {
                    if self.stack.pop().is_none() {
                        break;
                    }
                }
                Instr::Block(inner) => {
                    let mut entry = self.locals.clone();
                    for nested in super::loops::nested_sequences(
                        func,
                        std::slice::from_ref(&(instr.clone(), Default::default())),
                    ) {
                        for (i, _) in &func.block(nested).instrs {
                            if let Instr::LocalGet(g) = i {
                                let value = self.local(g.local);
                                entry.insert(g.local, value);
                            }
                        }
                    }
                    self.body.entries.insert(inner.seq, entry);
                    self.guarded_entries(func, inner.seq);
                    // (Past a block that leaves the locals as they were when it
                    // falls out: the empty case's `block { br_if 0 (k != 0); s =
                    // 0; br $after }`, rustc -Os.)
                    if !falls_out_unchanged(func, inner.seq) {
                        break;
                    }
                }
                _ => break,
            }
        }
        (self.locals, self.stack) = saved;
        (self.effects_seen, self.body.instructions) = (effects, instructions);
        self.body.blockers.truncate(blockers);
    }
}

/// Whether block `seq` writes no local on any path that falls out of its end:
/// it holds no nested sequence, never reaches its end but by a `br_if` to
/// itself, and writes locals only after the last of those.
fn falls_out_unchanged(func: &LocalFunction, seq: InstrSeqId) -> bool {
    let instrs = &func.block(seq).instrs;
    if !matches!(
        instrs.last(),
        Some((Instr::Br(_) | Instr::Return(_) | Instr::Unreachable(_), _))
    ) || matches!(instrs.last(), Some((Instr::Br(b), _)) if b.block == seq)
    {
        return false;
    }
    let mut written = false;
    for (instr, _) in instrs {
        match instr {
            Instr::LocalSet(_) | Instr::LocalTee(_) => written = true,
            Instr::BrIf(b) if b.block == seq && written => return false,
            Instr::Br(b) if b.block == seq && written => return false,
            Instr::BrTable(_) => return false,
            other if !super::loops::opened_sequences(other).is_empty() => return false,
            _ => {}
        }
    }
    true
}

/// The locals that nested statement `instr` (a block) sets to the same value on
/// every path from its start to its end: each write is `local.get a; i32.const c;
/// i32.add; local.set/tee` with one `a` (not written inside, or the local itself
/// with one write, outside any loop) and one `c`, every path that reaches the
/// statement's end writes it, and no branch inside leaves the statement.
/// Local -> (a, c).
pub(crate) fn settled_writes(
    func: &LocalFunction,
    instr: &Instr,
) -> HashMap<LocalId, (LocalId, i32)> {
    let Instr::Block(block) = instr else {
        return HashMap::new();
    };
    let mut sequences = vec![block.seq];
    sequences.extend(super::loops::nested_sequences(
        func,
        &func.block(block.seq).instrs,
    ));
    // (A window's branches are a few dozen blocks; an interpreter's dispatch,
    // thousands, nested as deep: not walked, recursively or at all.)
    let size: usize = sequences.iter().map(|s| func.block(*s).instrs.len()).sum();
    if sequences.len() > MAX_SETTLED_SEQUENCES || size > 8 * 1024 {
        return HashMap::new();
    }
    // The sequences inside loops of the statement (their writes may run again).
    let mut looped = std::collections::HashSet::new();
    for seq in &sequences {
        for (i, _) in &func.block(*seq).instrs {
            if let Instr::Loop(l) = i {
                looped.insert(l.seq);
                looped.extend(super::loops::nested_sequences(
                    func,
                    &func.block(l.seq).instrs,
                ));
            }
        }
    }
    // Every write's expression, per local (None: not of the form), and how many
    // writes there are (a write in a loop counts twice).
    let mut forms: HashMap<LocalId, Option<(LocalId, i32)>> = HashMap::new();
    let mut writes: HashMap<LocalId, usize> = HashMap::new();
    for seq in &sequences {
        let instrs = &func.block(*seq).instrs;
        for (position, (i, _)) in instrs.iter().enumerate() {
            let local = match i {
                Instr::LocalSet(s) => s.local,
                Instr::LocalTee(t) => t.local,
                _ => continue,
            };
            let form =
                match position.checked_sub(3).map(|p| &instrs[p..position]) {
                    Some(
                        [(Instr::LocalGet(a), _), (Instr::Const(c), _), (Instr::Binop(add), _)],
                    ) if matches!(add.op, BinaryOp::I32Add) => match c.value {
                        Value::I32(c) => Some((a.local, c)),
                        _ => None,
                    },
                    _ => None,
                };
            let entry = forms.entry(local).or_insert(form);
            if *entry != form {
                *entry = None;
            }
            *writes.entry(local).or_default() += if looped.contains(seq) { 2 } else { 1 };
        }
    }
    let mut walk = MustWrite {
        func,
        edges: HashMap::new(),
        opened: sequences.iter().copied().collect(),
        escapes: false,
    };
    let end = walk.seq(block.seq, Some(std::collections::HashSet::new()));
    let end = meet(end, walk.edges.remove(&block.seq).flatten());
    let (Some(written), false) = (end, walk.escapes) else {
        return HashMap::new();
    };
    forms
        .iter()
        .filter_map(|(local, form)| {
            let (a, c) = (*form)?;
            // `a` keeps its value through the statement, or is the local itself,
            // written once (`x = x + 1`, reading the value from before it).
            let kept = if a == *local {
                writes.get(local) == Some(&1)
            } else {
                !forms.contains_key(&a)
            };
            (written.contains(local) && kept).then_some((*local, (a, c)))
        })
        .collect()
}

/// The most sequences (blocks, arms, loops) [`settled_writes`] looks through.
const MAX_SETTLED_SEQUENCES: usize = 256;

type Written = Option<std::collections::HashSet<LocalId>>;

/// The locals written on every path (`None`: no path).
fn meet(a: Written, b: Written) -> Written {
    match (a, b) {
        (None, x) | (x, None) => x,
        (Some(a), Some(b)) => Some(a.intersection(&b).copied().collect()),
    }
}

/// The must-write analysis of [`settled_writes`].
struct MustWrite<'f> {
    func: &'f LocalFunction,
    /// Per label inside the statement: the locals written on every branch to it.
    edges: HashMap<InstrSeqId, Written>,
    /// The sequences of the statement.
    opened: std::collections::HashSet<InstrSeqId>,
    /// A branch leaves the statement.
    escapes: bool,
}

impl MustWrite<'_> {
    fn branch(&mut self, target: InstrSeqId, cur: &Written) {
        if !self.opened.contains(&target) {
            self.escapes = true;
            return;
        }
        let before = self.edges.remove(&target).flatten();
        self.edges.insert(target, meet(before, cur.clone()));
    }

    /// What falls out of the end of `seq`, entered with `cur`.
    fn seq(&mut self, seq: InstrSeqId, mut cur: Written) -> Written {
        let func = self.func;
        for (instr, _) in &func.block(seq).instrs {
            match instr {
                Instr::LocalSet(s) => {
                    if let Some(c) = cur.as_mut() {
                        c.insert(s.local);
                    }
                }
                Instr::LocalTee(t) => {
                    if let Some(c) = cur.as_mut() {
                        c.insert(t.local);
                    }
                }
                Instr::Block(b) => {
                    let out = self.seq(b.seq, cur.clone());
                    cur = meet(out, self.edges.remove(&b.seq).flatten());
                }
                // (Branches back to the head run the body again; what falls out
                // was written on the first pass at least.)
                Instr::Loop(l) => cur = self.seq(l.seq, cur.clone()),
                Instr::IfElse(i) => {
                    let then = self.seq(i.consequent, cur.clone());
                    let otherwise = self.seq(i.alternative, cur.clone());
                    cur = meet(then, otherwise);
                    for arm in [i.consequent, i.alternative] {
                        cur = meet(cur, self.edges.remove(&arm).flatten());
                    }
                }
                Instr::Br(b) => {
                    self.branch(b.block, &cur);
                    cur = None;
                }
                Instr::BrIf(b) => self.branch(b.block, &cur),
                Instr::BrTable(t) => {
                    for target in t.blocks.iter().chain(std::iter::once(&t.default)) {
                        self.branch(*target, &cur);
                    }
                    cur = None;
                }
                Instr::Return(_) | Instr::Unreachable(_) => cur = None,
                other if !super::loops::opened_sequences(other).is_empty() => {
                    self.escapes = true;
                }
                _ => {}
            }
        }
        cur
    }
}

/// The exit test of clang -Oz's top-tested loops:
/// `block { <cond>; br_if 0; return }` (continue when cond != 0, else return).
pub(crate) fn return_guard(
    func: &LocalFunction,
    seq: InstrSeqId,
    loop_seq: InstrSeqId,
) -> Option<&[(Instr, walrus::InstrLocId)]> {
    let instrs = &func.block(seq).instrs;
    let test = instrs
        .iter()
        .position(|(i, _)| matches!(i, Instr::BrIf(b) if b.block == seq))?;
    exit_path(func, seq, loop_seq, &instrs[test + 1..])?;
    (test > 0).then(|| &instrs[..test])
}

/// Checks that `code` only leaves the loop: it ends in `return` and nothing in it
/// branches back into the iteration (to `guard` or to the loop). It may hold
/// anything else, loops included (clang -Oz puts the remainder loop of unrolled
/// code there); it runs only after the loop's last iteration.
fn exit_path(
    func: &LocalFunction,
    guard: InstrSeqId,
    loop_seq: InstrSeqId,
    code: &[(Instr, walrus::InstrLocId)],
) -> Option<()> {
    if !matches!(code.last(), Some((Instr::Return(_), _))) {
        return None;
    }
    let nested = super::loops::nested_sequences(func, code);
    let every = code
        .iter()
        .chain(nested.iter().flat_map(|s| func.block(*s).instrs.iter()));
    for (instr, _) in every {
        let targets = super::loops::branch_targets(instr)?;
        if targets.contains(&guard) || targets.contains(&loop_seq) {
            return None;
        }
    }
    Some(())
}

/// The sequences inside the exit path of a loop's return guard (see
/// `return_guard`): loops found there run after the loop, not inside its
/// iterations.
pub fn exit_path_sequences(func: &LocalFunction, loop_seq: InstrSeqId) -> Vec<InstrSeqId> {
    let instrs = &func.block(loop_seq).instrs;
    for (instr, _) in instrs {
        let Instr::Block(inner) = instr else {
            // (The guard must come before anything with an effect; a plain
            // value computation may precede it, so keep looking.)
            continue;
        };
        if return_guard(func, inner.seq, loop_seq).is_some() {
            let block = &func.block(inner.seq).instrs;
            let test = block
                .iter()
                .position(|(i, _)| matches!(i, Instr::BrIf(b) if b.block == inner.seq))
                .unwrap_or(block.len());
            return super::loops::nested_sequences(func, &block[test + 1..]);
        }
        return Vec::new();
    }
    Vec::new()
}

/// Binaryen's (and so AssemblyScript's) top-tested loop:
/// `loop { <cond>; if { <body>; br loop } }` with an empty else. Returns the condition
/// instructions and the body without its final `br`.
type Instrs = [(Instr, walrus::InstrLocId)];
pub(crate) fn if_guarded_body(
    func: &LocalFunction,
    loop_seq: InstrSeqId,
) -> Option<(&Instrs, &Instrs)> {
    let instrs = &func.block(loop_seq).instrs;
    let (last, cond) = instrs.split_last()?;
    let Instr::IfElse(branch) = &last.0 else {
        return None;
    };
    if !func.block(branch.alternative).instrs.is_empty()
        || !matches!(func.block(branch.consequent).ty, InstrSeqType::Simple(None))
    {
        return None;
    }
    let body = &func.block(branch.consequent).instrs;
    let (back, body) = body.split_last()?;
    matches!(&back.0, Instr::Br(br) if br.block == loop_seq).then_some((cond, body))
}

/// Builds the value graph of the loop whose body is `loop_seq`.
pub fn build(module: &Module, func: &LocalFunction, loop_seq: InstrSeqId) -> LoopBody {
    build_with(module, func, loop_seq, None, false)
}

/// Builds the value graph of an outer loop: nested blocks, loops and ifs are opaque
/// statements (every local they write is unknown after them), so the loop's own
/// exit test, induction variables and top-level stores stay visible.
pub fn build_outer(module: &Module, func: &LocalFunction, loop_seq: InstrSeqId) -> LoopBody {
    build_with(module, func, loop_seq, Some(func), false)
}

/// [`build_outer`], also recording what the locals hold as each nested
/// statement starts ([`LoopBody::entries`]; the phis of the locals they read
/// are made as they are met).
pub fn build_outer_entries(
    module: &Module,
    func: &LocalFunction,
    loop_seq: InstrSeqId,
) -> LoopBody {
    build_with(module, func, loop_seq, Some(func), true)
}

fn build_with<'m>(
    module: &'m Module,
    func: &'m LocalFunction,
    loop_seq: InstrSeqId,
    summarize: Option<&'m LocalFunction>,
    entries: bool,
) -> LoopBody {
    let mut b = Builder::new(module, func, summarize, entries);
    let seq = func.block(loop_seq);
    // A loop ending in `br loop` never falls through, so a result type (clang -Oz
    // writes `loop (result i32)` when the only exit is a `return`) carries nothing.
    let never_falls_through =
        matches!(seq.instrs.last(), Some((Instr::Br(br), _)) if br.block == loop_seq);
    match seq.ty {
        InstrSeqType::Simple(None) => {}
        InstrSeqType::Simple(Some(_)) if never_falls_through => {}
        _ => b.block("loop with parameters or results"),
    }
    if let Some((cond, body)) = if_guarded_body(func, loop_seq) {
        for (instr, _) in cond {
            b.step(instr);
        }
        let cond = b.pop();
        if b.effects_seen {
            b.block("early exit");
        }
        b.body.exit = Some(Exit {
            test: ExitTest::Top,
            cond,
            continue_when_nonzero: true,
        });
        for (instr, _) in body {
            b.step(instr);
        }
        b.finish_locals();
        return b.body;
    }
    let instrs = &seq.instrs;
    let last = instrs.len().saturating_sub(1);
    let mut top_exit: Option<Exit> = None;
    let mut bottom_exit: Option<Exit> = None;
    let mut ends_with_back_edge = false;
    // `br_if $loop; br $out` at the end: a bottom test whose exit branches
    // rather than falls out (rustc, when a bounds check's panic follows the loop).
    let branches_out = last > 0
        && matches!(&instrs[last].0, Instr::Br(br) if br.block != loop_seq)
        && matches!(&instrs[last - 1].0, Instr::BrIf(br) if br.block == loop_seq);
    for (position, (instr, _)) in instrs.iter().enumerate() {
        match instr {
            // The exit branch after such a bottom test.
            Instr::Br(_) if branches_out && position == last => {}
            // Bottom test: `br_if` back to the loop as the last instruction.
            Instr::BrIf(br)
                if br.block == loop_seq
                    && (position == last || (branches_out && position + 1 == last)) =>
            {
                let cond = b.pop();
                bottom_exit = Some(Exit {
                    test: ExitTest::Bottom,
                    cond,
                    continue_when_nonzero: true,
                });
                ends_with_back_edge = true;
            }
            // Unconditional back edge closing a top-tested loop.
            Instr::Br(br) if br.block == loop_seq && position == last => {
                ends_with_back_edge = true;
            }
            // Top test: an exit branch before any effect.
            Instr::BrIf(br) if br.block != loop_seq && !b.effects_seen && top_exit.is_none() => {
                let cond = b.pop();
                top_exit = Some(Exit {
                    test: ExitTest::Top,
                    cond,
                    continue_when_nonzero: false,
                });
            }
            Instr::Block(inner) if !b.effects_seen && top_exit.is_none() => {
                match return_guard(func, inner.seq, loop_seq) {
                    Some(cond_instrs) => {
                        for (i, _) in cond_instrs {
                            b.step(i);
                        }
                        let cond = b.pop();
                        top_exit = Some(Exit {
                            test: ExitTest::Top,
                            cond,
                            continue_when_nonzero: true,
                        });
                    }
                    None => b.step(instr),
                }
            }
            _ => b.step(instr),
        }
    }
    b.finish_locals();
    b.body.exit = match (top_exit, bottom_exit, ends_with_back_edge) {
        (Some(top), None, true) => Some(top),
        (None, Some(bottom), true) => Some(bottom),
        (None, None, _) => {
            b.block("no loop exit test");
            None
        }
        _ => {
            b.block("early exit");
            None
        }
    };
    if !ends_with_back_edge {
        b.block("loop does not repeat unconditionally");
    }
    b.body
}

/// Where a search loop's iteration may leave: when `cond`'s truth (non-zero) is
/// `exit_when_nonzero`. The exits of one iteration come in program order.
#[derive(Clone, Copy, Debug)]
pub struct SideExit {
    /// The `i32` condition.
    pub cond: NodeIndex,
    /// Whether the loop is left when `cond != 0` (else when `cond == 0`).
    pub exit_when_nonzero: bool,
}

/// A loop with exits inside the iteration (`for (...) if (p[i] == c) return i;`,
/// `while (s[n]) n++`), as a value graph: see [`build_search`].
#[derive(Debug)]
pub struct SearchBody {
    /// The iteration's values; its `exit` is unset (the exits are below) and its
    /// end values are those the iteration continues with.
    pub body: LoopBody,
    /// Every way out of the iteration, in program order. Each condition is a
    /// boolean (`0` or `1`) built from the code's own conditions with `i32.and`,
    /// `i32.or` and `i32.eqz`.
    pub exits: Vec<SideExit>,
    /// Locals the iteration writes that code outside it may read with a value
    /// an earlier iteration left: written on some path only, or after an exit,
    /// and read somewhere the graph does not see (after the loop, or on the way
    /// out of it).
    pub unsettled: HashSet<LocalId>,
}

/// Whether `node` is `0` or `1`: a comparison, `eqz`, or `and`/`or` of such.
pub fn is_boolean(body: &LoopBody, node: NodeIndex) -> bool {
    use walrus::ir::BinaryOp::*;
    match &body.graph[node] {
        Node::Unop(walrus::ir::UnaryOp::I32Eqz | walrus::ir::UnaryOp::I64Eqz) => true,
        Node::Const(Value::I32(0 | 1)) => true,
        Node::Binop(
            I32Eq | I32Ne | I32LtS | I32LtU | I32GtS | I32GtU | I32LeS | I32LeU | I32GeS | I32GeU
            | I64Eq | I64Ne | I64LtS | I64LtU | I64GtS | I64GtU | I64LeS | I64LeU | I64GeS | I64GeU
            | F32Eq | F32Ne | F32Lt | F32Gt | F32Le | F32Ge | F64Eq | F64Ne | F64Lt | F64Gt | F64Le
            | F64Ge,
        ) => true,
        Node::Binop(I32And | I32Or) => body.operands(node).iter().all(|o| is_boolean(body, *o)),
        _ => false,
    }
}

/// When a point of the iteration is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pred {
    Always,
    Never,
    /// When this boolean node is 1.
    When(NodeIndex),
}

/// The paths that reach a label: each with its predicate and the locals' values.
type Arrivals = Vec<(Pred, HashMap<LocalId, NodeIndex>)>;

struct SearchWalk<'m> {
    b: Builder<'m>,
    func: &'m LocalFunction,
    loop_seq: InstrSeqId,
    /// Labels inside the iteration a branch may target, innermost last.
    open: Vec<InstrSeqId>,
    arrivals: HashMap<InstrSeqId, Arrivals>,
    exits: Vec<SideExit>,
    /// Locals written where the iteration always passes before any exit.
    settled: HashSet<LocalId>,
    written: HashSet<LocalId>,
    /// `local.get`s the graph saw, per local.
    reads: HashMap<LocalId, usize>,
    /// The locals the exits so far may read with the values they had at the
    /// exit (`None`: any local: an exit that goes on after the loop).
    observed: Option<HashSet<LocalId>>,
    /// Whether every path that has not left yet reaches this point.
    full: bool,
    /// The depth of each branch's target inside the iteration, in order (the
    /// loop 0, the blocks inside it 1, 2, ... outwards in).
    targets: Vec<usize>,
}

impl SearchWalk<'_> {
    fn boolean(&mut self, c: NodeIndex) -> NodeIndex {
        if is_boolean(&self.b.body, c) {
            return c;
        }
        let zero = self.b.add(Node::Const(Value::I32(0)), &[]);
        self.b
            .add(Node::Binop(walrus::ir::BinaryOp::I32Ne), &[c, zero])
    }

    fn and(&mut self, p: Pred, c: NodeIndex) -> Pred {
        match p {
            Pred::Always => Pred::When(c),
            Pred::Never => Pred::Never,
            Pred::When(q) => Pred::When(
                self.b
                    .add(Node::Binop(walrus::ir::BinaryOp::I32And), &[q, c]),
            ),
        }
    }

    fn or(&mut self, p: Pred, q: Pred) -> Pred {
        match (p, q) {
            (Pred::Never, x) | (x, Pred::Never) => x,
            (Pred::Always, _) | (_, Pred::Always) => Pred::Always,
            (Pred::When(a), Pred::When(b)) => Pred::When(
                self.b
                    .add(Node::Binop(walrus::ir::BinaryOp::I32Or), &[a, b]),
            ),
        }
    }

    /// The local's value at the start of the iteration.
    fn phi(&mut self, local: LocalId) -> NodeIndex {
        if let Some(phi) = self.b.body.phis.get(&local) {
            return *phi;
        }
        let phi = self.b.add(Node::Phi(local), &[]);
        self.b.body.phis.insert(local, phi);
        phi
    }

    fn not(&mut self, c: NodeIndex) -> NodeIndex {
        self.b.add(Node::Unop(walrus::ir::UnaryOp::I32Eqz), &[c])
    }

    /// Records that an exit (to code after the loop, or `payload` on its way
    /// out of the function) may read locals.
    fn observe(&mut self, payload: Option<&Instrs>) {
        let (Some(seen), Some(code)) = (self.observed.as_mut(), payload) else {
            self.observed = None;
            return;
        };
        let leaves_function = matches!(
            code.last(),
            None | Some((Instr::Return(_) | Instr::Unreachable(_), _))
        );
        if !leaves_function {
            self.observed = None;
            return;
        }
        let nested = super::loops::nested_sequences(self.func, code);
        for (i, _) in code.iter().chain(
            nested
                .iter()
                .flat_map(|s| self.func.block(*s).instrs.iter()),
        ) {
            if let Instr::LocalGet(g) = i {
                seen.insert(g.local);
            }
        }
    }

    fn exit(&mut self, p: Pred) -> Option<()> {
        match p {
            Pred::Never => {}
            // An iteration that always leaves: not a loop to skip through.
            Pred::Always => return None,
            Pred::When(cond) => self.exits.push(SideExit {
                cond,
                exit_when_nonzero: true,
            }),
        }
        Some(())
    }

    /// The paths in `p` go to `label`.
    fn branch(&mut self, label: InstrSeqId, p: Pred) -> Option<()> {
        if p == Pred::Never {
            return Some(());
        }
        if label == self.loop_seq || self.open.contains(&label) {
            let depth = self
                .open
                .iter()
                .position(|l| *l == label)
                .map_or(0, |i| i + 1);
            self.targets.push(depth);
            self.full = false;
            let locals = self.b.locals.clone();
            self.arrivals.entry(label).or_default().push((p, locals));
            Some(())
        } else {
            self.observe(None);
            self.exit(p)
        }
    }

    /// The locals where paths meet: the values they agree on, else a `select`
    /// on the (disjoint) predicates.
    fn merge(&mut self, paths: Arrivals) -> (Pred, HashMap<LocalId, NodeIndex>) {
        let paths: Vec<_> = paths
            .into_iter()
            .filter(|(p, _)| *p != Pred::Never)
            .collect();
        let Some(((first_p, _), rest)) = paths.split_first() else {
            return (Pred::Never, HashMap::new());
        };
        let mut pred = *first_p;
        for (p, _) in rest {
            pred = self.or(pred, *p);
        }
        let mut keys: Vec<LocalId> = paths.iter().flat_map(|(_, l)| l.keys().copied()).collect();
        keys.sort_by_key(|l| l.index());
        keys.dedup();
        let mut merged = HashMap::new();
        for local in keys {
            // (A path that did not write the local holds its value at the start
            // of the iteration: its phi, not whatever the walk holds now.)
            let values: Vec<NodeIndex> = paths
                .iter()
                .map(|(_, l)| l.get(&local).copied())
                .collect::<Vec<_>>()
                .into_iter()
                .map(|v| v.unwrap_or_else(|| self.phi(local)))
                .collect();
            let (last, others) = values.split_last().expect("at least one path");
            let mut value = *last;
            for (i, v) in others.iter().enumerate().rev() {
                if *v == value {
                    continue;
                }
                value = match paths[i].0 {
                    Pred::When(c) => self.b.add(Node::Select, &[*v, value, c]),
                    _ => *v,
                };
            }
            merged.insert(local, value);
        }
        (pred, merged)
    }

    /// The first position of `instrs` (a sequence of the iteration) from which
    /// the code only leaves the loop: it ends in `return`, `unreachable` or a
    /// branch out, and nothing from there branches to a label of the iteration.
    fn leaves_from(&self, instrs: &Instrs) -> Option<usize> {
        let leaves = match instrs.last() {
            Some((Instr::Return(_) | Instr::Unreachable(_), _)) => true,
            Some((Instr::Br(br), _)) => br.block != self.loop_seq && !self.open.contains(&br.block),
            _ => false,
        };
        if !leaves {
            return None;
        }
        let mut from = instrs.len();
        for (position, (instr, _)) in instrs.iter().enumerate().rev() {
            let nested = super::loops::nested_sequences(self.func, &instrs[position..=position]);
            let inward = std::iter::once(instr)
                .chain(
                    nested
                        .iter()
                        .flat_map(|s| self.func.block(*s).instrs.iter().map(|(i, _)| i)),
                )
                .any(|i| match super::loops::branch_targets(i) {
                    Some(t) => t
                        .iter()
                        .any(|l| *l == self.loop_seq || self.open.contains(l)),
                    None => true,
                });
            if inward {
                break;
            }
            from = position;
        }
        (from < instrs.len()).then_some(from)
    }

    /// Walks `seq` (a sequence of the iteration, already open) from predicate
    /// `p`; returns the predicate of falling off its end.
    fn walk(&mut self, seq: InstrSeqId, mut p: Pred) -> Option<Pred> {
        let instrs = &self.func.block(seq).instrs;
        let leave = self.leaves_from(instrs);
        let height = self.b.stack.len();
        for (position, (instr, _)) in instrs.iter().enumerate() {
            if p == Pred::Never {
                break;
            }
            if leave == Some(position) {
                self.observe(Some(&instrs[position..]));
                self.exit(p)?;
                p = Pred::Never;
                break;
            }
            match instr {
                Instr::Br(br) => {
                    self.branch(br.block, p)?;
                    p = Pred::Never;
                }
                Instr::BrIf(br) => {
                    let c = self.b.pop();
                    let c = self.boolean(c);
                    let taken = self.and(p, c);
                    self.branch(br.block, taken)?;
                    let stays = self.not(c);
                    p = self.and(p, stays);
                }
                Instr::Return(_) | Instr::Unreachable(_) => {
                    self.observe(Some(&[]));
                    self.exit(p)?;
                    p = Pred::Never;
                }
                Instr::Block(inner) => {
                    if !matches!(self.func.block(inner.seq).ty, InstrSeqType::Simple(None)) {
                        return None;
                    }
                    let (entry_full, mark) = (self.full, self.targets.len());
                    self.open.push(inner.seq);
                    let depth = self.open.len();
                    let end = self.walk(inner.seq, p)?;
                    self.open.pop();
                    let mut paths = self.arrivals.remove(&inner.seq).unwrap_or_default();
                    paths.push((end, self.b.locals.clone()));
                    let (merged_p, locals) = self.merge(paths);
                    p = merged_p;
                    self.b.locals = locals;
                    self.full = entry_full && self.targets[mark..].iter().all(|t| *t >= depth);
                }
                Instr::IfElse(branch) => {
                    let (then, other) = (branch.consequent, branch.alternative);
                    if !matches!(self.func.block(then).ty, InstrSeqType::Simple(None)) {
                        return None;
                    }
                    let c = self.b.pop();
                    let c = self.boolean(c);
                    let before = self.b.locals.clone();
                    let when = self.and(p, c);
                    let (entry_full, mark) = (self.full, self.targets.len());
                    let depth = self.open.len() + 1;
                    self.full = false;
                    self.open.push(then);
                    let then_end = self.walk(then, when)?;
                    let then_locals = std::mem::replace(&mut self.b.locals, before);
                    self.open.pop();
                    let not_c = self.not(c);
                    let unless = self.and(p, not_c);
                    self.open.push(other);
                    let other_end = self.walk(other, unless)?;
                    self.open.pop();
                    let mut paths = self.arrivals.remove(&then).unwrap_or_default();
                    paths.extend(self.arrivals.remove(&other).unwrap_or_default());
                    paths.push((then_end, then_locals));
                    paths.push((other_end, self.b.locals.clone()));
                    let (merged_p, locals) = self.merge(paths);
                    p = merged_p;
                    self.b.locals = locals;
                    self.full = entry_full && self.targets[mark..].iter().all(|t| *t >= depth);
                }
                Instr::Loop(_) | Instr::BrTable(_) | Instr::Try(_) | Instr::TryTable(_) => {
                    return None
                }
                other => {
                    match other {
                        Instr::LocalSet(walrus::ir::LocalSet { local })
                        | Instr::LocalTee(walrus::ir::LocalTee { local }) => {
                            self.written.insert(*local);
                            let observed = match &self.observed {
                                Some(seen) => seen.contains(local),
                                None => true,
                            };
                            if self.full && !observed {
                                self.settled.insert(*local);
                            }
                        }
                        Instr::LocalGet(g) => *self.reads.entry(g.local).or_default() += 1,
                        _ => {}
                    }
                    self.b.step(other);
                }
            }
        }
        // Values left by dead code do not flow on.
        self.b.stack.truncate(height);
        Some(p)
    }
}

/// The largest loop body (instructions, nested code included) and the most
/// branches [`build_search`] looks at.
const MAX_SEARCH_INSTRUCTIONS: usize = 400;
const MAX_SEARCH_BRANCHES: usize = 24;

/// Builds the value graph of a search loop, following its control flow: the
/// iteration may hold blocks, `if`s and branches anywhere (no nested loop, no
/// `br_table`); each point has a predicate (when it is reached), built from
/// the code's conditions. A branch out of the loop, a `return`, falling off the
/// loop's end and code that only leaves (a `return` after a call, say: not
/// looked into) are exits with their predicates; branches back to the loop are
/// the paths that continue, their locals merged with `select`. `None` for
/// anything else, and for iterations that always leave or never continue.
pub fn build_search(
    module: &Module,
    func: &LocalFunction,
    loop_seq: InstrSeqId,
) -> Option<SearchBody> {
    let seq = func.block(loop_seq);
    if !matches!(seq.ty, InstrSeqType::Simple(_)) {
        return None;
    }
    // Searches are small loops; predicates of a large body's many branches
    // would only grow deep (each branch nests the ones before it).
    let nested = super::loops::nested_sequences(func, &seq.instrs);
    let size: usize = seq.instrs.len()
        + nested
            .iter()
            .map(|s| func.block(*s).instrs.len())
            .sum::<usize>();
    let branches = std::iter::once(loop_seq)
        .chain(nested.iter().copied())
        .flat_map(|s| func.block(s).instrs.iter())
        .filter(|(i, _)| matches!(i, Instr::BrIf(_) | Instr::Br(_) | Instr::IfElse(_)))
        .count();
    if size > MAX_SEARCH_INSTRUCTIONS || branches > MAX_SEARCH_BRANCHES {
        return None;
    }
    // Every iteration runs the loop's own top level: a store or a call there
    // is not a search's (a cheap test before the walk).
    if seq
        .instrs
        .iter()
        .any(|(i, _)| matches!(i, Instr::Store(_) | Instr::Call(_) | Instr::CallIndirect(_)))
    {
        return None;
    }
    let mut w = SearchWalk {
        b: Builder::new(module, func, None, false),
        func,
        loop_seq,
        open: Vec::new(),
        arrivals: HashMap::new(),
        exits: Vec::new(),
        settled: HashSet::new(),
        written: HashSet::new(),
        reads: HashMap::new(),
        observed: Some(HashSet::new()),
        full: true,
        targets: Vec::new(),
    };
    let end = w.walk(loop_seq, Pred::Always)?;
    w.observe(None);
    w.exit(end)?;
    let continuing = w.arrivals.remove(&loop_seq)?;
    let (_, locals) = w.merge(continuing);
    w.b.locals = locals;
    w.b.finish_locals();
    if w.exits.is_empty() {
        return None;
    }
    // Reads the graph did not see: after the loop, or on the way out (a walk
    // of the function, so only when something could be unsettled: a loop
    // that reads memory and writes a local on some paths or after an exit).
    let candidates: Vec<LocalId> = w
        .written
        .iter()
        .filter(|l| !w.settled.contains(l))
        .copied()
        .collect();
    let reads_memory =
        w.b.body
            .graph
            .node_weights()
            .any(|n| matches!(n, Node::Load { .. }));
    let unsettled = if candidates.is_empty() || !reads_memory {
        HashSet::new()
    } else {
        let all_reads = reads_from(func, loop_seq);
        candidates
            .into_iter()
            .filter(|l| {
                all_reads.get(l).copied().unwrap_or(0) > w.reads.get(l).copied().unwrap_or(0)
            })
            .collect()
    };
    Some(SearchBody {
        body: w.b.body,
        exits: w.exits,
        unsettled,
    })
}

/// The `local.get`s, per local, of code that may run once the loop at
/// `loop_seq` has started: its own, and those after it (all of the function's
/// when an outer loop may run it again).
fn reads_from(func: &LocalFunction, loop_seq: InstrSeqId) -> HashMap<LocalId, usize> {
    // (Pre-order: `seq`, then each instruction with what it opens.)
    fn walk(
        func: &LocalFunction,
        seq: InstrSeqId,
        loop_seq: InstrSeqId,
        in_loop: bool,
        started: &mut bool,
        outer_loop: &mut bool,
        out: &mut HashMap<LocalId, usize>,
    ) {
        for (instr, _) in &func.block(seq).instrs {
            if let Instr::LocalGet(g) = instr {
                if *started {
                    *out.entry(g.local).or_default() += 1;
                }
            }
            for nested in super::loops::opened_sequences(instr) {
                let is_loop = matches!(instr, Instr::Loop(_));
                if nested == loop_seq {
                    *started = true;
                    *outer_loop = in_loop;
                }
                walk(
                    func,
                    nested,
                    loop_seq,
                    in_loop || is_loop,
                    started,
                    outer_loop,
                    out,
                );
            }
        }
    }
    let (mut started, mut outer_loop) = (false, false);
    let mut after = HashMap::new();
    let entry = func.entry_block();
    walk(
        func,
        entry,
        loop_seq,
        false,
        &mut started,
        &mut outer_loop,
        &mut after,
    );
    if !outer_loop {
        return after;
    }
    let mut all = HashMap::new();
    let mut everything = true;
    walk(
        func,
        entry,
        entry,
        false,
        &mut everything,
        &mut false,
        &mut all,
    );
    all
}
