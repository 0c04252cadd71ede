// barq corpus: pattern `softmax` (f32) in Rust over raw pointers; f32::exp is the
// libm that compiler-builtins links into the module.
#![no_std]

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}

extern "C" {
    fn expf(x: f32) -> f32;
}

#[no_mangle]
pub unsafe extern "C" fn softmax(x: *const f32, y: *mut f32, n: usize) {
    if n == 0 {
        return;
    }
    let mut m = *x;
    for i in 1..n {
        let v = *x.add(i);
        if v > m {
            m = v;
        }
    }
    let mut s = 0.0f32;
    for i in 0..n {
        let e = expf(*x.add(i) - m);
        *y.add(i) = e;
        s += e;
    }
    for i in 0..n {
        *y.add(i) /= s;
    }
}
