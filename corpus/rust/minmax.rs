// barq corpus: ReLU, clamps and a running maximum through f32::max / f32::min
// (and f64's), which rustc compiles to calls of compiler-builtins' fmaxf/fminf:
// wasm's f32.max gives NaN for a NaN operand, Rust's max gives the other one.
#![no_std]

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}

use core::slice::{from_raw_parts, from_raw_parts_mut};

#[no_mangle]
pub unsafe extern "C" fn relu_max_rs(x: *mut f32, n: usize) {
    for v in from_raw_parts_mut(x, n) {
        *v = v.max(0.0);
    }
}

#[no_mangle]
pub unsafe extern "C" fn clamp_min_max_rs(x: *const f32, y: *mut f32, n: usize, lo: f32, hi: f32) {
    for (o, v) in from_raw_parts_mut(y, n).iter_mut().zip(from_raw_parts(x, n)) {
        *o = v.max(lo).min(hi);
    }
}

#[no_mangle]
pub unsafe extern "C" fn relu_max_f64_rs(x: *mut f64, n: usize) {
    for v in from_raw_parts_mut(x, n) {
        *v = v.max(0.0);
    }
}

#[no_mangle]
pub unsafe extern "C" fn max_fold_rs(x: *const f32, n: usize) -> f32 {
    from_raw_parts(x, n).iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v))
}

/// `iter().max()` over bytes and `iter().min()` over `i16`: rustc compares the
/// running value re-narrowed (`(m & 255) > t`, `(m << 16 >> 16) > t`); it starts
/// as the first element, zero-extended.
#[no_mangle]
pub unsafe extern "C" fn max_u8_rs(x: *const u8, n: usize) -> u8 {
    core::slice::from_raw_parts(x, n).iter().copied().max().unwrap_or(0)
}

#[no_mangle]
pub unsafe extern "C" fn min_i16_rs(x: *const i16, n: usize) -> i16 {
    core::slice::from_raw_parts(x, n).iter().copied().min().unwrap_or(0)
}
