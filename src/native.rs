//! Host kernels for modules made with `barq-opt --target native`: the functions of
//! import module `barq`, provided by the runner.
//!
//! Every kernel reads and writes guest memory in place, checks each range against
//! the memory's current size once per call (a range that wraps or runs past the end
//! is a wasm trap, never a host fault), and accepts unaligned pointers. Exact kernels
//! compute each output with the same operations in the same order as the loop they
//! replace (no FMA); `--fast-math` kernels may reorder and fuse.
//!
//! | import | computes | exact |
//! |---|---|---|
//! | `axpy_f32_v1(y, x, a, n)` | `y[i] = y[i] + a * x[i]` | yes |
//! | `dot_f32_v1(x, y, n) -> f32` | `sum x[i] * y[i]`, any order, FMA | no (`--fast-math`) |
//! | `dot_i32_v1(x, y, n) -> i32` | wrapping `sum x[i] * y[i]` | yes |
//! | `cosine_f32_v1(x, y, n) -> (f32, f32, f32)` | `sum x*y`, `sum x*x`, `sum y*y`, any order, FMA | no (`--fast-math`) |
//! | `sum_squares_f32_v1(x, n) -> f32` | `sum x[i] * x[i]`, any order, FMA | no (`--fast-math`) |
//! | `dot_u8_i8_v1(x, y, n) -> i32` (and `_u8_u8_`, `_i8_u8_`, `_i8_i8_`) | wrapping `sum x[i] * y[i]` over bytes widened as named | yes |
//! | `crc32_v1`, `crc32c_v1`, `adler32_v1` `(value, ptr, len) -> i32` | zlib-style checksum updates ([`checksum`]) | yes |
//! | `quantize_f32_v1`, `dequantize_f32_v1` `(src, dst, n, scale, zp, flags)` | INT8 (de)quantization of arrays ([`quantize`]) | yes |
//! | `conv3x3_f32_v1(image, kernel, out, h, w, bias, flags)` | valid 3x3 convolution, bias, ReLU by flag ([`conv`]) | yes |
//! | `stencil3x3_u8_v1(image, out, h, w, w0..w8)` | 3x3 integer stencil on bytes, clamped ([`stencil`]) | yes |
//! | `lz4_block_decompress_v1(src, src_len, dst, dst_cap) -> i32` | an LZ4 block decoded into `dst`, its size; -1 (nothing written) if malformed or too big ([`lz4`]) | yes |
//! | `zstd_decompress_v1(dst, dst_cap, src, src_size) -> i32` | Zstandard frames decoded into `dst` as `ZSTD_decompress` does, their size; -1 (nothing changed) if malformed, unsized or too big ([`zstd`]) | yes |
//! | `brotli_decompress_v1(dst, dst_cap, src, src_size) -> i32` | a Brotli stream decoded into `dst` as `BrotliDecoderDecompress` does, its size; -1 (nothing changed) if malformed or too big ([`brotli`]) | yes |
//! | `softmax_f32_v1(x, y, n)` | `y = softmax(x)` (`y` may be `x`), exp by a polynomial, sum in any order ([`softmax`]) | no (`--fast-math`) |
//! | `attention_f32_v1(q, k, v, out, n, m, d, scale, flags)` | `out = softmax(Q K^T * scale) V` (`n x d` queries, `m x d` keys and values; flag 1: causal, key `j <= i + m - n`), exp by a polynomial, sums in any order, FMA ([`attention`]) | no (`--fast-math`) |
//! | `gemm_f32_v1(a, b, c, m, n, k, lda, ldb, ldc, flags)` | `C = A B` / `C += A B`, transposes by flag ([`gemm`]) | yes; flag 8: `--fast-math` |

use wasmtime::{Caller, Linker, Memory, Trap};

pub(crate) mod attention;
pub(crate) mod brotli;
pub(crate) mod checksum;
pub(crate) mod conv;
pub(crate) mod gemm;
pub(crate) mod lz4;
pub(crate) mod quantize;
pub(crate) mod softmax;
pub(crate) mod stencil;
pub(crate) mod zstd;

/// The import module name.
pub const MODULE: &str = "barq";

