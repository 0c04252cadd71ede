//! `inline-minmax`: calls, inside loops, to a function that computes a float
//! minimum or maximum the way C's `fmaxf`/`fminf` (f32) and `fmax`/`fmin` (f64)
//! do (a NaN operand gives the other one) become the few instructions that compute
//! it, so that the loop passes after this one see a `select` instead of a call
//! they cannot look into. wasm's `f32.max` cannot stand for them: it gives NaN
//! when either operand is one, so compilers call the library: rustc's `f32::max`
//! and `f32::min` (`x.max(0.0)` is Rust's ReLU) call compiler-builtins' `fmaxf`,
//! clang's `fmaxf` calls wasi-libc's (musl).
//!
//! Identified by probing (the function is pure: no memory, globals, calls or
//! loops, and small): every pair of ~20 edge values (zeros of both signs,
//! infinities, NaNs with and without payloads, denormals, the extremes) and
//! random bit patterns, against six references that differ only where the
//! libraries differ, on ties (+0 and -0 among them):
//!
//! - *first (or second) on ties* (Rust's libm: `fmaxf` is
//!   `if x.is_nan() || x < y { y } else { x }`, `fminf` keeps `y` on ties),
//!   inlined as `select(y, x, x != x | x < y)` and its mirror images;
//! - *zeros ordered* (musl: -0 below +0), inlined as
//!   `select(y, select(x, f32.max(x, y), y != y), x != x)` (wasm's own `max`
//!   orders the zeros so and differs only on NaN, which the selects settle).
//!
//! A result that is a NaN is matched by any NaN (the project's rule everywhere:
//! wasm itself leaves a NaN's bits open; Rust's version multiplies by 1.0, which
//! may quiet one). Exact otherwise: the references agree with the function on every
//! probe, bit for bit. The function holding the calls gets a finding (`fmax`,
//! `fmin`, or `fmin_fmax` for both, tier `scalar`), which `--verify` runs.

use crate::pass::{Changed, Pass, PassCx, PassError};
use crate::probe::{Probe, ProbeArg, ProbeRun, Rng};
use crate::report::{Action, Elem, Tier};
use std::collections::{BTreeMap, HashMap};
use walrus::ir::{BinaryOp, Instr, InstrSeqId};
use walrus::{FunctionId, FunctionKind, LocalFunction, LocalId, Module, ValType};

/// The pass.
pub struct InlineMinMax;

/// Which minimum or maximum a function computes: a NaN operand gives the other
/// one; `tie` says which of two equal operands (+0 and -0 among them) it gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Semantics {
    max: bool,
    tie: Tie,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tie {
    /// The first operand (Rust's libm `fmaxf`: `if x.is_nan() || x < y { y } else { x }`).
    First,
    /// The second operand (Rust's libm `fminf`: `if y.is_nan() || x < y { x } else { y }`).
    Second,
    /// musl: -0 below +0, otherwise either (they are equal).
    ZerosOrdered,
}

const ALL: [Semantics; 6] = [
    Semantics {
        max: true,
        tie: Tie::First,
    },
    Semantics {
        max: true,
        tie: Tie::Second,
    },
    Semantics {
        max: true,
        tie: Tie::ZerosOrdered,
    },
    Semantics {
        max: false,
        tie: Tie::First,
    },
    Semantics {
        max: false,
        tie: Tie::Second,
    },
    Semantics {
        max: false,
        tie: Tie::ZerosOrdered,
    },
];

impl Semantics {
    /// The reference, on values widened to f64 (exactly: the result is one of the
    /// operands).
    fn apply(self, x: f64, y: f64) -> f64 {
        // `beats(a, b)`: a is strictly further in the wanted direction than b.
        let beats = |a: f64, b: f64| if self.max { b < a } else { a < b };
        match self.tie {
            Tie::First | Tie::Second => {
                let (keep, other) = if self.tie == Tie::First {
                    (x, y)
                } else {
                    (y, x)
                };
                if keep.is_nan() || beats(other, keep) {
                    other
                } else {
                    keep
                }
            }
            Tie::ZerosOrdered => {
                if x.is_nan() {
                    y
                } else if y.is_nan() {
                    x
                } else if x.is_sign_negative() != y.is_sign_negative() {
                    // The negative one is the minimum.
                    if x.is_sign_negative() == self.max {
                        y
                    } else {
                        x
                    }
                } else if beats(y, x) {
                    y
                } else {
                    x
                }
            }
        }
    }

