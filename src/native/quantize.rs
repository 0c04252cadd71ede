//! INT8 quantization kernels for functions `barq-opt --target native` identified
//! as such (`native-quantize`), both `(src, dst, n, scale, zp, flags)`:
//!
//! - `quantize_f32_v1`: `v = round(x[i] * scale) + (float)zp` (`/ scale` with
//!   flag 2; halves to even, or away from zero with flag 4), clamped to -128..=127
//!   (0..=255 with flag 1) with NaN left alone, `q[i] = (int)v`, NaN giving 0;
//! - `dequantize_f32_v1`: `x[i] = (float)(q[i] - zp) * scale`, bytes signed (or
//!   unsigned with flag 1).
//!
//! Exact: each element gets the operations the scalar loop performs, in its
//! order. `n` counts as unsigned; a range outside memory traps; overlapping
//! arrays are refused (the guard never passes them).

use super::{memory, range, MODULE};
use wasmtime::{Caller, Linker};

const UNSIGNED: i32 = 1;
const DIVIDE: i32 = 2;
const HALF_AWAY: i32 = 4;

/// Registers both kernels.
pub(crate) fn add_to_linker<T: super::GuestMemory + 'static>(
    linker: &mut Linker<T>,
) -> wasmtime::Result<()> {
    for (name, quantize) in [("quantize_f32_v1", true), ("dequantize_f32_v1", false)] {
        linker.func_wrap(
            MODULE,
            name,
            move |mut caller: Caller<'_, T>,
                  src: i32,
                  dst: i32,
                  n: i32,
                  scale: f32,
                  zp: i32,
                  flags: i32|
                  -> wasmtime::Result<()> {
                let memory = memory(&mut caller)?;
                let data = memory.data_mut(&mut caller);
                let (ws, wd) = if quantize { (4, 1) } else { (1, 4) };
                let (from, to) = (
                    range(data.len(), src, n, ws)?,
                    range(data.len(), dst, n, wd)?,
                );
                if from.start < to.end && to.start < from.end {
                    return Err(wasmtime::Error::msg(format!(
                        "barq {name}: source and destination overlap"
                    )));
                }
                // Split the memory so that both arrays can be borrowed.
                let (input, output) = if from.start < to.start {
                    let (low, high) = data.split_at_mut(to.start);
                    (&low[from], &mut high[..to.end - to.start])
                } else {
                    let (low, high) = data.split_at_mut(from.start);
                    (&high[..from.end - from.start], &mut low[to])
                };
                if quantize {
                    quantize_bytes(input, output, scale, zp, flags);
                } else {
                    dequantize_bytes(input, output, scale, zp, flags);
                }
                Ok(())
            },
        )?;
    }
    Ok(())
}

/// One element, as the scalar loop computes it.
fn quantize_one(x: f32, scale: f32, zp: i32, flags: i32) -> u8 {
    let y = if flags & DIVIDE != 0 {
        x / scale
    } else {
        x * scale
    };
    let r = if flags & HALF_AWAY != 0 {
        y.round()
    } else {
        y.round_ties_even()
    };
    let v = r + zp as f32;
    let (lo, hi) = if flags & UNSIGNED != 0 {
        (0.0, 255.0)
    } else {
        (-128.0, 127.0)
    };
    let v = if v < lo { lo } else { v };
    let v = if v > hi { hi } else { v };
    if v.is_nan() {
        0
    } else {
        v as i32 as u8
    }
}

fn quantize_bytes(input: &[u8], output: &mut [u8], scale: f32, zp: i32, flags: i32) {
    quantize_bytes_with(input, output, scale, zp, flags, true);
}

