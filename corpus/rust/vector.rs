// barq corpus: patterns `dot`, `axpy`, `relu`, `sum` as rustc emits them (slices with
// bounds checks hoisted, iterator zips, and raw-pointer loops).
#![no_std]

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[no_mangle]
pub unsafe extern "C" fn dot_f32(a: *const f32, b: *const f32, n: usize) -> f32 {
    let (a, b) = (core::slice::from_raw_parts(a, n), core::slice::from_raw_parts(b, n));
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[no_mangle]
pub unsafe extern "C" fn axpy(alpha: f32, x: *const f32, y: *mut f32, n: usize) {
    let (x, y) = (core::slice::from_raw_parts(x, n), core::slice::from_raw_parts_mut(y, n));
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += alpha * *xi;
    }
}

#[no_mangle]
pub unsafe extern "C" fn relu(x: *mut f32, n: usize) {
    for v in core::slice::from_raw_parts_mut(x, n) {
        *v = v.max(0.0);
    }
}

#[no_mangle]
pub unsafe extern "C" fn sum_i32(x: *const i32, n: usize) -> i32 {
    let mut acc = 0i32;
    let mut i = 0;
    while i < n {
        acc = acc.wrapping_add(*x.add(i));
        i += 1;
    }
    acc
}

#[no_mangle]
pub unsafe extern "C" fn relu_if(x: *mut f32, n: usize) {
    for v in core::slice::from_raw_parts_mut(x, n) {
        if *v < 0.0 {
            *v = 0.0;
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn max_f32(x: *const f32, n: usize) -> f32 {
    core::slice::from_raw_parts(x, n)
        .iter()
        .fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m })
}

#[no_mangle]
pub unsafe extern "C" fn max_i32(x: *const i32, n: usize) -> i32 {
    core::slice::from_raw_parts(x, n)
        .iter()
        .copied()
        .fold(i32::MIN, i32::max)
}

#[no_mangle]
pub unsafe extern "C" fn max_num_f32(x: *const f32, n: usize) -> f32 {
    core::slice::from_raw_parts(x, n)
        .iter()
        .copied()
        .fold(f32::NEG_INFINITY, f32::max)
}

#[no_mangle]
pub unsafe extern "C" fn invert_u8(p: *mut u8, n: usize) {
    for v in core::slice::from_raw_parts_mut(p, n) {
        *v = !*v;
    }
}

#[no_mangle]
pub unsafe extern "C" fn add_sat_u8(p: *mut u8, q: *const u8, n: usize) {
    let (p, q) = (
        core::slice::from_raw_parts_mut(p, n),
        core::slice::from_raw_parts(q, n),
    );
    for (a, b) in p.iter_mut().zip(q) {
        *a = a.saturating_add(*b);
    }
}

#[no_mangle]
pub unsafe extern "C" fn halve_i16(x: *mut i16, n: usize) {
    for v in core::slice::from_raw_parts_mut(x, n) {
        *v >>= 1;
    }
}

/// The index of the largest element (a classifier's prediction), as Rust code
/// usually writes it: `enumerate` with the value and index carried together.
#[no_mangle]
pub unsafe extern "C" fn argmax_enumerate_f32(x: *const f32, n: usize) -> usize {
    let mut best = 0;
    let mut m = f32::NEG_INFINITY;
    for (i, &v) in core::slice::from_raw_parts(x, n).iter().enumerate() {
        if v > m {
            m = v;
            best = i;
        }
    }
    best
}

/// Saturating 16-bit and byte arithmetic (`i16::saturating_add`,
/// `u16::saturating_add`, `u8::saturating_sub`): lane saturation.
#[no_mangle]
pub unsafe extern "C" fn mix_sat_i16_rs(x: *mut i16, y: *const i16, n: usize) {
    let (x, y) = (core::slice::from_raw_parts_mut(x, n), core::slice::from_raw_parts(y, n));
    for (a, b) in x.iter_mut().zip(y) {
        *a = a.saturating_add(*b);
    }
}

#[no_mangle]
pub unsafe extern "C" fn add_sat_u16_rs(x: *mut u16, y: *const u16, n: usize) {
    let (x, y) = (core::slice::from_raw_parts_mut(x, n), core::slice::from_raw_parts(y, n));
    for (a, b) in x.iter_mut().zip(y) {
        *a = a.saturating_add(*b);
    }
}

#[no_mangle]
pub unsafe extern "C" fn sub_sat_u8_rs(x: *mut u8, y: *const u8, n: usize) {
    let (x, y) = (core::slice::from_raw_parts_mut(x, n), core::slice::from_raw_parts(y, n));
    for (a, b) in x.iter_mut().zip(y) {
        *a = a.saturating_sub(*b);
    }
}