    fn description(self) -> String {
        format!(
            "a NaN-ignoring {}, {}",
            if self.max { "maximum" } else { "minimum" },
            match (self.tie, self.max) {
                (Tie::First, _) => "the first operand on ties",
                (Tie::Second, _) => "the second operand on ties",
                (Tie::ZerosOrdered, true) => "+0 above -0",
                (Tie::ZerosOrdered, false) => "-0 below +0",
            }
        )
    }
}

/// Whether `func` could be a two-operand float minimum or maximum: `(t, t) -> t`
/// for f32 or f64, at most 64 instructions, none of which reads or writes memory
/// or globals, calls, or loops.
fn prefilter(module: &Module, func: &LocalFunction) -> Option<ValType> {
    let ty = module.types.get(func.ty());
    let t = match (ty.params(), ty.results()) {
        ([a, b], [r]) if a == b && b == r && matches!(a, ValType::F32 | ValType::F64) => *a,
        _ => return None,
    };
    let mut count = 0;
    for instr in super::simd_elementwise::instructions(func) {
        count += 1;
        let allowed = matches!(
            instr,
            Instr::Block(_)
                | Instr::IfElse(_)
                | Instr::Br(_)
                | Instr::BrIf(_)
                | Instr::Return(_)
                | Instr::LocalGet(_)
                | Instr::LocalSet(_)
                | Instr::LocalTee(_)
                | Instr::Const(_)
                | Instr::Binop(_)
                | Instr::Unop(_)
                | Instr::Select(_)
                | Instr::Drop(_)
        );
        if !allowed || count > 64 {
            return None;
        }
    }
    Some(t)
}

/// Edge values (as f64; each also taken as f32).
fn edges() -> Vec<f64> {
    vec![
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        -2.5,
        3.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        -f64::NAN,
        1e-30,
        -1e30,
        f64::from(f32::MIN_POSITIVE),
        -f64::from(f32::MIN_POSITIVE),
        f64::from(f32::from_bits(1)),
        -f64::from(f32::from_bits(1)),
        f64::from(f32::MAX),
        f64::from(f32::MIN),
        f64::MIN_POSITIVE,
        f64::from_bits(1),
        f64::MAX,
    ]
}

/// What `func_index` computes, if it is one of the six for every probe.
fn identify(func_index: u32, ty: ValType, probe: &mut dyn Probe) -> Option<(Semantics, usize)> {
    let f32s = ty == ValType::F32;
    let mut pairs: Vec<(u64, u64)> = Vec::new();
    let bits = |v: f64| {
        if f32s {
            (v as f32).to_bits() as u64
        } else {
            v.to_bits()
        }
    };
    let values = edges();
    for x in &values {
        for y in &values {
            pairs.push((bits(*x), bits(*y)));
        }
    }
    // NaNs with payloads and signalling bits, against each zero.
    let nans: [u64; 3] = if f32s {
        [0x7fa0_0001, 0xff80_0001, 0x7f80_0001]
    } else {
        [
            0x7ff4_0000_0000_0001,
            0xfff0_0000_0000_0001,
            0x7ff8_0000_0000_0002,
        ]
    };
    for nan in nans {
        for zero in [bits(0.0), bits(-0.0), bits(1.0)] {
            pairs.push((nan, zero));
            pairs.push((zero, nan));
        }
    }
    let mut rng = Rng(0x6d69_6e6d_6178 ^ func_index as u64);
    for _ in 0..128 {
        let (a, b) = (rng.next_u64(), rng.next_u64());
        if f32s {
            pairs.push((a & 0xffff_ffff, b & 0xffff_ffff));
            // Close values of one sign, so that comparisons decide.
            pairs.push((a & 0x3fff_ffff, (a & 0x3fff_ffff) ^ (b & 0xf)));
        } else {
            pairs.push((a, b));
            pairs.push((a >> 2, (a >> 2) ^ (b & 0xf)));
        }
    }
    let widen = |b: u64| {
        if f32s {
            f64::from(f32::from_bits(b as u32))
        } else {
            f64::from_bits(b)
        }
    };
    let mut alive: Vec<Semantics> = ALL.to_vec();
    for (x, y) in &pairs {
        let args = if f32s {
            [
                ProbeArg::F32(f32::from_bits(*x as u32)),
                ProbeArg::F32(f32::from_bits(*y as u32)),
            ]
        } else {
            [
                ProbeArg::F64(f64::from_bits(*x)),
                ProbeArg::F64(f64::from_bits(*y)),
            ]
        };
        let ProbeRun::Returned {
            results,
            outside_changed: false,
            ..
        } = probe.run(func_index, &args, &[])
        else {
            return None;
        };
        let got = widen(*results.first()?);
        alive.retain(|s| {
            let want = s.apply(widen(*x), widen(*y));
            (want.is_nan() && got.is_nan()) || want.to_bits() == got.to_bits()
        });
        if alive.is_empty() {
            return None;
        }
    }
    // Every probe agreed; two references agree everywhere only if the probes
    // never separated them (they always do: the zeros of both signs are among the
    // edges).
    (alive.len() == 1).then(|| (alive[0], pairs.len()))
}

