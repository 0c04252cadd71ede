// barq corpus: loops over Rust slices indexed by position (`c[i] = a[i] + b[i]`
// with `i < c.len()`), where rustc keeps a bounds check per access that it
// cannot prove: a branch to `panic_bounds_check` inside the loop. barq tests
// the first and last index against each length once before the loop
// (`bounds-checks`) and runs a copy without the checks when none can fail; the
// differential tests pass slices shorter than the loop, so that the original
// panics (traps) part-way and the rewrite must too.
#![no_std]

// A failed bounds check traps.
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

use core::slice::{from_raw_parts as slice, from_raw_parts_mut as slice_mut};

/// `c[i] = a[i] + b[i]` over `c`, with `a` and `b` of their own lengths.
#[no_mangle]
pub unsafe extern "C" fn add_slices(
    a: *const f32,
    na: usize,
    b: *const f32,
    nb: usize,
    c: *mut f32,
    n: usize,
) {
    let (a, b, c) = (slice(a, na), slice(b, nb), slice_mut(c, n));
    for i in 0..c.len() {
        c[i] = a[i] + b[i];
    }
}

/// Scales `n` elements of `a` from `off` on.
#[no_mangle]
pub unsafe extern "C" fn scale_from(a: *mut f32, na: usize, off: usize, n: usize, k: f32) {
    let a = slice_mut(a, na);
    for i in 0..n {
        a[off + i] *= k;
    }
}

/// Forward differences: `d[i] = x[i + 1] - x[i]`.
#[no_mangle]
pub unsafe extern "C" fn diff_slices(x: *const i32, nx: usize, d: *mut i32, n: usize) {
    let (x, d) = (slice(x, nx), slice_mut(d, n));
    for i in 0..n {
        d[i] = x[i + 1].wrapping_sub(x[i]);
    }
}

/// Brightens bytes with saturation, walking down from the end.
#[no_mangle]
pub unsafe extern "C" fn brighten_back(src: *const u8, ns: usize, dst: *mut u8, n: usize) {
    let (src, dst) = (slice(src, ns), slice_mut(dst, n));
    for i in (0..n).rev() {
        dst[i] = src[i].saturating_add(40);
    }
}

/// Counts elements above zero among the first `n` of `x`.
#[no_mangle]
pub unsafe extern "C" fn count_positive_slice(x: *const i32, nx: usize, n: usize) -> u32 {
    let x = slice(x, nx);
    let mut k = 0u32;
    for i in 0..n {
        k += (x[i] > 0) as u32;
    }
    k
}

/// `y[i] = sum_j a[i * n + j] * x[j]` (f32; a dot product per row, so only
/// `--fast-math` reorders it; the rows' bounds checks are the loop's).
#[no_mangle]
pub unsafe extern "C" fn gemv_slices(a: *const f32, x: *const f32, y: *mut f32, m: usize, n: usize) {
    let (a, x, y) = (slice(a, m * n), slice(x, n), slice_mut(y, m));
    for i in 0..m {
        let mut s = 0.0f32;
        for j in 0..n {
            s += a[i * n + j] * x[j];
        }
        y[i] = s;
    }
}

/// `y = A x` with A row-major (`m` rows of `n`), A the last buffer and of its
/// own length `na`: a short matrix panics part-way, and A is the buffer that
/// may end past memory in the differential tests (the rows' lanes are a row
/// apart). (`na` first: the tests' choice of lengths depends on the position.)
#[no_mangle]
pub unsafe extern "C" fn gemv_short(
    na: usize,
    x: *const f32,
    y: *mut f32,
    a: *const f32,
    m: usize,
    n: usize,
) {
    let (x, y, a) = (slice(x, n), slice_mut(y, m), slice(a, na));
    for i in 0..m {
        let mut s = 0.0f32;
        for j in 0..n {
            s += a[i * n + j] * x[j];
        }
        y[i] = s;
    }
}

/// `C += A B` in i-k-j order, every matrix its own slice of `m*k`, `k*n`, `m*n`.
#[no_mangle]
pub unsafe extern "C" fn matmul_ikj_slices(
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    m: usize,
    n: usize,
    k: usize,
) {
    let (a, b, c) = (slice(a, m * k), slice(b, k * n), slice_mut(c, m * n));
    for i in 0..m {
        for p in 0..k {
            let aip = a[i * k + p];
            for j in 0..n {
                c[i * n + j] += aip * b[p * n + j];
            }
        }
    }
}

