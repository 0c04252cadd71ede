//! `bounds-checks`: loops whose iterations test an index against a length and
//! trap when it is out of range (Rust's slice indexing: `br_if` to a call of
//! `panic_bounds_check` and `unreachable`; an `if` around a trap) get a copy
//! without the tests, run when a test at loop entry shows that none of them can
//! fail in any iteration. The loop passes after this one then see a plain loop.
//!
//! Needs: the value graph, induction variables, affine forms and trip count of the
//! copy (`analysis`). Guarantees: exact. A test traps when `idx <op> len` holds
//! (or fails), `len` loop-invariant, `idx` affine in the induction variables:
//! over the iterations the loop runs, `idx` takes the values `first, first + inc,
//! ...`, and when the last of them neither wraps around nor lies on the trapping
//! side of `len` (nor, for `==`, `len` between the two), no test fails and the
//! copy computes what the loop does, iteration for iteration. Otherwise the loop
//! runs unchanged, its tests included (and traps where it did). A test whose
//! operands are both invariant is evaluated once; a counter tested alone (clang's
//! `br_if (i32.eqz remaining)`) is a comparison with 0. `len` may be read from memory at an invariant address (an
//! AssemblyScript array's `byteLength`): the entry test first checks each such
//! load inside memory, and that no store of the loop (each affine) writes it.
//! Nothing trapping is evaluated at entry (no division, no unchecked load).
//!
//! `inc` may be an invariant rather than a constant (a column walk steps by a
//! row, `b[p * n + j]`): the span `inc * (runs - 1)` is computed in i64 from
//! `inc` as a signed i32 and must stay within 2^34. A test of a flag the
//! previous iteration computed (`ok = i + 1 < len` at the end of one
//! iteration, `if !(ok & 1) trap` in the next: LLVM's rotation of Rust's
//! checks) is the flag's entry value for the first iteration and the
//! comparison, one iteration fewer, for the others.
//!
//! Nests: a loop holding nothing but one versioned innermost loop (directly,
//! or in blocks whose straight-line start sets the inner loop's locals: rustc
//! -Os's guard) is versioned whole once its inner loops are. Its copy holds the
//! inner loop's copy alone; the inner loop's tests are lifted: each operand's
//! value as the inner loop starts, rebuilt in the outer loop's value graph
//! (`LoopBody::entries`), must be affine with an invariant per-iteration step
//! (`symbolic_increment`), and the lengths and the inner trip count invariant
//! in the outer loop. Over the outer iterations the inner loop then starts its
//! index at `first, first + step, ...` and moves it by `inc` per inner
//! iteration; the extremes are the grid's corners, checked as above. The loop
//! passes see a plain nest (matrix products over slices: `simd-nest`'s
//! lockstep).
//!
//! The layout, in place of the loop:
//!
//! ```text
//! block $done
//!   block $checked
//!     <entry tests: br_if $checked when one could fail>
//!     loop (the copy) ... end
//!     [br $exit]          ;; where the loop left by a branch
//!     br $done
//!   end
//!   loop (the original) ... end
//! end
//! ```
//!
//! [`BoundsChecksCleanup`] runs after the loop passes: a copy none of them
//! rewrote is taken out again (the loop stays as it was), and a kept one gets a
//! finding (`bounds_check`, tier `scalar`).

use crate::analysis::affine::{affine_i32, inductions, symbolic_increment, Affine};
use crate::analysis::trip_count::trip_count;
use crate::analysis::value_graph::{self, ExitTest, LoopBody, Node};
use crate::analysis::LoopForest;
use crate::pass::{Changed, Pass, PassCx, PassError};
use crate::report::{Action, Finding, Tier};
use crate::rewrite::map::{emit_entry_value, emit_first_failing, GuardLocals};
use petgraph::graph::NodeIndex;
use std::collections::HashMap;
use walrus::ir::{
    BinaryOp, Block, Br, Instr, InstrLocId, InstrSeqId, InstrSeqType, LocalSet, Loop, UnaryOp,
    Value,
};
use walrus::{FunctionId, InstrSeqBuilder, LocalFunction, LocalId, Module, ValType};

/// The versioning pass.
pub struct BoundsChecks;

/// Takes out the copies no loop pass rewrote; reports the others.
pub struct BoundsChecksCleanup;

/// One versioned loop, for the cleanup.
#[derive(Clone, Debug)]
pub struct Version {
    func: FunctionId,
    /// The sequence holding `block $done`.
    parent: InstrSeqId,
    /// `block $done`.
    done: InstrSeqId,
    /// `block $checked`, and how many instructions it had when made.
    checked: InstrSeqId,
    checked_len: usize,
    /// The original loop.
    original: InstrSeqId,
    /// Tests hoisted.
    tests: usize,
    /// Whether the loop holds a versioned inner loop whose tests were lifted.
    nest: bool,
}

/// What the nest step needs of a versioned innermost loop: its copy's
/// sequences, value graph, trip count and tests (an inner loop's tests are
/// lifted to the loop around it, see [`version_loop`]).
struct Inner {
    done: InstrSeqId,
    checked: InstrSeqId,
    copy: InstrSeqId,
    original: InstrSeqId,
    graph: LoopBody,
    trip: crate::analysis::trip_count::TripCount,
    tests: Vec<(Test, bool)>,
}

/// An inner loop's test in the terms of the loop around it: what it compares
/// as the inner loop starts, and how that moves from one outer iteration to
/// the next (`step`, invariant).
enum Lifted {
    Invariant {
        cond: NodeIndex,
        traps_when_nonzero: bool,
    },
    Range {
        idx: NodeIndex,
        step: Affine,
        inc: Affine,
        op: Cmp,
        len: Option<NodeIndex>,
        before_top: bool,
    },
}

/// A comparison: `a <op> b` on `i32`s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cmp {
    Eq,
    Ne,
    LtU,
    LtS,
    LeU,
    LeS,
    GtU,
    GtS,
    GeU,
    GeS,
}

impl Cmp {
    fn of(op: BinaryOp) -> Option<Cmp> {
        Some(match op {
            BinaryOp::I32Eq => Cmp::Eq,
            BinaryOp::I32Ne => Cmp::Ne,
            BinaryOp::I32LtU => Cmp::LtU,
            BinaryOp::I32LtS => Cmp::LtS,
            BinaryOp::I32LeU => Cmp::LeU,
            BinaryOp::I32LeS => Cmp::LeS,
            BinaryOp::I32GtU => Cmp::GtU,
            BinaryOp::I32GtS => Cmp::GtS,
            BinaryOp::I32GeU => Cmp::GeU,
            BinaryOp::I32GeS => Cmp::GeS,
            _ => return None,
        })
    }

    /// `!(a <op> b)` as `a <op'> b`.
    fn negated(self) -> Cmp {
        use Cmp::*;
        match self {
            Eq => Ne,
            Ne => Eq,
            LtU => GeU,
            LtS => GeS,
            LeU => GtU,
            LeS => GtS,
            GtU => LeU,
            GtS => LeS,
            GeU => LtU,
            GeS => LtS,
        }
    }

    /// `a <op> b` as `b <op'> a`.
    fn swapped(self) -> Cmp {
        use Cmp::*;
        match self {
            Eq => Eq,
            Ne => Ne,
            LtU => GtU,
            LtS => GtS,
            LeU => GeU,
            LeS => GeS,
            GtU => LtU,
            GtS => LtS,
            GeU => LeU,
            GeS => LeS,
        }
    }

    fn signed(self) -> bool {
        matches!(self, Cmp::LtS | Cmp::LeS | Cmp::GtS | Cmp::GeS)
    }
}

/// How one test is decided at entry.
#[derive(Clone, Debug)]
enum Test {
    /// Both operands invariant: the loop traps in its first iteration when
    /// `cond != 0` equals `traps_when_nonzero`.
    Invariant {
        cond: NodeIndex,
        traps_when_nonzero: bool,
    },
    /// Traps when `idx <op> len` (`len` 0 when `None`: clang's count-down
    /// `br_if (i32.eqz remaining)`); `idx` grows by `inc` per iteration (an
    /// invariant: a constant, or a row's length when the loop walks a column).
    Range {
        idx: NodeIndex,
        inc: Affine,
        op: Cmp,
        len: Option<NodeIndex>,
        /// The condition is the previous iteration's (a flag carried over): it
        /// is tested in one iteration fewer.
        delayed: bool,
    },
}

