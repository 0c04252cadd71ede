//! Affine forms over a loop's value graph: `value = sum(coef * atom) + constant`
//! (modulo 2^32 for `i32`), where an atom is a phi (a local at the start of the
//! iteration) or any other loop-invariant node. Addresses of the form
//! `base + stride * iv + offset` and induction-variable updates `iv + step` are both
//! affine; their per-iteration increment follows from the induction steps.

use super::value_graph::{LoopBody, Node};
use petgraph::graph::NodeIndex;
use std::collections::{BTreeMap, HashMap};
use walrus::ir::{BinaryOp, Value};
use walrus::LocalId;

/// `sum(coef * atom) + constant`, with `i32` wrap-around semantics.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Affine {
    /// Atom node -> coefficient (non-zero).
    pub terms: BTreeMap<NodeIndex, i64>,
    /// The constant part.
    pub constant: i64,
}

/// Wraps to the signed 32-bit range (the arithmetic of `i32` addresses).
pub fn wrap32(v: i64) -> i64 {
    v as i32 as i64
}

impl Affine {
    fn atom(node: NodeIndex) -> Affine {
        Affine {
            terms: BTreeMap::from([(node, 1)]),
            constant: 0,
        }
    }

    fn constant(c: i64) -> Affine {
        Affine {
            terms: BTreeMap::new(),
            constant: wrap32(c),
        }
    }

    fn add(mut self, other: &Affine, sign: i64) -> Affine {
        for (atom, coef) in &other.terms {
            let entry = self.terms.entry(*atom).or_insert(0);
            *entry = wrap32(*entry + sign * coef);
            if *entry == 0 {
                self.terms.remove(atom);
            }
        }
        self.constant = wrap32(self.constant + sign * other.constant);
        self
    }

    fn scale(mut self, factor: i64) -> Affine {
        for coef in self.terms.values_mut() {
            *coef = wrap32(*coef * factor);
        }
        self.terms.retain(|_, c| *c != 0);
        self.constant = wrap32(self.constant * factor);
        self
    }

    /// The same form without its constant: two accesses with equal keys differ by a
    /// known number of bytes.
    pub fn key(&self) -> BTreeMap<NodeIndex, i64> {
        self.terms.clone()
    }

    /// How much the value grows per iteration, if that is known: every local in
    /// it is either an induction variable (a constant step) or never written in
    /// the loop. (`increment` counts other locals as not growing.)
    pub fn exact_increment(&self, body: &LoopBody, steps: &HashMap<LocalId, i64>) -> Option<i64> {
        for atom in self.terms.keys() {
            if let Node::Phi(local) = body.graph[*atom] {
                let written = body.end_values.get(&local).is_some_and(|end| *end != *atom);
                if written && !steps.contains_key(&local) {
                    return None;
                }
            }
        }
        Some(self.increment(body, steps))
    }

    /// How much the value grows per iteration, given the induction steps.
    pub fn increment(&self, body: &LoopBody, steps: &HashMap<LocalId, i64>) -> i64 {
        let mut total = 0i64;
        for (atom, coef) in &self.terms {
            if let Node::Phi(local) = body.graph[*atom] {
                if let Some(step) = steps.get(&local) {
                    total = wrap32(total + coef * step);
                }
            }
        }
        total
    }
}

fn const_i32(body: &LoopBody, node: NodeIndex) -> Option<i64> {
    match body.graph[node] {
        Node::Const(Value::I32(c)) => Some(c as i64),
        _ => None,
    }
}

