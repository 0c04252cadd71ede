//! `brotli_decompress_v1(dst, dst_cap, src, src_size) -> i32`: decodes the
//! Brotli stream at `src` into `dst` as the library's one-shot
//! `BrotliDecoderDecompress` does and returns the decoded size, for functions
//! `barq-opt --target native` identified as that function (`native-brotli`; its
//! guard reads the capacity from the function's `*decoded_size` and stores the
//! size back). It runs `barq_passes::fingerprints::brotli::decompress`, the
//! decoder those functions were checked against: it declines with -1, and guest
//! memory as it was, on malformed or truncated streams or an output that does
//! not fit (the caller's guard then runs the original decoder). Sizes count as
//! unsigned; a range outside memory traps; overlapping buffers and outputs of
//! 2^31 bytes or more return -1.

use barq_passes::fingerprints::brotli::decompress;
use wasmtime::Linker;

/// Registers the kernel.
pub(crate) fn add_to_linker<T: super::GuestMemory + 'static>(
    linker: &mut Linker<T>,
) -> wasmtime::Result<()> {
    super::add_decoder(linker, "brotli_decompress_v1", decompress)
}

#[cfg(test)]
mod tests {
    use super::super::decode_apart;
    use super::*;
    use barq_passes::fingerprints::brotli::{compress, words};
    use barq_passes::probe::Rng;

    /// Streams decode in place, in either order of the buffers; malformed ones,
    /// too small outputs and overlapping buffers leave memory alone.
    #[test]
    fn decodes_in_place_and_declines_cleanly() {
        let text = words(&mut Rng(5), 50_000);
        let src = compress(&text, 9, 22, false);
        let mut data = vec![7u8; 300_000];
        data[..src.len()].copy_from_slice(&src);
        let out = 100_000..100_000 + 60_000;
        let decode = |data: &mut [u8], from, to| decode_apart(data, from, to, decompress);
        assert_eq!(
            decode(&mut data, 0..src.len(), out.clone()),
            Some(text.len())
        );
        assert_eq!(&data[100_000..150_000], &text[..]);
        assert!(data[150_000..160_000].iter().all(|b| *b == 7));
        let mut below = vec![7u8; 300_000];
        below[200_000..200_000 + src.len()].copy_from_slice(&src);
        let from = 200_000..200_000 + src.len();
        assert_eq!(decode(&mut below, from, 10..60_010), Some(text.len()));
        assert_eq!(&below[10..50_010], &text[..]);
        // Declined, memory untouched: a stream cut short (a flipped bit may
        // still decode: Brotli has no checksum), the large-window marker the
        // one-shot call refuses, an output a byte too small.
        let mut large = data.clone();
        large[0] = 0x11;
        for (mut bad, len, cap) in [
            (data.clone(), src.len() - 3, 60_000),
            (large, src.len(), 60_000),
            (data.clone(), src.len(), text.len() - 1),
        ] {
            let before = bad.clone();
            assert_eq!(decode(&mut bad, 0..len, 100_000..100_000 + cap), None);
            assert!(bad == before);
        }
        assert_eq!(decode(&mut data, 0..src.len(), 100..60_000), None);
    }
}