/// [`quantize_bytes`], with AVX-512 allowed or not (the tests run both loops).
fn quantize_bytes_with(
    input: &[u8],
    output: &mut [u8],
    scale: f32,
    zp: i32,
    flags: i32,
    avx512: bool,
) {
    let mut done = 0;
    // One loop per variant: flags tested inside the loop cost ~10%.
    macro_rules! dispatch {
        ($kernel:ident) => {
            match (
                flags & DIVIDE != 0,
                flags & HALF_AWAY != 0,
                flags & UNSIGNED != 0,
            ) {
                (false, false, false) => $kernel::<false, false, false>(input, output, scale, zp),
                (false, false, true) => $kernel::<false, false, true>(input, output, scale, zp),
                (false, true, false) => $kernel::<false, true, false>(input, output, scale, zp),
                (false, true, true) => $kernel::<false, true, true>(input, output, scale, zp),
                (true, false, false) => $kernel::<true, false, false>(input, output, scale, zp),
                (true, false, true) => $kernel::<true, false, true>(input, output, scale, zp),
                (true, true, false) => $kernel::<true, true, false>(input, output, scale, zp),
                (true, true, true) => $kernel::<true, true, true>(input, output, scale, zp),
            }
        };
    }
    #[cfg(target_arch = "x86_64")]
    if avx512 && std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: AVX-512F is present; the kernel stays within both slices.
        done = unsafe { dispatch!(quantize_avx512) };
    } else if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 is present; the kernel stays within both slices.
        done = unsafe { dispatch!(quantize_avx2) };
    }
    for (x, q) in input[4 * done..].chunks_exact(4).zip(&mut output[done..]) {
        *q = quantize_one(
            f32::from_le_bytes(x.try_into().expect("4 bytes")),
            scale,
            zp,
            flags,
        );
    }
}

