//! `load-combine`: a little-endian value assembled from byte loads,
//! `b[o] | b[o+1] << 8 | b[o+2] << 16 | b[o+3] << 24` (any order, any tree of `or`,
//! `add` or `xor`, 2, 4 or 8 bytes, into i32 or i64), becomes one wide load. This is
//! what byte-oriented readers (BSON documents, protocol headers, decompressor bit
//! readers) compile to where the compiler does not combine loads itself (Binaryen
//! and so AssemblyScript; clang and rustc already do).
//!
//! Needs: nothing but the instruction sequences (a backward parse of the stack code
//! of pure expressions). Guarantees: exact. Every byte load reads `p + o_k` with the
//! address in one local `p` and the offsets in the memargs (effective addresses do
//! not wrap), so the wide load at `p + min(o_k)` reads exactly the same bytes and
//! traps exactly when one of them would have; nothing with an effect lies between
//! the loads (the expression is pure; a `local.tee` that computes `p` stays first).
//! The bits do not overlap, so `or`, `add` and `xor` all assemble the same value.

use super::simd_elementwise::{own_functions, sequences};
use crate::pass::{Changed, Pass, PassCx, PassError};
use crate::report::{Action, Elem, Tier};
use walrus::ir::{BinaryOp, ExtendedLoad, Instr, InstrSeqId, LoadKind, MemArg, UnaryOp, Value};
use walrus::{LocalId, MemoryId, Module};

/// The load-combine pass.
pub struct LoadCombine;

/// A parsed pure expression.
#[derive(Debug)]
enum Expr {
    Get(LocalId),
    /// `local.tee` of a pure subexpression, at position `at`.
    Tee(LocalId, usize),
    Const(Value),
    /// A zero-extending byte load at `offset` from the address expression; `at`
    /// is the load's own position.
    Byte {
        memory: MemoryId,
        offset: u64,
        addr: Box<Expr>,
        at: usize,
    },
    Extend(Box<Expr>),
    Bin(BinaryOp, Box<Expr>, Box<Expr>),
}

type Instrs = [(Instr, walrus::InstrLocId)];

/// Parses the pure expression whose code ends just before `end`; returns where it
/// starts.
fn parse(instrs: &Instrs, end: usize, depth: u32) -> Option<(usize, Expr)> {
    if depth > 64 || end == 0 {
        return None;
    }
    let at = end - 1;
    Some(match &instrs[at].0 {
        Instr::LocalGet(g) => (at, Expr::Get(g.local)),
        Instr::Const(c) => (at, Expr::Const(c.value)),
        Instr::LocalTee(t) => {
            let (start, _) = parse(instrs, at, depth + 1)?;
            (start, Expr::Tee(t.local, at))
        }
        Instr::Unop(u) if matches!(u.op, UnaryOp::I64ExtendUI32) => {
            let (start, e) = parse(instrs, at, depth + 1)?;
            (start, Expr::Extend(Box::new(e)))
        }
        Instr::Load(l) => {
            let byte = matches!(
                l.kind,
                LoadKind::I32_8 {
                    kind: ExtendedLoad::ZeroExtend
                } | LoadKind::I64_8 {
                    kind: ExtendedLoad::ZeroExtend
                }
            );
            if !byte {
                return None;
            }
            let (start, addr) = parse(instrs, at, depth + 1)?;
            (
                start,
                Expr::Byte {
                    memory: l.memory,
                    offset: l.arg.offset,
                    addr: Box::new(addr),
                    at,
                },
            )
        }
        Instr::Binop(b) if pure_binop(b.op) => {
            let (mid, right) = parse(instrs, at, depth + 1)?;
            let (start, left) = parse(instrs, mid, depth + 1)?;
            (start, Expr::Bin(b.op, Box::new(left), Box::new(right)))
        }
        _ => return None,
    })
}

fn pure_binop(op: BinaryOp) -> bool {
    use BinaryOp::*;
    matches!(
        op,
        I32Or | I32Add | I32Xor | I32Shl | I32Mul | I32Sub | I64Or | I64Add | I64Xor | I64Shl
    )
}

fn combining(op: BinaryOp) -> Option<bool> {
    use BinaryOp::*;
    match op {
        I32Or | I32Add | I32Xor => Some(false),
        I64Or | I64Add | I64Xor => Some(true),
        _ => None,
    }
}

