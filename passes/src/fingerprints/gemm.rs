//! Whole-function fingerprint `gemm` (f32 or f64), identified by probing: a
//! function whose parameters are pointers and sizes and which computes, for every
//! `i < m`, `j < n`, `C[i][j] = ((init + A[i][0]*B[0][j]) + A[i][1]*B[1][j]) + ...`
//! in f32 or in f64 (a multiply then an add per step, `k` in order; `init` is `+0.0`, or
//! `C[i][j]` itself when the function accumulates into C), with A and/or B
//! possibly transposed and leading dimensions given or implied.
//!
//! How the code spells it does not matter (loop order ijk/ikj, unrolling,
//! remainders, pointer walks, the compiler's own SIMD across columns): a cheap
//! structural prefilter (numeric parameters, a loop nest two deep or more (three
//! for a product, two for one row: a matrix-vector product), f32 or f64
//! multiplies (the element types probed), no calls, no global writes, no memory growth) picks candidates; the
//! parameters that reach load and store addresses as base pointers name the
//! candidate A, B and C; then every assignment of the remaining parameters to
//! `m, n, k` (and leading dimensions), with and without transposes and
//! accumulation, is checked against runs of the function on random matrices with
//! zeros and negative zeros among them. An assignment that predicts every run bit
//! for bit, and nothing outside C changed, is confirmed on larger odd shapes
//! (1x1x1 to 17x5x33, leading dimensions wider than the rows). Only then is it a
//! match.
//!
//! What probing cannot show is what happens at sizes it did not run; the rewrite's
//! guard therefore calls the kernel only where the original provably computes the
//! same addresses (every range inside memory, so no `i32` address wrapped), C
//! does not overlap A or B, and leading dimensions are at least the row widths.

use crate::analysis::LoopForest;
use crate::passes::simd_elementwise::instructions;
use crate::probe::{Probe, ProbeArg, ProbeRun, Rng};
use std::collections::HashMap;
use walrus::ir::{BinaryOp, Instr, InstrSeqId};
use walrus::{LocalFunction, LocalId, Module, ValType};

/// How `m, n, k` and the leading dimensions come from the parameters (positions
/// among the function's parameters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dims {
    /// Square: `m = n = k = ld* = p`.
    Square(usize),
    /// One row: `m = 1`, `n` and `k` given (a matrix-vector product: `y = x^T B`,
    /// or, with B transposed, `y = W x` for a row-major W as B).
    Row {
        /// Columns of B and C (outputs).
        n: usize,
        /// The summed dimension.
        k: usize,
    },
    /// `m, n, k` given; leading dimensions are the row widths (packed matrices).
    Packed {
        /// Rows of A and C.
        m: usize,
        /// Columns of B and C.
        n: usize,
        /// The summed dimension.
        k: usize,
    },
    /// `m, n, k` and the three leading dimensions given.
    Strided {
        /// Rows of A and C.
        m: usize,
        /// Columns of B and C.
        n: usize,
        /// The summed dimension.
        k: usize,
        /// Elements between rows of A as stored.
        lda: usize,
        /// Elements between rows of B as stored.
        ldb: usize,
        /// Elements between rows of C.
        ldc: usize,
    },
}

/// A bias vector added to every row of the product (a linear layer): the
/// parameter position of its base pointer, and where in each output's sum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bias {
    /// The sum starts from `bias[j]`: `((bias[j] + A[i][0]*B[0][j]) + ...)`.
    First(usize),
    /// `bias[j]` is added to the finished sum: `(... + A[i][k-1]*B[k-1][j]) + bias[j]`.
    Last(usize),
}

impl Bias {
    /// The bias pointer's parameter position.
    pub fn param(self) -> usize {
        match self {
            Bias::First(p) | Bias::Last(p) => p,
        }
    }
}

