//! Whole-function fingerprints `crc32` and `adler32`, identified by probing: a
//! function that takes a byte buffer and its length (and perhaps a running
//! checksum) and returns the CRC-32 (IEEE, reflected 0xEDB88320), the CRC-32C
//! (Castagnoli, reflected 0x82F63B78) or the Adler-32 of the bytes.
//!
//! How it is written does not matter (bit by bit, one table, slicing-by-N, zlib's
//! `update(crc, buf, len)` or a plain `(buf, len)`): a prefilter (two or three
//! `i32` parameters, one `i32` result, a loop, a byte load, no stores, calls,
//! global writes or memory growth) picks candidates; the parameter that reaches
//! load addresses as a base is the buffer; then every reading of the others as
//! the length and the running value, with the standard initial values and final
//! inversions (or none), is checked against the function's runs on random bytes
//! of lengths 0 to 6000 (0xff runs included, where a deferred Adler reduction
//! would overflow) and random running values. A reading that predicts every
//! result is the match.
//!
//! Every match is expressed through zlib's convention, `Z(start, bytes)`: for a
//! CRC, `Z(c, d) = ~raw(~c, d)` where `raw` is the register update; for Adler-32,
//! `Z(a, d)` continues the two sums of `a`. The function's result is
//! `Z(start ^ pre, bytes) ^ post`, with `start` a constant or the parameter.

use crate::analysis::LoopForest;
use crate::passes::simd_elementwise::instructions;
use crate::probe::{Probe, ProbeArg, ProbeRun, Rng};
use walrus::ir::{Instr, LoadKind};
use walrus::{LocalFunction, Module, ValType};

/// Which checksum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algo {
    /// CRC-32 (IEEE 802.3, zlib, gzip, PNG), reflected polynomial 0xEDB88320.
    Crc32,
    /// CRC-32C (Castagnoli: iSCSI, ext4, SSE4.2), reflected 0x82F63B78.
    Crc32c,
    /// Adler-32 (zlib streams).
    Adler32,
}

impl Algo {
    /// The report's pattern name.
    pub fn pattern(self) -> &'static str {
        match self {
            Algo::Crc32 | Algo::Crc32c => "crc32",
            Algo::Adler32 => "adler32",
        }
    }

    /// zlib's convention: continue `start` over `data`.
    pub fn z(self, start: u32, data: &[u8]) -> u32 {
        match self {
            Algo::Crc32 => !crc_raw(0xEDB8_8320, !start, data),
            Algo::Crc32c => !crc_raw(0x82F6_3B78, !start, data),
            Algo::Adler32 => {
                let (mut a, mut b) = ((start & 0xffff) as u64, (start >> 16) as u64);
                if data.is_empty() {
                    return start;
                }
                for &byte in data {
                    a = (a + byte as u64) % 65521;
                    b = (b + a) % 65521;
                }
                ((b << 16) | a) as u32
            }
        }
    }
}

fn crc_raw(poly: u32, mut crc: u32, data: &[u8]) -> u32 {
    for &byte in data {
        crc ^= byte as u32;
        for _ in 0..8 {
            crc = (crc >> 1) ^ (poly & (crc & 1).wrapping_neg());
        }
    }
    crc
}

/// Where the running value comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// A constant.
    Const(u32),
    /// The parameter at this position.
    Param(usize),
}

/// A function that computes a checksum of a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checksum {
    /// Which one.
    pub algo: Algo,
    /// Parameter position of the buffer's address.
    pub buf: usize,
    /// Parameter position of its length in bytes.
    pub len: usize,
    /// The running value.
    pub start: Start,
    /// XORed into the running value before `Z`.
    pub pre: u32,
    /// XORed into `Z`'s result.
    pub post: u32,
}

impl Checksum {
    /// What the function returns for `data` and parameter values `args`.
    pub fn result(&self, args: &[u32], data: &[u8]) -> u32 {
        let start = match self.start {
            Start::Const(c) => c,
            Start::Param(p) => args[p],
        };
        self.algo.z(start ^ self.pre, data) ^ self.post
    }

    /// A line for the report.
    pub fn describe(&self) -> String {
        let algo = match self.algo {
            Algo::Crc32 => "CRC-32 (reflected 0xEDB88320)",
            Algo::Crc32c => "CRC-32C (reflected 0x82F63B78)",
            Algo::Adler32 => "Adler-32",
        };
        let form = match (self.start, self.pre, self.post) {
            (Start::Param(_), 0, 0) => "update(value, buf, len) as zlib".to_string(),
            (Start::Param(_), _, _) => "update of the raw register".to_string(),
            (Start::Const(c), _, post) if self.algo != Algo::Adler32 => {
                format!("initial value {:#010x}, final xor {:#010x}", !c, !post)
            }
            (Start::Const(c), _, _) => format!("initial value {c:#x}"),
        };
        format!("{algo}, {form}")
    }
}

