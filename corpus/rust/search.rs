// barq corpus: search loops as Rust spells them (`iter().position`, `rposition`,
// `any`, `all`, `==` on slices, a `while` over a C string). Results are returned
// as plain integers (-1 for "none") so the kernels have C-like signatures.
#![no_std]

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}

use core::slice::from_raw_parts;

#[no_mangle]
pub unsafe extern "C" fn find_byte_rs(p: *const u8, n: usize, c: u8) -> isize {
    match from_raw_parts(p, n).iter().position(|&b| b == c) {
        Some(i) => i as isize,
        None => -1,
    }
}

#[no_mangle]
pub unsafe extern "C" fn rfind_byte_rs(p: *const u8, n: usize, c: u8) -> isize {
    match from_raw_parts(p, n).iter().rposition(|&b| b == c) {
        Some(i) => i as isize,
        None => -1,
    }
}

#[no_mangle]
pub unsafe extern "C" fn find_i32_rs(p: *const i32, n: usize, key: i32) -> isize {
    match from_raw_parts(p, n).iter().position(|&x| x == key) {
        Some(i) => i as isize,
        None => -1,
    }
}

#[no_mangle]
pub unsafe extern "C" fn position_above_rs(p: *const f32, n: usize, t: f32) -> isize {
    match from_raw_parts(p, n).iter().position(|&x| x > t) {
        Some(i) => i as isize,
        None => -1,
    }
}

#[no_mangle]
pub unsafe extern "C" fn is_ascii_rs(p: *const u8, n: usize) -> bool {
    from_raw_parts(p, n).iter().all(|&b| b < 0x80)
}

#[no_mangle]
pub unsafe extern "C" fn first_diff_rs(a: *const u8, b: *const u8, n: usize) -> usize {
    let (a, b) = (from_raw_parts(a, n), from_raw_parts(b, n));
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

#[no_mangle]
pub unsafe extern "C" fn strlen_rs(s: *const u8) -> usize {
    let mut n = 0;
    while *s.add(n) != 0 {
        n += 1;
    }
    n
}
