//! Whole-function fingerprint `attention` (f32), identified by probing: a function
//! computing single-head scaled dot-product attention,
//!
//! `out[i] = sum_j p[i][j] v[j]`, `p[i] = softmax_j(scale * q[i] . k[j])`,
//!
//! for `n` queries and `m` keys (`m = n` when the function has no separate count)
//! of `d` floats each, query `i` seeing every key or (causal) the keys
//! `j <= i + m - n` (the last query sees them all: a KV cache's convention),
//! every array row-major and dense (row `i` of Q at `q + 4 i d`), `scale` an f32
//! parameter, `1 / sqrt(d)` or 1. However it spells it: the
//! scores in a buffer on its stack then a softmax and a weighted sum, the weights
//! normalized before or the sum divided after, or an online softmax rescaling the
//! output row as the maximum grows. Its `exp` is the module's own and its sums run
//! in its own order, so the match is checked within a tolerance ([`bound`])
//! against a reference computed in f64, never bit for bit: the rewrite is a
//! `--fast-math` one.
//!
//! The prefilter wants no result, six or seven i32 parameters and at most one f32
//! (the scale), two loops or more, an f32 store, and nothing a probe cannot see
//! (stack frames allowed). Probing has three steps: every choice of which i32
//! parameters are counts is run once with all counts 3 and each pointer at its
//! own array (the output is the one array written, nothing else may be); the
//! other three arrays' roles and the scale are read off that run's output against
//! the references (with and without the causal mask); then each order of the counts and the survivors run on shapes
//! with n, m and d apart, values small and large (scores up to a few hundred:
//! `expf` overflows in a softmax that forgets its maximum), odd and one-element
//! shapes. Exactly one reading must be left.

use crate::analysis::LoopForest;
use crate::probe::{Probe, ProbeArg, ProbeRun, Rng};
use walrus::ir::{BinaryOp, Instr, StoreKind};
use walrus::{LocalFunction, Module, ValType};

/// How the scores are scaled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    /// By the f32 parameter at this position.
    Param(usize),
    /// By `1 / sqrt(d)`.
    InvSqrtD,
    /// Not at all.
    One,
}

/// An attention function: parameter positions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attention {
    /// Queries, `n x d`.
    pub q: usize,
    /// Keys, `m x d`.
    pub k: usize,
    /// Values, `m x d`.
    pub v: usize,
    /// The output, `n x d`.
    pub out: usize,
    /// The query count.
    pub n: usize,
    /// The key count; `None` when it is `n`.
    pub m: Option<usize>,
    /// The row width.
    pub d: usize,
    /// The scale.
    pub scale: Scale,
    /// Query `i` sees keys `j <= i + m - n` only (needs `m >= n`).
    pub causal: bool,
}

/// A match and the probe runs it took.
#[derive(Clone, Copy, Debug)]
pub struct Identified {
    /// The match.
    pub attention: Attention,
    /// Probe runs made.
    pub runs: usize,
}

/// Whether `func` is worth probing: `Some(i32 parameter count)`.
pub fn prefilter(module: &Module, func: &LocalFunction) -> Option<usize> {
    let ty = module.types.get(func.ty());
    let params = ty.params();
    let ints = params.iter().filter(|p| **p == ValType::I32).count();
    let floats = params.iter().filter(|p| **p == ValType::F32).count();
    let shape = ty.results().is_empty()
        && (6..=7).contains(&ints)
        && floats <= 1
        && ints + floats == params.len();
    if !shape || module.memories.len() != 1 {
        return None;
    }
    let mut stores_f32 = false;
    let mut multiplies = false;
    for i in crate::passes::simd_elementwise::instructions(func) {
        match i {
            Instr::Store(s) if matches!(s.kind, StoreKind::F32) => stores_f32 = true,
            Instr::Binop(b) if matches!(b.op, BinaryOp::F32Mul) => multiplies = true,
            _ => {}
        }
    }
    let ok = stores_f32
        && multiplies
        && LoopForest::build(func).graph.node_count() >= 2
        && crate::fingerprints::probe_safe_with_frame(module, func);
    ok.then_some(ints)
}

