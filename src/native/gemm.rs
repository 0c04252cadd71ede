//! `gemm_f32_v1(a, b, c, m, n, k, lda, ldb, ldc, flags)`: `C = A B` or `C += A B`
//! in f32 on guest memory, for the functions `barq-opt --target native` identified
//! as matrix products (`native-gemm`); `gemm_f64_v1`, the same in f64 (8-byte
//! elements where the text below says 4).
//!
//! Element `(i, p)` of A is at `a + 4 * (i * lda + p)` (`p * lda + i` with flag
//! 1, A transposed), element `(p, j)` of B at `b + 4 * (p * ldb + j)` (`j * ldb +
//! p` with flag 2), element `(i, j)` of C at `c + 4 * (i * ldc + j)`. Flag 4: the
//! sums start from C's elements, else from `+0.0`. Flag 8 (`--fast-math`): any
//! order, FMA (matrixmultiply's blocked kernel); without it every output is
//! `((init + a0 * b0) + a1 * b1) + ...`, a rounded multiply then a rounded add per
//! step, `p` in order: bit for bit what the scalar loops compute.
//!
//! Sizes count as unsigned. The call traps when a matrix does not lie inside
//! memory, when `ldc < n` (C's rows would overlap) or when C overlaps A or B (the
//! guard in front of it never calls it so).

use super::MODULE;
use wasmtime::{Caller, Linker, Trap};

/// Flag: A transposed.
const TRANS_A: u32 = 1;
/// Flag: B transposed.
const TRANS_B: u32 = 2;
/// Flag: accumulate into C.
const ACCUMULATE: u32 = 4;
/// Flag: reassociation and FMA allowed.
const FAST: u32 = 8;

/// A checked call: byte offsets of the three matrices and the sizes, in elements.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Spec {
    a: usize,
    b: usize,
    c: usize,
    m: usize,
    n: usize,
    k: usize,
    lda: usize,
    ldb: usize,
    ldc: usize,
    flags: u32,
    /// f64 elements (else f32).
    f64: bool,
}

impl Spec {
    /// Element offsets (in f32s, from the matrix's base) of A(i, p) and B(p, j).
    fn a_index(&self, i: usize, p: usize) -> usize {
        if self.flags & TRANS_A != 0 {
            p * self.lda + i
        } else {
            i * self.lda + p
        }
    }

    fn b_index(&self, p: usize, j: usize) -> usize {
        if self.flags & TRANS_B != 0 {
            j * self.ldb + p
        } else {
            p * self.ldb + j
        }
    }

    /// Bytes per element.
    fn size(&self) -> usize {
        if self.f64 {
            8
        } else {
            4
        }
    }
}

/// The byte range `[base, base + size * ((rows - 1) * ld + cols))` of a matrix,
/// or an empty range when it has no element (u128: 32-bit sizes cannot overflow
/// it).
fn extent(base: u32, rows: u64, cols: u64, ld: u64, size: u128) -> std::ops::Range<u128> {
    let base = base as u128;
    if rows == 0 || cols == 0 {
        return 0..0;
    }
    base..base + size * ((rows as u128 - 1) * ld as u128 + cols as u128)
}

