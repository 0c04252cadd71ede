//! Whole-function fingerprints `quantize` (f32 -> i8/u8) and `dequantize` (i8/u8
//! -> f32), identified by probing: a function taking two pointers, a count, an
//! f32 scale and perhaps an integer zero point that computes, for every `i < n`,
//!
//! - dequantize: `x[i] = (float)(q[i] - zp) * scale` (bytes signed or unsigned);
//! - quantize: `v = round(x[i] * scale) + (float)zp` (or `x[i] / scale`; rounding
//!   to nearest even as `rintf`/`nearbyintf`, or half away from zero as `roundf`),
//!   clamped to the byte's range with NaN left alone, then `q[i] = (int)v`, a NaN
//!   giving 0 (what clang's guarded conversion stores).
//!
//! The prefilter wants one f32 parameter, three or four i32 ones, no result, a
//! loop, and nothing a probe cannot see; every reading of the parameters as
//! source, destination, count and zero point, for every variant above, is checked
//! against runs on random values with NaN, infinities, signed zeros, exact halves
//! and values far out of range among them. A reading that predicts every byte of
//! every run is the match.

use crate::analysis::LoopForest;
use crate::probe::{Probe, ProbeArg, ProbeRun, Rng};
use walrus::{LocalFunction, Module, ValType};

/// Which direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// f32 -> byte.
    Quantize,
    /// byte -> f32.
    Dequantize,
}

/// A function that quantizes or dequantizes an array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quant {
    /// Which direction.
    pub direction: Direction,
    /// Parameter positions: source array, destination array, count.
    pub src: usize,
    /// Destination array.
    pub dst: usize,
    /// Element count.
    pub n: usize,
    /// The f32 scale.
    pub scale: usize,
    /// The integer zero point, if any.
    pub zp: Option<usize>,
    /// Bytes are unsigned (u8, 0..=255) rather than signed (i8).
    pub unsigned: bool,
    /// Quantize divides by the scale instead of multiplying.
    pub divide: bool,
    /// Quantize rounds halves away from zero (`roundf`) instead of to even.
    pub half_away: bool,
}

impl Quant {
    /// One element: the f32 `x` (quantize) or the byte (dequantize) in, the
    /// destination's bytes out.
    fn element(&self, scale: f32, zp: i32, src: &[u8]) -> Vec<u8> {
        match self.direction {
            Direction::Dequantize => {
                let q = if self.unsigned {
                    src[0] as i32
                } else {
                    src[0] as i8 as i32
                };
                ((q.wrapping_sub(zp)) as f32 * scale).to_le_bytes().to_vec()
            }
            Direction::Quantize => {
                let x = f32::from_le_bytes(src[..4].try_into().expect("4 bytes"));
                let y = if self.divide { x / scale } else { x * scale };
                let r = if self.half_away {
                    y.round()
                } else {
                    y.round_ties_even()
                };
                let v = r + zp as f32;
                let (lo, hi) = if self.unsigned {
                    (0.0, 255.0)
                } else {
                    (-128.0, 127.0)
                };
                let v = if v < lo { lo } else { v };
                let v = if v > hi { hi } else { v };
                vec![if v.is_nan() { 0 } else { v as i32 as u8 }]
            }
        }
    }

    /// Bytes per source and destination element.
    pub fn widths(&self) -> (usize, usize) {
        match self.direction {
            Direction::Quantize => (4, 1),
            Direction::Dequantize => (1, 4),
        }
    }

    /// The kernel's flags: 1 unsigned, 2 divide, 4 half away from zero.
    pub fn flags(&self) -> i32 {
        self.unsigned as i32 | (self.divide as i32) << 1 | (self.half_away as i32) << 2
    }

    /// A line for the report.
    pub fn describe(&self) -> String {
        let byte = if self.unsigned { "u8" } else { "i8" };
        let zp = if self.zp.is_some() { " - zp" } else { "" };
        match self.direction {
            Direction::Dequantize => format!("x = (float)({byte}{zp}) * scale"),
            Direction::Quantize => format!(
                "q = clamp(round{}(x {} scale){}) as {byte}, NaN -> 0",
                if self.half_away {
                    " half away"
                } else {
                    " to even"
                },
                if self.divide { "/" } else { "*" },
                if self.zp.is_some() { " + zp" } else { "" },
            ),
        }
    }
}

/// Whether `func` is worth probing: `Some(parameter count)`.
pub fn prefilter(module: &Module, func: &LocalFunction) -> Option<usize> {
    let ty = module.types.get(func.ty());
    let params = ty.params();
    let floats = params.iter().filter(|p| **p == ValType::F32).count();
    let ints = params.iter().filter(|p| **p == ValType::I32).count();
    let shape = ty.results().is_empty() && floats == 1 && (3..=4).contains(&ints);
    let ok = shape
        && crate::fingerprints::probe_safe(module, func, true, true)
        && !LoopForest::build(func).is_empty()
        && module.memories.len() == 1;
    ok.then_some(params.len())
}

/// Bytes of each array's region in the scratch area.
const REGION: usize = 4096;