/// The instructions of one minimum or maximum of `x` and `y` (locals of type `t`).
fn inline(s: Semantics, t: ValType, x: LocalId, y: LocalId) -> Vec<Instr> {
    use walrus::ir::{Binop, LocalGet, Select};
    let f32s = t == ValType::F32;
    let get = |l| Instr::LocalGet(LocalGet { local: l });
    let op = |op| Instr::Binop(Binop { op });
    let (ne, lt, max, min) = if f32s {
        (
            BinaryOp::F32Ne,
            BinaryOp::F32Lt,
            BinaryOp::F32Max,
            BinaryOp::F32Min,
        )
    } else {
        (
            BinaryOp::F64Ne,
            BinaryOp::F64Lt,
            BinaryOp::F64Max,
            BinaryOp::F64Min,
        )
    };
    let select = Instr::Select(Select { ty: None });
    match s.tie {
        Tie::First | Tie::Second => {
            // select(other, keep, keep != keep | beats(other, keep))
            let (keep, other) = if s.tie == Tie::First { (x, y) } else { (y, x) };
            let (a, b) = if s.max { (keep, other) } else { (other, keep) };
            vec![
                get(other),
                get(keep),
                get(keep),
                get(keep),
                op(ne),
                get(a),
                get(b),
                op(lt),
                op(BinaryOp::I32Or),
                select,
            ]
        }
        Tie::ZerosOrdered => {
            // select(y, select(x, max(x, y), y != y), x != x)
            let m = if s.max { max } else { min };
            vec![
                get(y),
                get(x),
                get(x),
                get(y),
                op(m),
                get(y),
                get(y),
                op(ne),
                select.clone(),
                get(x),
                get(x),
                op(ne),
                select,
            ]
        }
    }
}

/// `(sequence, position)` of every call inside a loop of `func`.
pub(crate) fn calls_in_loops(func: &LocalFunction) -> Vec<(InstrSeqId, usize, FunctionId)> {
    let mut out = Vec::new();
    let mut work = vec![(func.entry_block(), false)];
    while let Some((seq, in_loop)) = work.pop() {
        for (at, (instr, _)) in func.block(seq).instrs.iter().enumerate() {
            match instr {
                Instr::Call(c) if in_loop => out.push((seq, at, c.func)),
                Instr::Block(b) => work.push((b.seq, in_loop)),
                Instr::Loop(l) => work.push((l.seq, true)),
                Instr::IfElse(i) => {
                    work.push((i.consequent, in_loop));
                    work.push((i.alternative, in_loop));
                }
                _ => {}
            }
        }
    }
    out
}

