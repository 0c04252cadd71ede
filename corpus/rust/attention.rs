// barq corpus: pattern `attention` (f32) in Rust over raw pointers: online softmax
// (a running maximum and sum, the output row rescaled when the maximum grows),
// queries and keys counted apart, the scale as a parameter. f32::exp is the
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
pub unsafe extern "C" fn attention(
    q: *const f32,
    k: *const f32,
    v: *const f32,
    out: *mut f32,
    n: usize,
    m: usize,
    d: usize,
    scale: f32,
) {
    for i in 0..n {
        let o = out.add(i * d);
        for c in 0..d {
            *o.add(c) = 0.0;
        }
        let mut max = f32::MIN;
        let mut sum = 0.0f32;
        for j in 0..m {
            let mut dot = 0.0f32;
            for c in 0..d {
                dot += *q.add(i * d + c) * *k.add(j * d + c);
            }
            let s = dot * scale;
            if s > max {
                let r = expf(max - s);
                sum *= r;
                for c in 0..d {
                    *o.add(c) *= r;
                }
                max = s;
            }
            let p = expf(s - max);
            sum += p;
            for c in 0..d {
                *o.add(c) += p * *v.add(j * d + c);
            }
        }
        for c in 0..d {
            *o.add(c) /= sum;
        }
    }
}
