// barq corpus: `lz4_decompress` as rustc emits it: an LZ4 block decoder written
// from the format description in Rust over raw pointers (as speed-minded Rust
// decoders are), every length checked against the ends before use (an error
// returns -1), literals copied with `copy_nonoverlapping` (a `memcpy` of the
// compiler runtime), matches byte by byte. (Slice indexing would bring panic paths,
// which whole-function probing declines.)
#![no_std]

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}

unsafe fn length(ip: &mut *const u8, end: *const u8, mut n: usize) -> Option<usize> {
    if n == 15 {
        loop {
            if *ip >= end {
                return None;
            }
            let b = **ip;
            *ip = ip.add(1);
            n = n.checked_add(b as usize)?;
            if b != 255 {
                break;
            }
        }
    }
    Some(n)
}

unsafe fn decode(src: *const u8, src_len: usize, dst: *mut u8, dst_cap: usize) -> Option<usize> {
    if src_len == 0 {
        return None;
    }
    let (mut ip, end) = (src, src.add(src_len));
    let mut op = 0usize;
    loop {
        let token = *ip;
        ip = ip.add(1);
        let lit = length(&mut ip, end, (token >> 4) as usize)?;
        if lit > end.offset_from(ip) as usize || lit > dst_cap - op {
            return None;
        }
        core::ptr::copy_nonoverlapping(ip, dst.add(op), lit);
        ip = ip.add(lit);
        op += lit;
        if ip == end {
            return Some(op);
        }
        if end.offset_from(ip) < 2 {
            return None;
        }
        let offset = *ip as usize | (*ip.add(1) as usize) << 8;
        ip = ip.add(2);
        if offset == 0 || offset > op {
            return None;
        }
        let len = length(&mut ip, end, (token & 15) as usize)? + 4;
        if len > dst_cap - op {
            return None;
        }
        for i in op..op + len {
            *dst.add(i) = *dst.add(i - offset);
        }
        op += len;
        if ip >= end {
            return None;
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn lz4_decompress(src: *const u8, src_len: usize, dst: *mut u8, dst_cap: usize) -> i32 {
    match decode(src, src_len, dst, dst_cap) {
        Some(n) => n as i32,
        None => -1,
    }
}