/// The affine form of an `i32` node, if it has one. Invariant sub-expressions that
/// are not affine themselves (a product of two parameters, say) become atoms.
pub fn affine_i32(body: &LoopBody, node: NodeIndex) -> Option<Affine> {
    // Iterative post-order so deep address chains cannot overflow the stack.
    let mut done: HashMap<NodeIndex, Option<Affine>> = HashMap::new();
    let mut work = vec![(node, false)];
    while let Some((n, expanded)) = work.pop() {
        if done.contains_key(&n) {
            continue;
        }
        let operands = body.operands(n);
        if !expanded {
            let needs_operands = matches!(
                body.graph[n],
                Node::Binop(
                    BinaryOp::I32Add | BinaryOp::I32Sub | BinaryOp::I32Mul | BinaryOp::I32Shl
                )
            );
            if needs_operands {
                work.push((n, true));
                for op in operands {
                    work.push((op, false));
                }
                continue;
            }
        }
        let get = |i: usize| done.get(&operands[i]).cloned().flatten();
        let form = match &body.graph[n] {
            Node::Const(Value::I32(c)) => Some(Affine::constant(*c as i64)),
            Node::Phi(_) => Some(Affine::atom(n)),
            Node::Binop(BinaryOp::I32Add) => get(0).zip(get(1)).map(|(a, b)| a.add(&b, 1)),
            Node::Binop(BinaryOp::I32Sub) => get(0).zip(get(1)).map(|(a, b)| a.add(&b, -1)),
            Node::Binop(BinaryOp::I32Mul) => {
                match (const_i32(body, operands[0]), const_i32(body, operands[1])) {
                    (_, Some(c)) => get(0).map(|a| a.scale(c)),
                    (Some(c), _) => get(1).map(|b| b.scale(c)),
                    _ => None,
                }
            }
            Node::Binop(BinaryOp::I32Shl) => match const_i32(body, operands[1]) {
                Some(c) => get(0).map(|a| a.scale(1i64 << (c & 31))),
                None => None,
            },
            _ => None,
        };
        let form = form.or_else(|| body.is_invariant(n).then(|| Affine::atom(n)));
        done.insert(n, form);
    }
    done.remove(&node).flatten()
}

/// Induction variables: locals whose end-of-iteration value is their start value
/// plus a constant. Returns local -> step (wrapped to i32).
pub fn inductions(body: &LoopBody) -> HashMap<LocalId, i64> {
    let mut steps = HashMap::new();
    for (local, end) in &body.end_values {
        let Some(phi) = body.phis.get(local) else {
            continue;
        };
        let Some(form) = affine_i32(body, *end) else {
            continue;
        };
        if form.terms.len() == 1 && form.terms.get(phi) == Some(&1) && form.constant != 0 {
            steps.insert(*local, form.constant);
        }
    }
    steps
}

/// Induction variables stepping by an invariant that is not a constant (a row
/// pointer, `p += n * 4`): local -> its step, in invariant atoms built from
/// locals and constants by `i32` operations that cannot trap (no loads), so the
/// step can be computed in front of the loop. `constant`: the constant-step
/// induction variables ([`inductions`]), left out.
pub fn symbolic_inductions(
    body: &LoopBody,
    constant: &HashMap<LocalId, i64>,
) -> HashMap<LocalId, Affine> {
    let pure = |node: NodeIndex| {
        let mut work = vec![node];
        let mut seen = std::collections::HashSet::new();
        while let Some(n) = work.pop() {
            if !seen.insert(n) {
                continue;
            }
            match &body.graph[n] {
                Node::Phi(_) | Node::Const(Value::I32(_)) => {}
                Node::Binop(
                    BinaryOp::I32Add
                    | BinaryOp::I32Sub
                    | BinaryOp::I32Mul
                    | BinaryOp::I32Shl
                    | BinaryOp::I32ShrU
                    | BinaryOp::I32ShrS
                    | BinaryOp::I32And
                    | BinaryOp::I32Or
                    | BinaryOp::I32Xor,
                ) => work.extend(body.operands(n)),
                _ => return false,
            }
        }
        true
    };
    let mut out = HashMap::new();
    for (local, end) in &body.end_values {
        let Some(phi) = body.phis.get(local) else {
            continue;
        };
        if constant.contains_key(local) || end == phi {
            continue;
        }
        let Some(step) = symbolic_increment(body, &Affine::atom(*phi)) else {
            continue;
        };
        if !step.terms.is_empty() && step.terms.keys().all(|a| pure(*a)) {
            out.insert(*local, step);
        }
    }
    out
}

/// How much `form` grows per iteration when that is itself an invariant
/// expression (`i * n` walks a row of `n` elements per iteration): each phi in
/// it must end the iteration as itself plus an affine form of invariants (or
/// never change). The result has invariant atoms only; `None` otherwise.
pub fn symbolic_increment(body: &LoopBody, form: &Affine) -> Option<Affine> {
    let mut total = Affine::default();
    for (atom, coef) in &form.terms {
        let step = match body.graph[*atom] {
            Node::Phi(local) => match body.end_values.get(&local) {
                Some(end) if *end != *atom => {
                    let end = affine_i32(body, *end)?;
                    end.add(&Affine::atom(*atom), -1)
                }
                _ => continue,
            },
            _ if body.is_invariant(*atom) => continue,
            _ => return None,
        };
        if step.terms.keys().any(|a| !body.is_invariant(*a)) {
            return None;
        }
        total = total.add(&step.scale(*coef), 1);
    }
    Some(total)
}
