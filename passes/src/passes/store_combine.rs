//! `store-combine`: a value written byte by byte in little-endian order,
//! `p[o] = v; p[o+1] = v >> 8; ...; p[o+N-1] = v >> 8(N-1)` (4 or 8 bytes of an
//! i32 or i64, the stores in any order, each right after the previous one), becomes
//! one wide store. This is what byte-oriented writers (BSON-style serializers,
//! protocol headers, hash outputs) compile to where the compiler does not merge
//! stores itself (Binaryen and so AssemblyScript; clang and rustc already do).
//!
//! Needs: nothing but the instruction sequences. Guarantees: exact. Each byte
//! store's operands are `local.get p` (the address, its offset in the memarg) and a
//! pure value of `local.get v` (shifted right by a constant, perhaps wrapped from
//! i64), so nothing between the stores reads memory or changes `p` or `v`, and the
//! wide store writes the same bytes. A wide store that runs past the end of memory
//! traps without writing anything, where the byte stores would have written the
//! bytes before the end first: so the wide store sits behind a bounds check
//! (`p + o + N <= memory size`), and the original stores run when it fails. Two
//! bytes are left alone (the check costs what the stores do).

use super::simd_elementwise::{own_functions, sequences};
use crate::pass::{Changed, Pass, PassCx, PassError};
use crate::report::{Action, Elem, Tier};
use walrus::ir::{BinaryOp, Instr, InstrSeqId, MemArg, StoreKind, UnaryOp, Value};
use walrus::{LocalId, MemoryId, Module};

/// The store-combine pass.
pub struct StoreCombine;

type Instrs = [(Instr, walrus::InstrLocId)];

/// One byte store `p[offset] = v >> shift`, spanning `start..=end`.
#[derive(Clone, Copy, Debug)]
struct ByteStore {
    start: usize,
    end: usize,
    address: LocalId,
    memory: MemoryId,
    offset: u64,
    value: LocalId,
    /// `v` is an i64.
    wide: bool,
    shift: i64,
}

/// The byte store ending at `end`, if it has the shape above.
fn byte_store(instrs: &Instrs, end: usize) -> Option<ByteStore> {
    let Instr::Store(s) = &instrs[end].0 else {
        return None;
    };
    let store_i64 = match s.kind {
        StoreKind::I32_8 { atomic: false } => false,
        StoreKind::I64_8 { atomic: false } => true,
        _ => return None,
    };
    // The value, backwards: [wrap] [shr const] local.get v.
    let mut at = end;
    let mut step = || -> Option<&Instr> {
        at = at.checked_sub(1)?;
        Some(&instrs[at].0)
    };
    let mut next = step()?;
    let mut wrapped = false;
    if !store_i64 {
        if let Instr::Unop(u) = next {
            if matches!(u.op, UnaryOp::I32WrapI64) {
                wrapped = true;
                next = step()?;
            }
        }
    }
    let wide = store_i64 || wrapped;
    let mut shift = 0;
    if let Instr::Binop(b) = next {
        let shr = if wide {
            matches!(b.op, BinaryOp::I64ShrU | BinaryOp::I64ShrS)
        } else {
            matches!(b.op, BinaryOp::I32ShrU | BinaryOp::I32ShrS)
        };
        if !shr {
            return None;
        }
        shift = match step()? {
            Instr::Const(c) => match c.value {
                Value::I32(k) if !wide => k as i64,
                Value::I64(k) if wide => k,
                _ => return None,
            },
            _ => return None,
        };
        next = step()?;
    }
    let Instr::LocalGet(v) = next else {
        return None;
    };
    let Instr::LocalGet(p) = step()? else {
        return None;
    };
    Some(ByteStore {
        start: at,
        end,
        address: p.local,
        memory: s.memory,
        offset: s.arg.offset,
        value: v.local,
        wide,
        shift,
    })
}

/// A run of `n` adjacent byte stores that writes `v` little-endian at `p + base`.
struct Group {
    start: usize,
    end: usize,
    address: LocalId,
    value: LocalId,
    memory: MemoryId,
    base: u64,
    n: usize,
    wide: bool,
}

fn group(stores: &[ByteStore], n: usize) -> Option<Group> {
    let first = stores.first()?;
    if stores.len() != n || (n == 8 && !first.wide) {
        return None;
    }
    let base = stores.iter().map(|s| s.offset).min()?;
    let mut seen = [false; 8];
    for (i, s) in stores.iter().enumerate() {
        if (i > 0 && s.start != stores[i - 1].end + 1)
            || s.address != first.address
            || s.value != first.value
            || s.memory != first.memory
            || s.wide != first.wide
        {
            return None;
        }
        let k = (s.offset - base) as usize;
        if k >= n || seen[k] || s.shift != 8 * k as i64 {
            return None;
        }
        seen[k] = true;
    }
    Some(Group {
        start: first.start,
        end: stores[n - 1].end,
        address: first.address,
        value: first.value,
        memory: first.memory,
        base,
        n,
        wide: first.wide,
    })
}