/// A function that computes a matrix product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gemm {
    /// Parameter position of A's base pointer.
    pub a: usize,
    /// Parameter position of B's base pointer.
    pub b: usize,
    /// Parameter position of C's base pointer.
    pub c: usize,
    /// Where the sizes come from.
    pub dims: Dims,
    /// A is stored transposed: element `(i, p)` at `A[p * lda + i]`.
    pub trans_a: bool,
    /// B is stored transposed: element `(p, j)` at `B[j * ldb + p]`.
    pub trans_b: bool,
    /// The sums start from `C[i][j]` (`C += A B`), not from `+0.0`.
    pub accumulate: bool,
    /// The element type: f64, or else f32.
    pub f64: bool,
    /// A bias vector of `n` elements added to each row (never with `accumulate`).
    pub bias: Option<Bias>,
}

/// Concrete sizes: `m, n, k, lda, ldb, ldc`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Rows of A and C.
    pub m: i64,
    /// Columns of B and C.
    pub n: i64,
    /// The summed dimension.
    pub k: i64,
    /// Leading dimension of A.
    pub lda: i64,
    /// Leading dimension of B.
    pub ldb: i64,
    /// Leading dimension of C.
    pub ldc: i64,
}

impl Gemm {
    /// The sizes this match reads from parameter values.
    pub fn shape(&self, args: &[i64]) -> Shape {
        let (m, n, k) = match self.dims {
            Dims::Square(p) => (args[p], args[p], args[p]),
            Dims::Row { n, k } => (1, args[n], args[k]),
            Dims::Packed { m, n, k } | Dims::Strided { m, n, k, .. } => (args[m], args[n], args[k]),
        };
        let packed = (
            if self.trans_a { m } else { k },
            if self.trans_b { k } else { n },
            n,
        );
        let (lda, ldb, ldc) = match self.dims {
            Dims::Strided { lda, ldb, ldc, .. } => (args[lda], args[ldb], args[ldc]),
            _ => packed,
        };
        Shape {
            m,
            n,
            k,
            lda,
            ldb,
            ldc,
        }
    }

    /// The size parameters' positions, in the order `Dims` names them.
    pub fn dim_params(&self) -> Vec<usize> {
        match self.dims {
            Dims::Square(p) => vec![p],
            Dims::Row { n, k } => vec![n, k],
            Dims::Packed { m, n, k } => vec![m, n, k],
            Dims::Strided {
                m,
                n,
                k,
                lda,
                ldb,
                ldc,
            } => vec![m, n, k, lda, ldb, ldc],
        }
    }

    /// Bytes per element.
    pub fn elem_bytes(&self) -> i64 {
        if self.f64 {
            8
        } else {
            4
        }
    }

    /// `(rows, columns)` of A and B as stored (the extent each leading dimension
    /// strides over).
    pub fn stored(&self, s: &Shape) -> ((i64, i64), (i64, i64)) {
        let a = if self.trans_a { (s.k, s.m) } else { (s.m, s.k) };
        let b = if self.trans_b { (s.n, s.k) } else { (s.k, s.n) };
        (a, b)
    }
}

/// Why a function is not worth probing, or `Ok` with its parameter types.
pub fn prefilter(module: &Module, func: &LocalFunction) -> Option<usize> {
    let ty = module.types.get(func.ty());
    let params = ty.params();
    if !ty.results().is_empty()
        || params.len() < 4
        || params.len() > 12
        || params.iter().any(|p| *p != ValType::I32)
    {
        return None;
    }
    if !crate::fingerprints::probe_safe(module, func, true, true) {
        return None;
    }
    let multiplies = !element_types(func).is_empty();
    let stores = instructions(func).any(|i| matches!(i, Instr::Store(_)));
    let forest = LoopForest::build(func);
    // A nest two deep at least (a matrix-vector product, `Dims::Row`).
    let deep = forest.graph.node_weights().any(|l| l.depth >= 1);
    (multiplies && stores && deep && module.memories.len() == 1).then_some(params.len())
}