/// Bytes of each array's region in the scratch area.
const REGION: usize = 4096;

/// The first run's four arrays (3 x 3 each) and scale.
struct First {
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    o: Vec<f32>,
    scale: f32,
}

/// A problem: the arrays and the scale.
struct Problem {
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    scale: f32,
}

/// The reference (f64) and each output's bound: `(value, bound)` per element of
/// the `n x d` output.
pub fn reference(
    (n, m, d): (usize, usize, usize),
    q: &[f32],
    k: &[f32],
    v: &[f32],
    scale: f32,
    causal: bool,
) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(n * d);
    let scale = scale as f64;
    let all = m;
    for i in 0..n {
        // The keys this query sees.
        let m = if causal {
            (i + 1 + all).saturating_sub(n).min(all)
        } else {
            all
        };
        let qi = &q[i * d..i * d + d];
        let scores: Vec<f64> = (0..m)
            .map(|j| {
                let kj = &k[j * d..j * d + d];
                scale
                    * qi.iter()
                        .zip(kj)
                        .map(|(a, b)| *a as f64 * *b as f64)
                        .sum::<f64>()
            })
            .collect();
        // The scores' magnitude: an f32 score is off by up to (d + 2) 2^-24 of it.
        let size = (0..m)
            .map(|j| {
                let kj = &k[j * d..j * d + d];
                scale.abs()
                    * qi.iter()
                        .zip(kj)
                        .map(|(a, b)| (*a as f64 * *b as f64).abs())
                        .sum::<f64>()
            })
            .fold(0f64, f64::max);
        let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
        let sum: f64 = e.iter().sum();
        for c in 0..d {
            let (mut value, mut weight) = (0f64, 0f64);
            for j in 0..m {
                let p = e[j] / sum;
                value += p * v[j * d + c] as f64;
                weight += p * (v[j * d + c] as f64).abs();
            }
            out.push((value, bound(m, d, size, weight)));
        }
    }
    out
}

/// How far an f32 attention output may be from the exact one: with `S` the
/// largest `|scale| sum_c |q[i][c] k[j][c]|` of the row and `W = sum_j p[i][j]
/// |v[j][c]|`, `2^-24 (4 (d + 2) S + 3 m + 32) W + 2^-120`. Each score is off by
/// up to `(d + 2) 2^-24 S` (its sum's roundings, the scale's, the maximum
/// subtracted), which `exp` turns into that relative error of the weight (twice:
/// numerator and sum); `exp` itself to a few ulp, the sum of the weights and of
/// the weighted values (or an online softmax's rescalings) to `m` roundings each.
pub fn bound(m: usize, d: usize, size: f64, weight: f64) -> f64 {
    f64::powi(2.0, -24) * (4.0 * (d as f64 + 2.0) * size + 3.0 * m as f64 + 32.0) * weight
        + f64::powi(2.0, -120)
}

/// Whether every output read from `after` (f32s at `at`) is within its bound.
fn agrees(after: &[u8], at: usize, want: &[(f64, f64)]) -> bool {
    want.iter().enumerate().all(|(i, (value, bound))| {
        let p = at + 4 * i;
        let got = f32::from_le_bytes(after[p..p + 4].try_into().expect("4 bytes")) as f64;
        (got - value).abs() <= *bound
    })
}