/// A test site in the copy: the temporary its condition went to, and whether
/// it runs before the loop's top exit test (so in one more iteration).
struct Site {
    temp: LocalId,
    traps_when_nonzero: bool,
    before_top_exit: bool,
}

type Instrs = Vec<(Instr, InstrLocId)>;

/// The sequence each sequence of `func` sits in, and the position of the
/// instruction that holds it.
fn parents(func: &LocalFunction) -> HashMap<InstrSeqId, (InstrSeqId, usize)> {
    let mut out = HashMap::new();
    let mut work = vec![func.entry_block()];
    while let Some(seq) = work.pop() {
        for (position, (instr, _)) in func.block(seq).instrs.iter().enumerate() {
            for inner in crate::analysis::loops::opened_sequences(instr) {
                out.insert(inner, (seq, position));
                work.push(inner);
            }
        }
    }
    out
}

/// Straight-line code that ends in `unreachable` (a panic call before it, or
/// anything else that cannot branch).
pub(crate) fn is_trap_path(instrs: &[(Instr, InstrLocId)]) -> bool {
    let Some(((Instr::Unreachable(_), _), before)) = instrs.split_last() else {
        return false;
    };
    before.iter().all(|(i, _)| straight_line(i))
}

/// Whether a branch to block `seq` can only lead to a trap.
fn traps_after(
    func: &LocalFunction,
    parents: &HashMap<InstrSeqId, (InstrSeqId, usize)>,
    seq: InstrSeqId,
) -> bool {
    let Some(&(mut parent, position)) = parents.get(&seq) else {
        return false; // the function's end: a return
    };
    if !matches!(
        func.block(parent).instrs[position].0,
        Instr::Block(_) | Instr::IfElse(_)
    ) {
        return false; // a loop's head
    }
    // What runs next: the rest of the parent, or, when it ends there, what
    // follows the parent (a block, an arm or a loop body falls out of its end).
    // Straight-line code may come first (rustc shares one panic among several
    // checks, each first setting the index it reports), and a `br` to a block
    // goes on after that block.
    let mut from = position + 1;
    for _ in 0..64 {
        let rest = &func.block(parent).instrs[from..];
        let straight = rest.iter().take_while(|(i, _)| straight_line(i)).count();
        let next = match rest.get(straight) {
            Some((Instr::Unreachable(_), _)) => return true,
            Some((Instr::Br(br), _)) => br.block,
            Some(_) => return false,
            None => parent,
        };
        let Some(&(grand, at)) = parents.get(&next) else {
            return false;
        };
        if next != parent && !matches!(func.block(grand).instrs[at].0, Instr::Block(_)) {
            return false; // a loop's head, or an arm's end
        }
        parent = grand;
        from = at + 1;
    }
    false
}

/// An instruction that neither branches nor ends the code (a trap path's).
fn straight_line(instr: &Instr) -> bool {
    matches!(
        instr,
        Instr::LocalGet(_)
            | Instr::LocalSet(_)
            | Instr::LocalTee(_)
            | Instr::Const(_)
            | Instr::GlobalGet(_)
            | Instr::Unop(_)
            | Instr::Binop(_)
            | Instr::Select(_)
            | Instr::Load(_)
            | Instr::Drop(_)
            | Instr::Call(_)
    )
}

/// `(pops, pushes)` of the instructions a test's condition may be made of.
fn arity(instr: &Instr) -> Option<(usize, usize)> {
    Some(match instr {
        Instr::LocalGet(_) | Instr::Const(_) | Instr::GlobalGet(_) => (0, 1),
        Instr::LocalTee(_) | Instr::Unop(_) | Instr::Load(_) => (1, 1),
        Instr::Binop(_) => (2, 1),
        Instr::Select(_) => (3, 1),
        _ => return None,
    })
}

/// Where the one value consumed at `end` starts being computed.
fn operand_start(instrs: &[(Instr, InstrLocId)], end: usize) -> Option<usize> {
    let mut need = 1usize;
    let mut at = end;
    while need > 0 {
        at = at.checked_sub(1)?;
        let (pops, pushes) = arity(&instrs[at].0)?;
        need = need.checked_sub(pushes)? + pops;
    }
    Some(at)
}

/// The instructions of `range` (one value) that matter once the value is not
/// needed: its `local.tee`s, as `local.set`s of their operands.
fn effects(instrs: &[(Instr, InstrLocId)], range: std::ops::Range<usize>, out: &mut Instrs) {
    let root = range.end - 1;
    if let Instr::LocalTee(tee) = &instrs[root].0 {
        out.extend(instrs[range.start..root].iter().cloned());
        out.push((
            Instr::LocalSet(LocalSet { local: tee.local }),
            instrs[root].1,
        ));
        return;
    }
    let Some((pops, _)) = arity(&instrs[root].0) else {
        return;
    };
    let mut operands = Vec::new();
    let mut end = root;
    for _ in 0..pops {
        let Some(start) = operand_start(instrs, end) else {
            return;
        };
        operands.push(start..end);
        end = start;
    }
    for operand in operands.into_iter().rev() {
        effects(instrs, operand, out);
    }
}

/// Builds the copy of loop `original`'s body: tests turned into `local.set` of a
/// temporary, blocks that held the rest of an iteration flattened. Nested
/// sequences are still the original's (see [`Copier::nested`]).
struct Copier<'a> {
    func: &'a LocalFunction,
    parents: &'a HashMap<InstrSeqId, (InstrSeqId, usize)>,
    original: InstrSeqId,
    /// Nested sequences the copy holds (to be copied in turn).
    nested: Vec<InstrSeqId>,
    /// Nested sequences whose instructions were rewritten like the body's (the
    /// `if` holding a top-tested loop's iteration, as Binaryen writes loops).
    rewritten: Vec<(InstrSeqId, Instrs)>,
    sites: Vec<Site>,
    /// The temporaries, one per test.
    temps: Vec<LocalId>,
    flattened: Vec<InstrSeqId>,
    top_exit_seen: bool,
}

