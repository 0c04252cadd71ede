//! Whole-function fingerprint `zstd_decompress`, identified by probing: a function
//! `(dst, dst_cap, src, src_size) -> size` (its parameters in any order) that
//! behaves as the Zstandard library's `ZSTD_decompress` (RFC 8878 frames, one or
//! more, skippable frames skipped) on every probe, down to the bytes it leaves in
//! the output buffer past the decoded size.
//!
//! The definition is [`decompress`]: the reference C library this crate links
//! (zstd 1.5.7 through `zstd-safe`), which the runner's kernel also runs, so what
//! the probes checked is what the kernel does. Zstandard 1.5 keeps a block's
//! literals in the output buffer past the block when the buffer has room (in
//! "one-shot" decoding), so a decoder leaves bytes behind past the decoded size:
//! the probes compare the whole buffer, capacity larger than the output included,
//! and a decoder that leaves other bytes there is not this one.
//!
//! [`decompress`] answers only where the answer is the library's on any buffer:
//! every frame declares its content size (then the decoded size is known before
//! decoding, and the library checks it), the output fits, and everything decodes;
//! it then decodes into the first `min(cap, size + MARGIN)` bytes of the buffer,
//! which the library never writes past (bytes past the decoded size are written
//! only within a block's maximum size plus its literals), and which it treats as it
//! treats the whole buffer (a block's literals go past it when more than
//! `MARGIN - size` bytes are left either way). Anything else (a malformed or
//! truncated frame, a checksum that fails, a frame without its size, an output
//! that does not fit) declines with the buffer restored, and the caller's guard
//! runs the original function, with its own error code and partial output.
//!
//! The probes: frames of text, random bytes and runs at compression levels -5 to
//! 19, checksums on and off, windows small enough to make many blocks,
//! concatenated and skippable frames, the empty frame; capacities exact, a byte
//! larger and far larger (literals in the buffer); then truncated and corrupted
//! frames and a too small capacity, on which the function must return an error
//! code where the library fails and the library's answer where it does not.
//!
//! Unlike the other probed fingerprints, this one lets the function allocate and
//! move the stack pointer (`ZSTD_decompress` mallocs its context): the prober
//! runs it in an instance it starts anew after any failed run and restores memory
//! outside the scratch region after each run. What the function leaves in memory
//! outside its buffers (allocator state, a freed context) is not compared: a
//! decoder that also records something in static memory would be misidentified.
//! The structural prefilter keeps this to functions that reach the frame magic.

use crate::probe::{Probe, ProbeArg, ProbeRun, Rng};
use walrus::ir::{Instr, Value};
use walrus::{FunctionId, LocalFunction, Module, ValType};
use zstd_safe::{CCtx, CParameter};

/// The frame magic number (little endian in the frame, an `i32.const` in decoders).
pub const MAGIC: u32 = 0xFD2F_B528;

/// The library's largest block (`ZSTD_BLOCKSIZE_MAX`).
const BLOCK_MAX: usize = 128 << 10;

/// Bytes past the decoded size [`decompress`] gives the library: a block's
/// maximum size and its literals (at most a block) with the library's overlength
/// margins, rounded up.
pub const MARGIN: usize = 2 * BLOCK_MAX + 256;

/// `ZSTD_isError`: the library's error codes are the last 120 values of `size_t`.
pub fn is_error(result: u32) -> bool {
    result > (-120i32) as u32
}

/// The decoded size of the frames in `src` and the part of a `cap`-byte buffer
/// [`decompress`] decodes into, or `None` when it would decline without decoding
/// (a frame without its content size, not a frame, an output larger than `cap`).
pub fn plan(src: &[u8], cap: usize) -> Option<(usize, usize)> {
    let size = usize::try_from(zstd_safe::find_decompressed_size(src).ok()??).ok()?;
    (size <= cap).then(|| (size, cap.min(size.saturating_add(MARGIN))))
}

