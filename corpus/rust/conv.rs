// barq corpus: pattern `conv2d` as rustc emits it over raw pointers: several
// channels (CHW, a bias per output channel, ReLU, any window size) and a 3x3
// window zero-padded by bounds tests (the output the image's size). At
// opt-level=3 rustc advances the padded window's column counter inside a block
// (`x = x + 1` before a branch on it).
#![no_std]

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

#[no_mangle]
pub unsafe extern "C" fn conv_chw_rs(
    input: *const f32,
    k: *const f32,
    bias: *const f32,
    out: *mut f32,
    c_in: usize,
    c_out: usize,
    h: usize,
    w: usize,
    kk: usize,
) {
    if kk == 0 || h < kk || w < kk {
        return;
    }
    let (oh, ow) = (h - kk + 1, w - kk + 1);
    for o in 0..c_out {
        for y in 0..oh {
            for x in 0..ow {
                let mut s = *bias.add(o);
                for c in 0..c_in {
                    for ky in 0..kk {
                        for kx in 0..kk {
                            s += *input.add((c * h + y + ky) * w + x + kx)
                                * *k.add(((o * c_in + c) * kk + ky) * kk + kx);
                        }
                    }
                }
                *out.add((o * oh + y) * ow + x) = if s > 0.0 { s } else { 0.0 };
            }
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn conv_same_rs(input: *const f32, k: *const f32, out: *mut f32, h: i32, w: i32) {
    for y in 0..h {
        for x in 0..w {
            let mut s = 0.0f32;
            for ky in 0..3 {
                for kx in 0..3 {
                    let (iy, ix) = (y + ky - 1, x + kx - 1);
                    if iy >= 0 && iy < h && ix >= 0 && ix < w {
                        s += *input.add((iy * w + ix) as usize) * *k.add((ky * 3 + kx) as usize);
                    }
                }
            }
            *out.add((y * w + x) as usize) = s;
        }
    }
}