impl Copier<'_> {
    /// The loop body's instructions, flattened, with tests replaced.
    fn body(&mut self, seq: InstrSeqId) -> Option<Instrs> {
        let mut out: Instrs = Vec::new();
        let instrs = &self.func.block(seq).instrs;
        let mut position = 0;
        while position < instrs.len() {
            let (instr, loc) = &instrs[position];
            match instr {
                // Binaryen's `loop { <cond>; if { <iteration>; br loop } }`.
                Instr::IfElse(branch)
                    if seq == self.original
                        && position + 1 == instrs.len()
                        && value_graph::if_guarded_body(self.func, self.original).is_some() =>
                {
                    self.top_exit_seen = true;
                    let inner = self.body(branch.consequent)?;
                    self.rewritten.push((branch.consequent, inner));
                    out.push((instr.clone(), *loc));
                }
                Instr::BrIf(br)
                    if br.block != self.original
                        && traps_after(self.func, self.parents, br.block) =>
                {
                    self.site(true, *loc, &mut out)?;
                }
                Instr::BrIf(br) if br.block != self.original && !self.top_exit_seen => {
                    self.top_exit_seen = true;
                    out.push((instr.clone(), *loc));
                }
                Instr::IfElse(branch) => {
                    let then = &self.func.block(branch.consequent).instrs;
                    let otherwise = &self.func.block(branch.alternative).instrs;
                    if is_trap_path(then) && otherwise.is_empty() {
                        self.site(true, *loc, &mut out)?;
                    } else if then.is_empty() && is_trap_path(otherwise) {
                        self.site(false, *loc, &mut out)?;
                    } else {
                        out.push((self.keep(instr)?, *loc));
                    }
                }
                Instr::Block(block) => {
                    let inner = &self.func.block(block.seq);
                    let test = inner
                        .instrs
                        .iter()
                        .position(|(i, _)| matches!(i, Instr::BrIf(b) if b.block == block.seq));
                    let simple = matches!(inner.ty, InstrSeqType::Simple(None));
                    // `block { <cond>; br_if 0; <trap> }`: traps when cond == 0.
                    if let (true, Some(test)) = (simple, test) {
                        if test > 0
                            && is_trap_path(&inner.instrs[test + 1..])
                            && inner.instrs[..test].iter().all(|(i, _)| arity(i).is_some())
                        {
                            out.extend(inner.instrs[..test].iter().cloned());
                            self.site(false, *loc, &mut out)?;
                            position += 1;
                            continue;
                        }
                    }
                    // A block holding the rest of the iteration, the code after it
                    // a trap: its tests are the only branches to it.
                    let never_falls_out = matches!(
                        inner.instrs.last(),
                        Some((Instr::Br(_) | Instr::Return(_) | Instr::Unreachable(_), _))
                    );
                    if simple && never_falls_out && traps_after(self.func, self.parents, block.seq)
                    {
                        self.flattened.push(block.seq);
                        let inner_out = self.body(block.seq)?;
                        out.extend(inner_out);
                        // What follows it in the loop is left out: nothing reaches
                        // it without a test failing.
                        break;
                    }
                    out.push((self.keep(instr)?, *loc));
                }
                _ => out.push((self.keep(instr)?, *loc)),
            }
            position += 1;
        }
        Some(out)
    }

    /// A test's condition (on the stack) goes to a new temporary.
    fn site(&mut self, traps_when_nonzero: bool, loc: InstrLocId, out: &mut Instrs) -> Option<()> {
        let temp = *self.temps.get(self.sites.len())?;
        out.push((Instr::LocalSet(LocalSet { local: temp }), loc));
        self.sites.push(Site {
            temp,
            traps_when_nonzero,
            before_top_exit: !self.top_exit_seen,
        });
        Some(())
    }

    /// `instr` as it is, its nested sequences noted for copying; `None` when it
    /// branches to a flattened block (other than as a test).
    fn keep(&mut self, instr: &Instr) -> Option<Instr> {
        let opened = crate::analysis::loops::opened_sequences(instr);
        let mut all = opened.clone();
        let mut work = opened;
        while let Some(seq) = work.pop() {
            for (inner, _) in &self.func.block(seq).instrs {
                let more = crate::analysis::loops::opened_sequences(inner);
                all.extend(more.iter().copied());
                work.extend(more);
            }
        }
        let mut every = vec![instr];
        for seq in &all {
            every.extend(self.func.block(*seq).instrs.iter().map(|(i, _)| i));
        }
        for i in every {
            let targets = crate::analysis::loops::branch_targets(i)?;
            if targets.iter().any(|t| self.flattened.contains(t)) {
                return None;
            }
        }
        self.nested.extend(all);
        Some(instr.clone())
    }
}

/// Points `instr`'s nested sequences and branch targets at their copies.
fn relabel(instr: &mut Instr, map: &HashMap<InstrSeqId, InstrSeqId>) {
    let fix = |s: &mut InstrSeqId| {
        if let Some(new) = map.get(s) {
            *s = *new;
        }
    };
    match instr {
        Instr::Block(b) => fix(&mut b.seq),
        Instr::Loop(l) => fix(&mut l.seq),
        Instr::IfElse(i) => {
            fix(&mut i.consequent);
            fix(&mut i.alternative);
        }
        Instr::Br(b) => fix(&mut b.block),
        Instr::BrIf(b) => fix(&mut b.block),
        Instr::BrTable(t) => {
            for target in t.blocks.iter_mut() {
                fix(target);
            }
            fix(&mut t.default);
        }
        _ => {}
    }
}

/// Whether `node`'s computation could trap or read memory.
fn unsafe_at_entry(body: &LoopBody, node: NodeIndex) -> bool {
    // (Loads from invariant addresses are checked by the entry tests.)
    crate::fingerprints::elementwise::may_trap(body, node)
}

/// A condition without its `eqz`s (flipping when it traps) and its `& 1` of a
/// comparison's result.
fn unwrap_test(body: &LoopBody, cond: NodeIndex, traps_when_nonzero: bool) -> (NodeIndex, bool) {
    let (mut node, mut nonzero) = (cond, traps_when_nonzero);
    loop {
        match body.graph[node] {
            Node::Unop(UnaryOp::I32Eqz) => {
                node = body.operands(node)[0];
                nonzero = !nonzero;
            }
            Node::Binop(BinaryOp::I32And) => {
                let operands = body.operands(node);
                let one = |n: NodeIndex| matches!(body.graph[n], Node::Const(Value::I32(1)));
                let boolean = |n: NodeIndex| match body.graph[n] {
                    Node::Binop(op) => Cmp::of(op).is_some(),
                    Node::Unop(UnaryOp::I32Eqz) => true,
                    _ => false,
                };
                match (operands[0], operands[1]) {
                    (a, b) if one(b) && boolean(a) => node = a,
                    (a, b) if one(a) && boolean(b) => node = b,
                    _ => return (node, nonzero),
                }
            }
            _ => return (node, nonzero),
        }
    }
}

/// A test on a flag the previous iteration computed (`ok = i + 1 < len` at the
/// end of one iteration, `if !(ok & 1) trap` in the next, as LLVM rotates
/// Rust's checks): the condition with the flag's phi replaced by the value the
/// iteration leaves in it, when that is a comparison. The first iteration
/// tests the value the flag has at entry.
fn carried_flag(body: &mut LoopBody, cond: NodeIndex) -> Option<NodeIndex> {
    let mut path = vec![cond];
    loop {
        let node = *path.last()?;
        match body.graph[node] {
            Node::Unop(UnaryOp::I32Eqz) | Node::Binop(BinaryOp::I32And) if path.len() < 8 => {
                let operands = body.operands(node);
                let next = operands
                    .into_iter()
                    .find(|n| !matches!(body.graph[*n], Node::Const(_)))?;
                path.push(next);
            }
            Node::Phi(local) => {
                let end = *body.end_values.get(&local)?;
                let compare = matches!(body.graph[end], Node::Binop(op) if Cmp::of(op).is_some());
                if !compare {
                    return None;
                }
                // Rebuild the path from the flag up, on the end value.
                let mut value = end;
                for at in (0..path.len() - 1).rev() {
                    let (user, child) = (path[at], path[at + 1]);
                    let kind = body.graph[user].clone();
                    let operands = body.operands(user);
                    let made = body.graph.add_node(kind);
                    for (position, op) in operands.into_iter().enumerate() {
                        let op = if op == child { value } else { op };
                        body.graph.add_edge(made, op, position as u8);
                    }
                    value = made;
                }
                return Some(value);
            }
            _ => return None,
        }
    }
}

/// How the test whose condition is `cond` is decided at entry, if it can be.
fn classify(body: &LoopBody, cond: NodeIndex, traps_when_nonzero: bool) -> Option<Test> {
    if unsafe_at_entry(body, cond) {
        return None;
    }
    if body.is_invariant(cond) {
        return Some(Test::Invariant {
            cond,
            traps_when_nonzero,
        });
    }
    let (node, nonzero) = unwrap_test(body, cond, traps_when_nonzero);
    let compare = match body.graph[node] {
        Node::Binop(op) => Cmp::of(op),
        _ => None,
    };
    let (idx, mut op, len) = match compare {
        Some(op) => {
            let operands = body.operands(node);
            match (
                body.is_invariant(operands[0]),
                body.is_invariant(operands[1]),
            ) {
                (false, true) => (operands[0], op, Some(operands[1])),
                (true, false) => (operands[1], op.swapped(), Some(operands[0])),
                _ => return None,
            }
        }
        // Any other value: traps when it is non-zero, i.e. `v != 0`.
        None => (node, Cmp::Ne, None),
    };
    if !nonzero {
        op = op.negated();
    }
    if op == Cmp::Ne {
        return None; // fails in every iteration but one
    }
    let inc = symbolic_increment(body, &affine_i32(body, idx)?)?;
    Some(Test::Range {
        idx,
        inc,
        op,
        len,
        delayed: false,
    })
}