/// How a store's kernels find guest memory. Looking up the calling instance's
/// `memory` export costs ~60 ns per call in Wasmtime 48 (measured: an empty host
/// function costs ~5 ns), more than a 300-element dot product; a store that holds
/// one instance can hand its memory over instead.
pub trait GuestMemory {
    /// The memory of the instance calling the kernels, or `None` to look up the
    /// caller's `memory` export on every call. Return a memory only when every
    /// instance in the store that imports `barq` kernels uses it.
    fn guest_memory(&self) -> Option<Memory>;
}

/// Stores without state look the export up on every call.
impl GuestMemory for () {
    fn guest_memory(&self) -> Option<Memory> {
        None
    }
}

/// A store whose data is the memory of its one instance (set after instantiating).
impl GuestMemory for Option<Memory> {
    fn guest_memory(&self) -> Option<Memory> {
        *self
    }
}

/// Registers every kernel in `linker`.
pub fn add_to_linker<T: GuestMemory + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    linker.func_wrap(
        MODULE,
        "axpy_f32_v1",
        |mut caller: Caller<'_, T>, y: i32, x: i32, a: f32, n: i32| -> wasmtime::Result<()> {
            let memory = memory(&mut caller)?;
            let data = memory.data_mut(&mut caller);
            let ys = range(data.len(), y, n, 4)?;
            let xs = range(data.len(), x, n, 4)?;
            axpy_f32(data, ys, xs, a);
            Ok(())
        },
    )?;
    linker.func_wrap(
        MODULE,
        "dot_f32_v1",
        |mut caller: Caller<'_, T>, x: i32, y: i32, n: i32| -> wasmtime::Result<f32> {
            let memory = memory(&mut caller)?;
            let data = memory.data(&caller);
            let (xs, ys) = (range(data.len(), x, n, 4)?, range(data.len(), y, n, 4)?);
            Ok(dot_f32(&data[xs], &data[ys]))
        },
    )?;
    linker.func_wrap(
        MODULE,
        "dot_i32_v1",
        |mut caller: Caller<'_, T>, x: i32, y: i32, n: i32| -> wasmtime::Result<i32> {
            let memory = memory(&mut caller)?;
            let data = memory.data(&caller);
            let (xs, ys) = (range(data.len(), x, n, 4)?, range(data.len(), y, n, 4)?);
            Ok(data[xs]
                .chunks_exact(4)
                .zip(data[ys].chunks_exact(4))
                .fold(0i32, |acc, (a, b)| {
                    acc.wrapping_add(word(a).wrapping_mul(word(b)))
                }))
        },
    )?;
    linker.func_wrap(
        MODULE,
        "sum_squares_f32_v1",
        |mut caller: Caller<'_, T>, x: i32, n: i32| -> wasmtime::Result<f32> {
            let memory = memory(&mut caller)?;
            let data = memory.data(&caller);
            let xs = range(data.len(), x, n, 4)?;
            Ok(sum_squares_f32(&data[xs]))
        },
    )?;
    linker.func_wrap(
        MODULE,
        "cosine_f32_v1",
        |mut caller: Caller<'_, T>, x: i32, y: i32, n: i32| -> wasmtime::Result<(f32, f32, f32)> {
            let memory = memory(&mut caller)?;
            let data = memory.data(&caller);
            let (xs, ys) = (range(data.len(), x, n, 4)?, range(data.len(), y, n, 4)?);
            Ok(cosine_sums(&data[xs], &data[ys]))
        },
    )?;
    byte_dot::<T, false, false>(linker, "dot_u8_u8_v1")?;
    byte_dot::<T, false, true>(linker, "dot_u8_i8_v1")?;
    byte_dot::<T, true, false>(linker, "dot_i8_u8_v1")?;
    byte_dot::<T, true, true>(linker, "dot_i8_i8_v1")?;
    gemm::add_to_linker(linker)?;
    checksum::add_to_linker(linker)?;
    quantize::add_to_linker(linker)?;
    conv::add_to_linker(linker)?;
    stencil::add_to_linker(linker)?;
    lz4::add_to_linker(linker)?;
    softmax::add_to_linker(linker)?;
    attention::add_to_linker(linker)?;
    zstd::add_to_linker(linker)?;
    brotli::add_to_linker(linker)?;
    Ok(())
}

