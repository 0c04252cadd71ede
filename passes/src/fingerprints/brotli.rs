//! Whole-function fingerprint `brotli_decompress`, identified by probing: a
//! function `(encoded_size, encoded, decoded_size, decoded) -> result` (its
//! parameters in any order) that behaves as the Brotli library's one-shot
//! `BrotliDecoderDecompress` (RFC 7932 streams) on every probe: `decoded_size`
//! points at the capacity on entry and receives the decoded size, the result is
//! 1 on success and 0 on any error, and nothing of the output buffer past the
//! decoded size changes.
//!
//! The definition is [`decompress`]: Google's C library that this crate links
//! (through `brotlic-sys`; large windows off, as in the one-shot call), which
//! the runner's kernel also runs, so what the probes checked is what the kernel
//! does. It answers only where the stream decodes completely into the
//! buffer (input past the end of the stream is ignored, as the library does);
//! anything else (a malformed or truncated stream, an output that does not fit)
//! declines with the buffer restored, and the caller's guard runs the original
//! function, with its own result, its partial output and the decoded size it
//! reports for it.
//!
//! The probes: streams of text (dictionary words among them), random bytes and
//! runs at qualities 0 to 11 and windows of 2^10 to 2^24 bytes, the empty
//! stream, bytes after the end of a stream; capacities exact, a byte larger and
//! far larger; then truncated and corrupted streams, a large-window stream and a
//! too small capacity, on which the function must return 0.
//!
//! As `fingerprints::zstd`, this lets the function allocate (the library
//! allocates its ring buffer and tables): the prober restores memory outside the
//! scratch region after each run and starts a fresh instance after a failed one.
//! The structural prefilter keeps probing to functions of that signature, in a
//! module holding Brotli's static dictionary, whose calls (four deep) reach at
//! least [`MIN_LOOPS`] loops: a decoder, not a helper.

use crate::probe::{Probe, ProbeArg, ProbeRun, Rng};
use walrus::ir::Instr;
use walrus::{FunctionId, LocalFunction, Module, ValType};

/// The start of the static dictionary (RFC 7932, appendix A) every decoder
/// carries.
const DICTIONARY_START: &[u8] = b"timedownlifeleftbackcodedatashowonlysitecityopenjustlikefreework";

/// Loops a candidate's calls reach, at least (Google's decoder: over 100).
pub const MIN_LOOPS: usize = 8;

/// Decodes the Brotli stream `src` into `out` (the capacity is `out.len()`) as
/// `BrotliDecoderDecompress` does and returns the decoded size; `None`, with
/// `out` as it was, when it does not decode completely into `out`. Decodes into
/// a buffer of its own first (grown as the output needs, up to the capacity),
/// then copies: a stream that fails leaves the caller's buffer untouched.
pub fn decompress(src: &[u8], out: &mut [u8]) -> Option<usize> {
    SCRATCH.with(|buf| {
        let mut buf = buf.borrow_mut();
        let size = decode(src, out.len(), &mut buf)?;
        out[..size].copy_from_slice(&buf[..size]);
        Some(size)
    })
}