impl Pass for BoundsChecks {
    fn name(&self) -> &'static str {
        "bounds-checks"
    }

    fn description(&self) -> &'static str {
        "loops with index tests that trap (Rust slice indexing) get a copy without them, run when an entry test shows none can fail"
    }

    fn run(&self, module: &mut Module, cx: &mut PassCx<'_>) -> Result<Changed, PassError> {
        let mut changed = Changed::nothing();
        if !cx.options.opt_level.rewrites() {
            return Ok(changed);
        }
        for id in super::simd_elementwise::own_functions(module) {
            if cx.dropped(id).is_some() {
                continue;
            }
            // Innermost loops, last first so that positions stay valid.
            let loops: Vec<(InstrSeqId, InstrSeqId, usize)> = {
                let func = module.funcs.get(id).kind.unwrap_local();
                let forest = LoopForest::build(func);
                let mut loops: Vec<_> = forest
                    .graph
                    .node_indices()
                    .filter(|n| forest.children(*n).next().is_none())
                    .map(|n| {
                        let info = &forest.graph[n];
                        (info.body, info.parent_seq, info.position)
                    })
                    .collect();
                loops.sort_by_key(|(_, parent, position)| {
                    (parent.index(), std::cmp::Reverse(*position))
                });
                loops
            };
            // (Where each sequence sits: one walk of the function, again only
            // after a loop of it was versioned.)
            let mut parents_of = None;
            let mut inners = Vec::new();
            for (original, parent, position) in loops {
                let version = version_loop(
                    module,
                    id,
                    original,
                    parent,
                    position,
                    None,
                    &mut parents_of,
                    cx,
                );
                if let Some((version, inner)) = version {
                    parents_of = None;
                    cx.bounds_checks.push(version);
                    inners.extend(inner);
                    if !changed.functions.contains(&id) {
                        changed.functions.push(id);
                    }
                }
            }
            // Then the loops around them: a loop holding nothing but one
            // versioned loop (a matrix's rows) is versioned as a whole when its
            // own tests and its inner loop's hold in every iteration.
            for (outer, parent, position, inner) in nests(module, id, inners) {
                let version = version_loop(
                    module,
                    id,
                    outer,
                    parent,
                    position,
                    Some(&inner),
                    &mut parents_of,
                    cx,
                );
                if let Some((version, _)) = version {
                    parents_of = None;
                    cx.bounds_checks.push(version);
                }
            }
        }
        Ok(changed)
    }
}

/// The loops around versioned innermost loops that hold nothing else, each
/// with the inner loop's record, last first (positions stay valid).
fn nests(
    module: &Module,
    id: FunctionId,
    inners: Vec<Inner>,
) -> Vec<(InstrSeqId, InstrSeqId, usize, Inner)> {
    if inners.is_empty() {
        return Vec::new();
    }
    let func = module.funcs.get(id).kind.unwrap_local();
    let forest = LoopForest::build(func);
    let parents_of = parents(func);
    let mut out = Vec::new();
    for inner in inners {
        let Some(node) = forest
            .graph
            .node_indices()
            .find(|n| forest.graph[*n].body == inner.copy)
        else {
            continue;
        };
        let Some(outer) = forest
            .graph
            .neighbors_directed(node, petgraph::Direction::Incoming)
            .next()
        else {
            continue;
        };
        let mut children: Vec<InstrSeqId> = forest
            .children(outer)
            .map(|c| forest.graph[c].body)
            .collect();
        children.sort();
        let mut expected = vec![inner.copy, inner.original];
        expected.sort();
        if children != expected
            || forest
                .children(outer)
                .any(|c| forest.children(c).next().is_some())
        {
            continue;
        }
        // The inner loop's block sits in the iteration, or in blocks there (the
        // outer value graph knows what the locals hold as it starts, see
        // `LoopBody::entries`).
        let info = &forest.graph[outer];
        let iteration = value_graph::if_guarded_body(func, info.body).map(|(_, body)| body);
        let mut seq = inner.done;
        let inside = loop {
            let Some(&(parent, position)) = parents_of.get(&seq) else {
                break false;
            };
            if parent == info.body
                || iteration.is_some_and(
                    |body| matches!(body.get(position), Some((Instr::Block(b), _)) if b.seq == seq),
                )
            {
                break true;
            }
            if !matches!(func.block(parent).instrs[position].0, Instr::Block(_)) {
                break false;
            }
            seq = parent;
        };
        if !inside {
            continue;
        }
        out.push((info.body, info.parent_seq, info.position, inner));
    }
    out.sort_by_key(|(_, parent, position, _)| (parent.index(), std::cmp::Reverse(*position)));
    out
}

