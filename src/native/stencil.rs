//! `stencil3x3_u8_v1(image, out, h, w, w0, ..., w8)`: a 3x3 integer stencil over
//! an `h` x `w` 8-bit image, for functions `barq-opt --target native` identified
//! as one (`native-stencil`): for every pixel not on the border,
//! `out[y][x] = clamp(sum w[dy][dx] * in[y+dy-1][x+dx-1], 0, 255)`, the output in
//! the image's layout, the border untouched. Exact (integer sums). Sizes count as
//! unsigned; a range outside memory traps; overlapping images are refused.

use super::{memory, MODULE};
use wasmtime::{Caller, Linker, Trap};

/// Registers the kernel.
pub(crate) fn add_to_linker<T: super::GuestMemory + 'static>(
    linker: &mut Linker<T>,
) -> wasmtime::Result<()> {
    linker.func_wrap(
        MODULE,
        "stencil3x3_u8_v1",
        #[allow(clippy::too_many_arguments)]
        |mut caller: Caller<'_, T>,
         image: i32,
         out: i32,
         h: i32,
         w: i32,
         w0: i32,
         w1: i32,
         w2: i32,
         w3: i32,
         w4: i32,
         w5: i32,
         w6: i32,
         w7: i32,
         w8: i32|
         -> wasmtime::Result<()> {
            let weights = [w0, w1, w2, w3, w4, w5, w6, w7, w8];
            let memory = memory(&mut caller)?;
            let data = memory.data_mut(&mut caller);
            let (h, w) = (h as u32 as usize, w as u32 as usize);
            let bytes = h as u64 * w as u64;
            let span = |base: i32| -> wasmtime::Result<std::ops::Range<usize>> {
                let start = base as u32 as u64;
                if start + bytes > data.len() as u64 {
                    return Err(Trap::MemoryOutOfBounds.into());
                }
                Ok(start as usize..(start + bytes) as usize)
            };
            let (from, to) = (span(image)?, span(out)?);
            if bytes > 0 && from.start < to.end && to.start < from.end {
                return Err(wasmtime::Error::msg(
                    "barq stencil3x3_u8_v1: the images overlap",
                ));
            }
            if h < 3 || w < 3 {
                return Ok(());
            }
            let (input, output) = if from.start < to.start {
                let (low, high) = data.split_at_mut(to.start);
                (&low[from], &mut high[..to.end - to.start])
            } else {
                let (low, high) = data.split_at_mut(from.start);
                (&high[..from.end - from.start], &mut low[to])
            };
            stencil(input, output, h, w, &weights);
            Ok(())
        },
    )?;
    Ok(())
}

fn pixel(input: &[u8], w: usize, y: usize, x: usize, weights: &[i32; 9]) -> u8 {
    let mut s = 0i32;
    for dy in 0..3 {
        for dx in 0..3 {
            s = s.wrapping_add(
                weights[dy * 3 + dx].wrapping_mul(input[(y + dy - 1) * w + x + dx - 1] as i32),
            );
        }
    }
    s.clamp(0, 255) as u8
}

fn stencil(input: &[u8], output: &mut [u8], h: usize, w: usize, weights: &[i32; 9]) {
    // 16-bit lanes are exact when no sum can leave -32768..=32767.
    let small = weights.iter().map(|v| v.unsigned_abs() as u64).sum::<u64>() * 255 <= 32767;
    #[cfg(target_arch = "x86_64")]
    if small && w >= 18 && std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 is present; h >= 3 and w >= 18 (the caller's checks and this one).
        unsafe { image_avx2(input, output, h, w, weights) };
        return;
    }
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            output[y * w + x] = pixel(input, w, y, x, weights);
        }
    }
}

/// Sixteen pixels per step in 16-bit lanes. A row's last step overlaps the one
/// before it (it starts at w - 17): the output does not overlap the input, so
/// computing a pixel twice writes the same byte twice. Needs h >= 3 and w >= 18.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn image_avx2(input: &[u8], output: &mut [u8], h: usize, w: usize, weights: &[i32; 9]) {
    use std::arch::x86_64::*;
    debug_assert!(h >= 3 && w >= 18 && input.len() >= h * w && output.len() >= h * w);
    let k: [__m256i; 9] = std::array::from_fn(|i| _mm256_set1_epi16(weights[i] as i16));
    for y in 1..h - 1 {
        let mut x = 1;
        while x + 16 < w {
            step_avx2(input, output, w, y, x, &k);
            x += 16;
        }
        if x < w - 1 {
            step_avx2(input, output, w, y, w - 17, &k);
        }
    }
}

/// Pixels x ..= x+15 of row y (1 <= x, x + 16 <= w - 1, 1 <= y <= h - 2).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn step_avx2(
    input: &[u8],
    output: &mut [u8],
    w: usize,
    y: usize,
    x: usize,
    k: &[std::arch::x86_64::__m256i; 9],
) {
    use std::arch::x86_64::*;
    let mut s = _mm256_setzero_si256();
    for dy in 0..3 {
        // Columns x-1 ..= x+16 of rows y-1 ..= y+1.
        let row = input.as_ptr().add((y + dy - 1) * w + x - 1);
        for dx in 0..3 {
            let v = _mm256_cvtepu8_epi16(_mm_loadu_si128(row.add(dx) as *const __m128i));
            s = _mm256_add_epi16(s, _mm256_mullo_epi16(v, k[dy * 3 + dx]));
        }
    }
    // Saturating pack to unsigned bytes is the clamp to 0..=255.
    let packed = _mm256_packus_epi16(s, s);
    let bytes = _mm256_permute4x64_epi64(packed, 0b11_01_10_00);
    _mm_storeu_si128(
        output.as_mut_ptr().add(y * w + x) as *mut __m128i,
        _mm256_castsi256_si128(bytes),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_rows_are_the_definition() {
        for weights in [
            [-1, -1, -1, -1, 8, -1, -1, -1, -1],
            [0, -1, 0, -1, 5, -1, 0, -1, 0],
            [1, 2, 1, 0, 0, 0, -1, -2, -1],
            [100, 0, 0, 0, 0, 0, 0, 0, -90],
        ] {
            for (h, w) in [(3, 3), (5, 18), (7, 40), (4, 17), (6, 28), (3, 33), (4, 34)] {
                let input: Vec<u8> = (0..h * w).map(|i| (i * 97 % 251) as u8).collect();
                let mut got = vec![7u8; h * w];
                stencil(&input, &mut got, h, w, &weights);
                let mut want = vec![7u8; h * w];
                for y in 1..h - 1 {
                    for x in 1..w - 1 {
                        want[y * w + x] = pixel(&input, w, y, x, &weights);
                    }
                }
                assert_eq!(got, want, "{weights:?} {h}x{w}");
            }
        }
    }
}
