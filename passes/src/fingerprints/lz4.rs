//! Whole-function fingerprint `lz4_decompress`, identified by probing: a function
//! `(src, src_len, dst, dst_cap) -> i32` (its parameters in any order) that
//! decodes an LZ4 block (lz4_Block_format.md) and returns the decoded size.
//!
//! The definition is [`decode_block`], which the runner's kernel also runs (one
//! decoder for both, so what the probes checked is what the kernel does). A block
//! is a run of sequences: a token (literal length in the high nibble, match length
//! minus 4 in the low one; 15 means "add the following bytes, each, until one is
//! not 255"), the literals, a 2-byte little-endian offset back into the output
//! (1 ..= bytes written so far) and the match, copied forward byte by byte (so an
//! offset shorter than the match repeats it). The last sequence is literals only
//! and ends exactly at `src_len`. Anything else (a truncated field, offset 0 or
//! reaching before the output, output past `dst_cap`, a block ending after a
//! match) is malformed.
//!
//! Identification only has to establish what the function does with well-formed
//! blocks that fit: on those the kernel answers; on anything [`decode_block`]
//! rejects the kernel declines and the original body runs, with whatever error
//! code and partial output it produces. So the probes are well-formed blocks of
//! many shapes (overlapping matches with offsets 1-3, offsets reaching the very
//! first byte, literal and match lengths at 14, 15, 15 + 255 and beyond, empty
//! literal runs, a last sequence of 0-5 literals right after a match, blocks of one
//! byte) with `dst_cap` exact and larger: a match returns the decoded size, writes
//! exactly the decoded bytes and nothing else, and reads only `src`.

use crate::analysis::LoopForest;
use crate::passes::simd_elementwise::instructions;
use crate::probe::{Probe, ProbeArg, ProbeRun, Rng};
use walrus::ir::{Instr, LoadKind, StoreKind};
use walrus::{LocalFunction, Module, ValType};

/// Bytes [`decode_block`] may write past the decoded size (up to `cap` + this):
/// it copies short runs 16 bytes at a time. Its caller's buffer must have them.
pub const SLACK: usize = 32;

