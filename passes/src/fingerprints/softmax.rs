//! Whole-function fingerprint `softmax` (f32), identified by probing: a function of
//! a source array, a destination array (perhaps the same, or a single array in
//! place) and a count that computes, for `n >= 1`,
//!
//! `y[i] = exp(x[i] - max(x)) / sum_j exp(x[j] - max(x))`
//!
//! however it spells it (a compare or `fmaxf` for the maximum, `expf` from the
//! module's libm, a division or a multiplication by the reciprocal). Its `exp` is
//! the module's own and its sum runs in its own order, so the match is checked
//! within a tolerance against a reference computed in f64, never bit for bit: the
//! rewrite is a `--fast-math` one.
//!
//! The prefilter wants two or three i32 parameters, no result, at least two loops,
//! an f32 store, and nothing a probe cannot see. Every reading of the parameters
//! as x, y and n is checked on runs of several lengths (1, 2, 7, 64, 333) with
//! values in small and large ranges: large ones (|x| up to 200) separate a softmax
//! from one that forgets to subtract the maximum (`expf` overflows), ties and
//! equal values test the maximum, and the source must come back unchanged (unless
//! in place) with nothing else written.

use crate::analysis::LoopForest;
use crate::probe::{Probe, ProbeArg, ProbeRun, Rng};
use walrus::ir::{Instr, StoreKind};
use walrus::{LocalFunction, Module, ValType};

/// A softmax function: parameter positions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Softmax {
    /// The source array.
    pub x: usize,
    /// The destination array; `None` when the function works in place on `x`.
    pub y: Option<usize>,
    /// The element count.
    pub n: usize,
}

/// A match and the probe runs it took.
#[derive(Clone, Copy, Debug)]
pub struct Identified {
    /// The match.
    pub softmax: Softmax,
    /// Probe runs made.
    pub runs: usize,
}

/// Whether `func` is worth probing: `Some(parameter count)`.
pub fn prefilter(module: &Module, func: &LocalFunction) -> Option<usize> {
    let ty = module.types.get(func.ty());
    let params = ty.params();
    let shape = ty.results().is_empty()
        && (2..=3).contains(&params.len())
        && params.iter().all(|p| *p == ValType::I32);
    let stores_f32 = || {
        crate::passes::simd_elementwise::instructions(func).any(|i| {
            matches!(
                i,
                Instr::Store(s) if matches!(s.kind, StoreKind::F32)
            )
        })
    };
    let ok = shape
        && module.memories.len() == 1
        && stores_f32()
        && LoopForest::build(func).graph.node_count() >= 2
        && crate::fingerprints::probe_safe(module, func, true, true);
    ok.then_some(params.len())
}

/// Bytes of each array's region in the scratch area (333 floats and a margin).
const REGION: usize = 2048;

/// The reference: softmax of `x` in f64, rounded to f32.
fn reference(x: &[f32]) -> Vec<f32> {
    let m = x.iter().fold(f64::NEG_INFINITY, |m, v| m.max(*v as f64));
    let e: Vec<f64> = x.iter().map(|v| (*v as f64 - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| (v / s) as f32).collect()
}

/// Whether `got` is `want` within what an f32 softmax of `n` elements can differ
/// by: a relative error of (n + 16) * 2^-24 (exp to a few ulp, the sum's rounding,
/// the division), plus 2^-120 absolute (subnormal and flushed results).
pub fn close(got: f32, want: f32, n: usize) -> bool {
    let tolerance = (n as f64 + 16.0) * f64::powi(2.0, -24) * want.abs() as f64 + 2f64.powi(-120);
    (got as f64 - want as f64).abs() <= tolerance
}

/// Source values for a run: `t` picks the range.
fn values(rng: &mut Rng, n: usize, t: usize) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let r = rng.next_u64();
            let unit = (r >> 16) as u32 as f32 / u32::MAX as f32;
            match t % 4 {
                0 => unit * 8.0 - 4.0,
                1 => unit * 400.0 - 200.0,
                // Ties and repeats.
                2 => ((r >> 8) % 5) as f32 - 2.0,
                _ => {
                    if i % 3 == 0 {
                        150.0 + unit
                    } else {
                        unit * 20.0 - 10.0
                    }
                }
            }
        })
        .collect()
}

/// Identifies `func` by probing, or `None`.
pub fn identify(params: usize, func_index: u32, probe: &mut dyn Probe) -> Option<Identified> {
    let (base, size) = probe.scratch()?;
    if (size as usize) < 2 * REGION {
        return None;
    }
    let mut alive = Vec::new();
    for x in 0..params {
        for n in 0..params {
            if n == x {
                continue;
            }
            match params {
                2 => alive.push(Softmax { x, y: None, n }),
                _ => {
                    let y = (0..params).find(|p| *p != x && *p != n)?;
                    alive.push(Softmax { x, y: Some(y), n });
                }
            }
        }
    }
    let mut rng = Rng(0x50f7_u64 ^ (func_index as u64) << 20);
    let mut runs = 0;
    for (t, &count) in [1usize, 2, 7, 64, 333, 64, 5].iter().enumerate() {
        if alive.is_empty() {
            return None;
        }
        let xs = values(&mut rng, count, t);
        let want = reference(&xs);
        let mut scratch = vec![0u8; 2 * REGION];
        for (i, v) in xs.iter().enumerate() {
            scratch[4 + 4 * i..8 + 4 * i].copy_from_slice(&v.to_le_bytes());
        }
        // A canary after each array.
        let canary = |s: &mut Vec<u8>| {
            for at in [4 + 4 * count, REGION + 4 + 4 * count] {
                s[at..at + 4].copy_from_slice(&0x7fc0_1234u32.to_le_bytes());
            }
        };
        canary(&mut scratch);
        alive.retain(|s| {
            let mut args = vec![ProbeArg::I32(0); params];
            args[s.x] = ProbeArg::I32(base as i32 + 4);
            if let Some(y) = s.y {
                args[y] = ProbeArg::I32(base as i32 + REGION as i32 + 4);
            }
            args[s.n] = ProbeArg::I32(count as i32);
            runs += 1;
            let ProbeRun::Returned {
                scratch: after,
                outside_changed: false,
                ..
            } = probe.run(func_index, &args, &scratch)
            else {
                return false;
            };
            let out = if s.y.is_some() { REGION + 4 } else { 4 };
            let mut expected = scratch.clone();
            for (i, v) in want.iter().enumerate() {
                expected[out + 4 * i..out + 4 * i + 4].copy_from_slice(&v.to_le_bytes());
            }
            // Every byte but the outputs as before; the outputs close.
            let outputs = out..out + 4 * count;
            let untouched = after
                .iter()
                .zip(&expected)
                .enumerate()
                .all(|(i, (a, b))| outputs.contains(&i) || a == b);
            untouched
                && want.iter().enumerate().all(|(i, w)| {
                    let at = out + 4 * i;
                    let got = f32::from_le_bytes(after[at..at + 4].try_into().expect("4"));
                    close(got, *w, count)
                })
        });
    }
    // One reading left (a softmax over (x, y, n) also reads as nothing else).
    match alive.as_slice() {
        [s] => Some(Identified { softmax: *s, runs }),
        _ => None,
    }
}
