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
