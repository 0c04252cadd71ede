//! Checksum kernels for functions `barq-opt --target native` identified as
//! CRC-32, CRC-32C or Adler-32 (`native-checksum`). All three take zlib's
//! convention, `(value, ptr, len) -> value`: continue `value` over the `len` bytes
//! at `ptr` (`len` unsigned); a range outside memory traps.
//!
//! | import | computes | how |
//! |---|---|---|
//! | `crc32_v1` | CRC-32 (reflected 0xEDB88320) | crc32fast (PCLMULQDQ folding) |
//! | `crc32c_v1` | CRC-32C (reflected 0x82F63B78) | SSE4.2 `crc32` instruction, three interleaved chains of 8 bytes a step |
//! | `adler32_v1` | Adler-32 | simd-adler32 (AVX2) |

use super::{memory, range, MODULE};
use wasmtime::{Caller, Linker};

/// `(value, bytes) -> value`.
type Kernel = fn(u32, &[u8]) -> u32;

/// Registers the three kernels.
pub(crate) fn add_to_linker<T: super::GuestMemory + 'static>(
    linker: &mut Linker<T>,
) -> wasmtime::Result<()> {
    let kernels: [(&str, Kernel); 3] = [
        ("crc32_v1", crc32),
        ("crc32c_v1", crc32c),
        ("adler32_v1", adler32),
    ];
    for (name, kernel) in kernels {
        linker.func_wrap(
            MODULE,
            name,
            move |mut caller: Caller<'_, T>,
                  value: i32,
                  ptr: i32,
                  len: i32|
                  -> wasmtime::Result<i32> {
                let memory = memory(&mut caller)?;
                let data = memory.data(&caller);
                let bytes = range(data.len(), ptr, len, 1)?;
                Ok(kernel(value as u32, &data[bytes]) as i32)
            },
        )?;
    }
    Ok(())
}

/// zlib's `crc32(crc, buf, len)`.
pub(crate) fn crc32(value: u32, data: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new_with_initial(value);
    hasher.update(data);
    hasher.finalize()
}

/// CRC-32C, continuing `value` (inverted in and out, as zlib's CRC-32).
pub(crate) fn crc32c(value: u32, data: &[u8]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("sse4.2") {
        // SAFETY: SSE4.2 is present.
        return !unsafe { crc32c_sse42(!value, data) };
    }
    !crc32c_table(!value, data)
}

/// The register update, one byte at a time through a table (hosts without SSE4.2).
fn crc32c_table(mut crc: u32, data: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        std::array::from_fn(|i| {
            (0..8).fold(i as u32, |c, _| {
                (c >> 1) ^ (0x82F6_3B78 & (c & 1).wrapping_neg())
            })
        })
    });
    for &b in data {
        crc = (crc >> 8) ^ table[((crc ^ b as u32) & 0xff) as usize];
    }
    crc
}

/// Bytes each of the three chains of [`crc32c_sse42`] takes a block.
const CHAIN: usize = 4096;

/// `a * b` modulo CRC-32C's polynomial, both reflected (bit 31 is `x^0`).
fn multiply_mod_p(a: u32, mut b: u32) -> u32 {
    let mut product = 0;
    for bit in (0..32).rev() {
        if a >> bit & 1 != 0 {
            product ^= b;
        }
        b = (b >> 1) ^ (0x82F6_3B78 & (b & 1).wrapping_neg());
    }
    product
}

/// `x^(8 * CHAIN)` modulo the polynomial: multiplying a register by it appends
/// `CHAIN` zero bytes.
fn chain_shift() -> u32 {
    static SHIFT: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *SHIFT.get_or_init(|| {
        // x^8 (reflected), raised to the CHAIN-th power by squaring.
        let (mut power, mut base, mut n) = (1u32 << 31, 1u32 << 23, CHAIN);
        while n > 0 {
            if n & 1 != 0 {
                power = multiply_mod_p(power, base);
            }
            base = multiply_mod_p(base, base);
            n >>= 1;
        }
        power
    })
}

