//! `attention_f32_v1(q, k, v, out, n, m, d, scale, flags)`: single-head scaled
//! dot-product attention, `out[i] = sum_j p[i][j] v[j]` with `p[i] =
//! softmax_j(scale * q[i] . k[j])`, Q and the output `n x d`, K and V `m x d`,
//! row-major, over every key or, with flag 1 (causal), the keys `j <= i + m - n`
//! (`m < n` is refused: a trap), for functions `barq-opt --target native --fast-math` identified as
//! attention (pass `attention`). Not exact: dot products and sums in eight lanes
//! with FMA, the softmax as [`super::softmax`] computes it (a polynomial `exp`);
//! each output is within the bound `fingerprints::attention::bound` states of the
//! exact one. The output must not overlap an input (refused: a trap); counts are
//! unsigned, a range outside memory traps, a zero count does nothing.

use super::{memory, MODULE};
use std::cell::RefCell;
use wasmtime::{Caller, Linker};

thread_local! {
    /// One row of weights, kept between calls.
    static WEIGHTS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Registers the kernel.
pub(crate) fn add_to_linker<T: super::GuestMemory + 'static>(
    linker: &mut Linker<T>,
) -> wasmtime::Result<()> {
    linker.func_wrap(
        MODULE,
        "attention_f32_v1",
        |mut caller: Caller<'_, T>,
         q: i32,
         k: i32,
         v: i32,
         out: i32,
         n: i32,
         m: i32,
         d: i32,
         scale: f32,
         flags: i32|
         -> wasmtime::Result<()> {
            let memory = memory(&mut caller)?;
            let data = memory.data_mut(&mut caller);
            let (n, m, d) = (n as u32 as u64, m as u32 as u64, d as u32 as u64);
            let range = |ptr: i32, rows: u64| {
                let start = ptr as u32 as u64;
                // (Counts below 2^32 each: no product wraps in u64 but this one.)
                let end = (rows * d).saturating_mul(4).saturating_add(start);
                if end > data.len() as u64 {
                    return Err(wasmtime::Error::from(wasmtime::Trap::MemoryOutOfBounds));
                }
                Ok(start as usize..end as usize)
            };
            let (qs, ks, vs, os) = (range(q, n)?, range(k, m)?, range(v, m)?, range(out, n)?);
            for input in [&qs, &ks, &vs] {
                if os.start < input.end && input.start < os.end {
                    return Err(wasmtime::Error::msg(
                        "barq attention_f32_v1: the output overlaps an input",
                    ));
                }
            }
            let causal = flags & 1 != 0;
            if causal && m < n {
                return Err(wasmtime::Error::msg(
                    "barq attention_f32_v1: a causal mask needs at least as many keys as queries",
                ));
            }
            if n == 0 || m == 0 || d == 0 {
                return Ok(());
            }
            let base = data.as_mut_ptr();
            WEIGHTS.with_borrow_mut(|w| {
                w.clear();
                w.resize(m as usize, 0.0);
                // SAFETY: the four ranges lie inside `data`, the output apart from
                // the inputs; `w` holds m floats.
                unsafe {
                    attention(
                        [base.add(qs.start), base.add(ks.start), base.add(vs.start)],
                        base.add(os.start),
                        (n as usize, m as usize, d as usize),
                        scale,
                        causal,
                        w,
                    )
                };
            });
            Ok(())
        },
    )?;
    Ok(())
}

