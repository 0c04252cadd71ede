//! `softmax_f32_v1(x, y, n)`: `y[i] = exp(x[i] - max x) / sum exp(x[j] - max x)`
//! for functions `barq-opt --target native --fast-math` identified as a softmax
//! (pass `softmax`). Not exact: `exp` is the portable kernel's polynomial (degree
//! 7 after a Cody-Waite reduction, arguments below -87 flushed to 0; here with
//! FMA), the sum runs in eight lanes; each output is within (n + 16) 2^-24
//! relative, 2^-120 absolute, of the exact softmax. `y` may be `x` (in place);
//! an output partly overlapping the input is refused. `n` counts as unsigned; a
//! range outside memory traps; `n = 0` does nothing.

use super::{memory, MODULE};
use barq_passes::rewrite::softmax::{FLUSH, LN2_HI, LN2_LO, LOG2E, TAYLOR};
use wasmtime::{Caller, Linker};

/// Registers the kernel.
pub(crate) fn add_to_linker<T: super::GuestMemory + 'static>(
    linker: &mut Linker<T>,
) -> wasmtime::Result<()> {
    linker.func_wrap(
        MODULE,
        "softmax_f32_v1",
        |mut caller: Caller<'_, T>, x: i32, y: i32, n: i32| -> wasmtime::Result<()> {
            let memory = memory(&mut caller)?;
            let data = memory.data_mut(&mut caller);
            let xs = super::range(data.len(), x, n, 4)?;
            let ys = super::range(data.len(), y, n, 4)?;
            if xs.start != ys.start && xs.start < ys.end && ys.start < xs.end {
                return Err(wasmtime::Error::msg(
                    "barq softmax_f32_v1: the output partly overlaps the input",
                ));
            }
            let n = xs.len() / 4;
            if n == 0 {
                return Ok(());
            }
            let base = data.as_mut_ptr();
            // SAFETY: both ranges lie inside `data`; they are equal or disjoint, and
            // the kernel reads x[i] before it writes y[i].
            unsafe { softmax(base.add(xs.start), base.add(ys.start), n) };
            Ok(())
        },
    )?;
    Ok(())
}

/// `exp(v)` for `v <= 0` or NaN, as the portable kernel computes it.
pub(crate) fn exp_scalar(v: f32) -> f32 {
    if v < FLUSH {
        return 0.0;
    }
    let k = (v * LOG2E).round_ties_even();
    let r = (v - k * LN2_HI) - k * LN2_LO;
    let mut p = TAYLOR[0];
    for c in &TAYLOR[1..] {
        p = p * r + c;
    }
    let scale = f32::from_bits(((k as i32 + 127) as u32) << 23);
    p * scale
}

