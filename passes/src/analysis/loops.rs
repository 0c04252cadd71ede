//! The loop forest of a function: every wasm `loop` with its parent loop and depth,
//! held in a petgraph graph (edges point from a loop to the loops nested in it).
//!
//! wasm control flow is structured, so the forest falls out of the instruction tree:
//! a `loop` instruction's body sequence is the loop; any `loop` reached inside that
//! body (through blocks, ifs and trys) is its child.

use petgraph::graph::{DiGraph, NodeIndex};
use walrus::ir::{Instr, InstrLocId, InstrSeqId};
use walrus::LocalFunction;

/// One wasm `loop`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoopInfo {
    /// The loop's body sequence (the `loop` instruction's `seq`).
    pub body: InstrSeqId,
    /// Nesting depth: 0 for an outermost loop.
    pub depth: u32,
    /// The sequence that contains the `loop` instruction, and its position there.
    pub parent_seq: InstrSeqId,
    /// Position of the `loop` instruction within `parent_seq`.
    pub position: usize,
}

/// All loops of one function.
#[derive(Debug, Default)]
pub struct LoopForest {
    /// Loops as nodes; an edge `a -> b` means `b` is nested directly inside `a`.
    pub graph: DiGraph<LoopInfo, ()>,
    /// The outermost loops, in program order.
    pub roots: Vec<NodeIndex>,
}

impl LoopForest {
    /// Builds the forest of `func`.
    pub fn build(func: &LocalFunction) -> LoopForest {
        let mut forest = LoopForest::default();
        // Work list of (sequence, innermost enclosing loop). Children are pushed in
        // reverse so that loops are discovered in program order.
        let mut work: Vec<(InstrSeqId, Option<NodeIndex>)> = vec![(func.entry_block(), None)];
        while let Some((seq_id, enclosing)) = work.pop() {
            let seq = func.block(seq_id);
            let mut children: Vec<(InstrSeqId, Option<NodeIndex>)> = Vec::new();
            for (position, (instr, _)) in seq.instrs.iter().enumerate() {
                match instr {
                    Instr::Loop(l) => {
                        let depth = enclosing.map_or(0, |p| forest.graph[p].depth + 1);
                        let node = forest.graph.add_node(LoopInfo {
                            body: l.seq,
                            depth,
                            parent_seq: seq_id,
                            position,
                        });
                        match enclosing {
                            Some(parent) => {
                                forest.graph.add_edge(parent, node, ());
                            }
                            None => forest.roots.push(node),
                        }
                        children.push((l.seq, Some(node)));
                    }
                    Instr::Block(b) => children.push((b.seq, enclosing)),
                    Instr::IfElse(i) => {
                        children.push((i.consequent, enclosing));
                        children.push((i.alternative, enclosing));
                    }
                    Instr::Try(t) => children.push((t.seq, enclosing)),
                    Instr::TryTable(t) => children.push((t.seq, enclosing)),
                    _ => {}
                }
            }
            work.extend(children.into_iter().rev());
        }
        forest
    }

    /// Number of loops.
    pub fn len(&self) -> usize {
        self.graph.node_count()
    }

    /// Whether the function has no loops.
    pub fn is_empty(&self) -> bool {
        self.graph.node_count() == 0
    }

    /// Loops nested directly inside `node`.
    pub fn children(&self, node: NodeIndex) -> impl Iterator<Item = NodeIndex> + '_ {
        self.graph.neighbors(node)
    }
}

/// The sequences an instruction opens: block and loop bodies, both arms of an if,
/// try bodies and legacy catch handlers.
pub fn opened_sequences(instr: &Instr) -> Vec<InstrSeqId> {
    use walrus::ir::LegacyCatch;
    match instr {
        Instr::Block(b) => vec![b.seq],
        Instr::Loop(l) => vec![l.seq],
        Instr::IfElse(i) => vec![i.consequent, i.alternative],
        Instr::TryTable(t) => vec![t.seq],
        Instr::Try(t) => std::iter::once(t.seq)
            .chain(t.catches.iter().filter_map(|c| match c {
                LegacyCatch::Catch { handler, .. } | LegacyCatch::CatchAll { handler } => {
                    Some(*handler)
                }
                LegacyCatch::Delegate { .. } => None,
            }))
            .collect(),
        _ => Vec::new(),
    }
}

/// Every sequence nested in `instrs`, at any depth, outermost first.
pub fn nested_sequences(func: &LocalFunction, instrs: &[(Instr, InstrLocId)]) -> Vec<InstrSeqId> {
    let mut out: Vec<InstrSeqId> = instrs
        .iter()
        .flat_map(|(i, _)| opened_sequences(i))
        .collect();
    let mut next = 0;
    while let Some(seq) = out.get(next).copied() {
        next += 1;
        out.extend(
            func.block(seq)
                .instrs
                .iter()
                .flat_map(|(i, _)| opened_sequences(i)),
        );
    }
    out
}

/// The labels an instruction may branch to; `None` when they are not all known
/// (try_table catch clauses, legacy delegate).
pub fn branch_targets(instr: &Instr) -> Option<Vec<InstrSeqId>> {
    Some(match instr {
        Instr::Br(b) => vec![b.block],
        Instr::BrIf(b) => vec![b.block],
        Instr::BrTable(t) => t.blocks.iter().copied().chain([t.default]).collect(),
        Instr::BrOnNull(b) => vec![b.block],
        Instr::BrOnNonNull(b) => vec![b.block],
        Instr::BrOnCast(b) => vec![b.block],
        Instr::BrOnCastFail(b) => vec![b.block],
        Instr::TryTable(_) | Instr::Try(_) => return None,
        _ => Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use walrus::{FunctionBuilder, Module, ValType};

    #[test]
    fn nested_loops_form_a_tree() {
        let mut module = Module::default();
        let mut builder = FunctionBuilder::new(&mut module.types, &[], &[]);
        builder.func_body().loop_(None, |outer| {
            outer.block(None, |b| {
                b.loop_(None, |_| {});
            });
            outer.loop_(None, |_| {});
        });
        builder.func_body().loop_(None, |_| {});
        let id = builder.finish(vec![], &mut module.funcs);
        let forest = LoopForest::build(module.funcs.get(id).kind.unwrap_local());
        assert_eq!(forest.len(), 4);
        assert_eq!(forest.roots.len(), 2);
        let outer = forest.roots[0];
        assert_eq!(forest.children(outer).count(), 2);
        assert!(forest.children(outer).all(|c| forest.graph[c].depth == 1));
        let _ = ValType::I32;
    }
}