/// One byte of the assembled value: where it is read and how far it is shifted.
struct Term<'e> {
    memory: MemoryId,
    offset: u64,
    addr: &'e Expr,
    at: usize,
    shift: i64,
}

/// The bytes a combining tree assembles, if it is only shifted byte loads.
fn terms<'e>(e: &'e Expr, shift: i64, out: &mut Vec<Term<'e>>) -> Option<()> {
    match e {
        Expr::Bin(op, l, r) if combining(*op).is_some() => {
            terms(l, shift, out)?;
            terms(r, shift, out)
        }
        Expr::Bin(BinaryOp::I32Shl | BinaryOp::I64Shl, x, amount) => {
            let by = match **amount {
                Expr::Const(Value::I32(c)) => c as i64,
                Expr::Const(Value::I64(c)) => c,
                _ => return None,
            };
            terms(x, shift + by, out)
        }
        Expr::Extend(x) => terms(x, shift, out),
        Expr::Byte {
            memory,
            offset,
            addr,
            at,
        } => {
            out.push(Term {
                memory: *memory,
                offset: *offset,
                addr,
                at: *at,
                shift,
            });
            Some(())
        }
        _ => None,
    }
}

/// A combinable tree: what replaces it.
struct Combined {
    start: usize,
    /// Where the `local.tee` that computes the address stands, when the first
    /// load's address is one (its code and the tee are kept).
    tee: Option<usize>,
    /// The largest constant added to `p` with a wrapping `i32.add` (0: none). The
    /// wide load is then taken only when `p + max_delta` does not wrap, else the
    /// original code runs.
    max_delta: u64,
    /// An i64 value (else i32).
    wide: bool,
    /// The bytes are in big-endian order: the wide load is byte-swapped.
    big_endian: bool,
    local: LocalId,
    memory: MemoryId,
    offset: u64,
    kind: LoadKind,
    elem: Elem,
}

fn combine(instrs: &Instrs, root: usize) -> Option<Combined> {
    let Instr::Binop(b) = &instrs[root].0 else {
        return None;
    };
    let wide = combining(b.op)?;
    let (start, expr) = parse(instrs, root + 1, 0)?;
    let mut ts = Vec::new();
    terms(&expr, 0, &mut ts)?;
    let n = ts.len();
    if !(n == 2 || n == 4 || (n == 8 && wide)) {
        return None;
    }
    // One memory, one address local `p` (a tee of it only in the first load),
    // each address `p`, or `p + c` computed with a wrapping add.
    ts.sort_by_key(|t| t.at);
    let (local, tee) = match ts[0].addr {
        Expr::Get(l) => (*l, None),
        Expr::Tee(l, tee_at) => (*l, Some(*tee_at)),
        _ => return None,
    };
    let mut totals = Vec::with_capacity(n);
    let mut max_delta = 0u64;
    for (i, t) in ts.iter().enumerate() {
        if t.memory != ts[0].memory {
            return None;
        }
        let delta = match t.addr {
            Expr::Tee(..) if i == 0 => 0,
            Expr::Get(l) if *l == local => 0,
            Expr::Bin(BinaryOp::I32Add, a, b) => match (&**a, &**b) {
                (Expr::Get(l), Expr::Const(Value::I32(c)))
                | (Expr::Const(Value::I32(c)), Expr::Get(l))
                    if *l == local && *c >= 0 =>
                {
                    *c as u64
                }
                _ => return None,
            },
            _ => return None,
        };
        max_delta = max_delta.max(delta);
        totals.push(delta + t.offset);
    }
    // Consecutive offsets, each byte shifted to its little-endian place, or each
    // to its big-endian place (taken for 4 and 8 bytes, where a load and a byte
    // swap are fewer instructions than the bytes; for 2 they are not).
    let base = *totals.iter().min()?;
    let mut seen = vec![false; n];
    let (mut little, mut big) = (true, n >= 4);
    for (t, total) in ts.iter().zip(&totals) {
        let k = (total - base) as usize;
        if k >= n || seen[k] {
            return None;
        }
        seen[k] = true;
        little &= t.shift == 8 * k as i64;
        big &= t.shift == 8 * (n - 1 - k) as i64;
    }
    if !little && !big {
        return None;
    }
    let big_endian = !little;
    let (kind, elem) = match (wide, n) {
        // A big-endian word into an i64 is swapped as an i32, then extended.
        (true, 4) if big_endian => (LoadKind::I32 { atomic: false }, Elem::I32),
        (false, 2) => (
            LoadKind::I32_16 {
                kind: ExtendedLoad::ZeroExtend,
            },
            Elem::I16,
        ),
        (false, 4) => (LoadKind::I32 { atomic: false }, Elem::I32),
        (true, 2) => (
            LoadKind::I64_16 {
                kind: ExtendedLoad::ZeroExtend,
            },
            Elem::I16,
        ),
        (true, 4) => (
            LoadKind::I64_32 {
                kind: ExtendedLoad::ZeroExtend,
            },
            Elem::I32,
        ),
        (true, 8) => (LoadKind::I64 { atomic: false }, Elem::I64),
        _ => return None,
    };
    Some(Combined {
        start,
        tee,
        max_delta,
        wide,
        big_endian,
        local,
        memory: ts[0].memory,
        offset: base,
        kind,
        elem,
    })
}

