//! `zstd_decompress_v1(dst, dst_cap, src, src_size) -> i32`: decodes the
//! Zstandard frames at `src` into `dst` as the library's `ZSTD_decompress` does
//! and returns the decoded size, for functions `barq-opt --target native`
//! identified as that function (`native-zstd`). It runs
//! `barq_passes::fingerprints::zstd::decompress`, the decoder those functions
//! were checked against, in place on guest memory: it declines with -1, and guest
//! memory as it was, on malformed or truncated frames, frames without their
//! content size, or an output that does not fit (the caller's guard then runs the
//! original decoder). Sizes count as unsigned; a range outside memory traps;
//! overlapping buffers and outputs of 2^31 bytes or more return -1.

use barq_passes::fingerprints::zstd::decompress;
use std::cell::RefCell;
use wasmtime::Linker;

thread_local! {
    /// What the output window held, to put back when decoding fails.
    static SAVED: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Registers the kernel.
pub(crate) fn add_to_linker<T: super::GuestMemory + 'static>(
    linker: &mut Linker<T>,
) -> wasmtime::Result<()> {
    super::add_decoder(linker, "zstd_decompress_v1", decode_frames)
}

/// [`decompress`] with the thread's window buffer.
fn decode_frames(src: &[u8], out: &mut [u8]) -> Option<usize> {
    SAVED.with_borrow_mut(|saved| decompress(src, out, saved))
}

/// Decodes `data[from]` into `data[to]`; `None` (and `data` untouched) when the
/// ranges overlap or `decompress` declines, or the size is 2^31 or more.
#[cfg(test)]
fn decode(
    data: &mut [u8],
    from: std::ops::Range<usize>,
    to: std::ops::Range<usize>,
) -> Option<usize> {
    super::decode_apart(data, from, to, decode_frames)
}

#[cfg(test)]
mod tests {
    use super::*;
    use barq_passes::fingerprints::zstd::{frame, words};
    use barq_passes::probe::Rng;

    /// Frames decode in place, in either order of the buffers; malformed ones and
    /// overlapping buffers leave memory alone.
    #[test]
    fn decodes_in_place_and_declines_cleanly() {
        let text = words(&mut Rng(5), 50_000);
        let src = frame(&text, 3, true, 0, true);
        let mut data = vec![7u8; 300_000];
        data[..src.len()].copy_from_slice(&src);
        let out = 100_000..100_000 + 60_000;
        assert_eq!(
            decode(&mut data, 0..src.len(), out.clone()),
            Some(text.len())
        );
        assert_eq!(&data[100_000..150_000], &text[..]);
        // The output below the frames.
        let mut data2 = vec![7u8; 300_000];
        data2[200_000..200_000 + src.len()].copy_from_slice(&src);
        assert_eq!(
            decode(&mut data2, 200_000..200_000 + src.len(), 10..60_010),
            Some(text.len())
        );
        assert_eq!(&data2[10..50_010], &text[..]);
        // Corrupted (a flipped byte in the middle: the checksum fails), overlapping.
        let mut bad = data.clone();
        bad[src.len() / 2] ^= 0x10;
        let before = bad.clone();
        assert_eq!(decode(&mut bad, 0..src.len(), out.clone()), None);
        assert!(bad == before);
        assert_eq!(decode(&mut data, 0..src.len(), 100..60_000), None);
    }
}