fn values(rng: &mut Rng, count: usize, range: f32) -> Vec<f32> {
    (0..count)
        .map(|_| {
            let unit = (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
            (unit * 2.0 - 1.0) * range
        })
        .collect()
}

fn shifted(mut values: Vec<f32>, by: f32) -> Vec<f32> {
    for v in &mut values {
        *v += by;
    }
    values
}

/// The scale kinds a function with (or without) an f32 parameter may have.
fn scales(float: Option<usize>) -> Vec<Scale> {
    match float {
        Some(p) => vec![Scale::Param(p)],
        None => vec![Scale::InvSqrtD, Scale::One],
    }
}

/// The scale's value for `d` (the parameter's value is the problem's).
fn scale_value(scale: Scale, d: usize, param: f32) -> f32 {
    match scale {
        Scale::Param(_) => param,
        Scale::InvSqrtD => 1.0 / (d as f32).sqrt(),
        Scale::One => 1.0,
    }
}

/// The scratch bytes of a problem: Q, K, V at regions 0, 1 and 2, random bytes
/// elsewhere (the output region 3).
fn layout(p: &Problem, rng: &mut Rng) -> Vec<u8> {
    let mut scratch: Vec<u8> = (0..4 * REGION + 4).map(|_| rng.next_u64() as u8).collect();
    for (region, data) in [&p.q, &p.k, &p.v].into_iter().enumerate() {
        let at = 4 + region * REGION;
        for (i, x) in data.iter().enumerate() {
            scratch[at + 4 * i..at + 4 * i + 4].copy_from_slice(&x.to_le_bytes());
        }
    }
    scratch
}

/// Identifies `func` (parameter types `params`) by probing, or `None`.
pub fn identify(params: &[ValType], func_index: u32, probe: &mut dyn Probe) -> Option<Identified> {
    let (base, size) = probe.scratch()?;
    if (size as usize) < 4 * REGION + 8 {
        return None;
    }
    let float = params.iter().position(|p| *p == ValType::F32);
    let ints: Vec<usize> = (0..params.len()).filter(|p| Some(*p) != float).collect();
    let counts = ints.len() - 4;
    let mut rng = Rng(0xa77e_u64 ^ (func_index as u64) << 20);
    let mut runs = 0;
    let arg_of = |at: usize| ProbeArg::I32((base as usize + 4 + at) as i32);

    // Step 1: which parameters are counts (all 3); the output; the others' roles.
    let first = First {
        q: values(&mut rng, 9, 2.0),
        k: values(&mut rng, 9, 2.0),
        v: values(&mut rng, 9, 2.0),
        o: values(&mut rng, 9, 2.0),
        scale: 0.37,
    };
    let mut alive: Vec<(Attention, Vec<usize>)> = Vec::new();
    for sizes in subsets(&ints, counts) {
        let pointers: Vec<usize> = ints
            .iter()
            .copied()
            .filter(|p| !sizes.contains(p))
            .collect();
        // Pointer `t` at region `t`, each holding an array of small values: the
        // output may be any of them.
        let mut scratch: Vec<u8> = (0..4 * REGION + 4).map(|_| rng.next_u64() as u8).collect();
        let arrays = [&first.q, &first.k, &first.v, &first.o];
        for (t, data) in arrays.iter().enumerate() {
            let at = 4 + t * REGION;
            for (i, x) in data.iter().enumerate() {
                scratch[at + 4 * i..at + 4 * i + 4].copy_from_slice(&x.to_le_bytes());
            }
        }
        let regions: Vec<Vec<f32>> = (0..4)
            .map(|t| {
                (0..9)
                    .map(|i| {
                        let at = 4 + t * REGION + 4 * i;
                        f32::from_le_bytes(scratch[at..at + 4].try_into().expect("4"))
                    })
                    .collect()
            })
            .collect();
        let mut args = vec![ProbeArg::I32(0); params.len()];
        for s in &sizes {
            args[*s] = ProbeArg::I32(3);
        }
        for (t, p) in pointers.iter().enumerate() {
            args[*p] = arg_of(t * REGION);
        }
        if let Some(f) = float {
            args[f] = ProbeArg::F32(first.scale);
        }
        let Some(after) = run(probe, func_index, &args, &scratch, &mut runs) else {
            continue;
        };
        // Exactly one region changed, and only its first 9 floats.
        let changed: Vec<usize> = (0..4)
            .filter(|t| {
                let r = 4 + t * REGION..4 + (t + 1) * REGION;
                after[r.clone()] != scratch[r]
            })
            .collect();
        let [o] = changed[..] else { continue };
        let at = 4 + o * REGION;
        if !only_within(&after, &scratch, at..at + 36) {
            continue;
        }
        let others: Vec<usize> = (0..4).filter(|t| *t != o).collect();
        for [a, b, c] in permutations3([others[0], others[1], others[2]]) {
            for scale in scales(float) {
                for causal in [false, true] {
                    let want = reference(
                        (3, 3, 3),
                        &regions[a],
                        &regions[b],
                        &regions[c],
                        scale_value(scale, 3, first.scale),
                        causal,
                    );
                    if agrees(&after, at, &want) {
                        let attention = Attention {
                            q: pointers[a],
                            k: pointers[b],
                            v: pointers[c],
                            out: pointers[o],
                            n: 0,
                            m: None,
                            d: 0,
                            scale,
                            causal,
                        };
                        alive.push((attention, sizes.clone()));
                    }
                }
            }
        }
    }

    // Step 2: each order of the counts.
    let mut readings: Vec<Attention> = Vec::new();
    for (a, sizes) in alive {
        for order in orders(&sizes) {
            let mut r = a;
            r.n = order[0];
            if counts == 3 {
                r.m = Some(order[1]);
                r.d = order[2];
            } else {
                r.d = order[1];
            }
            readings.push(r);
        }
    }

    // Step 3: shapes with the counts apart: (n, m, d, Q and K values in `center
    // +- range`). Values in [4, 8] with d = 16 give scores above 88, where `expf`
    // overflows unless the maximum is subtracted.
    let shapes: [(usize, usize, usize, f32, f32); 10] = [
        (2, 5, 3, 0.0, 2.0),
        (5, 2, 7, 0.0, 1.5),
        (1, 1, 1, 0.0, 3.0),
        (4, 9, 16, 0.0, 8.0),
        (3, 33, 8, 0.0, 1.0),
        (4, 7, 16, 6.0, 2.0),
        (17, 12, 5, 0.0, 2.5),
        (7, 40, 2, 0.0, 4.0),
        (6, 6, 6, 0.0, 0.01),
        (2, 3, 19, 0.0, 6.0),
    ];
    for (n, m, d, center, range) in shapes {
        if readings.is_empty() {
            return None;
        }
        readings.retain(|r| {
            // Functions without a key count have m = n; causal ones need m >= n.
            let m = match (r.m, r.causal) {
                (None, _) => n,
                (Some(_), true) => m.max(n),
                (Some(_), false) => m,
            };
            let problem = Problem {
                q: shifted(values(&mut rng, n * d, range), center),
                k: shifted(values(&mut rng, m * d, range), center),
                v: values(&mut rng, m * d, 2.0),
                scale: 0.8 / (d as f32).sqrt(),
            };
            if 4 * n.max(m) * d > REGION {
                return false;
            }
            let scratch = layout(&problem, &mut rng);
            let mut args = vec![ProbeArg::I32(0); params.len()];
            args[r.q] = arg_of(0);
            args[r.k] = arg_of(REGION);
            args[r.v] = arg_of(2 * REGION);
            args[r.out] = arg_of(3 * REGION);
            args[r.n] = ProbeArg::I32(n as i32);
            if let Some(mi) = r.m {
                args[mi] = ProbeArg::I32(m as i32);
            }
            args[r.d] = ProbeArg::I32(d as i32);
            if let Scale::Param(f) = r.scale {
                args[f] = ProbeArg::F32(problem.scale);
            }
            let Some(after) = run(probe, func_index, &args, &scratch, &mut runs) else {
                return false;
            };
            let at = 4 + 3 * REGION;
            let untouched = only_within(&after, &scratch, at..at + 4 * n * d);
            let want = reference(
                (n, m, d),
                &problem.q,
                &problem.k,
                &problem.v,
                scale_value(r.scale, d, problem.scale),
                r.causal,
            );
            untouched && agrees(&after, at, &want)
        });
    }
    match readings.as_slice() {
        [a] => Some(Identified {
            attention: *a,
            runs,
        }),
        _ => None,
    }
}

/// One probe run: the scratch region after it, when the function returned and
/// wrote nothing outside the region (counted in `runs`).
fn run(
    probe: &mut dyn Probe,
    func_index: u32,
    args: &[ProbeArg],
    scratch: &[u8],
    runs: &mut usize,
) -> Option<Vec<u8>> {
    *runs += 1;
    match probe.run(func_index, args, scratch) {
        ProbeRun::Returned {
            scratch,
            outside_changed: false,
            ..
        } => Some(scratch),
        _ => None,
    }
}

/// Whether `after` differs from `before` only inside `range`.
fn only_within(after: &[u8], before: &[u8], range: std::ops::Range<usize>) -> bool {
    after
        .iter()
        .zip(before)
        .enumerate()
        .all(|(i, (a, b))| range.contains(&i) || a == b)
}

/// The `k`-element subsets of `items`, in order.
fn subsets(items: &[usize], k: usize) -> Vec<Vec<usize>> {
    if k == 0 {
        return vec![Vec::new()];
    }
    let mut all = Vec::new();
    for (i, first) in items.iter().enumerate() {
        for mut rest in subsets(&items[i + 1..], k - 1) {
            rest.insert(0, *first);
            all.push(rest);
        }
    }
    all
}

/// Every order of `items` (two or three of them).
fn orders(items: &[usize]) -> Vec<Vec<usize>> {
    match items {
        [a, b] => vec![vec![*a, *b], vec![*b, *a]],
        [a, b, c] => permutations3([*a, *b, *c])
            .into_iter()
            .map(Vec::from)
            .collect(),
        _ => Vec::new(),
    }
}

fn permutations3([a, b, c]: [usize; 3]) -> [[usize; 3]; 6] {
    [
        [a, b, c],
        [a, c, b],
        [b, a, c],
        [b, c, a],
        [c, a, b],
        [c, b, a],
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsets_and_orders() {
        assert_eq!(subsets(&[0, 1, 2, 3], 2).len(), 6);
        assert_eq!(subsets(&[0, 1, 2, 3, 4, 5, 6], 3).len(), 35);
        assert_eq!(orders(&[4, 5, 6]).len(), 6);
        assert_eq!(orders(&[4, 5]), vec![vec![4, 5], vec![5, 4]]);
    }

    /// The bound holds for a plain f32 computation on the probes' shapes, and a
    /// reference with the wrong scale is far outside it (for moderate scores).
    #[test]
    fn an_f32_attention_is_within_the_bound() {
        let mut rng = Rng(9);
        for (n, m, d, range) in [(3, 33, 8, 1.0f32), (4, 9, 16, 8.0), (2, 3, 19, 6.0)] {
            let q = values(&mut rng, n * d, range);
            let k = values(&mut rng, m * d, range);
            let v = values(&mut rng, m * d, 2.0);
            let scale = 1.0 / (d as f32).sqrt();
            let want = reference((n, m, d), &q, &k, &v, scale, false);
            let wrong = reference((n, m, d), &q, &k, &v, 1.0, false);
            let mut out = vec![0f32; n * d];
            for i in 0..n {
                let s: Vec<f32> = (0..m)
                    .map(|j| (0..d).map(|c| q[i * d + c] * k[j * d + c]).sum::<f32>() * scale)
                    .collect();
                let mx = s.iter().cloned().fold(f32::MIN, f32::max);
                let e: Vec<f32> = s.iter().map(|x| (x - mx).exp()).collect();
                let sum: f32 = e.iter().sum();
                for c in 0..d {
                    out[i * d + c] = (0..m).map(|j| e[j] * v[j * d + c]).sum::<f32>() / sum;
                }
            }
            for (got, (value, bound)) in out.iter().zip(&want) {
                assert!(
                    (*got as f64 - value).abs() <= *bound,
                    "{got} {value} {bound}"
                );
            }
            // (Large scores make both softmaxes one-hot: alike.)
            if range <= 1.0 {
                assert!(out
                    .iter()
                    .zip(&wrong)
                    .any(|(got, (value, bound))| (*got as f64 - value).abs() > *bound));
            }
        }
    }
}