/// Instructions that reverse the bytes of the value on the stack, for a wide load
/// of `kind` in a tree of i64 (`wide`) or i32; `t` is a scratch local of the
/// loaded type.
fn byte_swap(kind: LoadKind, wide: bool, t: LocalId) -> Vec<Instr> {
    use walrus::ir::{Binop, Const, LocalGet, LocalTee, Unop};
    let bin = |op| Instr::Binop(Binop { op });
    let c32 = |v: i32| {
        Instr::Const(Const {
            value: Value::I32(v),
        })
    };
    let c64 = |v: i64| {
        Instr::Const(Const {
            value: Value::I64(v),
        })
    };
    let tee = Instr::LocalTee(LocalTee { local: t });
    let get = Instr::LocalGet(LocalGet { local: t });
    match kind {
        // (x rotl 8) & 0x00ff00ff | (x rotr 8) & 0xff00ff00
        LoadKind::I32 { .. } => {
            let mut code = vec![
                tee,
                c32(8),
                bin(BinaryOp::I32Rotl),
                c32(0x00ff_00ff),
                bin(BinaryOp::I32And),
                get,
                c32(8),
                bin(BinaryOp::I32Rotr),
                c32(0xff00_ff00u32 as i32),
                bin(BinaryOp::I32And),
                bin(BinaryOp::I32Or),
            ];
            if wide {
                code.push(Instr::Unop(Unop {
                    op: UnaryOp::I64ExtendUI32,
                }));
            }
            code
        }
        // Swap bytes in each halfword, halfwords in each word, then the words.
        _ => {
            let mut code = Vec::new();
            for (shift, mask) in [(8, 0x00ff_00ff_00ff_00ffi64), (16, 0x0000_ffff_0000_ffff)] {
                code.extend([
                    tee.clone(),
                    c64(shift),
                    bin(BinaryOp::I64ShrU),
                    c64(mask),
                    bin(BinaryOp::I64And),
                    get.clone(),
                    c64(mask),
                    bin(BinaryOp::I64And),
                    c64(shift),
                    bin(BinaryOp::I64Shl),
                    bin(BinaryOp::I64Or),
                ]);
            }
            code.extend([c64(32), bin(BinaryOp::I64Rotl)]);
            code
        }
    }
}