/// Decodes the Zstandard frames `src` into `out` (the capacity is `out.len()`) as
/// `ZSTD_decompress` does and returns the decoded size; `None`, with `out` as it
/// was, where the library's answer may depend on more than `out[..window]`, or it
/// fails (see the module documentation). `saved` is a buffer for what the window
/// held (kept between calls by callers that decode often).
pub fn decompress(src: &[u8], out: &mut [u8], saved: &mut Vec<u8>) -> Option<usize> {
    let (size, window) = plan(src, out.len())?;
    saved.clear();
    saved.extend_from_slice(&out[..window]);
    match zstd_safe::decompress(&mut out[..window], src) {
        Ok(n) if n == size => Some(n),
        _ => {
            out[..window].copy_from_slice(saved);
            None
        }
    }
}

/// Whether `func` is worth probing: `Some(4)` for `(i32, i32, i32, i32) -> i32`
/// in a module with one memory that reaches the frame magic (in its own code or
/// in what it calls, four calls deep).
pub fn prefilter(module: &Module, func: &LocalFunction) -> Option<usize> {
    let ty = module.types.get(func.ty());
    if ty.results() != [ValType::I32] || ty.params() != [ValType::I32; 4] {
        return None;
    }
    if module.memories.len() != 1 {
        return None;
    }
    reaches_magic(module, func, 4).then_some(4)
}

/// Functions the prefilter looks through for the magic, at most (breadth first:
/// a decoder reaches its frame-header parser within a few of them).
const REACH: usize = 256;