/// Whether `func` is worth probing: `Some(parameter count)`.
pub fn prefilter(module: &Module, func: &LocalFunction) -> Option<usize> {
    let ty = module.types.get(func.ty());
    let params = ty.params();
    if ty.results() != [ValType::I32]
        || !(2..=3).contains(&params.len())
        || params.iter().any(|p| *p != ValType::I32)
    {
        return None;
    }
    if !crate::fingerprints::probe_safe(module, func, false, false) {
        return None;
    }
    let byte_load = instructions(func).any(|i| {
        matches!(i, Instr::Load(l) if matches!(
            l.kind,
            LoadKind::I32_8 { .. } | LoadKind::I64_8 { .. } | LoadKind::I32 { .. }
        ))
    });
    let looped = !LoopForest::build(func).is_empty();
    (byte_load && looped && module.memories.len() == 1).then_some(params.len())
}

/// Lengths of the probe runs (0xff-filled from the fourth on every other run).
const LENGTHS: [usize; 9] = [0, 1, 3, 8, 13, 64, 255, 1000, 6000];

/// Every hypothesis for one choice of buffer, length and running-value parameters.
fn hypotheses(buf: usize, len: usize, running: Option<usize>) -> Vec<Checksum> {
    let mut out = Vec::new();
    for algo in [Algo::Crc32, Algo::Crc32c, Algo::Adler32] {
        let forms: Vec<(Start, u32, u32)> = match (running, algo) {
            (Some(p), Algo::Adler32) => vec![(Start::Param(p), 0, 0)],
            (Some(p), _) => vec![(Start::Param(p), 0, 0), (Start::Param(p), !0, !0)],
            (None, Algo::Adler32) => vec![(Start::Const(1), 0, 0)],
            // Initial register value 0 or !0, final xor 0 or !0.
            (None, _) => [0u32, !0]
                .iter()
                .flat_map(|init| [0u32, !0].map(move |xorout| (Start::Const(!init), 0, !xorout)))
                .collect(),
        };
        for (start, pre, post) in forms {
            out.push(Checksum {
                algo,
                buf,
                len,
                start,
                pre,
                post,
            });
        }
    }
    out
}

/// A match and the probe runs it took.
#[derive(Clone, Copy, Debug)]
pub struct Identified {
    /// The match.
    pub checksum: Checksum,
    /// Probe runs made.
    pub runs: usize,
}

/// Identifies `func` (input index `func_index`, `params` i32 parameters) as a
/// checksum by probing, or `None`.
pub fn identify(func_index: u32, params: usize, probe: &mut dyn Probe) -> Option<Identified> {
    let (base, size) = probe.scratch()?;
    if (size as usize) < 8192 {
        return None;
    }
    let mut rng = Rng(0xc3c3_5a5a_1234_5678 ^ func_index as u64);
    let mut runs = 0;
    let positions: Vec<usize> = (0..params).collect();
    for &buf in &positions {
        let others: Vec<usize> = positions.iter().copied().filter(|p| *p != buf).collect();
        let choices: Vec<(usize, Option<usize>)> = match others.as_slice() {
            [l] => vec![(*l, None)],
            [x, y] => vec![(*x, Some(*y)), (*y, Some(*x))],
            _ => Vec::new(),
        };
        for (len, running) in choices {
            let mut alive = hypotheses(buf, len, running);
            for (t, &n) in LENGTHS.iter().enumerate() {
                let offset = 1 + (t % 4);
                let data: Vec<u8> = if t >= 3 && t % 2 == 1 {
                    vec![0xff; n]
                } else {
                    (0..n).map(|_| rng.next_u64() as u8).collect()
                };
                let mut scratch = vec![0u8; offset + n + 16];
                scratch[offset..offset + n].copy_from_slice(&data);
                let mut args = vec![0u32; params];
                args[buf] = base + offset as u32;
                args[len] = n as u32;
                if let Some(r) = running {
                    // A reduced Adler value is also a valid CRC value.
                    let (a, b) = (rng.next_u64() % 65521, rng.next_u64() % 65521);
                    args[r] = (b << 16 | a) as u32;
                }
                let call: Vec<ProbeArg> = args.iter().map(|v| ProbeArg::I32(*v as i32)).collect();
                let run = probe.run(func_index, &call, &scratch);
                runs += 1;
                let got = match run {
                    ProbeRun::Returned {
                        results,
                        outside_changed: false,
                        ..
                    } if results.len() == 1 => results[0] as u32,
                    _ => {
                        alive.clear();
                        break;
                    }
                };
                alive.retain(|h| h.result(&args, &data) == got);
                if alive.is_empty() {
                    break;
                }
            }
            if let Some(checksum) = alive.first() {
                return Some(Identified {
                    checksum: *checksum,
                    runs,
                });
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference checksums' check values (the CRC catalogue's `check` for
    /// "123456789"; Adler-32 of "Wikipedia" from RFC 1950's definition).
    #[test]
    fn reference_checksums_match_the_catalogue() {
        assert_eq!(Algo::Crc32.z(0, b"123456789"), 0xCBF4_3926);
        assert_eq!(Algo::Crc32c.z(0, b"123456789"), 0xE306_9283);
        assert_eq!(Algo::Adler32.z(1, b"Wikipedia"), 0x11E6_0398);
        // JAMCRC: initial !0, no final inversion.
        let jam = Checksum {
            algo: Algo::Crc32,
            buf: 0,
            len: 1,
            start: Start::Const(0),
            pre: 0,
            post: !0,
        };
        assert_eq!(jam.result(&[0, 0], b"123456789"), 0x340B_C6D9);
    }
}
