// barq corpus: bit counts in Rust (`count_ones` is `i32.popcnt`); see c/bits.c.
#![no_std]

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}

unsafe fn slice<'a, T>(p: *const T, n: usize) -> &'a [T] {
    core::slice::from_raw_parts(p, n)
}

/// Hamming distance of two binary codes.
#[no_mangle]
pub unsafe extern "C" fn hamming_rs(a: *const u32, b: *const u32, n: usize) -> u32 {
    let (a, b) = (slice(a, n), slice(b, n));
    a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
}

/// Set bits of a bitset, with an index loop.
#[no_mangle]
pub unsafe extern "C" fn popcount_sum_rs(p: *const u32, n: usize) -> u32 {
    let p = slice(p, n);
    let mut s = 0u32;
    for i in 0..n {
        s = s.wrapping_add(p[i].count_ones());
    }
    s
}

/// Bits in common, over bytes.
#[no_mangle]
pub unsafe extern "C" fn common_bits_u8_rs(a: *const u8, b: *const u8, n: usize) -> u32 {
    let (a, b) = (slice(a, n), slice(b, n));
    a.iter().zip(b).map(|(x, y)| (x & y).count_ones()).sum()
}