impl Pass for LoadCombine {
    fn name(&self) -> &'static str {
        "load-combine"
    }

    fn description(&self) -> &'static str {
        "little-endian values assembled from byte loads (2, 4, 8 bytes) -> one wide load (exact)"
    }

    fn run(&self, module: &mut Module, cx: &mut PassCx<'_>) -> Result<Changed, PassError> {
        let mut changed = Changed::nothing();
        let ids = own_functions(module);
        for id in ids {
            let seqs: Vec<InstrSeqId> = sequences(module.funcs.get(id).kind.unwrap_local());
            for seq in seqs {
                let func = module.funcs.get_mut(id).kind.unwrap_local_mut();
                let mut root = func.block(seq).instrs.len();
                while root > 0 {
                    root -= 1;
                    let Some(c) = combine(&func.block(seq).instrs, root) else {
                        continue;
                    };
                    let (mut finding, refusal) =
                        super::scalar_candidate(cx, id, "load_combine", c.elem);
                    if let Some(reason) = refusal {
                        finding.reason = Some(reason);
                    } else {
                        let instrs = &mut func.block_mut(seq).instrs;
                        let load = Instr::Load(walrus::ir::Load {
                            memory: c.memory,
                            kind: c.kind,
                            arg: MemArg {
                                align: 1,
                                offset: c.offset,
                            },
                        });
                        let loc = instrs[root].1;
                        let swap: Vec<(Instr, walrus::InstrLocId)> = if c.big_endian {
                            let ty = match c.kind {
                                LoadKind::I64 { .. } => walrus::ValType::I64,
                                _ => walrus::ValType::I32,
                            };
                            let t = module.locals.add(ty);
                            byte_swap(c.kind, c.wide, t)
                                .into_iter()
                                .map(|i| (i, loc))
                                .collect()
                        } else {
                            Vec::new()
                        };
                        let get = (
                            Instr::LocalGet(walrus::ir::LocalGet { local: c.local }),
                            loc,
                        );
                        let mut new: Vec<(Instr, walrus::InstrLocId)> = Vec::new();
                        if c.max_delta == 0 {
                            match c.tee {
                                // Keep the address code and its tee, then load.
                                Some(tee_at) => {
                                    new.extend(instrs[c.start..=tee_at].iter().cloned())
                                }
                                None => new.push(get.clone()),
                            }
                            new.push((load, loc));
                            new.extend(swap.iter().cloned());
                        } else {
                            // `if (p <= 2^32 - 1 - max_delta) wide load else original`,
                            // with a tee'd address computed once, before the test.
                            let mut original: Vec<_> = instrs[c.start..=root].to_vec();
                            if let Some(tee_at) = c.tee {
                                new.extend(instrs[c.start..tee_at].iter().cloned());
                                new.push((
                                    Instr::LocalSet(walrus::ir::LocalSet { local: c.local }),
                                    loc,
                                ));
                                original.splice(0..=tee_at - c.start, [get.clone()]);
                            }
                            new.push(get.clone());
                            new.push((
                                Instr::Const(walrus::ir::Const {
                                    value: Value::I32(
                                        (u32::MAX as u64 - c.max_delta) as u32 as i32,
                                    ),
                                }),
                                loc,
                            ));
                            new.push((
                                Instr::Binop(walrus::ir::Binop {
                                    op: BinaryOp::I32LeU,
                                }),
                                loc,
                            ));
                            let ty = if c.wide {
                                walrus::ValType::I64
                            } else {
                                walrus::ValType::I32
                            };
                            let builder = func.builder_mut();
                            let then = builder.dangling_instr_seq(Some(ty)).id();
                            let otherwise = builder.dangling_instr_seq(Some(ty)).id();
                            func.block_mut(then).instrs =
                                [get, (load, loc)].into_iter().chain(swap).collect();
                            func.block_mut(otherwise).instrs = original;
                            new.push((
                                Instr::IfElse(walrus::ir::IfElse {
                                    consequent: then,
                                    alternative: otherwise,
                                }),
                                loc,
                            ));
                        }
                        let instrs = &mut func.block_mut(seq).instrs;
                        instrs.splice(c.start..=root, new);
                        finding.action = Action::Rewritten;
                        finding.tier = Some(Tier::Scalar);
                        finding.reason = Some(format!(
                            "{} {} bytes at offset {} -> one load{}{}",
                            if c.big_endian {
                                "big-endian"
                            } else {
                                "little-endian"
                            },
                            match c.kind {
                                LoadKind::I32_16 { .. } | LoadKind::I64_16 { .. } => 2,
                                LoadKind::I64 { .. } => 8,
                                _ => 4,
                            },
                            c.offset,
                            if c.big_endian { " and a byte swap" } else { "" },
                            if c.max_delta > 0 {
                                " (when the address arithmetic does not wrap)"
                            } else {
                                ""
                            }
                        ));
                        if !changed.functions.contains(&id) {
                            changed.functions.push(id);
                        }
                    }
                    cx.findings.push(finding);
                    root = c.start;
                }
            }
        }
        Ok(changed)
    }
}