/// The element types to probe `func` with (`true`: f64): those it multiplies in.
fn element_types(func: &LocalFunction) -> Vec<bool> {
    let (mut f32s, mut f64s) = (false, false);
    for i in instructions(func) {
        if let Instr::Binop(b) = i {
            match b.op {
                BinaryOp::F32Mul | BinaryOp::F32x4Mul => f32s = true,
                BinaryOp::F64Mul | BinaryOp::F64x2Mul => f64s = true,
                _ => {}
            }
        }
    }
    [(f32s, false), (f64s, true)]
        .into_iter()
        .filter_map(|(present, f64)| present.then_some(f64))
        .collect()
}

/// Bit sets of parameter positions that reach load addresses and store
/// addresses as a base (through adds and subtracts of other values, local copies
/// and selects; a multiplied or shifted parameter is a size, not a base).
pub(crate) struct Bases {
    pub(crate) loads: u32,
    pub(crate) stores: u32,
}

pub(crate) fn bases(func: &LocalFunction) -> Bases {
    let mut taint: HashMap<LocalId, u32> = func
        .args
        .iter()
        .enumerate()
        .map(|(i, l)| (*l, 1u32 << i))
        .collect();
    let mut found = Bases {
        loads: 0,
        stores: 0,
    };
    // Flow-insensitive: iterate until the local sets stop growing.
    for _ in 0..8 {
        let before = taint.clone();
        walk(func, func.entry_block(), &mut taint, &mut found);
        if taint == before {
            break;
        }
    }
    found
}

fn walk(
    func: &LocalFunction,
    seq: InstrSeqId,
    taint: &mut HashMap<LocalId, u32>,
    found: &mut Bases,
) {
    let mut stack: Vec<u32> = Vec::new();
    let pop = |stack: &mut Vec<u32>| stack.pop().unwrap_or(0);
    for (instr, _) in &func.block(seq).instrs {
        match instr {
            Instr::LocalGet(g) => stack.push(taint.get(&g.local).copied().unwrap_or(0)),
            Instr::LocalSet(s) => {
                let t = pop(&mut stack);
                *taint.entry(s.local).or_default() |= t;
            }
            Instr::LocalTee(s) => {
                let t = pop(&mut stack);
                *taint.entry(s.local).or_default() |= t;
                stack.push(t);
            }
            Instr::Binop(b) => {
                let (y, x) = (pop(&mut stack), pop(&mut stack));
                let base = matches!(
                    b.op,
                    BinaryOp::I32Add | BinaryOp::I32Sub | BinaryOp::I64Add | BinaryOp::I64Sub
                );
                stack.push(if base { x | y } else { 0 });
            }
            Instr::Unop(_) => {
                pop(&mut stack);
                stack.push(0);
            }
            Instr::Load(_) => {
                found.loads |= pop(&mut stack);
                stack.push(0);
            }
            Instr::Store(_) => {
                pop(&mut stack);
                found.stores |= pop(&mut stack);
            }
            Instr::Select(_) => {
                pop(&mut stack);
                let (y, x) = (pop(&mut stack), pop(&mut stack));
                stack.push(x | y);
            }
            Instr::Drop(_) | Instr::BrIf(_) | Instr::BrTable(_) => {
                pop(&mut stack);
            }
            Instr::Block(b) => {
                walk(func, b.seq, taint, found);
                push_results(func, b.seq, &mut stack);
            }
            Instr::Loop(l) => {
                walk(func, l.seq, taint, found);
                push_results(func, l.seq, &mut stack);
            }
            Instr::IfElse(i) => {
                pop(&mut stack);
                walk(func, i.consequent, taint, found);
                walk(func, i.alternative, taint, found);
                push_results(func, i.consequent, &mut stack);
            }
            Instr::MemoryCopy(_) | Instr::MemoryFill(_) => {
                pop(&mut stack);
                pop(&mut stack);
                found.stores |= pop(&mut stack);
            }
            Instr::V128Bitselect(_) => {
                for _ in 0..3 {
                    pop(&mut stack);
                }
                stack.push(0);
            }
            Instr::I8x16Shuffle(_) | Instr::I8x16Swizzle(_) => {
                pop(&mut stack);
                pop(&mut stack);
                stack.push(0);
            }
            Instr::LoadSimd(_) => {
                // (Lane loads also take a vector; splat loads only the address.)
                found.loads |= stack.iter().rev().take(2).fold(0, |a, t| a | t);
                pop(&mut stack);
                stack.push(0);
            }
            Instr::Const(_) | Instr::GlobalGet(_) | Instr::MemorySize(_) => stack.push(0),
            _ => {}
        }
    }
}