/// # Safety
/// `q`, `k`, `v` and `out` point at `n x d`, `m x d`, `m x d` and `n x d` floats
/// (unaligned allowed), the output apart from the others; `w.len() == m`, and
/// `m >= n` when `causal`.
unsafe fn attention(
    [q, k, v]: [*const u8; 3],
    out: *mut u8,
    (n, m, d): (usize, usize, usize),
    scale: f32,
    causal: bool,
    w: &mut [f32],
) {
    let (q, k, v, out) = (
        q as *const f32,
        k as *const f32,
        v as *const f32,
        out as *mut f32,
    );
    #[cfg(target_arch = "x86_64")]
    let avx2 =
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma");
    for i in 0..n {
        let qi = q.add(i * d);
        let oi = out.add(i * d);
        // The keys this row sees (m >= n when causal).
        let w = &mut w[..if causal { i + 1 + m - n } else { m }];
        let m = w.len();
        #[cfg(target_arch = "x86_64")]
        if avx2 {
            row_avx2(qi, k, v, oi, (m, d), scale, w);
            continue;
        }
        for (j, wj) in w.iter_mut().enumerate() {
            let kj = k.add(j * d);
            let mut s = 0.0f32;
            for c in 0..d {
                s += qi.add(c).read_unaligned() * kj.add(c).read_unaligned();
            }
            *wj = s * scale;
        }
        super::softmax::softmax(w.as_ptr() as *const u8, w.as_mut_ptr() as *mut u8, m);
        for c in 0..d {
            oi.add(c).write_unaligned(0.0);
        }
        for (j, p) in w.iter().enumerate() {
            let vj = v.add(j * d);
            for c in 0..d {
                let o = oi.add(c);
                o.write_unaligned(o.read_unaligned() + p * vj.add(c).read_unaligned());
            }
        }
    }
}

/// One output row with AVX2 and FMA.
///
/// # Safety
/// As [`attention`], for one row; the CPU has AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn row_avx2(
    qi: *const f32,
    k: *const f32,
    v: *const f32,
    oi: *mut f32,
    (m, d): (usize, usize),
    scale: f32,
    w: &mut [f32],
) {
    use std::arch::x86_64::*;
    let hsum = |x: __m256| {
        let s = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
        _mm_cvtss_f32(s)
    };
    let body = d - d % 8;
    // Scores, four keys at a time sharing the query's loads.
    let mut j = 0;
    while j + 4 <= m {
        let kj = [
            k.add(j * d),
            k.add((j + 1) * d),
            k.add((j + 2) * d),
            k.add((j + 3) * d),
        ];
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut c = 0;
        while c < body {
            let x = _mm256_loadu_ps(qi.add(c));
            for t in 0..4 {
                acc[t] = _mm256_fmadd_ps(x, _mm256_loadu_ps(kj[t].add(c)), acc[t]);
            }
            c += 8;
        }
        for t in 0..4 {
            let mut s = hsum(acc[t]);
            for c in body..d {
                s = qi
                    .add(c)
                    .read_unaligned()
                    .mul_add(kj[t].add(c).read_unaligned(), s);
            }
            w[j + t] = s * scale;
        }
        j += 4;
    }
    while j < m {
        let kj = k.add(j * d);
        let mut acc = _mm256_setzero_ps();
        let mut c = 0;
        while c < body {
            acc = _mm256_fmadd_ps(_mm256_loadu_ps(qi.add(c)), _mm256_loadu_ps(kj.add(c)), acc);
            c += 8;
        }
        let mut s = hsum(acc);
        for c in body..d {
            s = qi
                .add(c)
                .read_unaligned()
                .mul_add(kj.add(c).read_unaligned(), s);
        }
        w[j] = s * scale;
        j += 1;
    }
    super::softmax::softmax(w.as_ptr() as *const u8, w.as_mut_ptr() as *mut u8, m);
    // out = sum_j w[j] v[j], 32 columns at a time in registers.
    let mut c = 0;
    while c + 32 <= d {
        let mut acc = [_mm256_setzero_ps(); 4];
        for (j, p) in w.iter().enumerate() {
            let p = _mm256_set1_ps(*p);
            let vj = v.add(j * d + c);
            for (t, a) in acc.iter_mut().enumerate() {
                *a = _mm256_fmadd_ps(p, _mm256_loadu_ps(vj.add(8 * t)), *a);
            }
        }
        for (t, a) in acc.iter().enumerate() {
            _mm256_storeu_ps(oi.add(c + 8 * t), *a);
        }
        c += 32;
    }
    while c + 8 <= d {
        let mut acc = _mm256_setzero_ps();
        for (j, p) in w.iter().enumerate() {
            acc = _mm256_fmadd_ps(_mm256_set1_ps(*p), _mm256_loadu_ps(v.add(j * d + c)), acc);
        }
        _mm256_storeu_ps(oi.add(c), acc);
        c += 8;
    }
    while c < d {
        let mut s = 0.0f32;
        for (j, p) in w.iter().enumerate() {
            s = p.mul_add(v.add(j * d + c).read_unaligned(), s);
        }
        oi.add(c).write_unaligned(s);
        c += 1;
    }
}
