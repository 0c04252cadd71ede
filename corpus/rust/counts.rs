// barq corpus: counts of the elements that pass a test, as Rust spells them
// (`iter().filter(..).count()`, a fold over a comparison, `str::chars().count()`,
// whose byte loop lives in core).
#![no_std]

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}

use core::slice::from_raw_parts;

#[no_mangle]
pub unsafe extern "C" fn count_byte_rs(p: *const u8, n: usize, c: u8) -> usize {
    from_raw_parts(p, n).iter().filter(|&&b| b == c).count()
}

#[no_mangle]
pub unsafe extern "C" fn count_lines_rs(p: *const u8, n: usize) -> usize {
    from_raw_parts(p, n).iter().filter(|&&b| b == b'\n').count()
}

#[no_mangle]
pub unsafe extern "C" fn count_negative_rs(x: *const i16, n: usize) -> u32 {
    from_raw_parts(x, n).iter().fold(0u32, |k, &v| k + (v < 0) as u32)
}

#[no_mangle]
pub unsafe extern "C" fn count_chars_rs(s: *const u8, n: usize) -> usize {
    core::str::from_utf8_unchecked(from_raw_parts(s, n)).chars().count()
}
