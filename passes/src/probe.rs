//! Behavioural probes: running a function of the *input* module on inputs a
//! fingerprint chose, to learn what it computes. Whole-function fingerprints use
//! them after a structural prefilter (DESIGN.md: "a behavioural probe that runs the
//! candidate in Wasmtime on known vectors and compares with the reference").
//!
//! This crate has no engine: the driver supplies one through [`Probe`]. Without a
//! prober (tests of this crate, or a caller that does not provide one) fingerprints
//! that need probing find nothing.

/// A numeric argument of a probe run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ProbeArg {
    /// An `i32`.
    I32(i32),
    /// An `f32`.
    F32(f32),
    /// An `f64`.
    F64(f64),
}

/// What one probe run gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeRun {
    /// The function returned.
    Returned {
        /// The results' bits (`i32` and `f32` zero-extended, `f64` as they are).
        results: Vec<u64>,
        /// The scratch region's bytes after the call.
        scratch: Vec<u8>,
        /// Whether any byte of memory outside the scratch region changed.
        outside_changed: bool,
    },
    /// It trapped, ran out of fuel, or could not be called.
    Failed,
}

/// Runs functions of the input module.
pub trait Probe {
    /// Says that `func_index` will be probed: a prober may compile only what the
    /// functions it was told of need, so a pass names all its candidates first.
    fn want(&mut self, _func_index: u32) {}

    /// The address and length of a scratch region in the module's memory where
    /// probe inputs may be placed, or `None` when the module cannot be probed (no
    /// memory, instantiation fails, the memory cannot grow).
    fn scratch(&mut self) -> Option<(u32, u32)>;

    /// Writes `scratch` at the start of the scratch region, calls the input
    /// function with index `func_index` (imports included) with `args`, and
    /// returns what it left in memory. Every call starts from the same memory
    /// outside the scratch region.
    fn run(&mut self, func_index: u32, args: &[ProbeArg], scratch: &[u8]) -> ProbeRun;

    /// Makes the next run start from a fresh instance: for fingerprints that let
    /// the probed function write globals (a stack pointer it moves and, when it
    /// traps, does not move back), whose runs the prober cannot otherwise undo.
    fn isolate(&mut self) {}
}

/// A small seeded generator (xorshift64) for probe inputs and the tests and
/// checks that make inputs the same way. Not for anything that needs quality.
#[derive(Clone, Debug)]
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// One element of `from` (not empty).
    pub fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[(self.next_u64() % from.len() as u64) as usize]
    }
}

/// Six corrupted versions of `bytes` (not empty) for decoder probes: cut at a
/// random point or with one bit flipped, alternately (two cuts, four flips).
pub fn corrupted(rng: &mut Rng, bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for k in 0..6 {
        let mut c = bytes.to_vec();
        let at = (rng.next_u64() as usize) % c.len();
        if k % 3 == 0 {
            c.truncate(at);
        } else {
            c[at] ^= 1 << (rng.next_u64() % 8);
        }
        out.push(c);
    }
    out
}

/// Every way to give four roles four distinct parameter positions (`order[role]
/// = position`), `first` first, then the others in lexicographic order: the
/// readings a probe of a four-parameter function tries.
pub fn orders_of_four(first: [usize; 4]) -> Vec<[usize; 4]> {
    let mut out = vec![first];
    for a in 0..4 {
        for b in (0..4).filter(|p| *p != a) {
            for c in (0..4).filter(|p| *p != a && *p != b) {
                let order = [a, b, c, 6 - a - b - c];
                if order != first {
                    out.push(order);
                }
            }
        }
    }
    out
}