/// Thirty-two (then sixteen) elements per step; returns how many it did.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn quantize_avx2<const DIV: bool, const HALF: bool, const UNSIGNED_OUT: bool>(
    input: &[u8],
    output: &mut [u8],
    scale: f32,
    zp: i32,
) -> usize {
    use std::arch::x86_64::*;
    let n = output.len().min(input.len() / 4);
    let s = _mm256_set1_ps(scale);
    let z = _mm256_set1_ps(zp as f32);
    let (lo, hi) = if UNSIGNED_OUT {
        (_mm256_set1_ps(0.0), _mm256_set1_ps(255.0))
    } else {
        (_mm256_set1_ps(-128.0), _mm256_set1_ps(127.0))
    };
    let half = _mm256_set1_ps(0.5);
    let sign = _mm256_set1_ps(-0.0);
    let one = _mm256_set1_ps(1.0);
    let eight = |p: *const u8| {
        let x = _mm256_loadu_ps(p as *const f32);
        let y = if DIV {
            _mm256_div_ps(x, s)
        } else {
            _mm256_mul_ps(x, s)
        };
        let r = if HALF {
            // trunc(y), plus sign(y) where the dropped part is at least a half
            // (y - trunc(y) is exact).
            let t = _mm256_round_ps(y, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
            let d = _mm256_andnot_ps(sign, _mm256_sub_ps(y, t));
            let step = _mm256_or_ps(_mm256_and_ps(y, sign), one);
            _mm256_add_ps(t, _mm256_and_ps(_mm256_cmp_ps(d, half, _CMP_GE_OQ), step))
        } else {
            _mm256_round_ps(y, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
        };
        let v = _mm256_add_ps(r, z);
        // v < lo ? lo : v, then v > hi ? hi : v: exactly `maxps(lo, v)` and
        // `minps(hi, v)`, which return their second operand when the compare is
        // false (NaN kept, -0.0 kept against 0.0).
        let v = _mm256_max_ps(lo, v);
        let v = _mm256_min_ps(hi, v);
        let nan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
        _mm256_andnot_si256(nan, _mm256_cvttps_epi32(v))
    };
    let sixteen = |at: usize| {
        let a = eight(input.as_ptr().add(4 * at));
        let b = eight(input.as_ptr().add(4 * at + 32));
        // i32 -> i16 (values are in -128..=255: no saturation), lanes in order.
        _mm256_permute4x64_epi64(_mm256_packs_epi32(a, b), 0b11_01_10_00)
    };
    let mut i = 0;
    // 32 per step: two independent chains of sixteen, one 32-byte store.
    while i + 32 <= n {
        let (w0, w1) = (sixteen(i), sixteen(i + 16));
        let bytes = if UNSIGNED_OUT {
            _mm256_packus_epi16(w0, w1)
        } else {
            _mm256_packs_epi16(w0, w1)
        };
        // packs works per 128-bit lane: [w0 low, w1 low, w0 high, w1 high].
        let bytes = _mm256_permute4x64_epi64(bytes, 0b11_01_10_00);
        _mm256_storeu_si256(output.as_mut_ptr().add(i) as *mut __m256i, bytes);
        i += 32;
    }
    while i + 16 <= n {
        let w = sixteen(i);
        let bytes = if UNSIGNED_OUT {
            _mm256_packus_epi16(w, w)
        } else {
            _mm256_packs_epi16(w, w)
        };
        let low = _mm_cvtsi128_si64(_mm256_castsi256_si128(bytes));
        let high = _mm_cvtsi128_si64(_mm256_extracti128_si256(bytes, 1));
        let out = output.as_mut_ptr().add(i);
        (out as *mut i64).write_unaligned(low);
        (out.add(8) as *mut i64).write_unaligned(high);
        i += 16;
    }
    i
}

/// Thirty-two elements per step with AVX-512F (16 lanes, two chains; the i32 ->
/// i8 narrowing is one saturating `vpmovsdb` / `vpmovusdb`, exact because the
/// clamped values fit); returns how many it did. Same operations as the AVX2 loop.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn quantize_avx512<const DIV: bool, const HALF: bool, const UNSIGNED_OUT: bool>(
    input: &[u8],
    output: &mut [u8],
    scale: f32,
    zp: i32,
) -> usize {
    use std::arch::x86_64::*;
    let n = output.len().min(input.len() / 4);
    let s = _mm512_set1_ps(scale);
    let z = _mm512_set1_ps(zp as f32);
    let (lo, hi) = if UNSIGNED_OUT {
        (_mm512_set1_ps(0.0), _mm512_set1_ps(255.0))
    } else {
        (_mm512_set1_ps(-128.0), _mm512_set1_ps(127.0))
    };
    let half = _mm512_set1_ps(0.5);
    let sign = _mm512_set1_epi32(i32::MIN);
    let one = _mm512_castps_si512(_mm512_set1_ps(1.0));
    let sixteen = |at: usize| {
        let x = _mm512_loadu_ps(input.as_ptr().add(4 * at) as *const f32);
        let y = if DIV {
            _mm512_div_ps(x, s)
        } else {
            _mm512_mul_ps(x, s)
        };
        let r = if HALF {
            let t = _mm512_roundscale_ps::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(y);
            let d = _mm512_abs_ps(_mm512_sub_ps(y, t));
            let step = _mm512_castsi512_ps(_mm512_or_si512(
                _mm512_and_si512(_mm512_castps_si512(y), sign),
                one,
            ));
            let at_least_half = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(d, half);
            _mm512_mask_add_ps(t, at_least_half, t, step)
        } else {
            _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(y)
        };
        // As in the AVX2 loop: maxps/minps return their second operand when the
        // compare is false, exactly the scalar compares (NaN kept).
        let v = _mm512_min_ps(hi, _mm512_max_ps(lo, _mm512_add_ps(r, z)));
        let not_nan = _mm512_cmp_ps_mask::<_CMP_ORD_Q>(v, v);
        let q = _mm512_maskz_mov_epi32(not_nan, _mm512_cvttps_epi32(v));
        if UNSIGNED_OUT {
            _mm512_cvtusepi32_epi8(q)
        } else {
            _mm512_cvtsepi32_epi8(q)
        }
    };
    let mut i = 0;
    while i + 32 <= n {
        let (a, b) = (sixteen(i), sixteen(i + 16));
        let out = output.as_mut_ptr().add(i) as *mut __m128i;
        _mm_storeu_si128(out, a);
        _mm_storeu_si128(out.add(1), b);
        i += 32;
    }
    while i + 16 <= n {
        _mm_storeu_si128(output.as_mut_ptr().add(i) as *mut __m128i, sixteen(i));
        i += 16;
    }
    i
}

fn dequantize_bytes(input: &[u8], output: &mut [u8], scale: f32, zp: i32, flags: i32) {
    let widen = |b: u8| {
        if flags & UNSIGNED != 0 {
            b as i32
        } else {
            b as i8 as i32
        }
    };
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 is present; the kernel stays within both slices.
        done = unsafe { dequantize_avx2(input, output, scale, zp, flags) };
    }
    for (q, x) in input[done..]
        .iter()
        .zip(output[4 * done..].chunks_exact_mut(4))
    {
        x.copy_from_slice(&((widen(*q).wrapping_sub(zp)) as f32 * scale).to_le_bytes());
    }
}

