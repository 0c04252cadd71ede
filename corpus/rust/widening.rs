// barq corpus: widening integer dots and partial sums as rustc emits them
// (iterator zips with `as i32` widening, wrapping adds, chunked partial sums).
#![no_std]

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[no_mangle]
pub unsafe extern "C" fn dot_i8(a: *const i8, b: *const i8, n: usize) -> i32 {
    let (a, b) = (core::slice::from_raw_parts(a, n), core::slice::from_raw_parts(b, n));
    a.iter()
        .zip(b)
        .fold(0i32, |acc, (x, y)| acc.wrapping_add(*x as i32 * *y as i32))
}

#[no_mangle]
pub unsafe extern "C" fn sum_u8(p: *const u8, n: usize) -> u32 {
    core::slice::from_raw_parts(p, n)
        .iter()
        .fold(0u32, |acc, x| acc.wrapping_add(*x as u32))
}

#[no_mangle]
pub unsafe extern "C" fn dot_i16(a: *const i16, b: *const i16, n: usize) -> i32 {
    let (a, b) = (core::slice::from_raw_parts(a, n), core::slice::from_raw_parts(b, n));
    let mut acc = 0i32;
    for i in 0..n {
        acc = acc.wrapping_add(a[i] as i32 * b[i] as i32);
    }
    acc
}

/// Four partial sums over `chunks_exact(4)`: exact to vectorize lane for lane.
#[no_mangle]
pub unsafe extern "C" fn dot4_f32(a: *const f32, b: *const f32, n: usize) -> f32 {
    let (a, b) = (core::slice::from_raw_parts(a, n), core::slice::from_raw_parts(b, n));
    let mut s = [0.0f32; 4];
    for (x, y) in a.chunks_exact(4).zip(b.chunks_exact(4)) {
        s[0] += x[0] * y[0];
        s[1] += x[1] * y[1];
        s[2] += x[2] * y[2];
        s[3] += x[3] * y[3];
    }
    (s[0] + s[1]) + (s[2] + s[3])
}

/// The sum of absolute differences of bytes (`u8::abs_diff`, widened).
#[no_mangle]
pub unsafe extern "C" fn sad_u8_rs(a: *const u8, b: *const u8, n: usize) -> u32 {
    let (a, b) = (core::slice::from_raw_parts(a, n), core::slice::from_raw_parts(b, n));
    a.iter()
        .zip(b)
        .fold(0u32, |acc, (x, y)| acc.wrapping_add(x.abs_diff(*y) as u32))
}

/// The sum of squared differences of 16-bit samples.
#[no_mangle]
pub unsafe extern "C" fn ssd_i16_rs(a: *const i16, b: *const i16, n: usize) -> i32 {
    let (a, b) = (core::slice::from_raw_parts(a, n), core::slice::from_raw_parts(b, n));
    a.iter().zip(b).fold(0i32, |acc, (x, y)| {
        let d = *x as i32 - *y as i32;
        acc.wrapping_add(d.wrapping_mul(d))
    })
}

/// A constant-time comparison: the or of the bytes' differences.
#[no_mangle]
pub unsafe extern "C" fn ct_eq_rs(a: *const u8, b: *const u8, n: usize) -> bool {
    let (a, b) = (core::slice::from_raw_parts(a, n), core::slice::from_raw_parts(b, n));
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The xor of 32-bit words (a parity check).
#[no_mangle]
pub unsafe extern "C" fn xor_words_rs(p: *const u32, n: usize) -> u32 {
    core::slice::from_raw_parts(p, n).iter().fold(0, |acc, x| acc ^ x)
}