/// # Safety
/// `x` and `y` point at `n` floats each (unaligned allowed), equal or disjoint.
pub(crate) unsafe fn softmax(x: *const u8, y: *mut u8, n: usize) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        return softmax_avx2(x, y, n);
    }
    let (x, y) = (x as *const f32, y as *mut f32);
    let mut m = f32::NEG_INFINITY;
    let mut any_nan = false;
    for i in 0..n {
        let v = x.add(i).read_unaligned();
        any_nan |= v.is_nan();
        m = m.max(v);
    }
    if any_nan {
        m = f32::NAN;
    }
    let mut s = 0.0f32;
    for i in 0..n {
        let e = exp_scalar(x.add(i).read_unaligned() - m);
        y.add(i).write_unaligned(e);
        s += e;
    }
    for i in 0..n {
        y.add(i).write_unaligned(y.add(i).read_unaligned() / s);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn softmax_avx2(x: *const u8, y: *mut u8, n: usize) {
    use std::arch::x86_64::*;
    let (x, y) = (x as *const f32, y as *mut f32);
    // max, NaN-propagating like f32x4.max: a NaN anywhere makes every output NaN,
    // as in the scalar code (its sum is NaN).
    let mut vm = _mm256_set1_ps(x.read_unaligned());
    let mut nan = _mm256_setzero_ps();
    let mut i = 0;
    while i + 8 <= n {
        let v = _mm256_loadu_ps(x.add(i));
        vm = _mm256_max_ps(vm, v);
        nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
        i += 8;
    }
    let mut lanes = [0f32; 8];
    _mm256_storeu_ps(lanes.as_mut_ptr(), vm);
    let mut m = lanes.iter().fold(f32::NEG_INFINITY, |a, b| a.max(*b));
    _mm256_storeu_ps(lanes.as_mut_ptr(), nan);
    let mut any_nan = lanes.iter().any(|l| l.to_bits() != 0);
    while i < n {
        let v = x.add(i).read_unaligned();
        any_nan |= v.is_nan();
        m = m.max(v);
        i += 1;
    }
    if any_nan {
        m = f32::NAN;
    }
    let vm = _mm256_set1_ps(m);
    let exp8 = |v: __m256| {
        let k = _mm256_round_ps(
            _mm256_mul_ps(v, _mm256_set1_ps(LOG2E)),
            _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC,
        );
        let r = _mm256_fnmadd_ps(k, _mm256_set1_ps(LN2_HI), v);
        let r = _mm256_fnmadd_ps(k, _mm256_set1_ps(LN2_LO), r);
        let mut p = _mm256_set1_ps(TAYLOR[0]);
        for c in &TAYLOR[1..] {
            p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(*c));
        }
        // k is NaN for NaN v: cvtps gives i32::MIN, the scale is then 0 or junk,
        // but p is NaN already and NaN * anything is NaN.
        let ki = _mm256_cvtps_epi32(k);
        let scale = _mm256_castsi256_ps(_mm256_slli_epi32(
            _mm256_add_epi32(ki, _mm256_set1_epi32(127)),
            23,
        ));
        let e = _mm256_mul_ps(p, scale);
        let flush = _mm256_cmp_ps(v, _mm256_set1_ps(FLUSH), _CMP_LT_OQ);
        _mm256_andnot_ps(flush, e)
    };
    let mut vs = [_mm256_setzero_ps(); 2];
    i = 0;
    while i + 16 <= n {
        for (q, s) in vs.iter_mut().enumerate() {
            let e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x.add(i + 8 * q)), vm));
            _mm256_storeu_ps(y.add(i + 8 * q), e);
            *s = _mm256_add_ps(*s, e);
        }
        i += 16;
    }
    _mm256_storeu_ps(lanes.as_mut_ptr(), _mm256_add_ps(vs[0], vs[1]));
    let mut s: f32 = lanes.iter().sum();
    while i < n {
        let e = exp_scalar(x.add(i).read_unaligned() - m);
        y.add(i).write_unaligned(e);
        s += e;
        i += 1;
    }
    let vs = _mm256_set1_ps(s);
    i = 0;
    while i + 8 <= n {
        _mm256_storeu_ps(y.add(i), _mm256_div_ps(_mm256_loadu_ps(y.add(i)), vs));
        i += 8;
    }
    while i < n {
        y.add(i).write_unaligned(y.add(i).read_unaligned() / s);
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The polynomial exp is within 4 ulp of the true value on [-87, 0].
    #[test]
    fn exp_is_within_four_ulp() {
        let mut v = -87.0f32;
        let mut worst = 0f64;
        while v <= 0.0 {
            let got = exp_scalar(v) as f64;
            let want = (v as f64).exp();
            let ulp = f64::powi(2.0, want.log2().floor() as i32 - 23);
            worst = worst.max((got - want).abs() / ulp);
            v += 0.001_37;
        }
        assert!(worst <= 4.0, "worst {worst} ulp");
        assert_eq!(exp_scalar(f32::NEG_INFINITY), 0.0);
        assert!(exp_scalar(f32::NAN).is_nan());
        assert_eq!(exp_scalar(-100.0), 0.0);
        assert_eq!(exp_scalar(0.0), 1.0);
    }
}
