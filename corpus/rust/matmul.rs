// barq corpus: pattern `gemm` (f32, ikj order over slices) as rustc emits it.
#![no_std]

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[no_mangle]
pub unsafe extern "C" fn matmul(a: *const f32, b: *const f32, c: *mut f32, n: usize) {
    let a = core::slice::from_raw_parts(a, n * n);
    let b = core::slice::from_raw_parts(b, n * n);
    let c = core::slice::from_raw_parts_mut(c, n * n);
    for i in 0..n {
        for k in 0..n {
            let aik = a[i * n + k];
            for j in 0..n {
                c[i * n + j] += aik * b[k * n + j];
            }
        }
    }
}
