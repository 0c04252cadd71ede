//! `store-combine`: a value written byte by byte in little-endian order,
//! `p[o] = v; p[o+1] = v >> 8; ...; p[o+N-1] = v >> 8(N-1)` (4 or 8 bytes of an
//! i32 or i64, the stores in any order, each right after the previous one), becomes
//! one wide store; in big-endian order (network order, `p[o+k] = v >> 8(N-1-k)`)
//! of 8 bytes, one lane store of the value byte-reversed by an `i8x16.shuffle`
//! (with SIMD128: three instructions where the scalar swap takes fifteen). A
//! 4-byte big-endian value is reported and left alone: the bounds check and the
//! swap cost what the four stores do. This is what byte-oriented writers (BSON-style serializers,
//! protocol headers, hash outputs) compile to where the compiler does not merge
//! stores itself (Binaryen and so AssemblyScript; clang and rustc already do).
//!
//! Needs: nothing but the instruction sequences. Guarantees: exact. Each byte
//! store's operands are `local.get p` (the address, its offset in the memarg) and a
//! pure value of `local.get v` (shifted right by a constant, perhaps wrapped from
//! i64; the first store's address may be `local.tee p` of an address computed
//! before it, which becomes a `local.set p` in front), so nothing between the
//! stores reads memory or changes `p` or `v`, and the
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
    /// The address is `local.tee p` of a value computed before (else `local.get p`).
    tee: bool,
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
    let (address, tee) = match step()? {
        Instr::LocalGet(p) => (p.local, false),
        Instr::LocalTee(p) if p.local != v.local => (p.local, true),
        _ => return None,
    };
    Some(ByteStore {
        start: at,
        end,
        address,
        tee,
        memory: s.memory,
        offset: s.arg.offset,
        value: v.local,
        wide,
        shift,
    })
}

/// A run of `n` adjacent byte stores that writes `v` little-endian (or
/// big-endian) at `p + base`.
struct Group {
    start: usize,
    end: usize,
    address: LocalId,
    value: LocalId,
    memory: MemoryId,
    base: u64,
    n: usize,
    wide: bool,
    big_endian: bool,
    /// The first store's address is a `local.tee`.
    tee: bool,
}

fn group(stores: &[ByteStore], n: usize) -> Option<Group> {
    let first = stores.first()?;
    if stores.len() != n || (n == 8 && !first.wide) {
        return None;
    }
    let base = stores.iter().map(|s| s.offset).min()?;
    let mut seen = [false; 8];
    let (mut little, mut big) = (true, true);
    for (i, s) in stores.iter().enumerate() {
        if (i > 0 && (s.start != stores[i - 1].end + 1 || s.tee))
            || s.address != first.address
            || s.value != first.value
            || s.memory != first.memory
            || s.wide != first.wide
        {
            return None;
        }
        let k = (s.offset - base) as usize;
        if k >= n || seen[k] {
            return None;
        }
        seen[k] = true;
        little &= s.shift == 8 * k as i64;
        big &= s.shift == 8 * (n - 1 - k) as i64;
    }
    if !little && !big {
        return None;
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
        big_endian: !little,
        tee: first.tee,
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
        "values written byte by byte in little-endian (4, 8 bytes) or big-endian order (8 bytes) -> one wide store (big-endian: of the bytes reversed by a shuffle) behind a bounds check (exact)"
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
                    let refusal = refusal.or_else(|| match (g.big_endian, g.n) {
                        (true, 4) => Some(
                            "big-endian 4 bytes: a byte swap and the bounds check cost what the byte stores do"
                                .to_string(),
                        ),
                        (true, _) if !cx.options.allow_simd => Some(
                            "big-endian 8 bytes: the byte swap pays with SIMD128 only (--no-simd)"
                                .to_string(),
                        ),
                        _ => None,
                    });
                    if let Some(reason) = refusal {
                        finding.reason = Some(reason);
                    } else {
                        rewrite(module, id, seq, &g);
                        finding.action = Action::Rewritten;
                        finding.tier = Some(Tier::Scalar);
                        finding.reason = Some(if g.big_endian {
                            format!(
                                "big-endian {} bytes at offset {} -> one i8x16.shuffle and a lane store behind a bounds check",
                                g.n, g.base
                            )
                        } else {
                            format!(
                                "little-endian {} bytes at offset {} -> one store behind a bounds check",
                                g.n, g.base
                            )
                        });
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
    let mut original: Vec<_> = func.block(seq).instrs[g.start..=g.end].to_vec();
    // A first address `local.tee p`: `local.set p` in front, `local.get p` in the
    // stores kept.
    if g.tee {
        original[0].0 = Instr::LocalGet(walrus::ir::LocalGet { local: g.address });
    }
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
        let arg = MemArg {
            align: 1,
            offset: g.base,
        };
        if g.big_endian {
            // (8 bytes of an i64: the lane's bytes reversed, stored as lane 0.)
            let mut indices = [0u8; 16];
            for (k, index) in indices.iter_mut().take(8).enumerate() {
                *index = 7 - k as u8;
            }
            s.unop(UnaryOp::I64x2Splat)
                .const_(Value::V128(0))
                .instr(walrus::ir::I8x16Shuffle { indices })
                .load_simd(g.memory, walrus::ir::LoadSimdKind::V128Store64Lane(0), arg);
        } else {
            let kind = match (g.n, g.wide) {
                (8, _) => StoreKind::I64 { atomic: false },
                (_, true) => StoreKind::I64_32 { atomic: false },
                _ => StoreKind::I32 { atomic: false },
            };
            s.store(g.memory, kind, arg);
        }
        s.br(done);
    }
    let mut done_instrs = vec![(Instr::Block(walrus::ir::Block { seq: slow }), loc)];
    done_instrs.extend(original);
    func.block_mut(done).instrs = done_instrs;
    let mut replacement = vec![(Instr::Block(walrus::ir::Block { seq: done }), loc)];
    if g.tee {
        let set = Instr::LocalSet(walrus::ir::LocalSet { local: g.address });
        replacement.insert(0, (set, loc));
    }
    func.block_mut(seq)
        .instrs
        .splice(g.start..=g.end, replacement);
}