thread_local! {
    /// [`decompress`]'s buffer, kept between calls.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Decodes `src` into `buf` (grown as needed, to at most `cap` bytes): the
/// decoded size, or `None` when the stream is malformed, truncated or larger.
/// One streaming decoder, given more output room each time it asks for it,
/// decodes as one call with all the room would: the library's one-shot call.
fn decode(src: &[u8], cap: usize, buf: &mut Vec<u8>) -> Option<usize> {
    use brotlic_sys::*;
    /// Destroys the decoder however the loop ends.
    struct Decoder(*mut BrotliDecoderState);
    impl Drop for Decoder {
        fn drop(&mut self) {
            // SAFETY: made by BrotliDecoderCreateInstance, destroyed once.
            unsafe { BrotliDecoderDestroyInstance(self.0) }
        }
    }
    // SAFETY: default allocator functions; checked for null below.
    let decoder = Decoder(unsafe { BrotliDecoderCreateInstance(None, None, std::ptr::null_mut()) });
    if decoder.0.is_null() {
        return None;
    }
    let (mut next_in, mut available_in) = (src.as_ptr(), src.len());
    let mut total = 0;
    // A first guess of the output's size; doubled while the decoder asks for more.
    let mut room = cap.min(src.len().saturating_mul(4).max(64 << 10));
    loop {
        if buf.len() < room {
            buf.resize(room, 0);
        }
        let mut available_out = room - total;
        // SAFETY: `total <= room <= buf.len()`, so the output cursor and its
        // `available_out` bytes lie in `buf`; the input cursor and its
        // `available_in` bytes in `src` (the decoder advances both together).
        let mut next_out = unsafe { buf.as_mut_ptr().add(total) };
        let result = unsafe {
            BrotliDecoderDecompressStream(
                decoder.0,
                &mut available_in,
                &mut next_in,
                &mut available_out,
                &mut next_out,
                std::ptr::null_mut(),
            )
        };
        total = room - available_out;
        if result == BrotliDecoderResult_BROTLI_DECODER_RESULT_SUCCESS {
            return Some(total);
        }
        if result != BrotliDecoderResult_BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT || room == cap {
            return None;
        }
        room = cap.min(room.saturating_mul(2));
    }
}

/// Whether `func` is worth probing: `Some(4)` for `(i32, i32, i32, i32) -> i32`
/// in a module with one memory, when its calls reach at least [`MIN_LOOPS`]
/// loops. (The module must also hold the dictionary, [`has_dictionary`]: asked
/// once per module, not per function.)
pub fn prefilter(module: &Module, func: &LocalFunction) -> Option<usize> {
    let ty = module.types.get(func.ty());
    if ty.results() != [ValType::I32] || ty.params() != [ValType::I32; 4] {
        return None;
    }
    if module.memories.len() != 1 {
        return None;
    }
    (loops_reached(module, func, 4) >= MIN_LOOPS).then_some(4)
}

/// Whether a data segment holds the start of the static dictionary: a module
/// without it holds no Brotli decoder.
pub fn has_dictionary(module: &Module) -> bool {
    module.data.iter().any(|d| {
        d.value
            .windows(DICTIONARY_START.len())
            .any(|w| w == DICTIONARY_START)
    })
}

/// Functions looked through for loops, at most.
const REACH: usize = 256;

/// The loops in `func` and the functions it calls, `depth` calls deep (each
/// function counted once, the first [`REACH`] found).
fn loops_reached(module: &Module, func: &LocalFunction, depth: u32) -> usize {
    let mut seen: std::collections::HashSet<FunctionId> = std::collections::HashSet::new();
    let mut level: Vec<&LocalFunction> = vec![func];
    let mut loops = 0;
    for d in 0..=depth {
        let mut next = Vec::new();
        for local in level {
            for instr in crate::passes::simd_elementwise::instructions(local) {
                let callee = match instr {
                    Instr::Loop(_) => {
                        loops += 1;
                        continue;
                    }
                    Instr::Call(c) => c.func,
                    Instr::ReturnCall(c) => c.func,
                    _ => continue,
                };
                if d < depth && seen.len() < REACH && seen.insert(callee) {
                    if let walrus::FunctionKind::Local(l) = &module.funcs.get(callee).kind {
                        next.push(l);
                    }
                }
            }
        }
        level = next;
    }
    loops
}

/// Where the four parameters go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BrotliCall {
    /// Parameter position of the stream's size in bytes.
    pub encoded_size: usize,
    /// ... of the stream's address.
    pub encoded: usize,
    /// ... of the address of the capacity in, decoded size out (a 32-bit word).
    pub decoded_size: usize,
    /// ... of the output's address.
    pub decoded: usize,
}

/// A match and the probe runs it took.
#[derive(Clone, Copy, Debug)]
pub struct Identified {
    /// The parameters.
    pub call: BrotliCall,
    /// Probe runs made.
    pub runs: usize,
}

/// Text-like bytes: a seeded walk over English words (the static dictionary's
/// words among them, so that streams refer to it).
pub fn words(rng: &mut Rng, n: usize) -> Vec<u8> {
    const WORDS: [&str; 16] = [
        "the ",
        "time ",
        "of the ",
        "brotli ",
        "decoder, ",
        "and ",
        "window ",
        "literal ",
        "match ",
        "distance ",
        "The ",
        "in ",
        "a ",
        "block. ",
        "Huffman ",
        "context ",
    ];
    let mut out = Vec::with_capacity(n + 16);
    while out.len() < n {
        out.extend_from_slice(WORDS[(rng.next_u64() % 16) as usize].as_bytes());
    }
    out.truncate(n);
    out
}