/// Source values for a quantize run: random, halves, edges.
fn floats(rng: &mut Rng, n: usize, halves: bool) -> Vec<u8> {
    let special = [
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        0.0,
        -0.0,
        1e9,
        -1e9,
        -0.5,
        0.5,
        2.5,
    ];
    (0..n)
        .flat_map(|_| {
            let r = rng.next_u64();
            let v = if r.is_multiple_of(7) {
                special[(r >> 8) as usize % special.len()]
            } else if halves {
                ((r >> 16) % 400) as f32 / 2.0 - 100.25 + 0.25
            } else {
                ((r >> 16) as u32 as f32 / u32::MAX as f32) * 300.0 - 150.0
            };
            v.to_le_bytes()
        })
        .collect()
}

/// A match and the probe runs it took.
#[derive(Clone, Copy, Debug)]
pub struct Identified {
    /// The match.
    pub quant: Quant,
    /// Probe runs made.
    pub runs: usize,
}

/// Identifies `func` by probing, or `None`.
pub fn identify(params: &[ValType], func_index: u32, probe: &mut dyn Probe) -> Option<Identified> {
    let (base, size) = probe.scratch()?;
    if (size as usize) < 2 * REGION {
        return None;
    }
    let scale = params.iter().position(|p| *p == ValType::F32)?;
    let ints: Vec<usize> = (0..params.len()).filter(|p| *p != scale).collect();
    // Every hypothesis: src, dst, n, zp from the i32 parameters, and the variants.
    let mut alive = Vec::new();
    for &src in &ints {
        for &dst in &ints {
            for &n in &ints {
                if src == dst || n == src || n == dst {
                    continue;
                }
                let rest: Vec<usize> = ints
                    .iter()
                    .copied()
                    .filter(|p| ![src, dst, n].contains(p))
                    .collect();
                let zp = match rest.as_slice() {
                    [] => None,
                    [z] => Some(*z),
                    _ => continue,
                };
                for direction in [Direction::Quantize, Direction::Dequantize] {
                    for variant in 0..8u8 {
                        let q = Quant {
                            direction,
                            src,
                            dst,
                            n,
                            scale,
                            zp,
                            unsigned: variant & 1 != 0,
                            divide: variant & 2 != 0,
                            half_away: variant & 4 != 0,
                        };
                        if direction == Direction::Dequantize && variant > 1 {
                            continue;
                        }
                        alive.push(q);
                    }
                }
            }
        }
    }
    let mut rng = Rng(0x9a7e_u64 ^ (func_index as u64) << 20);
    let mut runs = 0;
    let counts = [0usize, 1, 5, 16, 33, 100, 257, 7];
    // Runs depend on which parameter is which: one run per distinct layout.
    for (t, &count) in counts.iter().enumerate() {
        if alive.is_empty() {
            break;
        }
        let scale_value = [0.37f32, 1.0, 12.5, 1.0, 0.02, 3.0, 1.0, -2.0][t];
        let zp_value = [3i32, -7, 0, 11, -128, 5, 0, 64][t];
        let mut layouts: Vec<(usize, usize, usize, Option<usize>)> =
            alive.iter().map(|q| (q.src, q.dst, q.n, q.zp)).collect();
        layouts.sort();
        layouts.dedup();
        let mut verdicts = Vec::new();
        for (src, dst, n, zp) in layouts {
            // The source region holds floats for quantize readings and bytes for
            // dequantize readings alike: random bytes that are also f32 patterns.
            let src_bytes = floats(&mut rng, REGION / 4 - 4, t % 2 == 1);
            let mut scratch = vec![0u8; 2 * REGION];
            scratch[4..4 + src_bytes.len()].copy_from_slice(&src_bytes);
            let mut args = vec![ProbeArg::I32(0); params.len()];
            args[src] = ProbeArg::I32(base as i32 + 4);
            args[dst] = ProbeArg::I32(base as i32 + REGION as i32 + 4);
            args[n] = ProbeArg::I32(count as i32);
            if let Some(z) = zp {
                args[z] = ProbeArg::I32(zp_value);
            }
            args[scale] = ProbeArg::F32(scale_value);
            let run = probe.run(func_index, &args, &scratch);
            runs += 1;
            verdicts.push(((src, dst, n, zp), scratch, run));
        }
        alive.retain(|q| {
            let Some((_, scratch, run)) = verdicts
                .iter()
                .find(|(l, _, _)| *l == (q.src, q.dst, q.n, q.zp))
            else {
                return false;
            };
            let ProbeRun::Returned {
                scratch: after,
                outside_changed: false,
                ..
            } = run
            else {
                return false;
            };
            let mut expected = scratch.clone();
            let (ws, wd) = q.widths();
            let zp = q.zp.map_or(0, |_| zp_value);
            for i in 0..count {
                let from = 4 + i * ws;
                let to = REGION + 4 + i * wd;
                let value = q.element(scale_value, zp, &scratch[from..from + ws]);
                expected[to..to + wd].copy_from_slice(&value);
            }
            *after == expected
        });
    }
    alive.first().map(|q| Identified { quant: *q, runs })
}