/// Registers a widening byte dot product: `x` and `y` bytes, sign-extended when
/// `SX` / `SY`, multiplied and added into a wrapping i32 (exact in any order).
fn byte_dot<T: GuestMemory + 'static, const SX: bool, const SY: bool>(
    linker: &mut Linker<T>,
    name: &str,
) -> wasmtime::Result<()> {
    linker.func_wrap(
        MODULE,
        name,
        |mut caller: Caller<'_, T>, x: i32, y: i32, n: i32| -> wasmtime::Result<i32> {
            let memory = memory(&mut caller)?;
            let data = memory.data(&caller);
            let (xs, ys) = (range(data.len(), x, n, 1)?, range(data.len(), y, n, 1)?);
            Ok(dot_bytes::<SX, SY>(&data[xs], &data[ys]))
        },
    )?;
    Ok(())
}

fn widen<const SIGNED: bool>(b: u8) -> i32 {
    if SIGNED {
        b as i8 as i32
    } else {
        b as i32
    }
}

/// Wrapping `sum x[i] * y[i]` over widened bytes.
fn dot_bytes<const SX: bool, const SY: bool>(x: &[u8], y: &[u8]) -> i32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 is present; the kernel reads within both slices.
        return unsafe { dot_bytes_avx2::<SX, SY>(x, y) };
    }
    x.iter().zip(y).fold(0i32, |acc, (a, b)| {
        acc.wrapping_add(widen::<SX>(*a).wrapping_mul(widen::<SY>(*b)))
    })
}

/// 16 bytes per step: widen both to i16, `vpmaddwd` into i32 pairs (no product or
/// pair sum of widened bytes overflows: |255 * 255 * 2| < 2^31), wrapping adds.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dot_bytes_avx2<const SX: bool, const SY: bool>(x: &[u8], y: &[u8]) -> i32 {
    use std::arch::x86_64::*;
    let n = x.len().min(y.len());
    let widen16 = |v: __m128i, signed: bool| {
        if signed {
            _mm256_cvtepi8_epi16(v)
        } else {
            _mm256_cvtepu8_epi16(v)
        }
    };
    let mut acc = [_mm256_setzero_si256(); 2];
    let mut i = 0;
    while i + 32 <= n {
        for (k, a) in acc.iter_mut().enumerate() {
            let o = i + 16 * k;
            let vx = widen16(_mm_loadu_si128(x.as_ptr().add(o) as *const __m128i), SX);
            let vy = widen16(_mm_loadu_si128(y.as_ptr().add(o) as *const __m128i), SY);
            *a = _mm256_add_epi32(*a, _mm256_madd_epi16(vx, vy));
        }
        i += 32;
    }
    let sum = _mm256_add_epi32(acc[0], acc[1]);
    let mut lanes = [0i32; 8];
    _mm256_storeu_si256(lanes.as_mut_ptr() as *mut __m256i, sum);
    let mut total = lanes.iter().fold(0i32, |a, b| a.wrapping_add(*b));
    while i < n {
        total = total.wrapping_add(widen::<SX>(x[i]).wrapping_mul(widen::<SY>(y[i])));
        i += 1;
    }
    total
}