fn push_results(func: &LocalFunction, seq: InstrSeqId, stack: &mut Vec<u32>) {
    if let walrus::ir::InstrSeqType::Simple(Some(_)) = func.block(seq).ty {
        stack.push(0);
    }
}

/// Bytes of each matrix's region in the scratch area.
const REGION: usize = 8192;
/// Where A, B and C start in the scratch area (three regions, 8-byte aligned, so
/// that f64 elements line up with the generated ones, not 16-byte aligned).
const OFFSETS: [usize; 3] = [8, REGION + 24, 2 * REGION + 40];
/// Where a bias vector starts (a fourth region).
const BIAS_OFFSET: usize = 3 * REGION + 56;
/// The scratch bytes probing needs.
pub const SCRATCH_BYTES: usize = 4 * REGION + 64;

/// Random f32s with full mantissas (so that sums in another order differ), an
/// eighth of them `+0.0` or `-0.0` (so that `0.0 + x` and `x` differ), and a few
/// infinities, NaNs and subnormals (so that code skipping zeros, or flushing
/// subnormals, differs from the product).
pub(crate) fn random_floats(rng: &mut Rng, bytes: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes);
    while out.len() < bytes {
        let r = rng.next_u64();
        let special = [f32::INFINITY, f32::NEG_INFINITY, f32::NAN, 1e-40, -3e-39];
        let v = if (r >> 40) % 48 < special.len() as u64 {
            special[((r >> 40) % 48) as usize]
        } else if r.is_multiple_of(8) {
            if r & 8 == 0 {
                0.0f32
            } else {
                -0.0
            }
        } else {
            let sign = if r & 16 == 0 { 1.0 } else { -1.0 };
            let exp = ((r >> 5) % 6) as i32 - 3;
            let frac = ((r >> 12) as u32 & 0x7f_ffff) as f32 / (1u32 << 23) as f32;
            sign * (1.0 + frac) * 2f32.powi(exp)
        };
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.truncate(bytes);
    out
}