impl Pass for InlineMinMax {
    fn name(&self) -> &'static str {
        "inline-minmax"
    }

    fn description(&self) -> &'static str {
        "calls in loops to a float min/max function (fmaxf, Rust's f32::max; identified by probing) -> inline instructions"
    }

    fn run(&self, module: &mut Module, cx: &mut PassCx<'_>) -> Result<Changed, PassError> {
        let mut changed = Changed::nothing();
        if cx.probe.is_none() || !cx.options.opt_level.rewrites() {
            return Ok(changed);
        }
        // Call sites in loops, by callee.
        let mut sites: BTreeMap<FunctionId, Vec<(FunctionId, InstrSeqId, usize)>> = BTreeMap::new();
        for func in module.funcs.iter() {
            let FunctionKind::Local(local) = &func.kind else {
                continue;
            };
            for (seq, at, callee) in calls_in_loops(local) {
                sites.entry(callee).or_default().push((func.id(), seq, at));
            }
        }
        let mut identified: HashMap<FunctionId, (Semantics, ValType, usize)> = HashMap::new();
        let candidates: Vec<(FunctionId, ValType)> = sites
            .keys()
            .filter_map(|callee| match &module.funcs.get(*callee).kind {
                FunctionKind::Local(local) => Some((*callee, prefilter(module, local)?)),
                _ => None,
            })
            .collect();
        for (callee, _) in &candidates {
            if let (Some(index), Some(probe)) = (cx.func_index(*callee), cx.probe.as_deref_mut()) {
                probe.want(index);
            }
        }
        for (callee, ty) in candidates {
            let (Some(index), Some(probe)) = (cx.func_index(callee), cx.probe.as_deref_mut())
            else {
                continue;
            };
            if let Some((s, runs)) = identify(index, ty, probe) {
                identified.insert(callee, (s, ty, runs));
            }
        }
        // Inline, last site first within a sequence so positions stay valid.
        let mut by_caller: BTreeMap<FunctionId, Vec<(InstrSeqId, usize, FunctionId)>> =
            BTreeMap::new();
        for (callee, list) in &sites {
            if identified.contains_key(callee) {
                for (caller, seq, at) in list {
                    by_caller
                        .entry(*caller)
                        .or_default()
                        .push((*seq, *at, *callee));
                }
            }
        }
        for (caller, mut list) in by_caller {
            list.sort_by_key(|(seq, at, _)| (seq.index(), std::cmp::Reverse(*at)));
            let mut per_callee: BTreeMap<FunctionId, usize> = BTreeMap::new();
            let maxes = list.iter().filter(|(_, _, c)| identified[c].0.max).count();
            let pattern = match maxes {
                0 => "fmin",
                m if m == list.len() => "fmax",
                _ => "fmin_fmax",
            };
            let (mut finding, refusal) = super::scalar_candidate(cx, caller, pattern, Elem::F32);
            if let Some(reason) = refusal {
                finding.reason = Some(reason);
                cx.findings.push(finding);
                continue;
            }
            let mut temps: HashMap<ValType, (LocalId, LocalId)> = HashMap::new();
            for (seq, at, callee) in &list {
                let (s, ty, _) = identified[callee];
                let (x, y) = *temps
                    .entry(ty)
                    .or_insert_with(|| (module.locals.add(ty), module.locals.add(ty)));
                let func = module.funcs.get_mut(caller).kind.unwrap_local_mut();
                let instrs = &mut func.block_mut(*seq).instrs;
                let loc = instrs[*at].1;
                let mut new = vec![
                    (Instr::LocalSet(walrus::ir::LocalSet { local: y }), loc),
                    (Instr::LocalSet(walrus::ir::LocalSet { local: x }), loc),
                ];
                new.extend(inline(s, ty, x, y).into_iter().map(|i| (i, loc)));
                instrs.splice(*at..=*at, new);
                *per_callee.entry(*callee).or_default() += 1;
            }
            let described: Vec<String> = per_callee
                .iter()
                .map(|(callee, n)| {
                    let (s, ty, runs) = identified[callee];
                    format!(
                        "{n} call{} to {} inlined: identified by probing ({runs} runs) as {} ({})",
                        if *n == 1 { "" } else { "s" },
                        cx.names.get(*callee),
                        s.description(),
                        if ty == ValType::F32 { "f32" } else { "f64" },
                    )
                })
                .collect();
            let f64s = per_callee.keys().all(|c| identified[c].1 == ValType::F64);
            finding.elem = Some(if f64s { Elem::F64 } else { Elem::F32 });
            finding.action = Action::Rewritten;
            finding.tier = Some(Tier::Scalar);
            finding.reason = Some(described.join("; "));
            cx.findings.push(finding);
            changed.functions.push(caller);
        }
        Ok(changed)
    }
}
