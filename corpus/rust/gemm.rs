// barq corpus: pattern `gemm` (f32, i-j-k order, a fresh sum per element of C) as
// rustc emits it: over raw pointers (as hand-tuned numeric code is written), and
// over slices with iterators, where bounds checks on the column index make each
// column's branches differ (detected, not rewritten); and C = A B^T with each
// output a zip of two rows (a linear layer's weights, one output per row); and
// an f64 product over raw pointers.
#![no_std]

// A failed bounds check traps (the differential tests run it out of bounds).
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

#[no_mangle]
pub unsafe extern "C" fn gemm_ptr(a: *const f32, b: *const f32, c: *mut f32, n: usize) {
    for i in 0..n {
        for j in 0..n {
            let mut s = 0.0f32;
            for k in 0..n {
                s += *a.add(i * n + k) * *b.add(k * n + j);
            }
            *c.add(i * n + j) = s;
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn gemm_slices(a: *const f32, b: *const f32, c: *mut f32, n: usize) {
    let a = core::slice::from_raw_parts(a, n * n);
    let b = core::slice::from_raw_parts(b, n * n);
    let c = core::slice::from_raw_parts_mut(c, n * n);
    for (a_row, c_row) in a.chunks_exact(n).zip(c.chunks_exact_mut(n)) {
        for (j, cj) in c_row.iter_mut().enumerate() {
            *cj = a_row
                .iter()
                .zip(b.chunks_exact(n))
                .map(|(x, b_row)| x * b_row[j])
                .sum();
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn gemm_bt_zip(a: *const f32, b: *const f32, c: *mut f32, n: usize) {
    for i in 0..n {
        let a_row = core::slice::from_raw_parts(a.add(i * n), n);
        for j in 0..n {
            let b_row = core::slice::from_raw_parts(b.add(j * n), n);
            *c.add(i * n + j) = a_row.iter().zip(b_row).map(|(x, y)| x * y).sum();
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn gemm_f64_ptr(a: *const f64, b: *const f64, c: *mut f64, n: usize) {
    for i in 0..n {
        for j in 0..n {
            let mut s = 0.0f64;
            for k in 0..n {
                s += *a.add(i * n + k) * *b.add(k * n + j);
            }
            *c.add(i * n + j) = s;
        }
    }
}