pub(crate) fn f32_at(bytes: &[u8], at: usize) -> f32 {
    f32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

/// [`random_floats`] for f64 elements: the same mix (zeros of both signs,
/// infinities, NaN, subnormals, full mantissas), eight bytes each.
fn random_doubles(rng: &mut Rng, bytes: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes);
    while out.len() < bytes {
        let r = rng.next_u64();
        let special = [f64::INFINITY, f64::NEG_INFINITY, f64::NAN, 1e-310, -3e-308];
        let v = if (r >> 40) % 48 < special.len() as u64 {
            special[((r >> 40) % 48) as usize]
        } else if r.is_multiple_of(8) {
            if r & 8 == 0 {
                0.0f64
            } else {
                -0.0
            }
        } else {
            let sign = if r & 16 == 0 { 1.0 } else { -1.0 };
            let exp = ((r >> 5) % 6) as i32 - 3;
            let frac = (rng.next_u64() >> 12) as f64 / (1u64 << 52) as f64;
            sign * (1.0 + frac) * 2f64.powi(exp)
        };
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.truncate(bytes);
    out
}

/// Random matrices' bytes for a match's element type.
fn random_elements(rng: &mut Rng, bytes: usize, f64: bool) -> Vec<u8> {
    if f64 {
        random_doubles(rng, bytes)
    } else {
        random_floats(rng, bytes)
    }
}

/// [`random_elements`] with every infinity and NaN replaced by a finite value:
/// one of those in a sum hides its order (the result is the same NaN or infinity
/// whatever the order), so runs that must tell a reordered sum apart use these.
fn random_finite(rng: &mut Rng, bytes: usize, f64: bool) -> Vec<u8> {
    let mut out = random_elements(rng, bytes, f64);
    let size = if f64 { 8 } else { 4 };
    for (i, e) in out.chunks_exact_mut(size).enumerate() {
        let finite = if f64 {
            f64::at(e, 0).is_finite()
        } else {
            f32_at(e, 0).is_finite()
        };
        if !finite {
            let v = 1.0 + i as f64 / 1024.0 + 1.0 / 3.0;
            if f64 {
                v.put(e, 0);
            } else {
                (v as f32).put(e, 0);
            }
        }
    }
    out
}

/// An element type the reference computes in.
trait Real: Copy + std::ops::Add<Output = Self> + std::ops::Mul<Output = Self> {
    const BYTES: usize;
    const ZERO: Self;
    fn at(bytes: &[u8], at: usize) -> Self;
    fn put(self, bytes: &mut [u8], at: usize);
    fn is_nan(self) -> bool;
}

impl Real for f32 {
    const BYTES: usize = 4;
    const ZERO: Self = 0.0;
    fn at(bytes: &[u8], at: usize) -> Self {
        f32_at(bytes, at)
    }
    fn is_nan(self) -> bool {
        f32::is_nan(self)
    }
    fn put(self, bytes: &mut [u8], at: usize) {
        bytes[at..at + 4].copy_from_slice(&self.to_le_bytes());
    }
}

impl Real for f64 {
    const BYTES: usize = 8;
    const ZERO: Self = 0.0;
    fn at(bytes: &[u8], at: usize) -> Self {
        f64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
    }
    fn is_nan(self) -> bool {
        f64::is_nan(self)
    }
    fn put(self, bytes: &mut [u8], at: usize) {
        bytes[at..at + 8].copy_from_slice(&self.to_le_bytes());
    }
}

/// What a run left in the scratch area, read once for all the readings a run
/// tests: the bytes, and the offsets of the 4-byte words that differ from the
/// input. `None` when the run failed or changed memory outside the scratch area.
struct RunResult<'a> {
    after: &'a [u8],
    changed: Vec<usize>,
}