/// Whether `func` or a function it calls (directly, `depth` calls deep, the first
/// [`REACH`] functions found) has the frame magic as a constant.
fn reaches_magic(module: &Module, func: &LocalFunction, depth: u32) -> bool {
    let mut seen: std::collections::HashSet<FunctionId> = std::collections::HashSet::new();
    let mut level: Vec<&LocalFunction> = vec![func];
    for d in 0..=depth {
        let mut next = Vec::new();
        for local in level {
            for instr in crate::passes::simd_elementwise::instructions(local) {
                let callee = match instr {
                    Instr::Const(c) if matches!(c.value, Value::I32(v) if v as u32 == MAGIC) => {
                        return true
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
    false
}

/// Where the four parameters go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZstdCall {
    /// Parameter position of the output's address.
    pub dst: usize,
    /// ... of its capacity in bytes.
    pub dst_cap: usize,
    /// ... of the frames' address.
    pub src: usize,
    /// ... of their size in bytes.
    pub src_size: usize,
}

/// A match and the probe runs it took.
#[derive(Clone, Copy, Debug)]
pub struct Identified {
    /// The parameters.
    pub call: ZstdCall,
    /// Probe runs made.
    pub runs: usize,
}

/// Text-like bytes: a seeded walk over a small vocabulary.
pub fn words(rng: &mut Rng, n: usize) -> Vec<u8> {
    const WORDS: [&str; 16] = [
        "the ",
        "frame ",
        "of ",
        "zstd ",
        "decoder ",
        "and ",
        "block ",
        "literal ",
        "match ",
        "offset, ",
        "sequence ",
        "in ",
        "a ",
        "window. ",
        "Huffman ",
        "table ",
    ];
    let mut out = Vec::with_capacity(n + 16);
    while out.len() < n {
        out.extend_from_slice(WORDS[(rng.next_u64() % 16) as usize].as_bytes());
    }
    out.truncate(n);
    out
}

/// `data` compressed as one frame: `level`, a checksum or not, a window of
/// 2^`window_log` bytes (0: the level's), the content size in the header or not.
pub fn frame(data: &[u8], level: i32, checksum: bool, window_log: u32, sized: bool) -> Vec<u8> {
    let mut cctx = CCtx::create();
    let set = |cctx: &mut CCtx, p| cctx.set_parameter(p).expect("zstd parameter");
    set(&mut cctx, CParameter::CompressionLevel(level));
    set(&mut cctx, CParameter::ChecksumFlag(checksum));
    set(&mut cctx, CParameter::ContentSizeFlag(sized));
    if window_log != 0 {
        set(&mut cctx, CParameter::WindowLog(window_log));
    }
    let mut out = Vec::with_capacity(zstd_safe::compress_bound(data.len()));
    cctx.compress2(&mut out, data).expect("zstd compresses");
    out
}

/// The well-formed probe inputs, the first ones small (they sort readings out).
fn frames(rng: &mut Rng) -> Vec<Vec<u8>> {
    let mut out = vec![
        frame(b"abc", 1, false, 0, true),
        frame(b"", 3, true, 0, true),
    ];
    let text = words(rng, 30_000);
    for (n, level) in [
        (100, 1),
        (1000, 3),
        (5000, 19),
        (30_000, 3),
        (12_000, -5),
        (20_000, 9),
    ] {
        out.push(frame(&text[..n], level, n % 2 == 0, 0, true));
    }
    // Many blocks: a 1 KiB window.
    out.push(frame(&text[..20_000], 3, true, 10, true));
    let random: Vec<u8> = (0..3000).map(|_| rng.next_u64() as u8).collect();
    out.push(frame(&random, 3, false, 0, true));
    out.push(frame(&[b'z'; 20_000], 1, true, 0, true));
    let mut mixed = text[..4000].to_vec();
    mixed.extend_from_slice(&random[..2000]);
    mixed.extend_from_slice(&[0u8; 3000]);
    out.push(frame(&mixed, 6, true, 0, true));
    // Two frames; a skippable frame, then a frame.
    let mut two = frame(&text[..700], 1, false, 0, true);
    two.extend_from_slice(&frame(&text[700..3000], 5, true, 0, true));
    out.push(two);
    let mut skip = vec![0x50, 0x2a, 0x4d, 0x18, 5, 0, 0, 0, 1, 2, 3, 4, 5];
    skip.extend_from_slice(&frame(&text[..2500], 2, false, 0, true));
    out.push(skip);
    out
}

/// One probe: the frames and the output capacity.
struct Case {
    src: Vec<u8>,
    cap: usize,
}

fn cases(func_index: u32) -> Vec<Case> {
    let mut rng = Rng(0x2_57d0_f00d ^ func_index as u64);
    let mut out = Vec::new();
    let frames = frames(&mut rng);
    for (i, src) in frames.iter().enumerate() {
        let size = plan(src, usize::MAX)
            .expect("probe frames declare their size")
            .0;
        out.push(Case {
            src: src.clone(),
            cap: size,
        });
        out.push(Case {
            src: src.clone(),
            cap: size + 1 + i % 7,
        });
        if i >= 2 && i % 2 == 0 {
            // Room for a block's literals past the output, and then some.
            out.push(Case {
                src: src.clone(),
                cap: size + MARGIN + 1000 + i,
            });
        }
    }
    // An unsized frame (decoded, though the kernel would decline it).
    let text = words(&mut rng, 3000);
    out.push(Case {
        src: frame(&text, 3, true, 0, false),
        cap: 3100,
    });
    // Malformed: truncated, corrupted, too small an output.
    for src in [&frames[5], &frames[7], &frames[10]] {
        let size = plan(src, usize::MAX).unwrap().0;
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

/// Identifies `func` (input index `func_index`) as a Zstandard decoder by
/// probing, or `None`.
pub fn identify(func_index: u32, probe: &mut dyn Probe) -> Option<Identified> {
    let (base, size) = probe.scratch()?;
    let cases = cases(func_index);
    let mut runs = 0;
    // The library's order first.
    let readings = crate::probe::orders_of_four([0, 1, 2, 3]).into_iter().map(
        |[dst, dst_cap, src, src_size]| ZstdCall {
            dst,
            dst_cap,
            src,
            src_size,
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
    call: ZstdCall,
    cases: &[Case],
    (base, size): (u32, usize),
    probe: &mut dyn Probe,
    runs: &mut usize,
) -> bool {
    let mut saved = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        // Layout: src at 16 (+ i % 4), dst after it (+ i % 3), 64 bytes past the
        // capacity; the whole region a pattern, so that bytes written are seen.
        let src_at = 16 + i % 4;
        let dst_at = ((src_at + case.src.len() + 64) & !7) + i % 3;
        let end = dst_at + case.cap + 64;
        if end > size {
            return false;
        }
        let mut scratch: Vec<u8> = (0..end).map(|j| (j * 7 % 251) as u8).collect();
        scratch[src_at..src_at + case.src.len()].copy_from_slice(&case.src);
        let mut want = scratch.clone();
        let decoded = decompress(&case.src, &mut want[dst_at..dst_at + case.cap], &mut saved);
        // Where the kernel would decline: what the library does with the whole buffer.
        let full = match decoded {
            Some(_) => None,
            None => {
                let mut out = want[dst_at..dst_at + case.cap].to_vec();
                Some(
                    zstd_safe::decompress(&mut out[..], &case.src)
                        .ok()
                        .map(|n| (n, out)),
                )
            }
        };
        let mut args = [0i32; 4];
        args[call.dst] = (base as usize + dst_at) as i32;
        args[call.dst_cap] = case.cap as i32;
        args[call.src] = (base as usize + src_at) as i32;
        args[call.src_size] = case.src.len() as i32;
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
        let result = result as u32;
        let src_kept = after[src_at..src_at + case.src.len()] == case.src[..];
        let ok = match (decoded, full) {
            (Some(n), _) => result as usize == n && after == want,
            // Decoded with the whole buffer (no content size): the same bytes.
            (None, Some(Some((n, out)))) => {
                result as usize == n && src_kept && after[dst_at..dst_at + n] == out[..n]
            }
            // The library fails: so must the function.
            (None, _) => is_error(result) && src_kept,
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
        let mut saved = Vec::new();
        let (mut decoded, mut declined) = (0, 0);
        for case in &cases {
            let mut out = vec![0x5a; case.cap];
            match decompress(&case.src, &mut out, &mut saved) {
                Some(n) => {
                    decoded += 1;
                    assert!(n <= case.cap);
                }
                None => {
                    declined += 1;
                    assert!(out.iter().all(|b| *b == 0x5a), "restored on declining");
                }
            }
        }
        assert!(decoded >= 30, "{decoded} decoded");
        assert!(declined >= 10, "{declined} declined");
    }

    /// The literals-in-the-buffer behaviour the probes rely on: with room past the
    /// output, the library writes there; [`decompress`]'s window leaves the same bytes.
    #[test]
    fn the_window_leaves_what_the_whole_buffer_would() {
        let mut rng = Rng(3);
        let text = words(&mut rng, 60_000);
        let src = frame(&text, 3, true, 0, true);
        for extra in [0, 1, 1000, MARGIN - 1, MARGIN, MARGIN + 1, 3 * MARGIN] {
            let cap = text.len() + extra;
            let mut whole = vec![0xa5u8; cap];
            let n = zstd_safe::decompress(&mut whole[..], &src).unwrap();
            let mut windowed = vec![0xa5u8; cap];
            assert_eq!(decompress(&src, &mut windowed, &mut Vec::new()), Some(n));
            assert!(whole == windowed, "extra {extra}");
            assert_eq!(&whole[..n], &text[..]);
        }
        let mut junk = vec![0xa5u8; text.len() + MARGIN];
        decompress(&src, &mut junk, &mut Vec::new()).unwrap();
        assert!(
            junk[text.len()..].iter().any(|b| *b != 0xa5),
            "literals left behind"
        );
    }
}