/// The groups of one sequence, in order, not overlapping.
fn groups(instrs: &Instrs) -> Vec<Group> {
    let stores: Vec<ByteStore> = (0..instrs.len())
        .filter_map(|end| byte_store(instrs, end))
        .collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < stores.len() {
        let found = [8, 4]
            .into_iter()
            .find_map(|n| stores.get(i..i + n).and_then(|run| group(run, n)));
        match found {
            Some(g) => {
                i += g.n;
                out.push(g);
            }
            None => i += 1,
        }
    }
    out
}

impl Pass for StoreCombine {
    fn name(&self) -> &'static str {
        "store-combine"
    }

    fn description(&self) -> &'static str {
        "values written byte by byte in little-endian order (4, 8 bytes) -> one wide store behind a bounds check (exact)"
    }

    fn run(&self, module: &mut Module, cx: &mut PassCx<'_>) -> Result<Changed, PassError> {
        let mut changed = Changed::nothing();
        for id in own_functions(module) {
            let seqs: Vec<InstrSeqId> = sequences(module.funcs.get(id).kind.unwrap_local());
            for seq in seqs {
                let found = groups(&module.funcs.get(id).kind.unwrap_local().block(seq).instrs);
                // From the last backwards, so that earlier positions stay valid.
                for g in found.into_iter().rev() {
                    // (The bounds check counts 64 KiB pages of a private 32-bit memory.)
                    let memory = module.memories.get(g.memory);
                    if memory.memory64
                        || memory.shared
                        || memory.page_size_log2.is_some_and(|l| l != 16)
                    {
                        continue;
                    }
                    let elem = if g.n == 8 { Elem::I64 } else { Elem::I32 };
                    let (mut finding, refusal) =
                        super::scalar_candidate(cx, id, "store_combine", elem);
                    if let Some(reason) = refusal {
                        finding.reason = Some(reason);
                    } else {
                        rewrite(module, id, seq, &g);
                        finding.action = Action::Rewritten;
                        finding.tier = Some(Tier::Scalar);
                        finding.reason = Some(format!(
                            "little-endian {} bytes at offset {} -> one store behind a bounds check",
                            g.n, g.base
                        ));
                        if !changed.functions.contains(&id) {
                            changed.functions.push(id);
                        }
                    }
                    cx.findings.push(finding);
                }
            }
        }
        Ok(changed)
    }
}

/// Replaces the group's stores with
/// `block $done { block $slow { p + base + n > size -> $slow; wide store; br $done } stores }`.
fn rewrite(module: &mut Module, id: walrus::FunctionId, seq: InstrSeqId, g: &Group) {
    let func = module.funcs.get_mut(id).kind.unwrap_local_mut();
    let loc = func.block(seq).instrs[g.end].1;
    let original: Vec<_> = func.block(seq).instrs[g.start..=g.end].to_vec();
    let builder = func.builder_mut();
    let done = builder.dangling_instr_seq(None).id();
    let slow = builder.dangling_instr_seq(None).id();
    {
        let mut s = builder.instr_seq(slow);
        s.local_get(g.address)
            .unop(UnaryOp::I64ExtendUI32)
            .i64_const((g.base + g.n as u64) as i64)
            .binop(BinaryOp::I64Add)
            .memory_size(g.memory)
            .unop(UnaryOp::I64ExtendUI32)
            .i64_const(16)
            .binop(BinaryOp::I64Shl)
            .binop(BinaryOp::I64GtU)
            .br_if(slow)
            .local_get(g.address)
            .local_get(g.value);
        let kind = match (g.n, g.wide) {
            (8, _) => StoreKind::I64 { atomic: false },
            (_, true) => StoreKind::I64_32 { atomic: false },
            _ => StoreKind::I32 { atomic: false },
        };
        s.store(
            g.memory,
            kind,
            MemArg {
                align: 1,
                offset: g.base,
            },
        )
        .br(done);
    }
    let mut done_instrs = vec![(Instr::Block(walrus::ir::Block { seq: slow }), loc)];
    done_instrs.extend(original);
    func.block_mut(done).instrs = done_instrs;
    func.block_mut(seq).instrs.splice(
        g.start..=g.end,
        [(Instr::Block(walrus::ir::Block { seq: done }), loc)],
    );
}
