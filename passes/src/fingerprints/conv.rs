//! Whole-function fingerprint `conv2d` (3x3, f32), identified by probing: a
//! function taking an image, a 3x3 kernel and an output (pointers), the image's
//! height and width, and perhaps an f32 bias, that computes the valid convolution
//!
//! `out[y][x] = relu?(((bias + in[y][x] k[0]) + in[y][x+1] k[1]) + ... + in[y+2][x+2] k[8])`
//!
//! for every `y < h - 2`, `x < w - 2` (output rows `w - 2` wide), the nine products
//! added in row-major order after the bias (or the bias added last), each a rounded
//! multiply then a rounded add, and ReLU as `s > 0 ? s : 0` (NaN gives 0).
//!
//! As for `gemm`: the parameters that reach load and store addresses as bases
//! name the image, the kernel and the output; every reading of the others (height
//! and width either way, bias first or last, ReLU or not) is checked on runs over
//! random images with NaN, infinities and signed zeros, and confirmed on larger
//! odd shapes.

use super::gemm::{bases, f32_at, random_floats};
use crate::analysis::LoopForest;
use crate::passes::simd_elementwise::instructions;
use crate::probe::{Probe, ProbeArg, ProbeRun, Rng};
use walrus::ir::{BinaryOp, Instr};
use walrus::{LocalFunction, Module, ValType};

/// A function that computes a 3x3 convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv {
    /// Parameter positions of the image, the kernel and the output.
    pub image: usize,
    /// The 3x3 kernel.
    pub kernel: usize,
    /// The output.
    pub out: usize,
    /// Height and width of the image.
    pub h: usize,
    /// Width.
    pub w: usize,
    /// The f32 bias parameter, if any.
    pub bias: Option<usize>,
    /// The bias is added after the products (else it starts the sum).
    pub bias_last: bool,
    /// ReLU on the result.
    pub relu: bool,
}

impl Conv {
    /// The kernel's flags: 1 ReLU, 2 bias last.
    pub fn flags(&self) -> i32 {
        self.relu as i32 | (self.bias_last as i32) << 1
    }

    /// A line for the report.
    pub fn describe(&self) -> String {
        format!(
            "3x3 valid convolution{}{}",
            match (self.bias, self.bias_last) {
                (None, _) => "",
                (Some(_), false) => ", bias first",
                (Some(_), true) => ", bias last",
            },
            if self.relu { ", ReLU" } else { "" }
        )
    }

    /// What the scratch area holds after the function runs on it, or `None` when
    /// the shape does not fit.
    fn reference(&self, h: i64, w: i64, bias: f32, scratch: &[u8]) -> Option<Vec<u8>> {
        if h < 0 || w < 0 || h * w * 4 > REGION as i64 {
            return None;
        }
        let mut out = scratch.to_vec();
        let (h, w) = (h as usize, w as usize);
        for y in 0..h.saturating_sub(2) {
            for x in 0..w.saturating_sub(2) {
                let mut s = if self.bias_last { 0.0 } else { bias };
                for ky in 0..3 {
                    for kx in 0..3 {
                        s += f32_at(scratch, OFFSETS[0] + 4 * ((y + ky) * w + x + kx))
                            * f32_at(scratch, OFFSETS[1] + 4 * (ky * 3 + kx));
                    }
                }
                if self.bias_last {
                    s += bias;
                }
                if self.relu {
                    s = if s > 0.0 { s } else { 0.0 };
                }
                let at = OFFSETS[2] + 4 * (y * (w - 2) + x);
                out[at..at + 4].copy_from_slice(&s.to_le_bytes());
            }
        }
        Some(out)
    }
}

/// Whether `func` is worth probing.
pub fn prefilter(module: &Module, func: &LocalFunction) -> Option<usize> {
    let ty = module.types.get(func.ty());
    let params = ty.params();
    let floats = params.iter().filter(|p| **p == ValType::F32).count();
    let ints = params.iter().filter(|p| **p == ValType::I32).count();
    let multiplies = instructions(func).any(
        |i| matches!(i, Instr::Binop(b) if matches!(b.op, BinaryOp::F32Mul | BinaryOp::F32x4Mul)),
    );
    let ok = ty.results().is_empty()
        && floats <= 1
        && ints == 5
        && multiplies
        && crate::fingerprints::probe_safe(module, func, true, true)
        && LoopForest::build(func)
            .graph
            .node_weights()
            .any(|l| l.depth >= 1)
        && module.memories.len() == 1;
    ok.then_some(params.len())
}