/// Checks a call's arguments against a memory of `len` bytes (f64 elements with
/// `f64`).
pub(crate) fn check(len: usize, args: [i32; 9], flags: i32, f64: bool) -> wasmtime::Result<Spec> {
    let [a, b, c, m, n, k, lda, ldb, ldc] = args.map(|v| v as u32);
    let flags = flags as u32;
    let (m64, n64, k64) = (m as u64, n as u64, k as u64);
    let (a_rows, a_cols) = if flags & TRANS_A != 0 {
        (k64, m64)
    } else {
        (m64, k64)
    };
    let (b_rows, b_cols) = if flags & TRANS_B != 0 {
        (n64, k64)
    } else {
        (k64, n64)
    };
    // A and B are read only where C is written (m, n > 0).
    let some = m > 0 && n > 0;
    let size = if f64 { 8 } else { 4 };
    let name = if f64 { "gemm_f64_v1" } else { "gemm_f32_v1" };
    let ea = extent(a, if some { a_rows } else { 0 }, a_cols, lda as u64, size);
    let eb = extent(b, if some { b_rows } else { 0 }, b_cols, ldb as u64, size);
    let ec = extent(c, m64, n64, ldc as u64, size);
    for e in [&ea, &eb, &ec] {
        if e.end > len as u128 {
            return Err(Trap::MemoryOutOfBounds.into());
        }
    }
    if some && (ldc as u64) < n64 {
        return Err(wasmtime::Error::msg(format!(
            "barq {name}: ldc is smaller than n (C's rows overlap)"
        )));
    }
    let overlaps = |x: &std::ops::Range<u128>| x.start < ec.end && ec.start < x.end;
    if some && k > 0 && (overlaps(&ea) || overlaps(&eb)) {
        return Err(wasmtime::Error::msg(format!(
            "barq {name}: C overlaps A or B"
        )));
    }
    Ok(Spec {
        a: a as usize,
        b: b as usize,
        c: c as usize,
        m: m as usize,
        n: n as usize,
        k: k as usize,
        lda: lda as usize,
        ldb: ldb as usize,
        ldc: ldc as usize,
        flags,
        f64,
    })
}

/// Registers `gemm_f32_v1` and `gemm_f64_v1`.
pub(crate) fn add_to_linker<T: super::GuestMemory + 'static>(
    linker: &mut Linker<T>,
) -> wasmtime::Result<()> {
    for (name, f64) in [("gemm_f32_v1", false), ("gemm_f64_v1", true)] {
        linker.func_wrap(
            MODULE,
            name,
            move |mut caller: Caller<'_, T>,
                  a: i32,
                  b: i32,
                  c: i32,
                  m: i32,
                  n: i32,
                  k: i32,
                  lda: i32,
                  ldb: i32,
                  ldc: i32,
                  flags: i32|
                  -> wasmtime::Result<()> {
                let memory = super::memory(&mut caller)?;
                let data = memory.data_mut(&mut caller);
                let spec = check(data.len(), [a, b, c, m, n, k, lda, ldb, ldc], flags, f64)?;
                gemm(data, &spec);
                Ok(())
            },
        )?;
    }
    Ok(())
}

/// Computes a checked call on `data` (the whole guest memory).
pub(crate) fn gemm(data: &mut [u8], s: &Spec) {
    if s.m == 0 || s.n == 0 {
        return;
    }
    // One row (a matrix-vector product): the blocked kernels would pack all of B
    // and compute three rows for nothing (and matrixmultiply is no better), so an
    // exact row kernel runs, under --fast-math too.
    #[cfg(target_arch = "x86_64")]
    if s.m == 1 && !s.f64 && std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: as below.
        unsafe { exact_row_avx2(data, s) };
        return;
    }
    if s.flags & FAST != 0 && fast(data, s) {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: `check` put every element of A, B and C inside `data` and C
        // apart from A and B; AVX2 is present.
        unsafe {
            if s.f64 {
                exact_avx2_f64(data, s)
            } else {
                exact_avx2(data, s)
            }
        };
        return;
    }
    if s.f64 {
        exact_scalar::<f64>(data, s)
    } else {
        exact_scalar::<f32>(data, s)
    }
}

/// An element type of the kernels.
trait Real: Copy + std::ops::Add<Output = Self> + std::ops::Mul<Output = Self> {
    const BYTES: usize;
    const ZERO: Self;
    fn at(data: &[u8], at: usize) -> Self;
    fn put(self, data: &mut [u8], at: usize);
}

impl Real for f32 {
    const BYTES: usize = 4;
    const ZERO: Self = 0.0;
    fn at(data: &[u8], at: usize) -> Self {
        f32::from_le_bytes(data[at..at + 4].try_into().expect("4 bytes"))
    }
    fn put(self, data: &mut [u8], at: usize) {
        data[at..at + 4].copy_from_slice(&self.to_le_bytes());
    }
}

