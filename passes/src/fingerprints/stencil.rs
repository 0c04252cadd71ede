//! Whole-function fingerprint `conv2d` on bytes: a 3x3 integer stencil over an
//! 8-bit image, clamped to 0..=255 (edge detectors, sharpening), identified by
//! probing. A function `(image, out, h, w)` (any parameter order) that computes,
//! for every pixel not on the border,
//!
//! `out[y][x] = clamp(sum over the 3x3 neighbourhood of w[dy][dx] * in[y+dy][x+dx], 0, 255)`
//!
//! with integer weights, the output in the image's own layout (rows `w` wide, the
//! border left alone). The weights are not assumed: a flat image of ones gives
//! their sum, impulses of +1 (and -1 where that clamps) on a flat background whose
//! output sits mid-range read each one off the function, then random images of
//! several shapes must agree byte for byte.

use super::gemm::bases;
use crate::analysis::LoopForest;
use crate::probe::{Probe, ProbeArg, ProbeRun, Rng};
use walrus::{LocalFunction, Module, ValType};

/// A function that applies a 3x3 byte stencil.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stencil {
    /// Parameter positions: image, output, height, width.
    pub image: usize,
    /// The output image.
    pub out: usize,
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
    /// The weights, row-major.
    pub weights: [i32; 9],
}

impl Stencil {
    /// What the output region holds after the function runs on `img` (`h` x `w`),
    /// starting from `out`.
    fn apply(&self, img: &[u8], out: &[u8], h: usize, w: usize) -> Vec<u8> {
        let mut out = out.to_vec();
        for y in 1..h.saturating_sub(1) {
            for x in 1..w.saturating_sub(1) {
                let mut s = 0i32;
                for dy in 0..3 {
                    for dx in 0..3 {
                        s += self.weights[dy * 3 + dx] * img[(y + dy - 1) * w + x + dx - 1] as i32;
                    }
                }
                out[y * w + x] = s.clamp(0, 255) as u8;
            }
        }
        out
    }

    /// A line for the report.
    pub fn describe(&self) -> String {
        format!(
            "3x3 byte stencil, weights {:?}, clamped to 0..=255",
            self.weights
        )
    }
}

/// Whether `func` is worth probing.
pub fn prefilter(module: &Module, func: &LocalFunction) -> Option<usize> {
    let ty = module.types.get(func.ty());
    let params = ty.params();
    let ok = ty.results().is_empty()
        && params.len() == 4
        && params.iter().all(|p| *p == ValType::I32)
        && crate::fingerprints::probe_safe(module, func, true, true)
        && LoopForest::build(func)
            .graph
            .node_weights()
            .any(|l| l.depth >= 1)
        && module.memories.len() == 1;
    ok.then_some(params.len())
}

const REGION: usize = 4096;

/// A match and the probe runs it took.
#[derive(Clone, Copy, Debug)]
pub struct Identified {
    /// The match.
    pub stencil: Stencil,
    /// Probe runs made.
    pub runs: usize,
}

/// Runs the function on an `h` x `w` image; the output region afterwards.
struct Runner<'a> {
    probe: &'a mut dyn Probe,
    func_index: u32,
    base: u32,
    layout: (usize, usize, usize, usize),
    runs: usize,
}

impl Runner<'_> {
    fn run(&mut self, img: &[u8], out: &[u8], h: usize, w: usize) -> Option<Vec<u8>> {
        let (image, dst, hp, wp) = self.layout;
        let mut scratch = vec![0u8; 2 * REGION];
        scratch[..img.len()].copy_from_slice(img);
        scratch[REGION..REGION + out.len()].copy_from_slice(out);
        let mut args = vec![ProbeArg::I32(0); 4];
        args[image] = ProbeArg::I32(self.base as i32);
        args[dst] = ProbeArg::I32((self.base as usize + REGION) as i32);
        args[hp] = ProbeArg::I32(h as i32);
        args[wp] = ProbeArg::I32(w as i32);
        self.runs += 1;
        match self.probe.run(self.func_index, &args, &scratch) {
            ProbeRun::Returned {
                scratch,
                outside_changed: false,
                ..
            } if scratch[..img.len()] == *img => Some(scratch[REGION..REGION + out.len()].to_vec()),
            _ => None,
        }
    }
}