/// `data` compressed by the library at `quality` (0-11) with a window of
/// 2^`lgwin` bytes (10-24; up to 30 with `large_window`, a stream the one-shot
/// call refuses).
pub fn compress(data: &[u8], quality: u32, lgwin: u32, large_window: bool) -> Vec<u8> {
    use brotlic_sys::*;
    // SAFETY: default allocator functions; every call gets the live instance,
    // cursors into `data` and `out` with the lengths left in each; destroyed once.
    unsafe {
        let encoder = BrotliEncoderCreateInstance(None, None, std::ptr::null_mut());
        assert!(!encoder.is_null(), "brotli encoder");
        for (parameter, value) in [
            (BrotliEncoderParameter_BROTLI_PARAM_QUALITY, quality),
            (BrotliEncoderParameter_BROTLI_PARAM_LGWIN, lgwin),
            (
                BrotliEncoderParameter_BROTLI_PARAM_LARGE_WINDOW,
                large_window as u32,
            ),
            (
                BrotliEncoderParameter_BROTLI_PARAM_SIZE_HINT,
                data.len() as u32,
            ),
        ] {
            assert_eq!(BrotliEncoderSetParameter(encoder, parameter, value), 1);
        }
        let mut out = vec![0u8; BrotliEncoderMaxCompressedSize(data.len()).max(64) + 1024];
        let (mut next_in, mut available_in) = (data.as_ptr(), data.len());
        let (mut next_out, mut available_out) = (out.as_mut_ptr(), out.len());
        let ok = BrotliEncoderCompressStream(
            encoder,
            BrotliEncoderOperation_BROTLI_OPERATION_FINISH,
            &mut available_in,
            &mut next_in,
            &mut available_out,
            &mut next_out,
            std::ptr::null_mut(),
        );
        let done = BrotliEncoderIsFinished(encoder);
        BrotliEncoderDestroyInstance(encoder);
        assert!(ok == 1 && done == 1, "brotli compresses");
        out.truncate(out.len() - available_out);
        out
    }
}

/// The well-formed probe inputs, the first ones small (they sort readings out).
fn streams(rng: &mut Rng) -> Vec<Vec<u8>> {
    let mut out = vec![compress(b"abc", 1, 22, false), compress(b"", 5, 22, false)];
    let text = words(rng, 30_000);
    for (n, quality, lgwin) in [
        (100, 0, 10),
        (1000, 5, 16),
        (5000, 11, 22),
        (30_000, 9, 24),
        (12_000, 1, 18),
        (20_000, 11, 12),
    ] {
        out.push(compress(&text[..n], quality, lgwin, false));
    }
    let random: Vec<u8> = (0..3000).map(|_| rng.next_u64() as u8).collect();
    out.push(compress(&random, 6, 22, false));
    out.push(compress(&[b'z'; 20_000], 2, 16, false));
    let mut mixed = text[..4000].to_vec();
    mixed.extend_from_slice(&random[..2000]);
    mixed.extend_from_slice(&[0u8; 3000]);
    out.push(compress(&mixed, 7, 20, false));
    out
}

/// One probe: the stream and the output capacity.
struct Case {
    src: Vec<u8>,
    cap: usize,
}

/// The decoded size of a stream the probes made.
fn size_of(src: &[u8]) -> usize {
    decode(src, 1 << 20, &mut Vec::new()).expect("probe streams decode")
}

fn cases(func_index: u32) -> Vec<Case> {
    let mut rng = Rng(0xb_2071_f00d ^ func_index as u64);
    let mut out = Vec::new();
    let streams = streams(&mut rng);
    for (i, src) in streams.iter().enumerate() {
        let size = size_of(src);
        out.push(Case {
            src: src.clone(),
            cap: size,
        });
        out.push(Case {
            src: src.clone(),
            cap: size + 1 + i % 7,
        });
        if i >= 2 && i % 2 == 0 {
            out.push(Case {
                src: src.clone(),
                cap: size + 5000 + i,
            });
        }
    }
    // Bytes after the end of the stream (ignored).
    let mut trailing = streams[4].clone();
    trailing.extend_from_slice(b"trailing bytes");
    out.push(Case {
        src: trailing,
        cap: size_of(&streams[4]) + 3,
    });
    // A large-window stream (refused by the one-shot call).
    let text = words(&mut rng, 3000);
    out.push(Case {
        src: compress(&text, 5, 26, true),
        cap: 3100,
    });
    // Malformed: truncated, corrupted, too small an output.
    for src in [&streams[5], &streams[7], &streams[9]] {
        let size = size_of(src);
        for c in crate::probe::corrupted(&mut rng, src) {
            out.push(Case {
                src: c,
                cap: size + 64,
            });
        }
        out.push(Case {
            src: src.clone(),
            cap: size - 1,
        });
    }
    out
}