/// Versions one loop, if it has tests that can be decided at entry. With
/// `nest`, the loop holds that versioned inner loop (and nothing else): the
/// copy holds the inner loop's copy alone, and the entry tests decide the inner
/// loop's tests for every iteration too. Returns what a nest step needs of an
/// innermost loop.
#[allow(clippy::too_many_arguments)]
fn version_loop(
    module: &mut Module,
    id: FunctionId,
    original: InstrSeqId,
    parent: InstrSeqId,
    position: usize,
    nest: Option<&Inner>,
    parents_of: &mut Option<HashMap<InstrSeqId, (InstrSeqId, usize)>>,
    cx: &mut PassCx<'_>,
) -> Option<(Version, Option<Inner>)> {
    let func = module.funcs.get(id).kind.unwrap_local();
    if !matches!(func.block(original).ty, InstrSeqType::Simple(None)) {
        return None;
    }
    let parents: &HashMap<_, _> = parents_of.get_or_insert_with(|| parents(func));
    // Cheap first look: a test among the loop's own instructions or blocks.
    let iteration = match value_graph::if_guarded_body(func, original) {
        Some((_, body)) => body,
        None => &func.block(original).instrs[..],
    };
    let has_test = nest.is_some()
        || iteration.iter().any(|(i, _)| match i {
            Instr::BrIf(br) => br.block != original && traps_after(func, parents, br.block),
            Instr::IfElse(branch) => {
                is_trap_path(&func.block(branch.consequent).instrs)
                    || is_trap_path(&func.block(branch.alternative).instrs)
            }
            Instr::Block(b) => traps_after(func, parents, b.seq),
            _ => false,
        });
    if !has_test {
        return None;
    }
    let temps: Vec<LocalId> = (0..32).map(|_| module.locals.add(ValType::I32)).collect();
    let func = module.funcs.get(id).kind.unwrap_local();
    let mut copier = Copier {
        func,
        parents,
        original,
        nested: Vec::new(),
        rewritten: Vec::new(),
        sites: Vec::new(),
        temps: temps.clone(),
        flattened: Vec::new(),
        top_exit_seen: false,
    };
    let mut body = copier.body(original)?;
    if copier.sites.is_empty() && nest.is_none() {
        return None;
    }
    let sites = std::mem::take(&mut copier.sites);
    let rewritten = std::mem::take(&mut copier.rewritten);
    let nested = std::mem::take(&mut copier.nested);
    let nested: Vec<(InstrSeqId, InstrSeqType, Instrs)> = nested
        .into_iter()
        .map(|seq| (seq, func.block(seq).ty, func.block(seq).instrs.clone()))
        .collect();
    // Make the copy's sequences and point everything at them.
    let func = module.funcs.get_mut(id).kind.unwrap_local_mut();
    let builder = func.builder_mut();
    let copy = builder.dangling_instr_seq(None).id();
    let mut map = HashMap::from([(original, copy)]);
    for (seq, ty, _) in &nested {
        map.insert(*seq, builder.dangling_instr_seq(*ty).id());
    }
    for (seq, _) in &rewritten {
        map.insert(*seq, builder.dangling_instr_seq(None).id());
    }
    for (seq, _, mut instrs) in nested {
        for (instr, _) in &mut instrs {
            relabel(instr, &map);
        }
        *builder.instr_seq(map[&seq]).instrs_mut() = instrs;
    }
    let mut with_tests: Vec<InstrSeqId> = Vec::new();
    for (seq, mut instrs) in rewritten {
        for (instr, _) in &mut instrs {
            relabel(instr, &map);
        }
        *builder.instr_seq(map[&seq]).instrs_mut() = instrs;
        with_tests.push(map[&seq]);
    }
    for (instr, _) in &mut body {
        relabel(instr, &map);
    }
    // `br_if $exit; br $loop` at the end -> a bottom test, then `br $exit`.
    let mut exit_after = None;
    if let [.., (Instr::BrIf(exit), _), (Instr::Br(back), loc)] = body.as_slice() {
        if back.block == copy && exit.block != copy {
            let (exit, loc) = (exit.block, *loc);
            body.truncate(body.len() - 2);
            body.push((
                Instr::Unop(walrus::ir::Unop {
                    op: UnaryOp::I32Eqz,
                }),
                loc,
            ));
            body.push((Instr::BrIf(walrus::ir::BrIf { block: copy }), loc));
            exit_after = Some(exit);
        }
    }
    // `br_if $loop; br $exit` at the end (rustc) -> the bottom test, then
    // `br $exit` after the loop.
    if let [.., (Instr::BrIf(back), _), (Instr::Br(exit), _)] = body.as_slice() {
        if back.block == copy && exit.block != copy && exit_after.is_none() {
            exit_after = Some(exit.block);
            body.pop();
        }
    }
    *builder.instr_seq(copy).instrs_mut() = body;
    with_tests.push(copy);
    let real_copy = copy;
    // In a nest's copy, the inner loop's block holds its copy alone (no entry
    // tests, no original): `block { loop (copy) [br $exit] }`.
    if let Some(inner) = nest {
        let checked = builder
            .instr_seq(*map.get(&inner.checked)?)
            .instrs()
            .to_vec();
        let at = checked
            .iter()
            .position(|(i, _)| matches!(i, Instr::Loop(_)))?;
        let kept = checked[at..checked.len() - 1].to_vec();
        *builder.instr_seq(*map.get(&inner.done)?).instrs_mut() = kept;
    }

    if nest.is_some() {
        // (What only failing inner tests reached is gone: the panics after
        // the inner loop's blocks.)
        drop_dead_code(func.builder_mut(), real_copy);
    }

    // Analyse the copy.
    let func = module.funcs.get(id).kind.unwrap_local();
    let mut graph = match nest {
        None => value_graph::build(module, func, real_copy),
        Some(_) => value_graph::build_outer_entries(module, func, real_copy),
    };
    // (Loads from invariant addresses, an AssemblyScript array's length, count
    // as invariant: the entry tests check that each lies inside memory and that
    // no store of the loop writes it. Not in nests.)
    graph.hoist_loads = nest.is_none();
    if !graph.blockers.is_empty() {
        return None;
    }
    let steps = inductions(&graph);
    let trip = trip_count(&graph, &steps).ok()?;
    let mut tests = Vec::new();
    for site in &sites {
        let cond = *graph.end_values.get(&site.temp)?;
        let before_top = site.before_top_exit && trip.test == ExitTest::Top;
        let test = match classify(&graph, cond, site.traps_when_nonzero) {
            Some(test) => test,
            None => {
                // A flag the previous iteration computed: the first iteration's
                // value at entry, the others' from the comparison.
                let earlier = carried_flag(&mut graph, cond)?;
                if unsafe_at_entry(&graph, cond) {
                    return None;
                }
                tests.push((
                    Test::Invariant {
                        cond,
                        traps_when_nonzero: site.traps_when_nonzero,
                    },
                    before_top,
                ));
                match classify(&graph, earlier, site.traps_when_nonzero)? {
                    Test::Range {
                        idx, inc, op, len, ..
                    } => Test::Range {
                        idx,
                        inc,
                        op,
                        len,
                        delayed: true,
                    },
                    // (Invariant: the same in every iteration.)
                    invariant => invariant,
                }
            }
        };
        tests.push((test, before_top));
    }
    let lifted = match nest {
        Some(inner) => Some(lift(&mut graph, inner, map[&inner.done])?),
        None => None,
    };
    if !cx.allow_rewrite() {
        return None;
    }

    // The stores' ranges, where the tests read memory.
    let hoisted = graph.invariant_loads();
    let memory = graph
        .stores
        .iter()
        .map(|s| s.memory)
        .chain(hoisted.iter().filter_map(|l| match graph.graph[*l] {
            Node::Load { memory, .. } => Some(memory),
            _ => None,
        }))
        .collect::<Vec<_>>();
    if memory.windows(2).any(|w| w[0] != w[1]) {
        return None;
    }
    let mut stores = Vec::new();
    if !hoisted.is_empty() {
        for store in &graph.stores {
            let inc = affine_i32(&graph, store.addr)?.exact_increment(&graph, &steps)?;
            stores.push((
                store.addr,
                store.arg.offset as i64,
                store.kind.width() as i64,
                inc,
            ));
        }
    }
    // Each test's `local.set` becomes the effects of its condition (what the
    // loop passes see).
    let func = module.funcs.get_mut(id).kind.unwrap_local_mut();
    for seq in with_tests {
        let instrs = std::mem::take(func.builder_mut().instr_seq(seq).instrs_mut());
        let stripped = strip_tests(&instrs, &temps)?;
        *func.builder_mut().instr_seq(seq).instrs_mut() = stripped;
    }

    // The entry tests.
    let locals = GuardLocals {
        x0: module.locals.add(ValType::I64),
        k: module.locals.add(ValType::I64),
        iterations: module.locals.add(ValType::I64),
        memory_bytes: module.locals.add(ValType::I64),
    };
    let first = module.locals.add(ValType::I64);
    let last = module.locals.add(ValType::I64);
    let inner_locals = GuardLocals {
        x0: module.locals.add(ValType::I64),
        k: module.locals.add(ValType::I64),
        iterations: module.locals.add(ValType::I64),
        memory_bytes: locals.memory_bytes,
    };
    let scratch = [
        module.locals.add(ValType::I64),
        module.locals.add(ValType::I64),
        module.locals.add(ValType::I64),
    ];
    let func = module.funcs.get_mut(id).kind.unwrap_local_mut();
    let builder = func.builder_mut();
    let done = builder.dangling_instr_seq(None).id();
    let mut checked = builder.dangling_instr_seq(None);
    let checked_id = checked.id();
    // Loads the tests read: inside memory before anything reads them.
    let memory_bytes = locals.memory_bytes;
    if let Some(memory) = memory.first().filter(|_| !hoisted.is_empty()) {
        crate::rewrite::map::emit_memory_bytes(*memory, memory_bytes, &mut checked);
        for load in &hoisted {
            let width = load_range(&graph, *load, &mut checked);
            checked
                .i64_const(width)
                .binop(BinaryOp::I64Add)
                .local_get(memory_bytes)
                .binop(BinaryOp::I64GtU)
                .br_if(checked_id);
        }
    }
    emit_first_failing(&graph, &trip, &locals, checked_id, &mut checked);
    // Iterations the body runs: k + 1 for a bottom test, k for a top one.
    checked.local_get(locals.k);
    if trip.test == ExitTest::Bottom {
        checked.i64_const(1).binop(BinaryOp::I64Add);
    }
    checked.local_set(locals.iterations);
    for (test, before_top) in &tests {
        emit_test(
            &graph,
            test,
            *before_top,
            &locals,
            first,
            last,
            checked_id,
            &mut checked,
        );
    }
    if let Some((inner_trip, lifted)) = &lifted {
        let inner = nest.expect("lifted tests come from a nest");
        // The inner loop's iterations, the same in every outer one.
        emit_first_failing(&graph, inner_trip, &inner_locals, checked_id, &mut checked);
        checked.local_get(inner_locals.k);
        if inner.trip.test == ExitTest::Bottom {
            checked.i64_const(1).binop(BinaryOp::I64Add);
        }
        checked.local_set(inner_locals.iterations);
        for test in lifted {
            emit_lifted(
                &graph,
                test,
                locals.iterations,
                inner_locals.iterations,
                scratch,
                checked_id,
                &mut checked,
            );
        }
    }
    // No store of the loop writes a byte a test reads.
    for (addr, offset, width, inc) in &stores {
        // [low, high): the bytes the store writes over the iterations.
        emit_entry_value(&graph, *addr, &mut checked);
        checked
            .unop(UnaryOp::I64ExtendUI32)
            .i64_const(*offset)
            .binop(BinaryOp::I64Add)
            .local_tee(first)
            .local_get(locals.iterations)
            .i64_const(1)
            .binop(BinaryOp::I64Sub)
            .i64_const(*inc)
            .binop(BinaryOp::I64Mul)
            .binop(BinaryOp::I64Add)
            .local_set(last);
        if *inc < 0 {
            // (Walking down: swap.)
            checked
                .local_get(last)
                .local_get(first)
                .local_set(last)
                .local_set(first);
        }
        checked
            .local_get(last)
            .i64_const(*width)
            .binop(BinaryOp::I64Add)
            .local_set(last);
        for load in &hoisted {
            // load start < high && low < load end: they meet.
            let load_width = load_range(&graph, *load, &mut checked);
            checked
                .local_tee(locals.x0)
                .local_get(last)
                .binop(BinaryOp::I64LtS)
                .local_get(first)
                .local_get(locals.x0)
                .i64_const(load_width)
                .binop(BinaryOp::I64Add)
                .binop(BinaryOp::I64LtS)
                .binop(BinaryOp::I32And)
                .br_if(checked_id);
        }
    }
    checked.instr(Loop { seq: real_copy });
    if let Some(exit) = exit_after {
        checked.instr(Br { block: exit });
    }
    checked.instr(Br { block: done });
    let checked_len = builder.instr_seq(checked_id).instrs().len();
    let mut done_seq = builder.instr_seq(done);
    done_seq.instr(Block { seq: checked_id });
    done_seq.instr(Loop { seq: original });
    let instrs = func.block_mut(parent);
    let loc = instrs.instrs[position].1;
    instrs.instrs[position] = (Instr::Block(Block { seq: done }), loc);
    let version = Version {
        func: id,
        parent,
        done,
        checked: checked_id,
        checked_len,
        original,
        tests: tests.len() + lifted.as_ref().map_or(0, |(_, l)| l.len()),
        nest: nest.is_some(),
    };
    // (An inner loop whose tests read memory is not lifted.)
    let inner = (nest.is_none() && hoisted.is_empty()).then_some(Inner {
        done,
        checked: checked_id,
        copy: real_copy,
        original,
        graph,
        trip,
        tests,
    });
    Some((version, inner))
}