/// `C = A B` in i-j-k order (a fresh sum per element, `k` in order), every
/// matrix its own slice: the k loop's index into B steps by a row per
/// iteration, and C's row and column checks sit in the j loop.
#[no_mangle]
pub unsafe extern "C" fn matmul_ijk_slices(
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    m: usize,
    n: usize,
    k: usize,
) {
    let (a, b, c) = (slice(a, m * k), slice(b, k * n), slice_mut(c, m * n));
    for i in 0..m {
        for j in 0..n {
            let mut s = 0.0f32;
            for p in 0..k {
                s += a[i * k + p] * b[p * n + j];
            }
            c[i * n + j] = s;
        }
    }
}

/// `y[j] = sum_i x[i] * a[i * n + j]`: a vector times a row-major matrix (each
/// output a column's dot product, rows in order).
#[no_mangle]
pub unsafe extern "C" fn vecmat_slices(x: *const i32, a: *const i32, y: *mut i32, m: usize, n: usize) {
    let (x, a, y) = (slice(x, m), slice(a, m * n), slice_mut(y, n));
    for j in 0..n {
        let mut s = 0i32;
        for i in 0..m {
            s = s.wrapping_add(x[i].wrapping_mul(a[i * n + j]));
        }
        y[j] = s;
    }
}

/// `vecmat_slices` over a matrix slice of its own length `na`: when `na` is
/// short of `m * n`, the check of `a[i * n + j]` panics part-way (in the
/// column and row where the original reaches the end first).
#[no_mangle]
pub unsafe extern "C" fn vecmat_short(
    x: *const i32,
    a: *const i32,
    na: usize,
    y: *mut i32,
    m: usize,
    n: usize,
) {
    let (x, a, y) = (slice(x, m), slice(a, na), slice_mut(y, n));
    for j in 0..n {
        let mut s = 0i32;
        for i in 0..m {
            s = s.wrapping_add(x[i].wrapping_mul(a[i * n + j]));
        }
        y[j] = s;
    }
}

/// A square `C = A B` (i-j-k) with B a slice of its own length `nb`.
#[no_mangle]
pub unsafe extern "C" fn matmul_ijk_short(
    a: *const f32,
    b: *const f32,
    nb: usize,
    c: *mut f32,
    n: usize,
) {
    let (a, b, c) = (slice(a, n * n), slice(b, nb), slice_mut(c, n * n));
    for i in 0..n {
        for j in 0..n {
            let mut s = 0.0f32;
            for p in 0..n {
                s += a[i * n + p] * b[p * n + j];
            }
            c[i * n + j] = s;
        }
    }
}

/// A valid 3x3 convolution over slices (`out` is `(h-2) x (w-2)`); rustc unrolls
/// the window, ten checks per output, and shares one panic among them.
#[no_mangle]
pub unsafe extern "C" fn conv3x3_slices(
    inp: *const f32,
    ni: usize,
    k: *const f32,
    out: *mut f32,
    no: usize,
    h: usize,
    w: usize,
) {
    let (inp, k, out) = (slice(inp, ni), slice(k, 9), slice_mut(out, no));
    let ow = w.wrapping_sub(2);
    for y in 0..h.saturating_sub(2) {
        for x in 0..ow {
            let mut s = 0.0f32;
            for dy in 0..3 {
                for dx in 0..3 {
                    s += k[dy * 3 + dx] * inp[(y + dy) * w + x + dx];
                }
            }
            out[y * ow + x] = s;
        }
    }
}

/// `y += x^T A` into `y` of its own length `ny`: the check of `y[j]` panics at
/// `j == ny` when `ny` is short.
#[no_mangle]
pub unsafe extern "C" fn vecmat_ylen(
    x: *const i32,
    a: *const i32,
    y: *mut i32,
    ny: usize,
    m: usize,
    n: usize,
) {
    let (x, a, y) = (slice(x, m), slice(a, m * n), slice_mut(y, ny));
    for j in 0..n {
        let mut s = y[j];
        for i in 0..m {
            s = s.wrapping_add(x[i].wrapping_mul(a[i * n + j]));
        }
        y[j] = s;
    }
}
