//! Checksum kernels for functions `barq-opt --target native` identified as
//! CRC-32, CRC-32C or Adler-32 (`native-checksum`). All three take zlib's
//! convention, `(value, ptr, len) -> value`: continue `value` over the `len` bytes
//! at `ptr` (`len` unsigned); a range outside memory traps.
//!
//! | import | computes | how |
//! |---|---|---|
//! | `crc32_v1` | CRC-32 (reflected 0xEDB88320) | crc32fast (PCLMULQDQ folding) |
//! | `crc32c_v1` | CRC-32C (reflected 0x82F63B78) | SSE4.2 `crc32` instruction, 8 bytes per step |
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

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse4.2")]
unsafe fn crc32c_sse42(crc: u32, data: &[u8]) -> u32 {
    use std::arch::x86_64::{_mm_crc32_u64, _mm_crc32_u8};
    let mut crc = crc as u64;
    let mut words = data.chunks_exact(8);
    for w in &mut words {
        crc = _mm_crc32_u64(crc, u64::from_le_bytes(w.try_into().expect("8 bytes")));
    }
    let mut crc = crc as u32;
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
}