/// Decodes the LZ4 block `src` into `out[..cap]` and returns the decoded size, or
/// `None` if the block is malformed or needs more than `cap` bytes. `out` must hold
/// `cap + SLACK` bytes: bytes of `out` past the decoded size are left undefined.
pub fn decode_block(src: &[u8], out: &mut [u8], cap: usize) -> Option<usize> {
    assert!(
        out.len() >= cap + SLACK,
        "decode_block needs cap + SLACK bytes"
    );
    if src.is_empty() {
        return None;
    }
    let (mut ip, mut op) = (0usize, 0usize);
    let length = |ip: &mut usize, mut n: usize| -> Option<usize> {
        if n == 15 {
            loop {
                let b = *src.get(*ip)?;
                *ip += 1;
                n = n.checked_add(b as usize)?;
                if b != 255 {
                    break;
                }
            }
        }
        Some(n)
    };
    loop {
        // The common sequence, while far from both ends: short literals (< 15),
        // a short match (< 19) far enough back to copy 16 bytes at a time. The
        // same checks as below, fewer of them needed.
        while ip + 32 <= src.len() && op + 64 <= cap {
            let token = src[ip];
            let (lit, ml) = ((token >> 4) as usize, (token & 15) as usize + 4);
            if lit == 15 || ml == 19 {
                break;
            }
            let literals: [u8; 16] = src[ip + 1..ip + 17].try_into().unwrap();
            out[op..op + 16].copy_from_slice(&literals);
            op += lit;
            ip += 1 + lit;
            let offset = src[ip] as usize | (src[ip + 1] as usize) << 8;
            if offset < 16 || offset > op {
                // (A short offset takes the general path; a bad one fails there.)
                ip -= 1 + lit;
                op -= lit;
                break;
            }
            ip += 2;
            let from = op - offset;
            let first: [u8; 16] = out[from..from + 16].try_into().unwrap();
            out[op..op + 16].copy_from_slice(&first);
            if ml > 16 {
                let second: [u8; 16] = out[from + 16..from + 32].try_into().unwrap();
                out[op + 16..op + 32].copy_from_slice(&second);
            }
            op += ml;
        }
        let token = *src.get(ip)?;
        ip += 1;
        let lit = length(&mut ip, (token >> 4) as usize)?;
        if lit > src.len() - ip || lit > cap - op {
            return None;
        }
        if lit <= 16 && ip + 16 <= src.len() {
            // Sixteen bytes at once: past `lit` they are overwritten later or past the
            // decoded size (SLACK).
            out[op..op + 16].copy_from_slice(&src[ip..ip + 16]);
        } else {
            out[op..op + lit].copy_from_slice(&src[ip..ip + lit]);
        }
        op += lit;
        ip += lit;
        if ip == src.len() {
            return Some(op);
        }
        if src.len() - ip < 2 {
            return None;
        }
        let offset = src[ip] as usize | (src[ip + 1] as usize) << 8;
        ip += 2;
        if offset == 0 || offset > op {
            return None;
        }
        let len = length(&mut ip, (token & 15) as usize)?.checked_add(4)?;
        if len > cap - op {
            return None;
        }
        let from = op - offset;
        if offset >= 16 {
            // Sixteen bytes at a time: each chunk reads bytes already final (at
            // least 16 behind what it writes); the last may run up to 15 bytes past
            // the match (SLACK).
            let mut k = 0;
            while k < len {
                let chunk: [u8; 16] = out[from + k..from + k + 16].try_into().unwrap();
                out[op + k..op + k + 16].copy_from_slice(&chunk);
                k += 16;
            }
        } else {
            for i in 0..len {
                out[op + i] = out[from + i];
            }
        }
        op += len;
        if ip >= src.len() {
            return None;
        }
    }
}

/// One sequence of a probe block: literals, then a match (offset, length) unless last.
struct Sequence {
    literals: Vec<u8>,
    matched: Option<(usize, usize)>,
}

fn push_length(out: &mut Vec<u8>, mut extra: usize) {
    while extra >= 255 {
        out.push(255);
        extra -= 255;
    }
    out.push(extra as u8);
}

/// The LZ4 encoding of `sequences`.
fn encode(sequences: &[Sequence]) -> Vec<u8> {
    let mut out = Vec::new();
    for s in sequences {
        let lit = s.literals.len();
        let ml = s.matched.map_or(0, |(_, len)| len - 4);
        out.push(((lit.min(15) as u8) << 4) | ml.min(15) as u8);
        if lit >= 15 {
            push_length(&mut out, lit - 15);
        }
        out.extend_from_slice(&s.literals);
        if let Some((offset, _)) = s.matched {
            out.extend_from_slice(&(offset as u16).to_le_bytes());
            if ml >= 15 {
                push_length(&mut out, ml - 15);
            }
        }
    }
    out
}

/// A well-formed probe block of `count` sequences, shaped by `rng`.
fn probe_block(rng: &mut Rng, count: usize, text_like: bool) -> Vec<u8> {
    const LITERALS: [usize; 12] = [0, 1, 2, 3, 4, 7, 14, 15, 16, 17, 269, 270];
    const MATCHES: [usize; 12] = [4, 5, 7, 8, 16, 17, 18, 19, 20, 273, 274, 530];
    let mut sequences = Vec::with_capacity(count);
    let mut produced = 0usize;
    for i in 0..count {
        let last = i + 1 == count;
        let mut lit = if last {
            rng.pick(&[0, 1, 3, 5, 9])
        } else {
            rng.pick(&LITERALS)
        };
        if produced == 0 && !last {
            lit = lit.max(1);
        }
        let literals: Vec<u8> = (0..lit)
            .map(|_| {
                let r = rng.next_u64();
                if text_like {
                    b"etaoin shrdlu"[(r % 13) as usize]
                } else {
                    r as u8
                }
            })
            .collect();
        produced += lit;
        let matched = (!last).then(|| {
            let offset = match rng.next_u64() % 6 {
                0 => 1,
                1 => 2.min(produced),
                2 => 3.min(produced),
                3 => produced,
                _ => 1 + (rng.next_u64() as usize) % produced.min(65535),
            };
            let len = rng.pick(&MATCHES);
            produced += len;
            (offset.min(65535), len)
        });
        sequences.push(Sequence { literals, matched });
    }
    encode(&sequences)
}