/// The inner loop's tests in the terms of the nest's copy (`graph`, whose
/// nested statement `block` holds the inner loop), and its trip count: each
/// operand's value as the inner loop starts must be an affine form whose
/// per-iteration growth is invariant, and lengths and the inner trip count
/// invariant in the outer loop.
fn lift(
    graph: &mut LoopBody,
    inner: &Inner,
    block: InstrSeqId,
) -> Option<(crate::analysis::trip_count::TripCount, Vec<Lifted>)> {
    let entry = graph.entries.get(&block)?.clone();
    let mut memo = HashMap::new();
    let mut to_outer = |graph: &mut LoopBody, node: NodeIndex| {
        translate(&inner.graph, node, graph, &entry, &mut memo)
    };
    let mut trip = inner.trip.clone();
    trip.x = to_outer(graph, inner.trip.x)?;
    if crate::analysis::trip_count::has_bound(&inner.trip) {
        trip.bound = to_outer(graph, inner.trip.bound)?;
        if !graph.is_invariant(trip.bound) {
            return None;
        }
    }
    if !graph.is_invariant(trip.x) {
        return None;
    }
    let mut lifted = Vec::new();
    for (test, before_top) in &inner.tests {
        match test.clone() {
            Test::Invariant {
                cond,
                traps_when_nonzero,
            } => {
                let cond = to_outer(graph, cond)?;
                if !graph.is_invariant(cond) || unsafe_at_entry(graph, cond) {
                    return None;
                }
                lifted.push(Lifted::Invariant {
                    cond,
                    traps_when_nonzero,
                });
            }
            Test::Range {
                idx,
                inc,
                op,
                len,
                delayed,
            } => {
                if delayed {
                    return None;
                }
                // (The inner step's invariants, in the outer loop's terms.)
                let mut inc_outer = Affine {
                    terms: Default::default(),
                    constant: inc.constant,
                };
                for (atom, coef) in &inc.terms {
                    let atom = to_outer(graph, *atom)?;
                    if !graph.is_invariant(atom) || unsafe_at_entry(graph, atom) {
                        return None;
                    }
                    inc_outer.terms.insert(atom, *coef);
                }
                let inc = inc_outer;
                let idx = to_outer(graph, idx)?;
                let len = match len {
                    Some(len) => {
                        let len = to_outer(graph, len)?;
                        if !graph.is_invariant(len) {
                            return None;
                        }
                        Some(len)
                    }
                    None => None,
                };
                if unsafe_at_entry(graph, idx) {
                    return None;
                }
                let form = affine_i32(graph, idx)?;
                let step = symbolic_increment(graph, &form)?;
                lifted.push(Lifted::Range {
                    idx,
                    step,
                    inc,
                    op,
                    len,
                    before_top: *before_top,
                });
            }
        }
    }
    Some((trip, lifted))
}

/// `node` of `inner` (a value as the inner loop's iteration starts) rebuilt in
/// `outer`, its phis replaced by what the locals hold as the inner loop starts.
/// Loads are not rebuilt.
fn translate(
    inner: &LoopBody,
    node: NodeIndex,
    outer: &mut LoopBody,
    entry: &HashMap<LocalId, NodeIndex>,
    memo: &mut HashMap<NodeIndex, NodeIndex>,
) -> Option<NodeIndex> {
    if let Some(done) = memo.get(&node) {
        return Some(*done);
    }
    let out = match &inner.graph[node] {
        Node::Phi(local) => match entry.get(local) {
            Some(value) => *value,
            // (Not written before the inner loop: its value at the start of
            // the outer iteration.)
            None => match outer.phis.get(local) {
                Some(phi) => *phi,
                None => {
                    let phi = outer.graph.add_node(Node::Phi(*local));
                    outer.phis.insert(*local, phi);
                    phi
                }
            },
        },
        Node::Load { .. } | Node::Opaque => return None,
        other => {
            let other = other.clone();
            let mut operands = Vec::new();
            for op in inner.operands(node) {
                operands.push(translate(inner, op, outer, entry, memo)?);
            }
            let made = outer.graph.add_node(other);
            for (position, op) in operands.into_iter().enumerate() {
                outer.graph.add_edge(made, op, position as u8);
            }
            made
        }
    };
    memo.insert(node, out);
    Some(out)
}