const REGION: usize = 8192;
const OFFSETS: [usize; 3] = [4, REGION + 8, 2 * REGION + 12];
const SCRATCH: usize = 3 * REGION + 64;

/// A match and the probe runs it took.
#[derive(Clone, Copy, Debug)]
pub struct Identified {
    /// The match.
    pub conv: Conv,
    /// Probe runs made.
    pub runs: usize,
}

/// Identifies `func` by probing, or `None`.
pub fn identify(
    func: &LocalFunction,
    params: &[ValType],
    func_index: u32,
    probe: &mut dyn Probe,
) -> Option<Identified> {
    let (base, size) = probe.scratch()?;
    if (size as usize) < SCRATCH {
        return None;
    }
    let found = bases(func);
    let bias = params.iter().position(|p| *p == ValType::F32);
    let ints: Vec<usize> = (0..params.len()).filter(|p| Some(*p) != bias).collect();
    let is = |mask: u32, p: usize| mask & (1 << p) != 0;
    let mut runs = 0;
    let mut rng = Rng(0xc0_4e ^ (func_index as u64) << 16);
    for &image in &ints {
        for &kernel in &ints {
            for &out in &ints {
                let distinct = image != kernel && image != out && kernel != out;
                if !distinct
                    || !is(found.loads, image)
                    || !is(found.loads, kernel)
                    || !is(found.stores, out)
                {
                    continue;
                }
                let dims: Vec<usize> = ints
                    .iter()
                    .copied()
                    .filter(|p| ![image, kernel, out].contains(p))
                    .collect();
                let [d0, d1] = dims[..] else {
                    continue;
                };
                let mut alive = Vec::new();
                for (h, w) in [(d0, d1), (d1, d0)] {
                    for variant in 0..4u8 {
                        let bias_last = variant & 2 != 0;
                        if bias.is_none() && bias_last {
                            continue;
                        }
                        alive.push(Conv {
                            image,
                            kernel,
                            out,
                            h,
                            w,
                            bias,
                            bias_last,
                            relu: variant & 1 != 0,
                        });
                    }
                }
                // Screening on small shapes, then larger odd ones; the height and
                // width parameters get different values in every run.
                let shapes = [
                    (5i64, 7i64),
                    (6, 4),
                    (3, 3),
                    (9, 13),
                    (17, 5),
                    (4, 33),
                    (2, 9),
                    (40, 41),
                ];
                for (t, &(v0, v1)) in shapes.iter().enumerate() {
                    if alive.is_empty() {
                        break;
                    }
                    let scratch = random_floats(&mut rng, SCRATCH);
                    let bias_value = [0.5f32, -1.25, 0.0, 3.0, -0.0, 1e-3, 2.0, -0.75][t];
                    let mut args = vec![ProbeArg::I32(0); params.len()];
                    for (p, off) in [image, kernel, out].into_iter().zip(OFFSETS) {
                        args[p] = ProbeArg::I32((base as usize + off) as i32);
                    }
                    args[d0] = ProbeArg::I32(v0 as i32);
                    args[d1] = ProbeArg::I32(v1 as i32);
                    if let Some(b) = bias {
                        args[b] = ProbeArg::F32(bias_value);
                    }
                    let run = probe.run(func_index, &args, &scratch);
                    runs += 1;
                    let ProbeRun::Returned {
                        scratch: after,
                        outside_changed: false,
                        ..
                    } = run
                    else {
                        alive.clear();
                        break;
                    };
                    alive.retain(|c| {
                        let (h, w) = if c.h == d0 { (v0, v1) } else { (v1, v0) };
                        let b = if bias.is_some() { bias_value } else { 0.0 };
                        c.reference(h, w, b, &scratch)
                            .is_some_and(|want| agrees(&after, &want))
                    });
                }
                if let Some(conv) = alive.first() {
                    return Some(Identified { conv: *conv, runs });
                }
            }
        }
    }
    None
}

/// Equal bytes, NaNs of any payload counting as equal (f32 words at the
/// regions' alignment).
fn agrees(got: &[u8], want: &[u8]) -> bool {
    got == want
        || (got.len() == want.len()
            && got.chunks(4).zip(want.chunks(4)).all(|(x, y)| {
                x == y || (x.len() == 4 && f32_at(x, 0).is_nan() && f32_at(y, 0).is_nan())
            }))
}