fn word(bytes: &[u8]) -> i32 {
    i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

fn float(bytes: &[u8]) -> f32 {
    f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// The caller's memory: the store's, when it knows it, else the caller's export
/// (`barq-opt --target native` exports it).
fn memory<T: GuestMemory>(caller: &mut Caller<'_, T>) -> wasmtime::Result<Memory> {
    exported_memory(caller).ok_or_else(|| {
        wasmtime::Error::msg("barq native kernel: the module exports no memory named `memory`")
    })
}

/// The calling instance's (unshared) memory export `memory`, or the memory the
/// store says it is: where host functions find guest memory (native kernels here,
/// the WASI I/O fast path).
pub(crate) fn exported_memory<T: GuestMemory>(caller: &mut Caller<'_, T>) -> Option<Memory> {
    if let Some(memory) = caller.data().guest_memory() {
        return Some(memory);
    }
    caller
        .get_export("memory")
        .and_then(wasmtime::Extern::into_memory)
}

/// The byte range of `n` elements of `size` bytes at `ptr`, or a trap when it does
/// not lie inside memory (`n` counts as unsigned, as the guard passes it).
pub(crate) fn range(
    len: usize,
    ptr: i32,
    n: i32,
    size: u64,
) -> wasmtime::Result<std::ops::Range<usize>> {
    let start = ptr as u32 as u64;
    let end = start + n as u32 as u64 * size;
    if end > len as u64 {
        return Err(Trap::MemoryOutOfBounds.into());
    }
    Ok(start as usize..end as usize)
}

/// `y[i] = y[i] + a * x[i]`: a multiply, then an add, per element (no FMA), so
/// every element is bit-identical to the scalar loop's. `y` and `x` may overlap
/// only exactly (the guard checks); elements are processed in order either way.
fn axpy_f32(data: &mut [u8], ys: std::ops::Range<usize>, xs: std::ops::Range<usize>, a: f32) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the ranges were checked against `data`; AVX2 is present.
        unsafe { axpy_f32_avx2(data, ys, xs, a) };
        return;
    }
    for (i, j) in ys.step_by(4).zip(xs.step_by(4)) {
        let v = float(&data[i..i + 4]) + a * float(&data[j..j + 4]);
        data[i..i + 4].copy_from_slice(&v.to_le_bytes());
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn axpy_f32_avx2(
    data: &mut [u8],
    ys: std::ops::Range<usize>,
    xs: std::ops::Range<usize>,
    a: f32,
) {
    use std::arch::x86_64::*;
    let n = (ys.end - ys.start) / 4;
    let base = data.as_mut_ptr();
    let (y, x) = (
        base.add(ys.start) as *mut f32,
        base.add(xs.start) as *const f32,
    );
    let va = _mm256_set1_ps(a);
    let mut i = 0;
    while i + 8 <= n {
        let prod = _mm256_mul_ps(va, _mm256_loadu_ps(x.add(i)));
        _mm256_storeu_ps(y.add(i), _mm256_add_ps(_mm256_loadu_ps(y.add(i)), prod));
        i += 8;
    }
    while i < n {
        y.add(i)
            .write_unaligned(y.add(i).read_unaligned() + a * x.add(i).read_unaligned());
        i += 1;
    }
}

/// A float dot product in any order (`--fast-math` kernels only).
fn dot_f32(x: &[u8], y: &[u8]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: both slices hold whole f32s; AVX2 and FMA are present.
        return unsafe { dot_f32_avx2(x, y) };
    }
    x.chunks_exact(4)
        .zip(y.chunks_exact(4))
        .map(|(a, b)| float(a) * float(b))
        .sum()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_f32_avx2(x: &[u8], y: &[u8]) -> f32 {
    use std::arch::x86_64::*;
    let n = x.len().min(y.len()) / 4;
    let (px, py) = (x.as_ptr() as *const f32, y.as_ptr() as *const f32);
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i + 32 <= n {
        for (k, a) in acc.iter_mut().enumerate() {
            let o = i + 8 * k;
            *a = _mm256_fmadd_ps(_mm256_loadu_ps(px.add(o)), _mm256_loadu_ps(py.add(o)), *a);
        }
        i += 32;
    }
    while i + 8 <= n {
        acc[0] = _mm256_fmadd_ps(
            _mm256_loadu_ps(px.add(i)),
            _mm256_loadu_ps(py.add(i)),
            acc[0],
        );
        i += 8;
    }
    let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    let mut lanes = [0f32; 8];
    _mm256_storeu_ps(lanes.as_mut_ptr(), sum);
    let mut total: f32 = lanes.iter().sum();
    while i < n {
        total += px.add(i).read_unaligned() * py.add(i).read_unaligned();
        i += 1;
    }
    total
}

/// The three sums of a cosine (`x.y`, `x.x`, `y.y`) in one pass, in any order
/// (`--fast-math` kernels only).
fn cosine_sums(x: &[u8], y: &[u8]) -> (f32, f32, f32) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: both slices hold whole f32s; AVX2 and FMA are present.
        return unsafe { cosine_sums_avx2(x, y) };
    }
    x.chunks_exact(4)
        .zip(y.chunks_exact(4))
        .fold((0.0, 0.0, 0.0), |(xy, xx, yy), (a, b)| {
            let (a, b) = (float(a), float(b));
            (xy + a * b, xx + a * a, yy + b * b)
        })
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn cosine_sums_avx2(x: &[u8], y: &[u8]) -> (f32, f32, f32) {
    use std::arch::x86_64::*;
    let n = x.len().min(y.len()) / 4;
    let (px, py) = (x.as_ptr() as *const f32, y.as_ptr() as *const f32);
    // Two accumulators per sum hide the FMA latency.
    // acc[k] holds (x.y, x.x, y.y) for the k-th 8 lanes of each 16.
    let mut acc = [[_mm256_setzero_ps(); 3]; 2];
    let mut i = 0;
    while i + 16 <= n {
        for (k, [xy, xx, yy]) in acc.iter_mut().enumerate() {
            let o = i + 8 * k;
            let (a, b) = (_mm256_loadu_ps(px.add(o)), _mm256_loadu_ps(py.add(o)));
            *xy = _mm256_fmadd_ps(a, b, *xy);
            *xx = _mm256_fmadd_ps(a, a, *xx);
            *yy = _mm256_fmadd_ps(b, b, *yy);
        }
        i += 16;
    }
    let mut sums = [0f32; 3];
    for (s, (low, high)) in sums.iter_mut().zip(acc[0].iter().zip(&acc[1])) {
        let mut lanes = [0f32; 8];
        _mm256_storeu_ps(lanes.as_mut_ptr(), _mm256_add_ps(*low, *high));
        *s = lanes.iter().sum();
    }
    while i < n {
        let (a, b) = (px.add(i).read_unaligned(), py.add(i).read_unaligned());
        sums[0] += a * b;
        sums[1] += a * a;
        sums[2] += b * b;
        i += 1;
    }
    (sums[0], sums[1], sums[2])
}

/// `sum x[i] * x[i]` in any order (`--fast-math` kernels only): one load per
/// element, eight independent FMA chains (two FMA pipes of latency four on Zen 3).
fn sum_squares_f32(x: &[u8]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the slice holds whole f32s; AVX2 and FMA are present.
        return unsafe { sum_squares_f32_avx2(x) };
    }
    x.chunks_exact(4).map(|a| float(a) * float(a)).sum()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn sum_squares_f32_avx2(x: &[u8]) -> f32 {
    use std::arch::x86_64::*;
    let n = x.len() / 4;
    let px = x.as_ptr() as *const f32;
    let mut acc = [_mm256_setzero_ps(); 8];
    let mut i = 0;
    while i + 64 <= n {
        for (k, a) in acc.iter_mut().enumerate() {
            let v = _mm256_loadu_ps(px.add(i + 8 * k));
            *a = _mm256_fmadd_ps(v, v, *a);
        }
        i += 64;
    }
    while i + 8 <= n {
        let v = _mm256_loadu_ps(px.add(i));
        acc[0] = _mm256_fmadd_ps(v, v, acc[0]);
        i += 8;
    }
    let mut sum = acc[0];
    for a in &acc[1..] {
        sum = _mm256_add_ps(sum, *a);
    }
    let mut lanes = [0f32; 8];
    _mm256_storeu_ps(lanes.as_mut_ptr(), sum);
    let mut total: f32 = lanes.iter().sum();
    while i < n {
        let v = px.add(i).read_unaligned();
        total += v * v;
        i += 1;
    }
    total
}

/// Defines `env.memset`, `env.memcpy` and `env.memmove` (`(i32, i32, i32) -> i32`,
/// as clang emits calls to them) over the caller's exported memory, and the f32
/// rounding functions of libm (`roundf`, `rintf`, `nearbyintf`, `floorf`,
/// `ceilf`, `truncf`: `(f32) -> f32`; `lrintf`: `(f32) -> i32`), for modules
/// that import them (C built with `-nostdlib`): probing, `--verify` and the tests
/// run such modules with the real behaviour, not a stub. A range outside memory is
/// an error (a trap).
pub fn add_libc_memory_to_linker<T: GuestMemory + 'static>(
    linker: &mut Linker<T>,
) -> wasmtime::Result<()> {
    type Rounding = fn(f32) -> f32;
    let rounding: [(&str, Rounding); 6] = [
        ("roundf", f32::round),
        ("rintf", f32::round_ties_even),
        ("nearbyintf", f32::round_ties_even),
        ("floorf", f32::floor),
        ("ceilf", f32::ceil),
        ("truncf", f32::trunc),
    ];
    for (name, f) in rounding {
        linker.func_wrap("env", name, move |x: f32| -> f32 { f(x) })?;
    }
    // (C leaves lrintf of NaN or out of range unspecified; musl returns INT_MIN
    // as the x86 conversion does.)
    linker.func_wrap("env", "lrintf", |x: f32| -> i32 {
        let r = x.round_ties_even();
        if r.is_nan() || !(-2147483648.0..2147483648.0).contains(&r) {
            i32::MIN
        } else {
            r as i32
        }
    })?;
    linker.func_wrap(
        "env",
        "memset",
        |mut caller: Caller<'_, T>, dst: i32, value: i32, n: i32| -> wasmtime::Result<i32> {
            let memory = exported_memory(&mut caller)
                .ok_or_else(|| wasmtime::Error::msg("memset: no memory export"))?;
            let data = memory.data_mut(&mut caller);
            let to = range(data.len(), dst, n, 1)?;
            data[to].fill(value as u8);
            Ok(dst)
        },
    )?;
    for name in ["memcpy", "memmove"] {
        linker.func_wrap(
            "env",
            name,
            |mut caller: Caller<'_, T>, dst: i32, src: i32, n: i32| -> wasmtime::Result<i32> {
                let memory = exported_memory(&mut caller)
                    .ok_or_else(|| wasmtime::Error::msg("memcpy: no memory export"))?;
                let data = memory.data_mut(&mut caller);
                let (to, from) = (range(data.len(), dst, n, 1)?, range(data.len(), src, n, 1)?);
                data.copy_within(from, to.start);
                Ok(dst)
            },
        )?;
    }
    Ok(())
}

