// barq near misses for `bounds-checks`: loops over slices whose checks cannot be
// decided before the loop, or whose failing branch does not trap.
#![no_std]

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

use core::slice::{from_raw_parts as slice, from_raw_parts_mut as slice_mut};

/// A gather: the checked index is loaded (`x[idx[i]]`), not affine.
#[no_mangle]
pub unsafe extern "C" fn gather_slices(x: *const f32, nx: usize, idx: *const u32, y: *mut f32, n: usize) {
    let (x, idx, y) = (slice(x, nx), slice(idx, n), slice_mut(y, n));
    for i in 0..n {
        y[i] = x[idx[i] as usize];
    }
}

/// `get` instead of indexing: an out-of-range index ends the loop, no trap.
#[no_mangle]
pub unsafe extern "C" fn add_until_short(a: *const f32, na: usize, c: *mut f32, n: usize) -> usize {
    let (a, c) = (slice(a, na), slice_mut(c, n));
    let mut done = 0;
    for i in 0..n {
        match a.get(i) {
            Some(v) => c[i] += *v,
            None => break,
        }
        done += 1;
    }
    done
}

/// Each element doubles the next one's index: the index is not affine in `i`.
#[no_mangle]
pub unsafe extern "C" fn squares_index(x: *mut i32, nx: usize, n: usize) {
    let x = slice_mut(x, nx);
    for i in 0..n {
        x[i * i] += 1;
    }
}

/// A column walk (added to `y`) whose column index is `j * j`: the inner loop's index at its
/// start is not affine in the outer loop's `j`, so its checks cannot be decided
/// once for the whole nest (each column's inner loop is decided on its own).
#[no_mangle]
pub unsafe extern "C" fn colsum_squares(a: *const f32, na: usize, y: *mut f32, m: usize, n: usize) {
    let (a, y) = (slice(a, na), slice_mut(y, n));
    for j in 0..n {
        let mut s = y[j];
        for i in 0..m {
            s += a[i * n + j * j];
        }
        y[j] = s;
    }
}

/// Rows of a lower triangle: the inner loop runs `i + 1` times, a count that
/// changes with the outer loop, and the outer loop's check of `y[i]` comes
/// after it.
#[no_mangle]
pub unsafe extern "C" fn tri_rowsum(a: *const f32, na: usize, y: *mut f32, ny: usize, n: usize) {
    let (a, y) = (slice(a, na), slice_mut(y, ny));
    for i in 0..n {
        let mut s = 0.0f32;
        for j in 0..=i {
            s += a[i * n + j];
        }
        y[i] = s;
    }
}