impl Real for f64 {
    const BYTES: usize = 8;
    const ZERO: Self = 0.0;
    fn at(data: &[u8], at: usize) -> Self {
        f64::from_le_bytes(data[at..at + 8].try_into().expect("8 bytes"))
    }
    fn put(self, data: &mut [u8], at: usize) {
        data[at..at + 8].copy_from_slice(&self.to_le_bytes());
    }
}

/// The definition, one output at a time.
fn exact_scalar<T: Real>(data: &mut [u8], s: &Spec) {
    let size = T::BYTES;
    for i in 0..s.m {
        for j in 0..s.n {
            let at = s.c + size * (i * s.ldc + j);
            let mut sum = if s.flags & ACCUMULATE != 0 {
                T::at(data, at)
            } else {
                T::ZERO
            };
            for p in 0..s.k {
                sum = sum
                    + T::at(data, s.a + size * s.a_index(i, p))
                        * T::at(data, s.b + size * s.b_index(p, j));
            }
            sum.put(data, at);
        }
    }
}

/// `--fast-math`: matrixmultiply's packed, blocked FMA kernel (`sgemm`, `dgemm`).
/// Needs element-aligned matrices (it reads them through references); `false`
/// when they are not, and the exact kernel runs instead.
fn fast(data: &mut [u8], s: &Spec) -> bool {
    let base = data.as_mut_ptr();
    let aligned = |offset: usize| (base as usize + offset).is_multiple_of(s.size());
    if !(aligned(s.a) && aligned(s.b) && aligned(s.c)) {
        return false;
    }
    let (rsa, csa) = if s.flags & TRANS_A != 0 {
        (1, s.lda as isize)
    } else {
        (s.lda as isize, 1)
    };
    let (rsb, csb) = if s.flags & TRANS_B != 0 {
        (1, s.ldb as isize)
    } else {
        (s.ldb as isize, 1)
    };
    let accumulate = s.flags & ACCUMULATE != 0;
    if s.f64 {
        // SAFETY: as below, for aligned f64s.
        unsafe {
            matrixmultiply::dgemm(
                s.m,
                s.k,
                s.n,
                1.0,
                base.add(s.a) as *const f64,
                rsa,
                csa,
                base.add(s.b) as *const f64,
                rsb,
                csb,
                if accumulate { 1.0 } else { 0.0 },
                base.add(s.c) as *mut f64,
                s.ldc as isize,
                1,
            );
        }
        return true;
    }
    // SAFETY: `check` put every element inside `data` and C apart from A and B;
    // all three are aligned f32s.
    unsafe {
        matrixmultiply::sgemm(
            s.m,
            s.k,
            s.n,
            1.0,
            base.add(s.a) as *const f32,
            rsa,
            csa,
            base.add(s.b) as *const f32,
            rsb,
            csb,
            if accumulate { 1.0 } else { 0.0 },
            base.add(s.c) as *mut f32,
            s.ldc as isize,
            1,
        );
    }
    true
}

/// Rows of C per block.
const MR: usize = 4;
/// Columns of C per block (two AVX registers).
const NR: usize = 16;

