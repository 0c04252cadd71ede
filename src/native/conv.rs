//! `conv3x3_f32_v1(image, kernel, out, h, w, bias, flags)`: the valid 3x3
//! convolution of an `h` x `w` f32 image, for functions `barq-opt --target
//! native` identified as one (`native-conv`). Every output is
//! `((bias + in[y][x] k0) + in[y][x+1] k1) + ... + in[y+2][x+2] k8` (flag 2: the
//! bias added last instead), a rounded multiply then a rounded add per term, in
//! that order (no FMA); flag 1: ReLU as `s > 0 ? s : 0` (NaN gives 0). Output rows
//! are `w - 2` wide. Sizes count as unsigned; a range outside memory traps; an
//! output overlapping the image or the kernel is refused.

use super::{memory, MODULE};
use wasmtime::{Caller, Linker, Trap};

const RELU: i32 = 1;
const BIAS_LAST: i32 = 2;

/// Registers the kernel.
pub(crate) fn add_to_linker<T: super::GuestMemory + 'static>(
    linker: &mut Linker<T>,
) -> wasmtime::Result<()> {
    linker.func_wrap(
        MODULE,
        "conv3x3_f32_v1",
        |mut caller: Caller<'_, T>,
         image: i32,
         kernel: i32,
         out: i32,
         h: i32,
         w: i32,
         bias: f32,
         flags: i32|
         -> wasmtime::Result<()> {
            let memory = memory(&mut caller)?;
            let data = memory.data_mut(&mut caller);
            let (h, w) = (h as u32 as u64, w as u32 as u64);
            if h < 3 || w < 3 {
                return Ok(());
            }
            let span = |base: i32, bytes: u64| -> wasmtime::Result<std::ops::Range<usize>> {
                let start = base as u32 as u64;
                let end = start + bytes;
                if end > data.len() as u64 {
                    return Err(Trap::MemoryOutOfBounds.into());
                }
                Ok(start as usize..end as usize)
            };
            let img = span(image, 4 * h * w)?;
            let ker = span(kernel, 36)?;
            let dst = span(out, 4 * (h - 2) * (w - 2))?;
            let overlaps = |r: &std::ops::Range<usize>| r.start < dst.end && dst.start < r.end;
            if overlaps(&img) || overlaps(&ker) {
                return Err(wasmtime::Error::msg(
                    "barq conv3x3_f32_v1: the output overlaps the image or the kernel",
                ));
            }
            let k: [f32; 9] = std::array::from_fn(|i| {
                f32::from_le_bytes(
                    data[ker.start + 4 * i..ker.start + 4 * i + 4]
                        .try_into()
                        .expect("4 bytes"),
                )
            });
            let base = data.as_mut_ptr();
            // SAFETY: both ranges were checked against the memory and are apart;
            // the kernel reads only the image and writes only the output.
            unsafe {
                conv3x3(
                    base.add(img.start) as *const f32,
                    h as usize,
                    w as usize,
                    &k,
                    bias,
                    flags,
                    base.add(dst.start) as *mut f32,
                );
            }
            Ok(())
        },
    )?;
    Ok(())
}

/// One output, as the scalar loops compute it.
///
/// # Safety
/// `input` holds `(y + 3) * w` f32s (unaligned).
unsafe fn one(
    input: *const f32,
    w: usize,
    y: usize,
    x: usize,
    k: &[f32; 9],
    bias: f32,
    flags: i32,
) -> f32 {
    let mut s = if flags & BIAS_LAST != 0 { 0.0 } else { bias };
    for ky in 0..3 {
        for kx in 0..3 {
            s += input.add((y + ky) * w + x + kx).read_unaligned() * k[ky * 3 + kx];
        }
    }
    if flags & BIAS_LAST != 0 {
        s += bias;
    }
    if flags & RELU != 0 {
        // s > 0 ? s : 0 (NaN and -0.0 give +0.0).
        s = if s > 0.0 { s } else { 0.0 };
    }
    s
}

/// The whole convolution.
///
/// # Safety
/// `input` holds `h * w` f32s and `out` `(h - 2) * (w - 2)` (unaligned, apart),
/// `h, w >= 3`.
unsafe fn conv3x3(
    input: *const f32,
    h: usize,
    w: usize,
    k: &[f32; 9],
    bias: f32,
    flags: i32,
    out: *mut f32,
) {
    let ow = w - 2;
    #[cfg(target_arch = "x86_64")]
    let avx2 = std::arch::is_x86_feature_detected!("avx2");
    for y in 0..h - 2 {
        let row = out.add(y * ow);
        let mut x = 0;
        #[cfg(target_arch = "x86_64")]
        if avx2 {
            x = row_avx2(input, w, y, k, bias, flags, row);
        }
        while x < ow {
            row.add(x)
                .write_unaligned(one(input, w, y, x, k, bias, flags));
            x += 1;
        }
    }
}

/// Eight outputs per step along one row; returns how many it did.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn row_avx2(
    input: *const f32,
    w: usize,
    y: usize,
    k: &[f32; 9],
    bias: f32,
    flags: i32,
    row: *mut f32,
) -> usize {
    use std::arch::x86_64::*;
    let ow = w - 2;
    let kv: [__m256; 9] = std::array::from_fn(|i| _mm256_set1_ps(k[i]));
    let b = _mm256_set1_ps(bias);
    let zero = _mm256_setzero_ps();
    let p = input;
    let mut x = 0;
    while x + 8 <= ow {
        let mut s = if flags & BIAS_LAST != 0 { zero } else { b };
        for ky in 0..3 {
            let r = p.add((y + ky) * w + x);
            for kx in 0..3 {
                s = _mm256_add_ps(
                    s,
                    _mm256_mul_ps(_mm256_loadu_ps(r.add(kx)), kv[ky * 3 + kx]),
                );
            }
        }
        if flags & BIAS_LAST != 0 {
            s = _mm256_add_ps(s, b);
        }
        if flags & RELU != 0 {
            // s > 0 ? s : 0 is maxps(s, 0): the second operand when not greater
            // (NaN and -0.0 give +0.0).
            s = _mm256_max_ps(s, zero);
        }
        _mm256_storeu_ps(row.add(x), s);
        x += 8;
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_rows_are_the_definition() {
        let specials = [f32::NAN, f32::INFINITY, -0.0, 0.0, 1e-40];
        for (h, w) in [(3, 3), (5, 11), (7, 17), (4, 40)] {
            let input: Vec<f32> = (0..h * w)
                .map(|i| {
                    if i % 7 == 0 {
                        specials[i % 5]
                    } else {
                        (i as f32 * 0.37).sin() * 3.0
                    }
                })
                .collect();
            let k = [0.5, -1.25, 0.75, 2.0, -0.125, 1.5, -2.5, 0.25, 1.0];
            for flags in 0..4 {
                for bias in [0.0f32, -0.3, 1.7] {
                    let mut got = vec![0f32; (h - 2) * (w - 2)];
                    // SAFETY: the sizes match the vectors.
                    unsafe { conv3x3(input.as_ptr(), h, w, &k, bias, flags, got.as_mut_ptr()) };
                    for y in 0..h - 2 {
                        for x in 0..w - 2 {
                            // SAFETY: as above.
                            let want = unsafe { one(input.as_ptr(), w, y, x, &k, bias, flags) };
                            let v = got[y * (w - 2) + x];
                            assert!(
                                v.to_bits() == want.to_bits() || (v.is_nan() && want.is_nan()),
                                "{h}x{w} {flags} {y},{x}"
                            );
                        }
                    }
                }
            }
        }
    }
}