/// Registers a decoder kernel `name(dst, dst_cap, src, src_size) -> i32`: the
/// two ranges checked against memory (a bad one traps), then [`decode_apart`]
/// with `decode`; -1 where it declines.
pub(crate) fn add_decoder<T: GuestMemory + 'static>(
    linker: &mut Linker<T>,
    name: &str,
    decode: fn(&[u8], &mut [u8]) -> Option<usize>,
) -> wasmtime::Result<()> {
    linker.func_wrap(
        MODULE,
        name,
        move |mut caller: Caller<'_, T>,
              dst: i32,
              dst_cap: i32,
              src: i32,
              src_size: i32|
              -> wasmtime::Result<i32> {
            let memory = memory(&mut caller)?;
            let data = memory.data_mut(&mut caller);
            let from = range(data.len(), src, src_size, 1)?;
            let to = range(data.len(), dst, dst_cap, 1)?;
            Ok(decode_apart(data, from, to, decode).map_or(-1, |n| n as i32))
        },
    )?;
    Ok(())
}

/// Runs a decoder `decode(src, out)` on `data[from]` into `data[to]`: `None`
/// (and `data` untouched, if `decode` leaves its output so when it declines)
/// when the ranges overlap or `decode` declines, or the size is 2^31 or more
/// (it would read as an error: the original decodes it again; not reachable
/// while the guards keep capacities below 2^31).
pub(crate) fn decode_apart(
    data: &mut [u8],
    from: std::ops::Range<usize>,
    to: std::ops::Range<usize>,
    decode: impl FnOnce(&[u8], &mut [u8]) -> Option<usize>,
) -> Option<usize> {
    let (src, out) = if from.end <= to.start {
        let (low, high) = data.split_at_mut(to.start);
        (&low[from], &mut high[..to.len()])
    } else if to.end <= from.start {
        let (low, high) = data.split_at_mut(from.start);
        (&high[..from.len()], &mut low[to])
    } else {
        return None;
    };
    let n = decode(src, out)?;
    (n <= i32::MAX as usize).then_some(n)
}
