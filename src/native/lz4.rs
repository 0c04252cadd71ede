//! `lz4_block_decompress_v1(src, src_len, dst, dst_cap) -> i32`: decodes the LZ4
//! block at `src` into `dst` and returns its size, for functions `barq-opt --target
//! native` identified as LZ4 block decoders (`native-lz4`). It decodes with
//! `barq_passes::fingerprints::lz4::decode_block`, the decoder those functions
//! were checked against, into a host buffer first and copies the result into
//! `dst` only when the whole block decoded: a malformed block (or one that needs
//! more than `dst_cap` bytes) returns -1 with guest memory untouched, and the
//! caller's guard then runs the original decoder. Sizes count as unsigned; a
//! range outside memory traps; overlapping buffers return -1.

use super::{memory, range, MODULE};
use barq_passes::fingerprints::lz4::{decode_block, SLACK};
use std::cell::RefCell;
use wasmtime::{Caller, Linker};

thread_local! {
    /// The decode buffer, kept between calls (it only grows).
    static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Registers the kernel.
pub(crate) fn add_to_linker<T: super::GuestMemory + 'static>(
    linker: &mut Linker<T>,
) -> wasmtime::Result<()> {
    linker.func_wrap(
        MODULE,
        "lz4_block_decompress_v1",
        |mut caller: Caller<'_, T>,
         src: i32,
         src_len: i32,
         dst: i32,
         dst_cap: i32|
         -> wasmtime::Result<i32> {
            let memory = memory(&mut caller)?;
            let data = memory.data_mut(&mut caller);
            let from = range(data.len(), src, src_len, 1)?;
            let to = range(data.len(), dst, dst_cap, 1)?;
            if from.start < to.end && to.start < from.end && !from.is_empty() && !to.is_empty() {
                return Ok(-1);
            }
            Ok(decompress(data, from, to).map_or(-1, |n| n as i32))
        },
    )?;
    Ok(())
}

/// Decodes `data[from]` into `data[to]`; `None` (and `data` untouched) when the
/// block is malformed, does not fit, or decodes to 2^31 bytes or more.
fn decompress(
    data: &mut [u8],
    from: std::ops::Range<usize>,
    to: std::ops::Range<usize>,
) -> Option<usize> {
    // No block decodes to more than 255 bytes per byte of input (a length byte adds
    // at most 255; literals cost their own bytes), so a larger capacity needs no
    // larger buffer: what fits in `limit` is what fits in the capacity.
    let cap = to.len().min(from.len().saturating_mul(255));
    BUFFER.with_borrow_mut(|buffer| {
        if buffer.len() < cap + SLACK {
            buffer.resize(cap + SLACK, 0);
        }
        let n = decode_block(&data[from], buffer, cap)?;
        if n > i32::MAX as usize {
            return None;
        }
        data[to.start..to.start + n].copy_from_slice(&buffer[..n]);
        Some(n)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blocks lz4_flex made (its fast paths: long literal runs, overlapping and far
    /// matches) decode to what was compressed, with the exact capacity.
    #[test]
    fn decodes_what_lz4_flex_encodes() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for n in [0usize, 1, 5, 17, 64, 1000, 65_536, 300_000] {
            for kind in 0..3 {
                let data: Vec<u8> = (0..n)
                    .map(|i| match kind {
                        0 => next() as u8,
                        1 => b"lorem ipsum dolor sit amet "[i % 27],
                        _ => (next() % 3) as u8,
                    })
                    .collect();
                let block = lz4_flex::block::compress(&data);
                let mut out = vec![0u8; n + SLACK];
                assert_eq!(decode_block(&block, &mut out, n), Some(n), "{n} {kind}");
                assert!(out[..n] == data[..], "{n} {kind}");
            }
        }
    }

    #[test]
    fn decodes_in_place_and_leaves_memory_alone_on_errors() {
        let mut data = vec![0xeeu8; 256];
        // "abc" then a match of 6 at offset 3: "abcabcabc".
        let block = [0x32, b'a', b'b', b'c', 3, 0, 0x00];
        data[..block.len()].copy_from_slice(&block);
        assert_eq!(decompress(&mut data, 0..block.len(), 100..200), Some(9));
        assert_eq!(&data[100..109], b"abcabcabc");
        assert_eq!(data[109], 0xee);
        // Too small an output, a malformed block: nothing written.
        let before = data.clone();
        assert_eq!(decompress(&mut data, 0..block.len(), 150..158), None);
        assert_eq!(decompress(&mut data, 0..block.len() - 1, 150..200), None);
        assert_eq!(data, before);
        // A capacity far beyond what the block can decode to: the same answer.
        let mut big = vec![0u8; 1 << 20];
        big[..block.len()].copy_from_slice(&block);
        assert_eq!(decompress(&mut big, 0..block.len(), 64..(1 << 20)), Some(9));
        assert_eq!(&big[64..73], b"abcabcabc");
    }
}