/// Exact, blocked: for each 16 columns of C, those columns of B are copied into
/// a contiguous panel; each 4x16 block of C is then eight registers, and each
/// step `p` multiplies A's four elements (broadcast) by the panel's row and adds:
/// a rounded multiply then a rounded add, per output, `p` in order. Zen 3 runs
/// the multiplies and the adds on separate pipes, so this reaches FMA's rate.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn exact_avx2(data: &mut [u8], s: &Spec) {
    use std::arch::x86_64::*;
    let base = data.as_mut_ptr();
    let a = base.add(s.a) as *const f32;
    let b = base.add(s.b) as *const f32;
    let c = base.add(s.c) as *mut f32;
    let accumulate = s.flags & ACCUMULATE != 0;
    // Elements between A(i, p) and A(i, p + 1).
    let a_step = if s.flags & TRANS_A != 0 { s.lda } else { 1 };
    let mut panel = vec![0f32; s.k * NR];
    let mut tile = [0f32; NR];
    for jb in (0..s.n).step_by(NR) {
        let nb = NR.min(s.n - jb);
        for p in 0..s.k {
            for jj in 0..NR {
                panel[p * NR + jj] = if jj < nb {
                    b.add(s.b_index(p, jb + jj)).read_unaligned()
                } else {
                    0.0
                };
            }
        }
        let panel = panel.as_ptr();
        for ib in (0..s.m).step_by(MR) {
            let mb = MR.min(s.m - ib);
            // Rows past the end repeat the last one (computed, never stored).
            let rows: [*const f32; MR] =
                std::array::from_fn(|r| a.add(s.a_index((ib + r).min(s.m - 1), 0)));
            let mut acc = [[_mm256_setzero_ps(); 2]; MR];
            if accumulate {
                for (r, row) in acc.iter_mut().enumerate().take(mb) {
                    let from = c.add((ib + r) * s.ldc + jb);
                    tile.fill(0.0);
                    // (Byte copies: C may be unaligned.)
                    std::ptr::copy_nonoverlapping(
                        from as *const u8,
                        tile.as_mut_ptr() as *mut u8,
                        4 * nb,
                    );
                    row[0] = _mm256_loadu_ps(tile.as_ptr());
                    row[1] = _mm256_loadu_ps(tile.as_ptr().add(8));
                }
            }
            for p in 0..s.k {
                let b0 = _mm256_loadu_ps(panel.add(p * NR));
                let b1 = _mm256_loadu_ps(panel.add(p * NR + 8));
                for (r, row) in acc.iter_mut().enumerate() {
                    let x = _mm256_set1_ps(rows[r].add(p * a_step).read_unaligned());
                    row[0] = _mm256_add_ps(row[0], _mm256_mul_ps(x, b0));
                    row[1] = _mm256_add_ps(row[1], _mm256_mul_ps(x, b1));
                }
            }
            for (r, row) in acc.iter().enumerate().take(mb) {
                _mm256_storeu_ps(tile.as_mut_ptr(), row[0]);
                _mm256_storeu_ps(tile.as_mut_ptr().add(8), row[1]);
                let to = c.add((ib + r) * s.ldc + jb);
                std::ptr::copy_nonoverlapping(tile.as_ptr() as *const u8, to as *mut u8, 4 * nb);
            }
        }
    }
}