/// Eight elements per step; returns how many it did.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dequantize_avx2(
    input: &[u8],
    output: &mut [u8],
    scale: f32,
    zp: i32,
    flags: i32,
) -> usize {
    use std::arch::x86_64::*;
    let n = input.len().min(output.len() / 4);
    let (s, z) = (_mm256_set1_ps(scale), _mm256_set1_epi32(zp));
    let mut i = 0;
    while i + 8 <= n {
        let b = _mm_loadl_epi64(input.as_ptr().add(i) as *const __m128i);
        let q = if flags & UNSIGNED != 0 {
            _mm256_cvtepu8_epi32(b)
        } else {
            _mm256_cvtepi8_epi32(b)
        };
        let x = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(q, z)), s);
        _mm256_storeu_ps(output.as_mut_ptr().add(4 * i) as *mut f32, x);
        i += 8;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector paths against the scalar definition on edge values.
    #[test]
    fn kernels_are_the_definition() {
        let specials = [
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            0.0,
            -0.0,
            0.5,
            -0.5,
            1.5,
            2.5,
            -2.5,
            126.5,
            127.5,
            -128.5,
            254.5,
            255.5,
            1e9,
            -1e9,
            3.3,
            -7.7,
            1e-40,
        ];
        let xs: Vec<f32> = (0..1000)
            .map(|i| {
                if i % 3 == 0 {
                    specials[i % specials.len()]
                } else {
                    (i as f32 * 0.731) - 300.0
                }
            })
            .collect();
        let input: Vec<u8> = xs.iter().flat_map(|x| x.to_le_bytes()).collect();
        for flags in 0..8 {
            for (scale, zp) in [(1.0f32, 0), (0.37, 3), (12.5, -20), (-2.0, 100), (0.5, 0)] {
                let want: Vec<u8> = xs
                    .iter()
                    .map(|x| quantize_one(*x, scale, zp, flags))
                    .collect();
                // The AVX2 loop too, on hosts that would take the AVX-512 one.
                let mut got = vec![0u8; xs.len()];
                quantize_bytes_with(&input, &mut got, scale, zp, flags, false);
                assert_eq!(got, want, "AVX2, flags {flags}, scale {scale}, zp {zp}");
                let mut got = vec![0u8; xs.len()];
                quantize_bytes(&input, &mut got, scale, zp, flags);
                assert_eq!(got, want, "quantize flags {flags} scale {scale} zp {zp}");
                let bytes: Vec<u8> = (0..1000).map(|i| (i * 37 % 256) as u8).collect();
                let mut out = vec![0u8; 4000];
                dequantize_bytes(&bytes, &mut out, scale, zp, flags & UNSIGNED);
                for (i, b) in bytes.iter().enumerate() {
                    let q = if flags & UNSIGNED != 0 {
                        *b as i32
                    } else {
                        *b as i8 as i32
                    };
                    let want = ((q - zp) as f32 * scale).to_le_bytes();
                    assert_eq!(out[4 * i..4 * i + 4], want, "dequantize {i}");
                }
            }
        }
    }
}