/// Identifies `func` by probing, or `None`.
pub fn identify(
    func: &LocalFunction,
    func_index: u32,
    probe: &mut dyn Probe,
) -> Option<Identified> {
    let (base, size) = probe.scratch()?;
    if (size as usize) < 2 * REGION {
        return None;
    }
    let found = bases(func);
    let is = |mask: u32, p: usize| mask & (1 << p) != 0;
    let mut runs = 0;
    for image in (0..4).filter(|p| is(found.loads, *p)) {
        for out in (0..4).filter(|p| *p != image && is(found.stores, *p)) {
            let dims: Vec<usize> = (0..4).filter(|p| *p != image && *p != out).collect();
            for (h, w) in [(dims[0], dims[1]), (dims[1], dims[0])] {
                let mut runner = Runner {
                    probe: &mut *probe,
                    func_index,
                    base,
                    layout: (image, out, h, w),
                    runs: 0,
                };
                let solved = solve(&mut runner);
                let confirmed = solved.and_then(|weights| {
                    let stencil = Stencil {
                        image,
                        out,
                        h,
                        w,
                        weights,
                    };
                    confirm(&stencil, &mut runner).then_some(stencil)
                });
                runs += runner.runs;
                if let Some(stencil) = confirmed {
                    return Some(Identified { stencil, runs });
                }
            }
        }
    }
    None
}

/// Reads the weights off the function with impulses on a 5x5 image (the centre
/// pixel's output), or `None` when the readings are not those of a stencil.
fn solve(r: &mut Runner<'_>) -> Option<[i32; 9]> {
    let (h, w) = (5, 5);
    let centre = 2 * w + 2;
    let flat = |v: u8| vec![v; h * w];
    let marker = vec![0x5au8; h * w];
    // The sum of the weights, when it is in 0..=255: a flat image of ones.
    let ones = r.run(&flat(1), &marker, h, w)?;
    let sum = ones[centre] as i32;
    // A background whose output sits mid-range (0 when the weights sum to 0 or
    // less: then impulses of both signs tell a weight's sign).
    let background = if sum == 0 {
        100
    } else {
        (128 / sum).clamp(1, 254)
    } as u8;
    let base = background as i32 * sum;
    let mut weights = [0i32; 9];
    for (tap, weight) in weights.iter_mut().enumerate() {
        let at = (1 + tap / 3) * w + 1 + tap % 3;
        let mut up = flat(background);
        up[at] += 1;
        let plus = r.run(&up, &marker, h, w)?[centre] as i32;
        *weight = if 0 < plus && plus < 255 {
            plus - base
        } else {
            let mut down = flat(background);
            down[at] -= 1;
            base - r.run(&down, &marker, h, w)?[centre] as i32
        };
    }
    (weights.iter().sum::<i32>() == sum || sum == 255).then_some(weights)
}

/// Random images of several shapes (incl. 1- and 2-wide ones) must agree byte for
/// byte, the border and everything else left alone.
fn confirm(s: &Stencil, r: &mut Runner<'_>) -> bool {
    let mut rng = Rng(0x5e_ed ^ (r.func_index as u64) << 8);
    for (h, w) in [
        (3, 3),
        (7, 9),
        (16, 17),
        (33, 40),
        (2, 20),
        (20, 2),
        (1, 1),
        (9, 64),
    ] {
        let img: Vec<u8> = (0..h * w).map(|_| rng.next_u64() as u8).collect();
        let out: Vec<u8> = (0..h * w).map(|_| rng.next_u64() as u8).collect();
        if r.run(&img, &out, h, w) != Some(s.apply(&img, &out, h, w)) {
            return false;
        }
    }
    true
}