/// One row of C (m = 1), f32, exact: eight outputs at a time in one register,
/// `p` in order. With B as stored (`C(0, j) = sum_p A(0, p) B(p, j)`) each step
/// loads B's row segment; with B transposed (`y = W x`: each output a dot product
/// of a row of B with A's row) eight steps at a time load eight of each of the
/// eight rows of B and transpose them in registers, the steps left over gather.
/// Outputs left over (n mod 8) go one at a time. Each output gets a rounded
/// multiply then a rounded add per step, as the definition.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn exact_row_avx2(data: &mut [u8], s: &Spec) {
    use std::arch::x86_64::*;
    let base = data.as_mut_ptr();
    let a = base.add(s.a) as *const f32;
    let b = base.add(s.b) as *const f32;
    let c = base.add(s.c) as *mut f32;
    let accumulate = s.flags & ACCUMULATE != 0;
    let trans_b = s.flags & TRANS_B != 0;
    // A(0, p): consecutive, or a column when A is transposed.
    let a_at = |p: usize| a.add(s.a_index(0, p)).read_unaligned();
    let mut j = 0;
    while j + 8 <= s.n {
        let mut acc = if accumulate {
            _mm256_loadu_ps(c.add(j))
        } else {
            _mm256_setzero_ps()
        };
        let mut p = 0;
        if trans_b {
            let rows: [*const f32; 8] = std::array::from_fn(|r| b.add((j + r) * s.ldb));
            while p + 8 <= s.k {
                let r: [__m256; 8] = std::array::from_fn(|i| _mm256_loadu_ps(rows[i].add(p)));
                let t0 = _mm256_unpacklo_ps(r[0], r[1]);
                let t1 = _mm256_unpackhi_ps(r[0], r[1]);
                let t2 = _mm256_unpacklo_ps(r[2], r[3]);
                let t3 = _mm256_unpackhi_ps(r[2], r[3]);
                let t4 = _mm256_unpacklo_ps(r[4], r[5]);
                let t5 = _mm256_unpackhi_ps(r[4], r[5]);
                let t6 = _mm256_unpacklo_ps(r[6], r[7]);
                let t7 = _mm256_unpackhi_ps(r[6], r[7]);
                let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
                let u1 = _mm256_shuffle_ps::<0xee>(t0, t2);
                let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
                let u3 = _mm256_shuffle_ps::<0xee>(t1, t3);
                let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
                let u5 = _mm256_shuffle_ps::<0xee>(t4, t6);
                let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
                let u7 = _mm256_shuffle_ps::<0xee>(t5, t7);
                // Column q of the 8x8 block: B(p + q, j..j + 8).
                let columns = [
                    _mm256_permute2f128_ps::<0x20>(u0, u4),
                    _mm256_permute2f128_ps::<0x20>(u1, u5),
                    _mm256_permute2f128_ps::<0x20>(u2, u6),
                    _mm256_permute2f128_ps::<0x20>(u3, u7),
                    _mm256_permute2f128_ps::<0x31>(u0, u4),
                    _mm256_permute2f128_ps::<0x31>(u1, u5),
                    _mm256_permute2f128_ps::<0x31>(u2, u6),
                    _mm256_permute2f128_ps::<0x31>(u3, u7),
                ];
                for (q, column) in columns.iter().enumerate() {
                    let x = _mm256_set1_ps(a_at(p + q));
                    acc = _mm256_add_ps(acc, _mm256_mul_ps(x, *column));
                }
                p += 8;
            }
            while p < s.k {
                let column = _mm256_setr_ps(
                    rows[0].add(p).read_unaligned(),
                    rows[1].add(p).read_unaligned(),
                    rows[2].add(p).read_unaligned(),
                    rows[3].add(p).read_unaligned(),
                    rows[4].add(p).read_unaligned(),
                    rows[5].add(p).read_unaligned(),
                    rows[6].add(p).read_unaligned(),
                    rows[7].add(p).read_unaligned(),
                );
                acc = _mm256_add_ps(acc, _mm256_mul_ps(_mm256_set1_ps(a_at(p)), column));
                p += 1;
            }
        } else {
            while p < s.k {
                let row = _mm256_loadu_ps(b.add(p * s.ldb + j));
                acc = _mm256_add_ps(acc, _mm256_mul_ps(_mm256_set1_ps(a_at(p)), row));
                p += 1;
            }
        }
        _mm256_storeu_ps(c.add(j), acc);
        j += 8;
    }
    while j < s.n {
        let mut sum = if accumulate {
            c.add(j).read_unaligned()
        } else {
            0.0
        };
        for p in 0..s.k {
            sum += a_at(p) * b.add(s.b_index(p, j)).read_unaligned();
        }
        c.add(j).write_unaligned(sum);
        j += 1;
    }
}