/// The register update. The `crc32` instruction has a latency of three cycles and
/// a throughput of one, so blocks of `3 * CHAIN` bytes run three independent chains
/// (the second and third from zero) joined by linearity: the register after `A B`
/// is the register after `A` with `|B|` zero bytes appended, xor `B`'s from zero.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse4.2")]
unsafe fn crc32c_sse42(crc: u32, data: &[u8]) -> u32 {
    use std::arch::x86_64::{_mm_crc32_u64, _mm_crc32_u8};
    let word = |b: &[u8], i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
    let mut crc = crc;
    let mut blocks = data.chunks_exact(3 * CHAIN);
    if blocks.len() > 0 {
        let shift = chain_shift();
        for block in &mut blocks {
            let (a, rest) = block.split_at(CHAIN);
            let (b, c) = rest.split_at(CHAIN);
            let (mut x, mut y, mut z) = (crc as u64, 0u64, 0u64);
            for i in (0..CHAIN).step_by(8) {
                x = _mm_crc32_u64(x, word(a, i));
                y = _mm_crc32_u64(y, word(b, i));
                z = _mm_crc32_u64(z, word(c, i));
            }
            let x = multiply_mod_p(shift, x as u32) ^ y as u32;
            crc = multiply_mod_p(shift, x) ^ z as u32;
        }
    }
    let rest = blocks.remainder();
    let mut reg = crc as u64;
    let mut words = rest.chunks_exact(8);
    for w in &mut words {
        reg = _mm_crc32_u64(reg, u64::from_le_bytes(w.try_into().expect("8 bytes")));
    }
    let mut crc = reg as u32;
    for &b in words.remainder() {
        crc = _mm_crc32_u8(crc, b);
    }
    crc
}

/// zlib's `adler32(adler, buf, len)` (both halves of `value` reduced: the guard
/// in front of the call checks).
pub(crate) fn adler32(value: u32, data: &[u8]) -> u32 {
    if data.is_empty() {
        return value;
    }
    let mut hasher = simd_adler32::Adler32::from_checksum(value);
    hasher.write(data);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_give_the_catalogue_check_values() {
        assert_eq!(crc32(0, b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32c(0, b"123456789"), 0xE306_9283);
        assert_eq!(!crc32c_table(!0, b"123456789"), 0xE306_9283);
        assert_eq!(adler32(1, b"Wikipedia"), 0x11E6_0398);
        // Continuing equals one pass; long runs of 0xff keep Adler's sums reduced.
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 + i / 300) as u8).collect();
        let ff = vec![0xffu8; 70_000];
        for (kernel, start) in [(crc32 as Kernel, 0), (crc32c, 0), (adler32, 1)] {
            let whole = kernel(start, &data);
            assert_eq!(kernel(kernel(start, &data[..333]), &data[333..]), whole);
            let _ = kernel(start, &ff);
        }
        let (mut a, mut b) = (1u64, 0u64);
        for &x in &ff {
            a = (a + x as u64) % 65521;
            b = (b + a) % 65521;
        }
        assert_eq!(adler32(1, &ff), (b << 16 | a) as u32);
    }

    /// The three joined chains give the table's register at every length around
    /// the block size, from any register.
    #[test]
    fn crc32c_chains_join_exactly() {
        let data: Vec<u8> = (0..8 * 3 * CHAIN as u32 + 77)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let block = 3 * CHAIN;
        for len in [
            0,
            1,
            7,
            8,
            9,
            block - 1,
            block,
            block + 1,
            2 * block + 13,
            data.len(),
        ] {
            for start in [0u32, !0, 0x1234_5678] {
                assert_eq!(
                    crc32c(start, &data[..len]),
                    !crc32c_table(!start, &data[..len]),
                    "length {len}, value {start:#x}"
                );
            }
        }
    }
}