/// Whether `func` is worth probing: `Some(4)` for `(i32, i32, i32, i32) -> i32`
/// with a loop, byte loads and byte stores, and nothing a probe cannot undo.
pub fn prefilter(module: &Module, func: &LocalFunction) -> Option<usize> {
    let ty = module.types.get(func.ty());
    if ty.results() != [ValType::I32] || ty.params() != [ValType::I32; 4] {
        return None;
    }
    if module.memories.len() != 1 || !crate::fingerprints::probe_safe(module, func, true, true) {
        return None;
    }
    let byte_load = instructions(func).any(|i| {
        matches!(i, Instr::Load(l) if matches!(l.kind, LoadKind::I32_8 { .. } | LoadKind::I64_8 { .. }))
    });
    let byte_store = instructions(func).any(|i| {
        matches!(i, Instr::Store(s) if matches!(s.kind, StoreKind::I32_8 { .. } | StoreKind::I64_8 { .. }))
            || matches!(i, Instr::MemoryCopy(_) | Instr::Call(_))
    });
    let looped = !LoopForest::build(func).is_empty();
    (byte_load && byte_store && looped).then_some(4)
}

/// Where the four parameters go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lz4Block {
    /// Parameter position of the compressed block's address.
    pub src: usize,
    /// ... of its length in bytes.
    pub src_len: usize,
    /// ... of the output's address.
    pub dst: usize,
    /// ... of the output's capacity in bytes.
    pub dst_cap: usize,
}

/// A match and the probe runs it took.
#[derive(Clone, Copy, Debug)]
pub struct Identified {
    /// The parameters.
    pub block: Lz4Block,
    /// Probe runs made.
    pub runs: usize,
}

/// Identifies `func` (input index `func_index`) as an LZ4 block decoder by
/// probing, or `None`.
pub fn identify(func_index: u32, probe: &mut dyn Probe) -> Option<Identified> {
    let (base, size) = probe.scratch()?;
    let size = size as usize;
    let mut rng = Rng(0x1a24_b10c_0ddc_0de5 ^ func_index as u64);
    // The probe blocks: the first few small (they sort readings out quickly).
    let mut blocks: Vec<Vec<u8>> = vec![vec![0x00], vec![0x10, b'x'], vec![0x50, 1, 2, 3, 4, 5]];
    for i in 0..40 {
        let count = [1, 2, 3, 5, 8, 20, 60][i % 7];
        blocks.push(probe_block(&mut rng, count, i % 3 == 0));
    }
    let mut runs = 0;
    for src in 0..4 {
        for src_len in (0..4).filter(|p| *p != src) {
            for dst in (0..4).filter(|p| *p != src && *p != src_len) {
                let dst_cap = 6 - src - src_len - dst;
                let block = Lz4Block {
                    src,
                    src_len,
                    dst,
                    dst_cap,
                };
                if agrees(func_index, block, &blocks, (base, size), probe, &mut runs) {
                    return Some(Identified { block, runs });
                }
            }
        }
    }
    None
}

