// barq corpus: `crc32` and `adler32` as rustc emits them: CRC-32 bit by bit over a
// slice, CRC-32 with a table computed at compile time (a `const fn`, so it sits in
// the data segment), and Adler-32 with deferred reduction.
#![no_std]

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}

const fn make_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ 0xEDB8_8320 } else { c >> 1 };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

static TABLE: [u32; 256] = make_table();

#[no_mangle]
pub unsafe extern "C" fn crc32_bits(buf: *const u8, len: usize) -> u32 {
    let mut crc = !0u32;
    for &b in core::slice::from_raw_parts(buf, len) {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

#[no_mangle]
pub unsafe extern "C" fn crc32_table(crc: u32, buf: *const u8, len: usize) -> u32 {
    let mut crc = !crc;
    for &b in core::slice::from_raw_parts(buf, len) {
        crc = (crc >> 8) ^ TABLE[((crc ^ b as u32) & 0xff) as usize];
    }
    !crc
}

#[no_mangle]
pub unsafe extern "C" fn adler32(buf: *const u8, len: usize) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in core::slice::from_raw_parts(buf, len).chunks(5552) {
        for &x in chunk {
            a += x as u32;
            b += a;
        }
        a %= 65521;
        b %= 65521;
    }
    (b << 16) | a
}