/// [`exact_avx2`] for f64: 4x8 blocks of C in eight `__m256d` registers, B's 8
/// columns copied into a panel; a rounded multiply then a rounded add per step.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn exact_avx2_f64(data: &mut [u8], s: &Spec) {
    use std::arch::x86_64::*;
    const NR64: usize = 8;
    let base = data.as_mut_ptr();
    let a = base.add(s.a) as *const f64;
    let b = base.add(s.b) as *const f64;
    let c = base.add(s.c) as *mut f64;
    let accumulate = s.flags & ACCUMULATE != 0;
    let a_step = if s.flags & TRANS_A != 0 { s.lda } else { 1 };
    let mut panel = vec![0f64; s.k * NR64];
    let mut tile = [0f64; NR64];
    for jb in (0..s.n).step_by(NR64) {
        let nb = NR64.min(s.n - jb);
        for p in 0..s.k {
            for jj in 0..NR64 {
                panel[p * NR64 + jj] = if jj < nb {
                    b.add(s.b_index(p, jb + jj)).read_unaligned()
                } else {
                    0.0
                };
            }
        }
        let panel = panel.as_ptr();
        for ib in (0..s.m).step_by(MR) {
            let mb = MR.min(s.m - ib);
            // Rows past the end repeat the last one (computed, never stored).
            let rows: [*const f64; MR] =
                std::array::from_fn(|r| a.add(s.a_index((ib + r).min(s.m - 1), 0)));
            let mut acc = [[_mm256_setzero_pd(); 2]; MR];
            if accumulate {
                for (r, row) in acc.iter_mut().enumerate().take(mb) {
                    let from = c.add((ib + r) * s.ldc + jb);
                    tile.fill(0.0);
                    // (Byte copies: C may be unaligned.)
                    std::ptr::copy_nonoverlapping(
                        from as *const u8,
                        tile.as_mut_ptr() as *mut u8,
                        8 * nb,
                    );
                    row[0] = _mm256_loadu_pd(tile.as_ptr());
                    row[1] = _mm256_loadu_pd(tile.as_ptr().add(4));
                }
            }
            for p in 0..s.k {
                let b0 = _mm256_loadu_pd(panel.add(p * NR64));
                let b1 = _mm256_loadu_pd(panel.add(p * NR64 + 4));
                for (r, row) in acc.iter_mut().enumerate() {
                    let x = _mm256_set1_pd(rows[r].add(p * a_step).read_unaligned());
                    row[0] = _mm256_add_pd(row[0], _mm256_mul_pd(x, b0));
                    row[1] = _mm256_add_pd(row[1], _mm256_mul_pd(x, b1));
                }
            }
            for (r, row) in acc.iter().enumerate().take(mb) {
                _mm256_storeu_pd(tile.as_mut_ptr(), row[0]);
                _mm256_storeu_pd(tile.as_mut_ptr().add(4), row[1]);
                let to = c.add((ib + r) * s.ldc + jb);
                std::ptr::copy_nonoverlapping(tile.as_ptr() as *const u8, to as *mut u8, 8 * nb);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(len: usize, seed: u32, f64: bool) -> Vec<u8> {
        let mut x = seed | 1;
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let v = if x.is_multiple_of(11) {
                -0.0f32
            } else {
                (x >> 8) as f32 / (1 << 24) as f32 * 4.0 - 2.0
            };
            if f64 {
                // (Full f64 mantissas, so that another order would round differently.)
                let w = v as f64 * (1.0 + (x as f64) * 2f64.powi(-40));
                out.extend_from_slice(&w.to_le_bytes());
            } else {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        out
    }

    /// The blocked kernel against the definition, bit for bit, over odd shapes,
    /// transposes, accumulation and unaligned bases.
    #[test]
    fn blocked_kernel_is_the_definition() {
        for (m, n, k) in [
            (1, 1, 1),
            (1, 37, 19),
            (1, 8, 64),
            (1, 3, 9),
            (1, 16, 0),
            (3, 17, 5),
            (5, 16, 9),
            (9, 33, 2),
            (4, 15, 0),
            (13, 7, 31),
        ] {
            for (flags, f64) in (0..8u32).flat_map(|f| [(f, false), (f, true)]) {
                for shift in [0usize, 1] {
                    let trans_a = flags & TRANS_A != 0;
                    let trans_b = flags & TRANS_B != 0;
                    let lda = if trans_a { m } else { k } + 2;
                    let ldb = if trans_b { k } else { n } + 1;
                    let ldc = n + 3;
                    let spec = Spec {
                        a: 64 + shift,
                        b: 8192 + shift,
                        c: 16384 + shift,
                        m,
                        n,
                        k,
                        lda,
                        ldb,
                        ldc,
                        flags,
                        f64,
                    };
                    let data = filled(32768, (m * 31 + n * 7 + k) as u32 + flags, f64);
                    let (mut want, mut got) = (data.clone(), data);
                    if f64 {
                        exact_scalar::<f64>(&mut want, &spec);
                    } else {
                        exact_scalar::<f32>(&mut want, &spec);
                    }
                    gemm(&mut got, &spec);
                    assert!(
                        want == got,
                        "{m}x{n}x{k} flags {flags} shift {shift} f64 {f64}"
                    );
                }
            }
        }
    }
}