/// Identifies `func` (input index `func_index`) as a Brotli decoder by probing,
/// or `None`.
pub fn identify(func_index: u32, probe: &mut dyn Probe) -> Option<Identified> {
    let (base, size) = probe.scratch()?;
    let cases = cases(func_index);
    let mut runs = 0;
    // The library's order first.
    let readings = crate::probe::orders_of_four([0, 1, 2, 3]).into_iter().map(
        |[encoded_size, encoded, decoded_size, decoded]| BrotliCall {
            encoded_size,
            encoded,
            decoded_size,
            decoded,
        },
    );
    for call in readings {
        if agrees(
            func_index,
            call,
            &cases,
            (base, size as usize),
            probe,
            &mut runs,
        ) {
            return Some(Identified { call, runs });
        }
    }
    None
}

/// Whether every case gives what the library gives, with this reading.
fn agrees(
    func_index: u32,
    call: BrotliCall,
    cases: &[Case],
    (base, size): (u32, usize),
    probe: &mut dyn Probe,
    runs: &mut usize,
) -> bool {
    for (i, case) in cases.iter().enumerate() {
        // Layout: src at 16 (+ i % 4), the size word after it (+ i % 3, so at
        // times unaligned), dst after that (+ i % 5), 64 bytes past the
        // capacity; the whole region a pattern, so that bytes written are seen.
        let src_at = 16 + i % 4;
        let size_at = src_at + case.src.len() + 8 + i % 3;
        let dst_at = ((size_at + 4 + 64) & !7) + i % 5;
        let end = dst_at + case.cap + 64;
        if end > size {
            return false;
        }
        let mut scratch: Vec<u8> = (0..end).map(|j| (j * 7 % 251) as u8).collect();
        scratch[src_at..src_at + case.src.len()].copy_from_slice(&case.src);
        scratch[size_at..size_at + 4].copy_from_slice(&(case.cap as u32).to_le_bytes());
        let mut want = scratch.clone();
        let decoded = decompress(&case.src, &mut want[dst_at..dst_at + case.cap]);
        if let Some(n) = decoded {
            want[size_at..size_at + 4].copy_from_slice(&(n as u32).to_le_bytes());
        }
        let mut args = [0i32; 4];
        args[call.encoded_size] = case.src.len() as i32;
        args[call.encoded] = (base as usize + src_at) as i32;
        args[call.decoded_size] = (base as usize + size_at) as i32;
        args[call.decoded] = (base as usize + dst_at) as i32;
        let args: Vec<ProbeArg> = args.iter().map(|v| ProbeArg::I32(*v)).collect();
        *runs += 1;
        let ProbeRun::Returned {
            results,
            scratch: after,
            ..
        } = probe.run(func_index, &args, &scratch)
        else {
            probe.isolate();
            return false;
        };
        let [result] = results[..] else {
            return false;
        };
        let ok = match decoded {
            Some(_) => result == 1 && after == want,
            // The library fails: so must the function, leaving the stream.
            None => result == 0 && after[src_at..src_at + case.src.len()] == case.src[..],
        };
        if !ok {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_cases_decode_where_they_should() {
        let cases = cases(7);
        let (mut decoded, mut declined) = (0, 0);
        for case in &cases {
            let mut out = vec![0x5a; case.cap];
            match decompress(&case.src, &mut out) {
                Some(n) => {
                    decoded += 1;
                    assert!(n <= case.cap);
                    assert!(out[n..].iter().all(|b| *b == 0x5a), "nothing past the size");
                }
                None => {
                    declined += 1;
                    assert!(out.iter().all(|b| *b == 0x5a), "restored on declining");
                }
            }
        }
        assert!(decoded >= 25, "{decoded} decoded");
        assert!(declined >= 10, "{declined} declined");
    }

    #[test]
    fn streams_round_trip_and_large_windows_are_refused() {
        let mut rng = Rng(5);
        let text = words(&mut rng, 50_000);
        for quality in [0, 1, 5, 9, 11] {
            let src = compress(&text, quality, 22, false);
            let mut out = vec![0; text.len()];
            assert_eq!(decompress(&src, &mut out), Some(text.len()));
            assert_eq!(out, text);
            let mut short = vec![0; text.len() - 1];
            assert_eq!(decompress(&src, &mut short), None);
        }
        let large = compress(&text, 5, 26, true);
        assert_eq!(decompress(&large, &mut vec![0; text.len()]), None);
    }
}