/// Branches to `skip` unless the lifted test cannot fail in any inner iteration
/// of any outer one: over `outer` iterations the inner loop starts with the
/// index at `first, first + step, ...` and runs `inner` (+1) iterations, `inc`
/// apart; the extremes are corners of that grid. Nothing is checked when either
/// count is 0.
fn emit_lifted(
    body: &LoopBody,
    test: &Lifted,
    outer: LocalId,
    inner: LocalId,
    scratch: [LocalId; 3],
    skip: InstrSeqId,
    seq: &mut InstrSeqBuilder,
) {
    let [low, high, span] = scratch;
    // Whether any test runs: outer != 0 && runs != 0.
    let active = |seq: &mut InstrSeqBuilder, before_top: bool| {
        seq.local_get(outer).i64_const(0).binop(BinaryOp::I64Ne);
        seq.local_get(inner);
        if before_top {
            seq.i64_const(1).binop(BinaryOp::I64Add);
        }
        seq.i64_const(0)
            .binop(BinaryOp::I64Ne)
            .binop(BinaryOp::I32And);
    };
    match test {
        Lifted::Invariant {
            cond,
            traps_when_nonzero,
        } => {
            emit_entry_value(body, *cond, seq);
            if !traps_when_nonzero {
                seq.unop(UnaryOp::I32Eqz);
            }
            active(seq, false);
            seq.binop(BinaryOp::I32And).br_if(skip);
        }
        Lifted::Range {
            idx,
            step,
            inc,
            op,
            len,
            before_top,
        } => {
            let (extend, lo, hi) = operand_range(*op);
            // low = first; high = first + step * (outer - 1) (step as a signed
            // i32: |step * (outer - 1)| < 2^63); ordered.
            emit_entry_value(body, *idx, seq);
            seq.unop(extend).local_tee(low);
            emit_affine(body, step, seq);
            seq.unop(UnaryOp::I64ExtendSI32)
                .local_get(outer)
                .i64_const(1)
                .binop(BinaryOp::I64Sub)
                .binop(BinaryOp::I64Mul)
                .binop(BinaryOp::I64Add)
                .local_set(high);
            emit_order(seq, low, high);
            // span = inc * (runs - 1) (|inc| < 2^31, so no i64 overflow); at
            // most 2^34 away from 0, else skip (no sum below can wrap).
            emit_affine(body, inc, seq);
            seq.unop(UnaryOp::I64ExtendSI32).local_get(inner);
            if *before_top {
                seq.i64_const(1).binop(BinaryOp::I64Add);
            }
            seq.i64_const(1)
                .binop(BinaryOp::I64Sub)
                .binop(BinaryOp::I64Mul)
                .local_set(span);
            emit_outside(seq, span, span, -SPAN_LIMIT, SPAN_LIMIT);
            active(seq, *before_top);
            seq.binop(BinaryOp::I32And).br_if(skip);
            // low += min(span, 0); high += max(span, 0).
            seq.local_get(low)
                .local_get(span)
                .i64_const(0)
                .local_get(span)
                .i64_const(0)
                .binop(BinaryOp::I64LtS)
                .select(None)
                .binop(BinaryOp::I64Add)
                .local_set(low);
            seq.local_get(high)
                .local_get(span)
                .i64_const(0)
                .local_get(span)
                .i64_const(0)
                .binop(BinaryOp::I64GtS)
                .select(None)
                .binop(BinaryOp::I64Add)
                .local_set(high);
            // Some value wraps, or some lies on the trapping side.
            emit_outside(seq, low, high, lo, hi);
            emit_fails(body, *op, *len, low, high, extend, seq);
            seq.binop(BinaryOp::I32Or);
            active(seq, *before_top);
            seq.binop(BinaryOp::I32And).br_if(skip);
        }
    }
}

/// The 64-bit extension of a comparison's operands, and the range they take.
fn operand_range(op: Cmp) -> (UnaryOp, i64, i64) {
    if op.signed() {
        (UnaryOp::I64ExtendSI32, i32::MIN as i64, i32::MAX as i64)
    } else {
        (UnaryOp::I64ExtendUI32, 0, u32::MAX as i64)
    }
}

/// Orders two i64 locals: `low` gets the smaller value, `high` the larger.
fn emit_order(seq: &mut InstrSeqBuilder, low: LocalId, high: LocalId) {
    seq.local_get(low)
        .local_get(high)
        .local_get(low)
        .local_get(high)
        .binop(BinaryOp::I64LtS)
        .select(None)
        .local_get(high)
        .local_get(low)
        .local_get(low)
        .local_get(high)
        .binop(BinaryOp::I64LtS)
        .select(None)
        .local_set(high)
        .local_set(low);
}

/// Pushes whether i64 local `low` is below `lo` or `high` above `hi`.
fn emit_outside(seq: &mut InstrSeqBuilder, low: LocalId, high: LocalId, lo: i64, hi: i64) {
    seq.local_get(low)
        .i64_const(lo)
        .binop(BinaryOp::I64LtS)
        .local_get(high)
        .i64_const(hi)
        .binop(BinaryOp::I64GtS)
        .binop(BinaryOp::I32Or);
}

/// How far (in index units) a symbolic step may carry an index over the
/// iterations for the entry tests to take it: more, and they skip the copy.
const SPAN_LIMIT: i64 = 1 << 34;

/// Pushes an affine form of invariants (its value at entry, as an `i32`).
fn emit_affine(body: &LoopBody, form: &Affine, seq: &mut InstrSeqBuilder) {
    seq.i32_const(form.constant as i32);
    for (atom, coef) in &form.terms {
        emit_entry_value(body, *atom, seq);
        seq.i32_const(*coef as i32)
            .binop(BinaryOp::I32Mul)
            .binop(BinaryOp::I32Add);
    }
}

/// Cuts the code after instructions that never fall through, in `root` and
/// the sequences inside it: `br`, `return`, `unreachable`, and blocks (ifs,
/// loops) that never fall out of their end and that no branch targets.
fn drop_dead_code(builder: &mut walrus::FunctionBuilder, root: InstrSeqId) {
    let mut sequences = vec![root];
    let mut at = 0;
    while at < sequences.len() {
        for (instr, _) in builder.instr_seq(sequences[at]).instrs() {
            sequences.extend(crate::analysis::loops::opened_sequences(instr));
        }
        at += 1;
    }
    let mut targeted = std::collections::HashSet::new();
    for seq in &sequences {
        for (instr, _) in builder.instr_seq(*seq).instrs() {
            if let Some(targets) = crate::analysis::loops::branch_targets(instr) {
                targeted.extend(targets);
            }
        }
    }
    // Innermost first: a block's end is known before its parent's.
    let mut ends: HashMap<InstrSeqId, bool> = HashMap::new();
    for seq in sequences.iter().rev() {
        let stops = |instr: &Instr| match instr {
            Instr::Br(_) | Instr::BrTable(_) | Instr::Return(_) | Instr::Unreachable(_) => true,
            Instr::Block(b) => !targeted.contains(&b.seq) && ends.get(&b.seq) == Some(&true),
            Instr::Loop(l) => ends.get(&l.seq) == Some(&true),
            Instr::IfElse(i) => {
                !targeted.contains(&i.consequent)
                    && !targeted.contains(&i.alternative)
                    && ends.get(&i.consequent) == Some(&true)
                    && ends.get(&i.alternative) == Some(&true)
            }
            _ => false,
        };
        let cut = {
            let seq = builder.instr_seq(*seq);
            seq.instrs().iter().position(|(i, _)| stops(i))
        };
        ends.insert(*seq, cut.is_some());
        if let Some(cut) = cut {
            builder.instr_seq(*seq).instrs_mut().truncate(cut + 1);
        }
    }
}

/// Pushes the first byte address (i64) of an invariant load; returns its width.
fn load_range(body: &LoopBody, load: NodeIndex, seq: &mut InstrSeqBuilder) -> i64 {
    let Node::Load { kind, arg, .. } = body.graph[load] else {
        unreachable!("invariant_loads returns loads");
    };
    emit_entry_value(body, body.operands(load)[0], seq);
    seq.unop(UnaryOp::I64ExtendUI32)
        .i64_const(arg.offset as i64)
        .binop(BinaryOp::I64Add);
    kind.width() as i64
}

/// `instrs` with each `local.set` of a test's temporary replaced by the effects
/// of its condition.
fn strip_tests(instrs: &Instrs, temps: &[LocalId]) -> Option<Instrs> {
    let mut out: Instrs = Vec::new();
    for (at, (instr, loc)) in instrs.iter().enumerate() {
        if let Instr::LocalSet(set) = instr {
            if temps.contains(&set.local) {
                let start = operand_start(instrs, at)?;
                let mut kept = Vec::new();
                effects(instrs, start..at, &mut kept);
                out.truncate(out.len() - (at - start));
                out.extend(kept);
                continue;
            }
        }
        out.push((instr.clone(), *loc));
    }
    Some(out)
}