/// Whether every probe block decodes as [`decode_block`] says, with this reading.
fn agrees(
    func_index: u32,
    block: Lz4Block,
    blocks: &[Vec<u8>],
    (base, size): (u32, usize),
    probe: &mut dyn Probe,
    runs: &mut usize,
) -> bool {
    let mut expected = vec![0u8; size + SLACK];
    for (i, compressed) in blocks.iter().enumerate() {
        // Layout: src at 8 (+ i % 4), dst after it, 64 canary bytes past the capacity.
        let src_at = 8 + i % 4;
        let dst_at = (src_at + compressed.len() + 64) & !7;
        if dst_at + 64 > size {
            return false;
        }
        let Some(n) = decode_block(compressed, &mut expected, size - dst_at - 64) else {
            return false; // (a generator bug: every probe block is well formed)
        };
        let cap = if i % 2 == 0 { n } else { n + 1 + i % 13 };
        let end = dst_at + cap + 64;
        if end > size {
            return false;
        }
        let mut scratch = vec![0u8; end];
        scratch[src_at..src_at + compressed.len()].copy_from_slice(compressed);
        scratch[dst_at..].fill(0xa5);
        let mut want = scratch.clone();
        want[dst_at..dst_at + n].copy_from_slice(&expected[..n]);
        let mut args = [0i32; 4];
        args[block.src] = (base as usize + src_at) as i32;
        args[block.src_len] = compressed.len() as i32;
        args[block.dst] = (base as usize + dst_at) as i32;
        args[block.dst_cap] = cap as i32;
        let call: Vec<ProbeArg> = args.iter().map(|v| ProbeArg::I32(*v)).collect();
        *runs += 1;
        match probe.run(func_index, &call, &scratch) {
            ProbeRun::Returned {
                results,
                scratch: after,
                outside_changed: false,
            } if results.len() == 1
                && results[0] as u32 as usize == n
                && after[..end] == want[..] => {}
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(src: &[u8], cap: usize) -> Option<Vec<u8>> {
        let mut out = vec![0u8; cap + SLACK];
        decode_block(src, &mut out, cap).map(|n| out[..n].to_vec())
    }

    #[test]
    fn decodes_the_format() {
        // Literals only; a match repeating the last byte (offset 1); an offset
        // reaching the first byte; long lengths.
        assert_eq!(decode(&[0x30, b'a', b'b', b'c'], 3).unwrap(), b"abc");
        assert_eq!(decode(&[0x00], 0).unwrap(), b"");
        let rle = [0x10, b'z', 1, 0, 0x00];
        assert_eq!(decode(&rle, 5).unwrap(), b"zzzzz");
        let mut long = vec![0xf0, 0];
        long.extend_from_slice(&[7u8; 15]);
        assert_eq!(decode(&long, 15).unwrap(), vec![7u8; 15]);
        // Malformed: empty, offset 0, offset before the start, ends after a match,
        // output past the capacity, truncated length bytes.
        assert!(decode(&[], 10).is_none());
        assert!(decode(&[0x10, b'a', 0, 0, 0x00], 10).is_none());
        assert!(decode(&[0x10, b'a', 2, 0, 0x00], 10).is_none());
        assert!(decode(&[0x10, b'a', 1, 0], 10).is_none());
        assert!(decode(&rle, 4).is_none());
        assert!(decode(&[0xf0, 255], 1000).is_none());
    }

    #[test]
    fn probe_blocks_are_well_formed_and_round_trip() {
        let mut rng = Rng(7);
        for i in 0..200 {
            let block = probe_block(&mut rng, 1 + i % 40, i % 2 == 0);
            let out = decode(&block, 1 << 20).expect("well formed");
            // Exactly the decoded size fits; one byte less does not.
            assert_eq!(decode(&block, out.len()).unwrap(), out);
            if !out.is_empty() {
                assert!(decode(&block, out.len() - 1).is_none());
            }
            // Every truncation but the whole block is malformed or decodes less.
            for cut in 1..block.len().min(40) {
                if let Some(shorter) = decode(&block[..block.len() - cut], 1 << 20) {
                    assert!(shorter.len() <= out.len());
                }
            }
        }
    }
}
