// barq corpus: `memcpy` and `memset` loops as rustc emits them. `#![no_builtins]`
// keeps LLVM from turning them into memcpy/memset calls (as -fno-builtin in C).
#![no_std]
#![no_builtins]

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[no_mangle]
pub unsafe extern "C" fn copy_u8(dst: *mut u8, src: *const u8, n: usize) {
    let (d, s) = (core::slice::from_raw_parts_mut(dst, n), core::slice::from_raw_parts(src, n));
    for (x, y) in d.iter_mut().zip(s) {
        *x = *y;
    }
}

#[no_mangle]
pub unsafe extern "C" fn fill_u8(dst: *mut u8, v: u8, n: usize) {
    for x in core::slice::from_raw_parts_mut(dst, n) {
        *x = v;
    }
}

#[no_mangle]
pub unsafe extern "C" fn copy_back_u8(dst: *mut u8, src: *const u8, n: usize) {
    let mut i = n;
    while i > 0 {
        i -= 1;
        *dst.add(i) = *src.add(i);
    }
}

#[no_mangle]
pub unsafe extern "C" fn copy_u16(dst: *mut u16, src: *const u16, n: usize) {
    for i in 0..n {
        *dst.add(i) = *src.add(i);
    }
}

#[no_mangle]
pub unsafe extern "C" fn zero_u32(dst: *mut u32, n: usize) {
    for i in 0..n {
        *dst.add(i) = 0;
    }
}