/// Branches to `skip` unless the test cannot fail in any of the
/// `iterations` (+1 when it runs before a top exit test) iterations.
#[allow(clippy::too_many_arguments)]
fn emit_test(
    body: &LoopBody,
    test: &Test,
    before_top: bool,
    l: &GuardLocals,
    first: LocalId,
    last: LocalId,
    skip: InstrSeqId,
    seq: &mut InstrSeqBuilder,
) {
    // runs = iterations (+ 1); no test runs when it is 0.
    let runs = |seq: &mut InstrSeqBuilder| {
        seq.local_get(l.iterations);
        if before_top {
            seq.i64_const(1).binop(BinaryOp::I64Add);
        }
    };
    match test.clone() {
        Test::Invariant {
            cond,
            traps_when_nonzero,
        } => {
            emit_entry_value(body, cond, seq);
            if !traps_when_nonzero {
                seq.unop(UnaryOp::I32Eqz);
            }
            runs(seq);
            seq.i64_const(0)
                .binop(BinaryOp::I64Ne)
                .binop(BinaryOp::I32And)
                .br_if(skip);
        }
        Test::Range {
            idx,
            inc,
            op,
            len,
            delayed,
        } => {
            // (A delayed test runs in one iteration fewer.)
            let runs = |seq: &mut InstrSeqBuilder| {
                runs(seq);
                if delayed {
                    seq.i64_const(1).binop(BinaryOp::I64Sub);
                }
            };
            let (extend, lo, hi) = operand_range(op);
            // first = idx at entry; last = first + inc * (runs - 1), within range.
            emit_entry_value(body, idx, seq);
            seq.unop(extend).local_set(first);
            if inc.terms.is_empty() {
                seq.local_get(first);
                runs(seq);
                seq.i64_const(1)
                    .binop(BinaryOp::I64Sub)
                    .i64_const(inc.constant)
                    .binop(BinaryOp::I64Mul)
                    .binop(BinaryOp::I64Add)
                    .local_set(last);
            } else {
                // (An invariant step: |inc * (runs - 1)| < 2^63; at most 2^34
                // away from 0, else skip, so that adding `first` cannot wrap.)
                emit_affine(body, &inc, seq);
                seq.unop(UnaryOp::I64ExtendSI32);
                runs(seq);
                seq.i64_const(1)
                    .binop(BinaryOp::I64Sub)
                    .binop(BinaryOp::I64Mul)
                    .local_set(last);
                emit_outside(seq, last, last, -SPAN_LIMIT, SPAN_LIMIT);
                runs(seq);
                seq.i64_const(0)
                    .binop(BinaryOp::I64Ne)
                    .binop(BinaryOp::I32And)
                    .br_if(skip);
                seq.local_get(first)
                    .local_get(last)
                    .binop(BinaryOp::I64Add)
                    .local_set(last);
            }
            emit_outside(seq, last, last, lo, hi);
            // (No test runs at all: nothing to check.)
            runs(seq);
            seq.i64_const(0)
                .binop(BinaryOp::I64Ne)
                .binop(BinaryOp::I32And)
                .br_if(skip);
            let (low, high) = if inc.terms.is_empty() {
                if inc.constant >= 0 {
                    (first, last)
                } else {
                    (last, first)
                }
            } else {
                // Ordered at run time: first <= last.
                emit_order(seq, first, last);
                (first, last)
            };
            emit_fails(body, op, len, low, high, extend, seq);
            runs(seq);
            seq.i64_const(0)
                .binop(BinaryOp::I64Ne)
                .binop(BinaryOp::I32And)
                .br_if(skip);
        }
    }
}

/// Pushes whether a test `idx <op> len` traps for some `idx` in `[low, high]`
/// (i64 locals; the values do not wrap).
fn emit_fails(
    body: &LoopBody,
    op: Cmp,
    len: Option<NodeIndex>,
    low: LocalId,
    high: LocalId,
    extend: UnaryOp,
    seq: &mut InstrSeqBuilder,
) {
    let len_i64 = |seq: &mut InstrSeqBuilder| match len {
        Some(len) => {
            emit_entry_value(body, len, seq);
            seq.unop(extend);
        }
        None => {
            seq.i64_const(0);
        }
    };
    {
        {
            // Fails somewhere in [low, high] when ...
            match op {
                Cmp::GeU | Cmp::GeS => {
                    seq.local_get(high);
                    len_i64(seq);
                    seq.binop(BinaryOp::I64GeS);
                }
                Cmp::GtU | Cmp::GtS => {
                    seq.local_get(high);
                    len_i64(seq);
                    seq.binop(BinaryOp::I64GtS);
                }
                Cmp::LtU | Cmp::LtS => {
                    seq.local_get(low);
                    len_i64(seq);
                    seq.binop(BinaryOp::I64LtS);
                }
                Cmp::LeU | Cmp::LeS => {
                    seq.local_get(low);
                    len_i64(seq);
                    seq.binop(BinaryOp::I64LeS);
                }
                Cmp::Eq => {
                    seq.local_get(low);
                    len_i64(seq);
                    seq.binop(BinaryOp::I64LeS);
                    len_i64(seq);
                    seq.local_get(high)
                        .binop(BinaryOp::I64LeS)
                        .binop(BinaryOp::I32And);
                }
                Cmp::Ne => unreachable!("classify declines `!=` tests"),
            }
        }
    }
}

impl Pass for BoundsChecksCleanup {
    fn name(&self) -> &'static str {
        "bounds-checks-cleanup"
    }

    fn description(&self) -> &'static str {
        "takes out loop copies made by bounds-checks that no loop pass rewrote"
    }

    fn run(&self, module: &mut Module, cx: &mut PassCx<'_>) -> Result<Changed, PassError> {
        let mut changed = Changed::nothing();
        let versions = std::mem::take(&mut cx.bounds_checks);
        let mut kept: HashMap<FunctionId, (usize, bool)> = HashMap::new();
        for v in versions.iter().rev() {
            let func = module.funcs.get_mut(v.func).kind.unwrap_local_mut();
            let rewritten = func.block(v.checked).instrs.len() != v.checked_len;
            if rewritten {
                let entry = kept.entry(v.func).or_default();
                entry.0 += v.tests;
                entry.1 |= v.nest;
                continue;
            }
            let instrs = &mut func.block_mut(v.parent).instrs;
            if let Some(at) = instrs
                .iter()
                .position(|(i, _)| matches!(i, Instr::Block(b) if b.seq == v.done))
            {
                instrs[at].0 = Instr::Loop(Loop { seq: v.original });
                if !changed.functions.contains(&v.func) {
                    changed.functions.push(v.func);
                }
            }
        }
        let mut kept: Vec<_> = kept.into_iter().collect();
        kept.sort_by_key(|(id, _)| cx.func_index(*id));
        for (id, (tests, nest)) in kept {
            cx.findings.push(Finding {
                function: cx.names.get(id).to_string(),
                func_index: cx.func_index(id).unwrap_or(u32::MAX),
                pattern: "bounds_check".to_string(),
                elem: None,
                action: Action::Rewritten,
                tier: Some(Tier::Scalar),
                exact: true,
                reason: Some(format!(
                    "{tests} index test{} that trap out of range decided once before the loop \
                     (the first and last index against the length{}); the loop runs with them \
                     otherwise",
                    if tests == 1 { "" } else { "s" },
                    if nest {
                        "; a loop nest's over all its iterations"
                    } else {
                        ""
                    }
                )),
                verified: None,
            });
        }
        Ok(changed)
    }
}

/// Whether the loop at `position` in `parent` is the original of a versioned loop
/// (the loop passes leave it alone: it runs only when a test may fail).
pub fn is_checked_original(func: &LocalFunction, parent: InstrSeqId, position: usize) -> bool {
    let Some(previous) = position.checked_sub(1) else {
        return false;
    };
    let Instr::Block(block) = &func.block(parent).instrs[previous].0 else {
        return false;
    };
    let instrs = &func.block(block.seq).instrs;
    matches!(instrs.last(), Some((Instr::Br(br), _)) if br.block == parent)
        && instrs.iter().any(|(i, _)| matches!(i, Instr::Loop(_)))
        && position + 1 == func.block(parent).instrs.len()
}