impl<'a> RunResult<'a> {
    fn of(run: &'a ProbeRun, input: &[u8]) -> Option<RunResult<'a>> {
        let ProbeRun::Returned {
            scratch,
            outside_changed,
            ..
        } = run
        else {
            return None;
        };
        if *outside_changed || scratch.len() != input.len() {
            return None;
        }
        let changed = (0..input.len())
            .step_by(4)
            .filter(|&at| {
                let end = (at + 4).min(input.len());
                scratch[at..end] != input[at..end]
            })
            .collect();
        Some(RunResult {
            after: scratch,
            changed,
        })
    }
}

/// Whether a run on `input` (the scratch area before it) left what the match
/// computes with `shape`: C's `m x n` elements (NaN payloads aside) and nothing
/// else changed. `None` when the shape does not fit the regions or C's rows
/// overlap (then a run cannot tell this match apart); `Some(false)` also for a
/// failed run. Only C's elements are computed: nothing of the area is copied.
fn predicts(g: &Gemm, shape: &Shape, input: &[u8], run: Option<&RunResult>) -> Option<bool> {
    if g.f64 {
        predicts_in::<f64>(g, shape, input, run)
    } else {
        predicts_in::<f32>(g, shape, input, run)
    }
}

fn predicts_in<T: Real>(
    g: &Gemm,
    shape: &Shape,
    input: &[u8],
    run: Option<&RunResult>,
) -> Option<bool> {
    let s = *shape;
    if s.m < 0 || s.n < 0 || s.k < 0 || s.lda < 0 || s.ldb < 0 || s.ldc < s.n {
        return None;
    }
    let ((ar, ac), (br, bc)) = g.stored(&s);
    let size = T::BYTES as i64;
    let fits = |rows: i64, cols: i64, ld: i64| {
        rows == 0 || cols == 0 || ((rows - 1) * ld + cols) * size <= (REGION - 16) as i64
    };
    if !fits(ar, ac, s.lda) || !fits(br, bc, s.ldb) || !fits(s.m, s.n, s.ldc) || !fits(1, s.n, s.n)
    {
        return None;
    }
    let Some(run) = run else {
        return Some(false);
    };
    // Every changed word lies in an element of C the product writes.
    let in_c = |at: usize| {
        let Some(off) = at.checked_sub(OFFSETS[2]) else {
            return false;
        };
        let idx = (off / T::BYTES) as i64;
        idx / s.ldc.max(1) < s.m && idx % s.ldc.max(1) < s.n
    };
    if !run.changed.iter().all(|&at| in_c(at)) {
        return Some(false);
    }
    let bias = |j: i64| T::at(input, BIAS_OFFSET + T::BYTES * j as usize);
    let a = |i: i64, p: i64| {
        let idx = if g.trans_a {
            p * s.lda + i
        } else {
            i * s.lda + p
        };
        T::at(input, OFFSETS[0] + T::BYTES * idx as usize)
    };
    let b = |p: i64, j: i64| {
        let idx = if g.trans_b {
            j * s.ldb + p
        } else {
            p * s.ldb + j
        };
        T::at(input, OFFSETS[1] + T::BYTES * idx as usize)
    };
    let mut want = vec![0u8; T::BYTES];
    for i in 0..s.m {
        for j in 0..s.n {
            let at = OFFSETS[2] + T::BYTES * (i * s.ldc + j) as usize;
            let mut sum = match (g.accumulate, g.bias) {
                (true, _) => T::at(input, at),
                (false, Some(Bias::First(_))) => bias(j),
                (false, _) => T::ZERO,
            };
            for p in 0..s.k {
                sum = sum + a(i, p) * b(p, j);
            }
            if let Some(Bias::Last(_)) = g.bias {
                sum = sum + bias(j);
            }
            sum.put(&mut want, 0);
            let got = &run.after[at..at + T::BYTES];
            if got != &want[..] && !(T::at(got, 0).is_nan() && sum.is_nan()) {
                return Some(false);
            }
        }
    }
    Some(true)
}

/// Every way of reading the sizes from `dims` (parameter positions).
fn dim_forms(dims: &[usize]) -> Vec<Dims> {
    match dims.len() {
        1 => vec![Dims::Square(dims[0])],
        2 => permutations(dims)
            .into_iter()
            .map(|p| Dims::Row { n: p[0], k: p[1] })
            .collect(),
        3 => permutations(dims)
            .into_iter()
            .map(|p| Dims::Packed {
                m: p[0],
                n: p[1],
                k: p[2],
            })
            .collect(),
        6 => permutations(dims)
            .into_iter()
            .map(|p| Dims::Strided {
                m: p[0],
                n: p[1],
                k: p[2],
                lda: p[3],
                ldb: p[4],
                ldc: p[5],
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn permutations(items: &[usize]) -> Vec<Vec<usize>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut out = Vec::new();
    for (i, first) in items.iter().enumerate() {
        let mut rest = items.to_vec();
        rest.remove(i);
        for mut tail in permutations(&rest) {
            tail.insert(0, *first);
            out.push(tail);
        }
    }
    out
}

/// Runs of the function that screen hypotheses for one choice of A, B and C.
const SCREEN_RUNS: usize = 8;
/// At most this many choices of (A, B, C) are probed per function. (clang -O3
/// reuses parameters' locals for other addresses, which the flow-insensitive base
/// analysis counts: its `linear` has 36, identified in 40 runs. A run costs ~0.4
/// ms in the prober since its store guards spare it comparing memory; with 48,
/// tfjs's scalar module probes 2,500 more runs than with 24: 1.4 s instead of
/// 0.4, and 4.9 s before the guards.)
const MAX_TRIPLES: usize = 48;

/// A confirmed match and how many probe runs it took.
#[derive(Clone, Copy, Debug)]
pub struct Identified {
    /// The match.
    pub gemm: Gemm,
    /// Probe runs made.
    pub runs: usize,
}

/// Identifies `func` (input index `func_index`, `params` i32 parameters) as a
/// matrix product by probing, or `None`.
pub fn identify(
    func: &LocalFunction,
    func_index: u32,
    params: usize,
    probe: &mut dyn Probe,
) -> Option<Identified> {
    let (base, len) = probe.scratch()?;
    if (len as usize) < SCRATCH_BYTES {
        return None;
    }
    let found = bases(func);
    let bits = |mask: u32| (0..params).filter(move |p| mask & (1 << p) != 0);
    let mut triples = Vec::new();
    for c in bits(found.stores) {
        for a in bits(found.loads) {
            for b in bits(found.loads) {
                if a != b && a != c && b != c {
                    triples.push((a, b, c));
                }
            }
        }
    }
    if triples.is_empty() || triples.len() > MAX_TRIPLES {
        return None;
    }
    // Each triple, and with each other loaded base as a bias vector.
    let mut candidates: Vec<(usize, usize, usize, Option<usize>)> = Vec::new();
    for &(a, b, c) in &triples {
        candidates.push((a, b, c, None));
        for d in bits(found.loads).filter(|d| ![a, b, c].contains(d)) {
            candidates.push((a, b, c, Some(d)));
        }
    }
    let mut runs = 0;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ func_index as u64);
    let elements = element_types(func);
    for (f64, (a, b, c, d)) in elements
        .iter()
        .flat_map(|f| candidates.iter().map(move |t| (*f, *t)))
    {
        let dims: Vec<usize> = (0..params)
            .filter(|p| ![a, b, c].contains(p) && Some(*p) != d)
            .collect();
        let forms = dim_forms(&dims);
        if forms.is_empty() {
            continue;
        }
        // Every reading of this candidate, narrowed run by run: a candidate
        // none of whose readings survives its first runs costs no more runs.
        let mut alive: Vec<(Gemm, usize)> = Vec::new();
        for &dims in &forms {
            for variant in 0..8u8 {
                // (Bit 4: accumulate, or with a bias vector, the bias last.)
                let bias = d.map(|d| {
                    if variant & 4 != 0 {
                        Bias::Last(d)
                    } else {
                        Bias::First(d)
                    }
                });
                let g = Gemm {
                    a,
                    b,
                    c,
                    dims,
                    trans_a: variant & 1 != 0,
                    trans_b: variant & 2 != 0,
                    accumulate: d.is_none() && variant & 4 != 0,
                    f64,
                    bias,
                };
                alive.push((g, 0));
            }
        }
        // Screening runs: the sizes get distinct small values in random order.
        for r in 0..SCREEN_RUNS {
            if alive.is_empty() {
                break;
            }
            let mut values: Vec<i64> = match dims.len() {
                1 => vec![[3, 5, 4, 6, 7, 2, 5, 3][r]],
                _ => {
                    let mut pool: Vec<i64> = (2..=9).collect();
                    let mut picked = Vec::new();
                    for _ in 0..dims.len() {
                        let at = (rng.next_u64() % pool.len() as u64) as usize;
                        picked.push(pool.remove(at));
                    }
                    picked
                }
            };
            let mut args = vec![0i64; params];
            for (p, v) in dims.iter().zip(values.drain(..)) {
                args[*p] = v;
            }
            for (p, off) in [a, b, c].into_iter().zip(OFFSETS) {
                args[p] = base as i64 + off as i64;
            }
            if let Some(d) = d {
                args[d] = base as i64 + BIAS_OFFSET as i64;
            }
            let scratch = random_elements(&mut rng, SCRATCH_BYTES, f64);
            let run = call(probe, func_index, &args, &scratch);
            runs += 1;
            // A run that trapped or ran out of fuel agrees with no reading (every
            // screening shape fits): it ends the candidate at once.
            if matches!(run, ProbeRun::Failed) {
                alive.clear();
                break;
            }
            let result = RunResult::of(&run, &scratch);
            alive.retain_mut(|(g, applicable)| {
                match predicts(g, &g.shape(&args), &scratch, result.as_ref()) {
                    None => true,
                    Some(agrees) => {
                        *applicable += 1;
                        agrees
                    }
                }
            });
        }
        for (g, applicable) in alive {
            if applicable < 2 {
                continue;
            }
            let (confirmed, confirm_runs) = confirm(&g, func_index, params, base, probe, &mut rng);
            runs += confirm_runs;
            if confirmed {
                return Some(Identified { gemm: g, runs });
            }
        }
    }
    None
}

fn call(probe: &mut dyn Probe, func_index: u32, args: &[i64], scratch: &[u8]) -> ProbeRun {
    let args: Vec<ProbeArg> = args.iter().map(|v| ProbeArg::I32(*v as i32)).collect();
    probe.run(func_index, &args, scratch)
}

/// Runs the hypothesis on larger, odd shapes: whether all agree, and the runs made.
fn confirm(
    g: &Gemm,
    func_index: u32,
    params: usize,
    base: u32,
    probe: &mut dyn Probe,
    rng: &mut Rng,
) -> (bool, usize) {
    // The last two runs of each list have finite elements only (a reordered sum
    // shows only there; with infinities and NaNs among 2k terms, nearly every
    // output is one whatever the order).
    let shapes: &[(i64, i64, i64)] = match g.dims {
        Dims::Square(_) => &[
            (1, 1, 1),
            (2, 2, 2),
            (3, 3, 3),
            (8, 8, 8),
            (17, 17, 17),
            (20, 20, 20),
            (16, 16, 16),
            (21, 21, 21),
        ],
        Dims::Row { .. } => &[
            (1, 1, 1),
            (1, 3, 5),
            (1, 17, 3),
            (1, 5, 33),
            (1, 33, 2),
            (1, 16, 16),
            (1, 7, 64),
            (1, 9, 37),
        ],
        _ => &[
            (1, 1, 1),
            (2, 3, 5),
            (4, 17, 3),
            (17, 5, 33),
            (9, 33, 2),
            (16, 16, 16),
            (5, 7, 64),
            (3, 9, 37),
        ],
    };
    let mut runs = 0;
    for (t, &(m, n, k)) in shapes.iter().enumerate() {
        // Leading dimensions wider than the rows every other run.
        let extra = if t % 2 == 1 { 3 } else { 0 };
        let mut args = vec![0i64; params];
        let wanted = Shape {
            m,
            n,
            k,
            lda: if g.trans_a { m } else { k } + extra,
            ldb: if g.trans_b { k } else { n } + extra,
            ldc: n + extra,
        };
        // (In the order `dim_params` gives: a one-row product has no `m`.)
        let values = match g.dims {
            Dims::Row { .. } => vec![wanted.n, wanted.k],
            _ => vec![
                wanted.m, wanted.n, wanted.k, wanted.lda, wanted.ldb, wanted.ldc,
            ],
        };
        for (p, v) in g.dim_params().into_iter().zip(values) {
            args[p] = v;
        }
        for (p, off) in [g.a, g.b, g.c].into_iter().zip(OFFSETS) {
            args[p] = base as i64 + off as i64;
        }
        if let Some(bias) = g.bias {
            args[bias.param()] = base as i64 + BIAS_OFFSET as i64;
        }
        let scratch = if t + 2 >= shapes.len() {
            random_finite(rng, SCRATCH_BYTES, g.f64)
        } else {
            random_elements(rng, SCRATCH_BYTES, g.f64)
        };
        let shape = g.shape(&args);
        if predicts(g, &shape, &scratch, None).is_none() {
            return (false, runs);
        }
        runs += 1;
        let run = call(probe, func_index, &args, &scratch);
        let result = RunResult::of(&run, &scratch);
        if predicts(g, &shape, &scratch, result.as_ref()) != Some(true) {
            return (false, runs);
        }
    }
    (true, runs)
}
