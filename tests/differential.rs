//! Differential tests: every exported kernel of every corpus module runs in the
//! original and in the barq-opt output on the same generated inputs, and must give
//! bit-identical results, identical traps, and identical memory afterwards.
//!
//! Inputs: lengths around the SIMD width and unrolling factors (0, 1, 3, 4, 5, 7, 8,
//! 15, 16, 17, 31, 33, 64, 100, 257), floats with NaN, infinities, denormals and
//! -0.0; aligned and unaligned pointers; in-place and overlapping buffers (output
//! one element ahead of and behind the input); pointers whose range runs past the
//! end of memory (both must trap, with the same partial writes); negative lengths.
//! Fuel (Wasmtime's instruction count, deterministic) checks that rewritten
//! functions really take the fast path on large inputs.

mod common;

use barq_wasm::{optimize, Action, Options};
use std::collections::BTreeSet;
use std::path::Path;
use wasmtime::{Engine, Instance, Linker, Memory, Module, Store, Val, ValType};

/// How to make each argument of a kernel.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Arg {
    /// A pointer to a buffer (the n-th buffer of the case).
    Ptr,
    /// The element count.
    Len,
    /// A small dimension (matrices: kept small so n^3 stays cheap).
    Dim,
    /// A float scalar.
    Scalar,
    /// An integer scalar (clamp bounds, zero points).
    Int,
    /// A convolution's kernel size: 3.
    Kernel,
    /// A channel count: 1 to 3.
    Chan,
    /// A short side of an image: 3 to 5 (the other side or the channels run
    /// long).
    Side,
    /// A view of a buffer of `len` elements of this many bytes, as
    /// AssemblyScript lays out a typed array (and corpus/c/views.c its struct):
    /// `{ buffer, dataStart, byteLength }`, three little-endian words, the
    /// buffer placed as a `Ptr` would be. The header sits below the buffers;
    /// under the unaligned layout, inside its own buffer, where the loop's
    /// stores overwrite it.
    View(u64),
    /// The length of a Rust slice over a buffer of `len` elements: five over
    /// under the disjoint layout (so that the fast path runs; a loop may index
    /// a few past `len`), else one short, 0, `len` or five over: a loop indexing
    /// past it panics part-way.
    SliceLen,
    /// A matrix's inner dimension: 0 for `len` 1 and 17 under the disjoint
    /// layout (the loop a function keeps for that case runs, and may take its
    /// fast path), else `len` (33: the nest's fast path).
    DimOrZero,
    /// 0 for `len` 33 under the disjoint layout, else `len` (a function
    /// rewritten both in its nest and in the loop it keeps for 0: the nest's
    /// fast path is seen at 17).
    DimZeroAt33,
    /// A row count: `len + 32` under the disjoint layout (enough rows for the
    /// fast path of a loop over rows alone), else `len`.
    Rows,
    /// The length of a Rust slice over a `len` x `len` matrix: like `SliceLen`,
    /// relative to `len * len` (one short: the last element's check panics).
    Area,
    /// How many elements a loop over `View`s touches: `len` under the disjoint
    /// layout, else one short, 0, `len` or five over (past the arrays' length:
    /// a checked access aborts part-way).
    Count,
}

use Arg::*;

/// The kernels exported by the corpus, by export name.
fn spec(name: &str) -> Option<&'static [Arg]> {
    Some(match name {
        "axpy" | "scale" | "axpy_unrolled" | "scale_bumped" => &[Scalar, Ptr, Ptr, Len],
        "sum_unrolled" => &[Ptr, Len],
        "axpy_observed" => &[Scalar, Ptr, Ptr, Len],
        "add_f32" => &[Ptr, Ptr, Ptr, Len],
        "relu" => &[Ptr, Len],
        "relu_out" => &[Ptr, Ptr, Len],
        "relu_if" | "relu_count" | "zero_after_negative" => &[Ptr, Len],
        "leaky_if" | "replace_nan" => &[Ptr, Len, Scalar],
        "masked_copy" | "absdiff_u8" | "add_residual_u8" => &[Ptr, Ptr, Ptr, Len],
        "keep_positive" => &[Ptr, Ptr, Len],
        "invert_u8" | "brighten_u8" | "halve_i16" | "abs_i8" | "scale_u8" | "gain_i16" => {
            &[Ptr, Len]
        }
        "add_wrap_u8" | "add_sat_u8" | "shift_u16" | "near_zero_i8" | "above_u_i8"
        | "clip_i16_u8" | "center_u8_i16" => &[Ptr, Ptr, Len],
        "mix_sat_i16" => &[Ptr, Ptr, Ptr, Len],
        "popcount_sum" | "popcount_sum_rs" => &[Ptr, Len],
        "hamming" | "hamming_u8" | "common_bits" | "popcounts" | "hamming_rs"
        | "common_bits_u8_rs" => &[Ptr, Ptr, Len],
        "sub_sat_u8" | "add_sat_u16" | "add_clip_254" | "mix_top_i16" | "mix_sat_i16_rs"
        | "add_sat_u16_rs" | "sub_sat_u8_rs" => &[Ptr, Ptr, Len],
        "threshold_u8" | "below_u8" => &[Ptr, Ptr, Len, Int],
        "key_u8" | "darken_u8" => &[Ptr, Len, Int],
        "blend_u8" => &[Ptr, Ptr, Ptr, Len, Int],
        "max_f32" | "max_ge_f32" | "min_f64" | "max_abs_f32" | "max_i32" | "min_u32"
        | "max_i64" | "max_num_f32" | "min_i32" | "max_nan_taking" | "argmax_half_f32"
        | "max_plus_one" | "max_backwards_f32" | "max_u8" | "min_i16" | "max_u8_int"
        | "max_u8_rs" | "min_i16_rs" => &[Ptr, Len],
        "argmax_first_f32"
        | "argmin_i32"
        | "argmax_last_f64"
        | "argmin_last_f32"
        | "argmax_u32"
        | "argmax_i64"
        | "argmax_abs_f32"
        | "argmax_enumerate_f32"
        | "argmax_scores_f32"
        | "argmax_ref_f32"
        | "argmin_ref_last_i32" => &[Ptr, Len],
        "argmax_from_f32" | "argmin_from_f32" => &[Ptr, Ptr, Len, Scalar, Int],
        "cap_i64" => &[Ptr, Len, Int],
        "clamp_i32" => &[Ptr, Len, Int, Int],
        "limit_i16" => &[Ptr, Ptr, Len, Int, Int],
        "dot_f32" | "dot_f64" | "dot_i32" | "dot_i8" => &[Ptr, Ptr, Len],
        "sum_squares" | "l2_norm" | "sum_i32" | "prefix_sum" | "sum_until_negative" => &[Ptr, Len],
        "dot_u8" | "dot_u8_i8" | "dot_i16" | "dot_u16" | "dot_i8_acc16" => &[Ptr, Ptr, Len],
        "sum_u8" | "sum_i16" | "sum_squares_i16" => &[Ptr, Len],
        // (Widening terms in i32 lanes; bitwise folds; two terms per element.)
        "sad_u8" | "ssd_u8" | "ct_diff_u8" | "sad_u8_rs" | "ssd_i16_rs" | "ct_eq_rs"
        | "sum_pair_i32" | "or_pair_i32" => &[Ptr, Ptr, Len],
        "abs_sum_i16" | "xor_words_rs" => &[Ptr, Len],
        "weighted_u16" => &[Ptr, Int, Len],
        "count_range_u8" => &[Ptr, Int, Int, Len],
        "sum_mixed_i32" => &[Ptr, Len, Int],
        "or_then_xor" | "sad_saturating" => &[Ptr, Ptr, Len],
        "pack_bits" | "xor_rolling" => &[Ptr, Len],
        // (Counts: the compared value comes from the integer list, inside and outside
        // the elements' range; outside, the kernel leaves every element to the loop's
        // own term.)
        "count_byte" | "count_above_i8" | "count_below_u16" | "count_not_u8" | "count_byte_rs" => {
            &[Ptr, Len, Int]
        }
        // (Buffers through a header: C structs, AssemblyScript typed arrays.)
        "flip_case_buf" => &[View(1)],
        "add_bufs" => &[View(1), View(1)],
        "scale_floats" | "scale_view" => &[View(4), Scalar],
        "zero_negatives_buf" => &[View(4), Ptr, Len],
        "fill_from_ptr" => &[Ptr, Ptr, Len],
        "saxpy_view" => &[Scalar, View(4), View(4)],
        // (Backward walks.)
        "axpy_back" => &[Len, Scalar, Ptr, Ptr],
        "add_back" => &[Ptr, Ptr, Ptr, Len],
        "scale_back" => &[Ptr, Len, Scalar],
        "relu_back" => &[Ptr, Len],
        "flip_case_back" | "offset_back_i16" => &[Ptr, Ptr, Len],
        // (Calls to fmaxf/fminf and Rust's f32::max/min inlined.)
        "relu_fmaxf" | "relu_fmax_f64" | "max_fmaxf" | "relu_max_rs" | "relu_max_f64_rs"
        | "max_fold_rs" => &[Ptr, Len],
        "clamp_fminmaxf" | "clamp_min_max_rs" => &[Ptr, Ptr, Len, Scalar, Scalar],
        "count_lines" | "count_utf8_chars" | "count_zero_i16" | "count_positive_f32"
        | "count_lines_rs" | "count_negative_rs" | "count_chars_rs" | "count_negative_i16" => {
            &[Ptr, Len]
        }
        "dot4_f32" | "cosine_fused" | "cosine_split" => &[Ptr, Ptr, Len],
        "sum8_f32" | "sum_squares2_f64" | "sum4_i32" | "l2_norm_f64" => &[Ptr, Len],
        "sum_scaled_i32" | "sum_div_i32" => &[Ptr, Len, Int],
        "dot_gather" => &[Ptr, Ptr, Ptr, Len],
        "shift_scale" => &[Ptr, Scalar, Len],
        "matmul_ijk" | "gemm_bt" | "gemm_f64" | "gemm_f64_bt" => &[Ptr, Ptr, Ptr, Dim, Dim, Dim],
        // (`linear` and `linear_bias_last` are left to tests/native_gemm.rs: clang
        // -O3 copies or adds the bias in loops that run only when `in` is 0, which
        // this harness never sees faster.)
        "matmul_ikj" | "matmul" => &[Ptr, Ptr, Ptr, Dim],
        "add_slices" => &[Ptr, SliceLen, Ptr, SliceLen, Ptr, Len],
        "scale_from" => &[Ptr, SliceLen, Chan, Len, Scalar],
        "diff_slices" => &[Ptr, SliceLen, Ptr, Len],
        "brighten_back" => &[Ptr, SliceLen, Ptr, Len],
        "count_positive_slice" => &[Ptr, SliceLen, Len],
        "gemv_slices" => &[Ptr, Ptr, Ptr, Dim, DimOrZero],
        "gemv_short" => &[Area, Ptr, Ptr, Ptr, Dim, Dim],
        "cosine_rows" => &[Ptr, Rows, DimZeroAt33, Ptr, Ptr],
        "column_copy" | "column_back" => &[Ptr, Ptr, Dim, Dim, Kernel],
        "matmul_ikj_slices" | "matmul_ijk_slices" => &[Ptr, Ptr, Ptr, Dim, Dim, Dim],
        "vecmat_slices" => &[Ptr, Ptr, Ptr, Dim, Dim],
        "vecmat_short" => &[Ptr, Ptr, Area, Ptr, Dim, Dim],
        "vecmat_ylen" => &[Ptr, Ptr, Ptr, SliceLen, Dim, Dim],
        "add_one_flagged" => &[Ptr, Ptr, SliceLen, Len],
        "colsum_squares" => &[Ptr, Area, Ptr, Dim, Dim],
        "conv3x3_slices" => &[Ptr, Area, Ptr, Ptr, Area, Dim, Dim],
        "tri_rowsum" => &[Ptr, Area, Ptr, SliceLen, Dim],
        "matmul_ijk_short" => &[Ptr, Ptr, Area, Ptr, Dim],
        "gather_slices" => &[Ptr, SliceLen, Ptr, Ptr, Len],
        "add_until_short" => &[Ptr, SliceLen, Ptr, Len],
        "squares_index" => &[Ptr, SliceLen, Len],
        "scale_checked_c" => &[Ptr, SliceLen, Len, Scalar],
        "add_checked_c" => &[Ptr, SliceLen, Ptr, SliceLen, Ptr, Len],
        "shift_checked_c" => &[Ptr, Ptr, SliceLen, Chan, Len],
        "gather_checked_c" => &[Ptr, Ptr, Ptr, SliceLen, Len],
        "shrinking_checked_c" => &[Ptr, SliceLen, Len],
        "saxpy_checked" => &[Scalar, View(4), View(4)],
        "scale_checked" => &[View(4), Scalar],
        "relu_checked" => &[View(4), Count],
        "add_u8_checked" => &[View(1), View(1), View(1), Count],
        "sum_checked" => &[View(4)],
        "count_checked" => &[View(1), Int],
        "gemv" => &[Ptr, Ptr, Ptr, Dim, Dim],
        "gemm_ld" => &[Dim, Dim, Dim, Ptr, Dim, Ptr, Dim, Ptr, Dim],
        "gemm_alpha_beta" => &[Dim, Scalar, Ptr, Ptr, Scalar, Ptr],
        "gemm_at" | "gemm_i32" | "gemm_jik" | "gemm_ptr" | "gemm_slices" | "gemm"
        | "gemm_bt_zip" | "gemm_bt_load" => &[Ptr, Ptr, Ptr, Dim],
        "vecmat" => &[Ptr, Ptr, Ptr, Dim, Dim],
        "conv_stride2" => &[Ptr, Ptr, Ptr, Len],
        "conv2d_k" => &[Ptr, Dim, Dim, Ptr, Kernel, Ptr],
        "quantize_i8" => &[Ptr, Ptr, Len, Scalar, Int],
        "dequantize_i8" => &[Ptr, Ptr, Len, Scalar, Int],
        "conv3x3_relu" => &[Ptr, Ptr, Scalar, Ptr, Dim, Dim],
        "conv_chw" | "conv_chw_rs" => &[Ptr, Ptr, Ptr, Ptr, Chan, Chan, Dim, Dim, Kernel],
        "conv5x5" => &[Ptr, Ptr, Ptr, Dim, Dim],
        // (Stride 2 and padded: rows long enough for more than one block of
        // outputs after the guard in front of each row.)
        "conv_s2" | "conv_same" | "conv_same_rs" => &[Ptr, Ptr, Ptr, Side, Len],
        // (Channels last: the lanes run across output channels.)
        "conv_hwc" => &[Ptr, Ptr, Ptr, Side, Side, Chan, Dim],
        "edges_u8" => &[Ptr, Ptr, Dim, Dim],
        "copy_u8" | "copy_u8_ptr" | "copy_back_u8" | "copy_u16" | "copy_u32" | "copy_u64"
        | "gather_u8" => &[Ptr, Ptr, Len],
        "fill_u8" | "fill_u16" => &[Ptr, Int, Len],
        "copy_rows_u8" => &[Ptr, Ptr, Len, Int, Int],
        "fill_rows_u8" => &[Ptr, Int, Len, Int, Int],
        "zero_rows_u32" => &[Ptr, Len, Int, Int],
        "zero_u8" | "zero_u32" | "zero_u64" | "ones_u64" | "smear_u8" | "repeat2" | "iota_u8" => {
            &[Ptr, Len]
        }
        "xor_u8" => &[Ptr, Ptr, Len, Int],
        "read_u16_le" | "read_u32_le" | "read_u64_le" | "read_u32_be" | "read_u64_be" => &[Ptr],
        "sum_u32_le" => &[Ptr, Len],
        "write_u32_le" | "write_u64_le" | "write_u32_be" | "write_u64_be" | "write_u32_mixed" => {
            &[Ptr, Int]
        }
        "bson_encode" | "encode_u64_be" => &[Ptr, Ptr, Len],
        _ => return None,
    })
}

const LENGTHS: &[i64] = &[
    0, 1, 3, 4, 5, 7, 8, 15, 16, 17, 31, 33, 64, 100, 257, 511, 512, 1023, 1024, 2000, -1,
];
const SCALAR_LEVELS: &[&str] = &["O1", "O2", "O3", "Os", "Oz"];
const DIMS: &[i64] = &[0, 1, 3, 4, 5, 17, 33];
/// Buffers live from 256 KiB on, 32 KiB apart; memory is grown to 8 pages + slack.
const REGION: u64 = 256 * 1024;
const REGION_SIZE: u64 = 32 * 1024;

/// Where a case puts its buffers.
#[derive(Clone, Copy, Debug)]
enum Layout {
    Disjoint,
    Unaligned,
    /// All pointers equal (in place).
    Same,
    /// Each next buffer starts one element after the previous one.
    OverlapAhead,
    /// Each next buffer starts one element before the previous one.
    OverlapBehind,
    /// The last buffer ends past the end of memory.
    OutOfBounds,
}

const LAYOUTS: &[Layout] = &[
    Layout::Disjoint,
    Layout::Unaligned,
    Layout::Same,
    Layout::OverlapAhead,
    Layout::OverlapBehind,
    Layout::OutOfBounds,
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Memory contents: random words with float edge values mixed in.
fn fill(rng: &mut Rng, bytes: &mut [u8]) {
    const SPECIAL32: &[u32] = &[
        0x7fc0_0000, // NaN
        0x7f80_0000, // +inf
        0xff80_0000, // -inf
        0x8000_0000, // -0.0
        0x0000_0001, // smallest denormal
        0x807f_ffff, // negative denormal
        0x3f80_0000, // 1.0
        0xbf00_0000, // -0.5
        0x7f7f_ffff, // f32::MAX
    ];
    for chunk in bytes.chunks_mut(4) {
        let r = rng.next();
        let word = match r % 8 {
            0 => SPECIAL32[(r >> 8) as usize % SPECIAL32.len()],
            1 | 2 => (((r >> 16) % 2000) as f32 / 16.0 - 60.0).to_bits(),
            3 => (r >> 20) as u32 % 256,
            _ => (r >> 32) as u32,
        };
        let n = chunk.len();
        chunk.copy_from_slice(&word.to_le_bytes()[..n]);
    }
}

struct Outcome {
    result: Result<Vec<u128>, String>,
    memory: Vec<u8>,
    fuel: u64,
}

fn bits(v: &Val) -> u128 {
    match v {
        Val::I32(x) => *x as u32 as u128,
        Val::I64(x) => *x as u64 as u128,
        Val::F32(x) => *x as u128,
        Val::F64(x) => *x as u128,
        Val::V128(x) => x.as_u128(),
        _ => u128::MAX,
    }
}

fn fuel_engine() -> &'static Engine {
    static ENGINE: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = wasmtime::Config::new();
        config.consume_fuel(true);
        // Wasmtime charges memory.copy / memory.fill one unit of fuel per byte by
        // default; fuel here counts instructions, to show that the fast path ran.
        let mut cost = wasmtime::OperatorCost::new();
        cost.variable.memory_copy_per_byte = 0;
        cost.variable.memory_fill_per_byte = 0;
        config.operator_cost(cost);
        Engine::new(&config).expect("engine")
    })
}

/// The pages a module's exported memory starts with.
fn memory_pages(module: &Module) -> u64 {
    module
        .exports()
        .find_map(|e| e.ty().memory().map(|m| m.minimum()))
        .unwrap_or(0)
}

fn run(module: &Module, name: &str, args: &[Val], memory_image: &[u8]) -> Outcome {
    let engine = fuel_engine();
    let mut store = Store::new(engine, ());
    store.set_fuel(u64::MAX / 2).expect("fuel");
    let mut linker = Linker::new(engine);
    linker
        .func_wrap("env", "observe", |_: i32| {})
        .expect("observe import");
    // AssemblyScript's failed bounds check calls `abort` (then traps).
    linker
        .func_wrap("env", "abort", |_: i32, _: i32, _: i32, _: i32| {})
        .expect("abort import");
    // The C corpus links with --allow-undefined: clang may turn loops into libc calls.
    common::link_libc(&mut linker);
    // Modules made with --target native call the runner's host kernels.
    barq_wasm::native::add_to_linker(&mut linker).expect("native kernels");
    let instance: Instance = linker.instantiate(&mut store, module).expect("instantiate");
    let memory: Memory = instance
        .get_memory(&mut store, "memory")
        .expect("memory export");
    let pages = memory_image.len() as u64 / 65536;
    let have = memory.size(&store);
    if have < pages {
        memory.grow(&mut store, pages - have).expect("grow");
    }
    memory.data_mut(&mut store)[REGION as usize..memory_image.len()]
        .copy_from_slice(&memory_image[REGION as usize..]);
    let func = instance.get_func(&mut store, name).expect("export");
    let mut results = vec![Val::I32(0); func.ty(&store).results().len()];
    let before = store.get_fuel().expect("fuel");
    let result = func
        .call(&mut store, args, &mut results)
        .map(|()| results.iter().map(bits).collect())
        .map_err(|e| format!("{:?}", e.downcast_ref::<wasmtime::Trap>()));
    let fuel = before - store.get_fuel().expect("fuel");
    Outcome {
        result,
        memory: memory.data(&store).to_vec(),
        fuel,
    }
}

/// Memory contents for the --fast-math bound: finite values in [-1, 1].
fn fill_unit(rng: &mut Rng, bytes: &mut [u8], f64_elements: bool) {
    if f64_elements {
        for chunk in bytes.chunks_exact_mut(8) {
            let v = (rng.next() % 2_000_001) as f64 / 1_000_000.0 - 1.0;
            chunk.copy_from_slice(&v.to_le_bytes());
        }
    } else {
        for chunk in bytes.chunks_exact_mut(4) {
            let v = (rng.next() % 2_000_001) as f32 / 1_000_000.0 - 1.0;
            chunk.copy_from_slice(&v.to_le_bytes());
        }
    }
}

/// Arguments for one case, and the memory image.
fn make_case(
    rng: &mut Rng,
    params: &[ValType],
    arg_kinds: &[Arg],
    len: i64,
    layout: Layout,
    scalar_pick: usize,
    min_pages: u64,
) -> (Vec<Val>, Vec<u8>) {
    // (As large as the module's own memory, so that the out-of-bounds layout's
    // last buffer really ends past it: Rust modules start with 17 pages.)
    let pages = ((REGION + 8 * REGION_SIZE) / 65536).max(min_pages);
    let mut image = vec![0u8; (pages * 65536) as usize];
    fill(rng, &mut image[REGION as usize..]);
    let mut next_ptr = 0u64;
    let ptr_count = arg_kinds
        .iter()
        .filter(|a| matches!(a, Ptr | View(_)))
        .count() as u64;
    let scalars = [1.5f32, -0.0, f32::NAN, f32::INFINITY, 3e-39, 0.1];
    // (Byte and halfword maps compare with these: the clamp of an invariant to
    // one past the element range must keep every outcome.)
    let ints = [
        0i32,
        -7,
        100,
        7,
        i32::MIN,
        255,
        256,
        -1,
        i32::MAX,
        65536,
        -129,
        200,
    ];
    let mut args = Vec::new();
    // The address of buffer `i` in this layout (`unaligned`: shifted by 1 + i bytes
    // under the unaligned layout).
    let memory_end = image.len() as u64;
    let place = |i: u64, unaligned: bool| {
        let base = REGION + REGION_SIZE;
        match layout {
            Layout::Disjoint => base + i * REGION_SIZE,
            Layout::Unaligned => base + i * REGION_SIZE + if unaligned { 1 + i } else { 0 },
            Layout::Same => base,
            Layout::OverlapAhead => base + 4 * i,
            Layout::OverlapBehind => base + 64 - 4 * i,
            Layout::OutOfBounds => {
                if i + 1 == ptr_count {
                    memory_end - 24
                } else {
                    base + i * REGION_SIZE
                }
            }
        }
    };
    for (kind, ty) in arg_kinds.iter().zip(params) {
        let value: i64 = match kind {
            Ptr => {
                next_ptr += 1;
                place(next_ptr - 1, true) as i64
            }
            View(elem) => {
                let i = next_ptr;
                next_ptr += 1;
                let data = place(i, false);
                let header = match layout {
                    Layout::Unaligned => data + elem * (len.max(0) as u64 / 2),
                    // (The first header straddles the end of memory: a loop that
                    // never reads it must not trap for it.)
                    Layout::OutOfBounds if i == 0 => image.len() as u64 - 6,
                    _ => REGION + 16 * i,
                } as usize;
                let byte_length = (len as u64).wrapping_mul(*elem) as u32;
                let words = [data as u32, data as u32, byte_length];
                let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
                let fits = (image.len() - header).min(bytes.len());
                image[header..header + fits].copy_from_slice(&bytes[..fits]);
                header as i64
            }
            Len => len,
            SliceLen => match layout {
                Layout::Disjoint => len + 5,
                _ => [len - 1, 0, len, len + 5][scalar_pick.wrapping_add(args.len()) % 4],
            },
            Area => match layout {
                Layout::Disjoint => len * len + 5,
                _ => [len * len - 1, 0, len * len, len * len + 5]
                    [scalar_pick.wrapping_add(args.len()) % 4],
            },
            Count => match layout {
                Layout::Disjoint => len,
                _ => [len - 1, 0, len, len + 5][scalar_pick.wrapping_add(args.len()) % 4],
            },
            Dim => len,
            DimOrZero => match layout {
                Layout::Disjoint if len % 16 == 1 && len < 33 => 0,
                _ => len,
            },
            Rows => match layout {
                Layout::Disjoint => len + 32,
                _ => len,
            },
            DimZeroAt33 => match layout {
                Layout::Disjoint if len == 33 => 0,
                _ => len,
            },
            Scalar => {
                let f = scalars[scalar_pick % scalars.len()];
                match ty {
                    ValType::F64 => {
                        args.push(Val::F64((f as f64).to_bits()));
                        continue;
                    }
                    _ => {
                        args.push(Val::F32(f.to_bits()));
                        continue;
                    }
                }
            }
            Int => ints[scalar_pick.wrapping_add(args.len()) % ints.len()] as i64,
            Kernel => 3,
            Chan => 1 + scalar_pick.wrapping_add(args.len()) as i64 % 3,
            Side => 3 + scalar_pick.wrapping_add(args.len()) as i64 % 3,
        };
        args.push(match ty {
            ValType::I64 => Val::I64(value),
            _ => Val::I32(value as i32),
        });
    }
    (args, image)
}

/// Runs every case of every kernel of one module; returns the kernels that the
/// optimizer rewrote.
fn check_module(path: &Path, options: &Options) -> BTreeSet<String> {
    let input = read_binary(path);
    let result = optimize(&input, options).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let rewritten: BTreeSet<String> = result
        .report
        .findings
        .iter()
        .filter(|f| f.action == Action::Rewritten)
        .map(|f| f.function.clone())
        .collect();
    // Functions whose only rewrite is an inlined call (fmaxf, an accessor) need
    // not run in less fuel (the call's instructions move in; the loop may still
    // be declined).
    let only_inlined: BTreeSet<String> = rewritten
        .iter()
        .filter(|name| {
            result
                .report
                .findings
                .iter()
                .filter(|f| f.action == Action::Rewritten && &f.function == *name)
                .all(|f| f.pattern.starts_with("fm") || f.pattern == "inline")
        })
        .cloned()
        .collect();
    let engine = fuel_engine();
    let original = Module::new(engine, &input).expect("compile original");
    let output = Module::new(engine, &result.wasm).expect("compile output");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ input.len() as u64);
    for export in original.exports() {
        let Some(func_ty) = export.ty().func().cloned() else {
            continue;
        };
        let Some(kinds) = spec(export.name()) else {
            continue;
        };
        let params: Vec<ValType> = func_ty.params().collect();
        assert_eq!(
            params.len(),
            kinds.len(),
            "{}: spec of {} is stale",
            path.display(),
            export.name()
        );
        let lengths =
            if kinds.contains(&Dim) || kinds.contains(&DimOrZero) || kinds.contains(&DimZeroAt33) {
                DIMS
            } else {
                LENGTHS
            };
        // BARQ_TRACE=1 names each kernel as it starts (to find one that hangs).
        if std::env::var_os("BARQ_TRACE").is_some() {
            eprintln!("{} {}", path.display(), export.name());
        }
        let mut fast_path_seen = false;
        for &len in lengths {
            for (layout_index, &layout) in LAYOUTS.iter().enumerate() {
                let scalar_pick = (len.unsigned_abs() as usize).wrapping_add(layout_index);
                let (args, image) = make_case(
                    &mut rng,
                    &params,
                    kinds,
                    len,
                    layout,
                    scalar_pick,
                    memory_pages(&original),
                );
                let a = run(&original, export.name(), &args, &image);
                let b = run(&output, export.name(), &args, &image);
                let what = format!(
                    "{} {}({args:?}) len={len} layout={layout:?}",
                    path.display(),
                    export.name()
                );
                let same_results = match (&a.result, &b.result) {
                    (Ok(x), Ok(y)) => {
                        x.len() == y.len()
                            && x.iter()
                                .zip(y)
                                .all(|(p, q)| p == q || barq_wasm::verify::both_nan(*p, *q))
                    }
                    (x, y) => x == y,
                };
                assert!(
                    same_results,
                    "result differs: {:?} vs {:?}: {what}",
                    a.result, b.result
                );
                if let Some(at) = barq_wasm::verify::first_difference(&a.memory, &b.memory) {
                    let s = at.saturating_sub(4);
                    panic!(
                        "memory differs at byte {at}: {:02x?} vs {:02x?}: {what}",
                        &a.memory[s..s + 12],
                        &b.memory[s..s + 12]
                    );
                }
                if len >= 17 && matches!(layout, Layout::Disjoint) && b.fuel < a.fuel {
                    fast_path_seen = true;
                }
            }
        }
        if rewritten.contains(export.name()) && !only_inlined.contains(export.name()) {
            assert!(
                fast_path_seen,
                "{}: {} was rewritten but never took the fast path",
                path.display(),
                export.name()
            );
        }
    }
    rewritten
}

/// The corpus modules (`BARQ_CORPUS=text`: only those whose path contains it, to
/// check one file while working on it).
/// A corpus module's bytes, text modules assembled.
fn read_binary(path: &std::path::Path) -> Vec<u8> {
    let bytes = common::read(path);
    wat::parse_bytes(&bytes)
        .expect("corpus module")
        .into_owned()
}

fn corpus_binaries() -> Vec<std::path::PathBuf> {
    let only = std::env::var("BARQ_CORPUS").unwrap_or_default();
    common::corpus_files()
        .into_iter()
        // (Text modules of corpus/traps too: hand-written shapes of trapping loops.)
        .filter(|p| {
            p.extension().is_some_and(|e| e == "wasm")
                || p.parent().is_some_and(|d| d.ends_with("traps"))
        })
        .filter(|p| p.to_string_lossy().contains(&only))
        .collect()
}

/// Checks every `shards`-th corpus module starting at `shard`; returns how many
/// kernels were rewritten. (Two shards, so the test harness runs them on two cores.)
fn check_shard(shard: usize, shards: usize) -> usize {
    corpus_binaries()
        .iter()
        .skip(shard)
        .step_by(shards)
        .map(|path| check_module(path, &Options::default()).len())
        .sum()
}

/// The native target (host kernels for axpy and integer and widening byte dots,
/// SIMD128 or bulk memory for the rest) under the same exact checks, on the whole
/// corpus: C at every level, Rust and AssemblyScript.
#[test]
fn native_target_behaves_exactly_like_the_original() {
    let options = Options {
        target: barq_wasm::Target::Native,
        ..Options::default()
    };
    let mut native = 0;
    for path in corpus_binaries().iter().filter(|p| {
        // (Modules clang vectorized itself keep their code: nothing to compare.)
        !p.to_string_lossy().contains("-simd")
    }) {
        check_module(path, &options);
        let result = optimize(&read_binary(path), &options).expect("optimize");
        native += result
            .report
            .findings
            .iter()
            .filter(|f| f.tier == Some(barq_wasm::Tier::Native))
            .count();
    }
    assert!(
        native >= 6 || std::env::var_os("BARQ_CORPUS").is_some(),
        "only {native} native rewrites"
    );
}

#[test]
fn rewritten_kernels_behave_exactly_like_the_originals_shard_0() {
    let total = check_shard(0, 2);
    assert!(
        total >= 40 || std::env::var_os("BARQ_CORPUS").is_some(),
        "only {total} rewritten kernels in this half of the corpus"
    );
}

#[test]
fn rewritten_kernels_behave_exactly_like_the_originals_shard_1() {
    let total = check_shard(1, 2);
    assert!(
        total >= 40 || std::env::var_os("BARQ_CORPUS").is_some(),
        "only {total} rewritten kernels in this half of the corpus"
    );
}

/// A header the loop reads only on its store's path (`if (x[i] < 0)
/// out->data[i] = 0`, corpus/c/views.c) past the end of memory: the loop finds no
/// negative element and never reads it, so the rewritten function must not trap
/// either (its guard checks the header's bounds before loading it). With the header
/// inside memory and negative elements, the kernel runs.
#[test]
fn a_hoisted_header_outside_memory_is_not_read() {
    let pages = (REGION + 8 * REGION_SIZE) / 65536;
    let x = REGION + REGION_SIZE;
    let data = REGION + 2 * REGION_SIZE;
    for level in ["O1", "Os", "Oz"] {
        let path = common::root().join(format!("corpus/c/views.{level}.wasm"));
        let input = read_binary(&path);
        let result = optimize(&input, &Options::default()).expect("optimize");
        assert!(
            result
                .report
                .findings
                .iter()
                .any(|f| f.function == "zero_negatives_buf" && f.action == Action::Rewritten),
            "{level}: {:?}",
            result.report.findings
        );
        let engine = fuel_engine();
        let original = Module::new(engine, &input).expect("original");
        let output = Module::new(engine, &result.wasm).expect("output");
        let mut image = vec![0u8; (pages * 65536) as usize];
        let past_end = image.len() as i32 - 6;
        let n = 200;
        let args = [Val::I32(past_end), Val::I32(x as i32), Val::I32(n)];
        let a = run(&original, "zero_negatives_buf", &args, &image);
        let b = run(&output, "zero_negatives_buf", &args, &image);
        assert!(a.result.is_ok(), "{level}: {:?}", a.result);
        assert_eq!(a.result, b.result, "{level}");
        assert_eq!(a.memory, b.memory, "{level}");
        // In bounds, every other element negative: the kernel takes it.
        let header = REGION as usize;
        for (k, word) in [data as u32, data as u32, 4 * n as u32].iter().enumerate() {
            image[header + 4 * k..header + 4 * k + 4].copy_from_slice(&word.to_le_bytes());
        }
        for i in 0..n as usize {
            let v: f32 = if i % 2 == 0 { -1.5 } else { 2.0 };
            image[x as usize + 4 * i..x as usize + 4 * i + 4].copy_from_slice(&v.to_le_bytes());
        }
        let args = [Val::I32(header as i32), Val::I32(x as i32), Val::I32(n)];
        let a = run(&original, "zero_negatives_buf", &args, &image);
        let b = run(&output, "zero_negatives_buf", &args, &image);
        assert_eq!(a.result, b.result, "{level}");
        assert_eq!(a.memory, b.memory, "{level}");
        assert!(b.fuel < a.fuel, "{level}: the kernel did not run");
    }
}

#[test]
fn near_misses_are_never_rewritten() {
    let near_misses: Vec<_> = common::corpus_files()
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("near-miss"))
        .collect();
    assert!(near_misses.len() >= 32, "{near_misses:?}");
    for path in near_misses {
        let input = read_binary(&path);
        let result = optimize(&input, &Options::default()).expect("optimize");
        // (Rust near misses link parts of `core` whose loops are not near misses:
        // formatting, `str::count`.)
        let rewritten: Vec<_> = result
            .report
            .findings
            .iter()
            .filter(|f| f.action == Action::Rewritten && !f.function.starts_with("_ZN4core"))
            .collect();
        assert!(rewritten.is_empty(), "{}: {rewritten:?}", path.display());
    }
}

/// Under --fast-math, float reductions are reassociated: results may differ from
/// the original's within the classic bound |error| <= n * eps * sum|terms|, which for
/// terms of magnitude <= 1 is at most n^2 * eps. Traps and memory must still match.
#[test]
fn fast_math_reductions_stay_within_the_stated_bound() {
    fast_math_within_bound(barq_wasm::Target::Portable);
}

/// The same bound for the native target's host kernels (AVX2 with FMA).
#[test]
fn native_fast_math_reductions_stay_within_the_stated_bound() {
    fast_math_within_bound(barq_wasm::Target::Native);
}

fn fast_math_within_bound(target: barq_wasm::Target) {
    let options = Options {
        fast_math: true,
        target,
        ..Options::default()
    };
    let engine = fuel_engine();
    let mut checked = 0;
    for path in corpus_binaries() {
        let input = read_binary(&path);
        let result = optimize(&input, &options).expect("optimize");
        let rewritten: BTreeSet<String> = result
            .report
            .findings
            .iter()
            .filter(|f| f.action == Action::Rewritten && !f.exact)
            .map(|f| f.function.clone())
            .collect();
        if rewritten.is_empty() {
            continue;
        }
        let original = Module::new(engine, &input).expect("compile");
        let output = Module::new(engine, &result.wasm).expect("compile");
        let mut rng = Rng(0x2545_f491_4f6c_dd1d ^ input.len() as u64);
        // (Cosine: the dot product's error, at most n^2 eps, is divided by norms of
        // about n/3 for these inputs, so n^2 eps bounds the cosine's error too.)
        for name in [
            "dot_f32",
            "dot_f64",
            "sum_squares",
            "l2_norm",
            "l2_norm_f64",
            "cosine_fused",
            "cosine_split",
        ] {
            if !rewritten.contains(name) {
                continue;
            }
            let kinds = spec(name).expect("spec");
            let func_ty = original
                .get_export(name)
                .and_then(|e| e.func().cloned())
                .expect("export");
            let params: Vec<ValType> = func_ty.params().collect();
            let f64_elements = name.ends_with("f64");
            let eps = if f64_elements {
                f64::EPSILON
            } else {
                f32::EPSILON as f64
            };
            for &len in LENGTHS {
                // (Unaligned pointers would read the aligned fill as other floats,
                // outside the bound's premise; the exact tests cover them.)
                for &layout in &[Layout::Disjoint, Layout::Same, Layout::OutOfBounds] {
                    let (args, mut image) = make_case(
                        &mut rng,
                        &params,
                        kinds,
                        len,
                        layout,
                        0,
                        memory_pages(&original),
                    );
                    fill_unit(&mut rng, &mut image[REGION as usize..], f64_elements);
                    let a = run(&original, name, &args, &image);
                    let b = run(&output, name, &args, &image);
                    let what = format!("{} {name} len={len} layout={layout:?}", path.display());
                    assert!(a.memory == b.memory, "memory differs: {what}");
                    match (&a.result, &b.result) {
                        (Ok(x), Ok(y)) => {
                            let value = |bits: u128| {
                                if f64_elements {
                                    f64::from_bits(bits as u64)
                                } else {
                                    f32::from_bits(bits as u32) as f64
                                }
                            };
                            let (x, y) = (value(x[0]), value(y[0]));
                            let n = len.max(1) as f64;
                            let same = x == y || (x.is_nan() && y.is_nan());
                            assert!(same || (x - y).abs() <= n * n * eps, "{x} vs {y}: {what}");
                            checked += 1;
                        }
                        (x, y) => assert_eq!(x, y, "{what}"),
                    }
                }
            }
        }
    }
    assert!(
        checked >= 100 || std::env::var_os("BARQ_CORPUS").is_some(),
        "only {checked} fast-math cases checked"
    );
}

/// Copy and fill loops against barq's guarded `memory.copy` / `memory.fill`, and
/// copies and fills nested in a loop against their in-place `v128` moves, on
/// every distance between source and destination from -40 to 40 bytes and around
/// 256 (overlaps that make the loop differ from `memmove`, and those that do
/// not), and every run length up to 40 bytes and around the guard's threshold
/// and multiples of 16: the same memory and results, whichever way the guard
/// decides.
#[test]
fn copies_and_fills_match_at_every_distance() {
    let engine = fuel_engine();
    let mut distances: Vec<i64> = (-40..=40).collect();
    distances.extend([
        -300, -257, -256, -255, -128, -100, -64, 64, 100, 128, 255, 256, 257, 300,
    ]);
    let mut lengths: Vec<i64> = (0..=40).collect();
    lengths.extend([
        47, 48, 49, 63, 64, 65, 100, 127, 128, 129, 255, 256, 257, 300,
    ]);
    for level in SCALAR_LEVELS {
        let path = common::root().join(format!("corpus/c/bytes.{level}.wasm"));
        let input = read_binary(&path);
        let result = optimize(&input, &Options::default()).expect("optimize");
        for name in ["copy_rows_u8", "fill_rows_u8", "zero_rows_u32"] {
            let nested = result
                .report
                .findings
                .iter()
                .any(|f| f.function == name && f.tier == Some(barq_wasm::Tier::Simd128));
            // (clang -Oz's loop has no exit test barq reads: declined there.)
            assert_eq!(
                nested,
                *level != "Oz",
                "{level} {name}: {:?}",
                result.report.findings
            );
        }
        let output = result.wasm;
        let mut original = Window::new(engine, &input);
        let mut rewritten = Window::new(engine, &output);
        let mut rng = Rng(0x5eed ^ input.len() as u64);
        let mut image = vec![0u8; Window::BYTES];
        let base = Window::BASE + Window::BYTES as i32 / 2;
        let mut check = |name: &str, args: &[Val], what: &str| {
            fill(&mut rng, &mut image);
            let a = original.call(name, args, &image);
            let b = rewritten.call(name, args, &image);
            assert_eq!(a.0, b.0, "{level} {name} {what}: results");
            assert!(
                a.1 == b.1,
                "{level} {name} {what}: memory differs at byte {:?} of the window",
                barq_wasm::verify::first_difference(&a.1, &b.1)
            );
        };
        for name in [
            "copy_u8",
            "copy_u8_ptr",
            "copy_back_u8",
            "copy_u16",
            "copy_u32",
        ] {
            for &d in &distances {
                for &n in &lengths {
                    let args = [
                        Val::I32(base + d as i32),
                        Val::I32(base),
                        Val::I32(n as i32),
                    ];
                    check(name, &args, &format!("d={d} n={n}"));
                }
            }
        }
        // Three rows, `stride` bytes apart: the copy nested in a loop, moved in
        // place with v128 (no call) where the rows are apart.
        for &d in &distances {
            for &n in &lengths {
                for gap in [0, 7, 16] {
                    let args = [
                        Val::I32(base + d as i32),
                        Val::I32(base),
                        Val::I32(n as i32),
                        Val::I32(3),
                        Val::I32(n as i32 + gap),
                    ];
                    check("copy_rows_u8", &args, &format!("d={d} n={n} gap={gap}"));
                }
            }
        }
        // Fills nested in a row loop, also done in place.
        for &n in &lengths {
            for gap in [0, 7, 16] {
                for value in [0, 0x5a, -1] {
                    let rows = |width: i32| {
                        [
                            Val::I32(n as i32),
                            Val::I32(3),
                            Val::I32(n as i32 + gap / width),
                        ]
                    };
                    let mut args = vec![Val::I32(base + 3), Val::I32(value)];
                    args.extend(rows(1));
                    check("fill_rows_u8", &args, &format!("v={value} n={n} gap={gap}"));
                    let mut args = vec![Val::I32(base + 3)];
                    args.extend(rows(4));
                    check("zero_rows_u32", &args, &format!("n={n} gap={gap}"));
                }
            }
        }
        for name in ["fill_u8", "fill_u16", "zero_u8", "zero_u32", "smear_u8"] {
            for &n in &lengths {
                for value in [0, 0x5a, 0x7f7f, -1] {
                    let mut args = vec![Val::I32(base + 3)];
                    if name.starts_with("fill") {
                        args.push(Val::I32(value));
                    }
                    args.push(Val::I32(n as i32));
                    check(name, &args, &format!("v={value} n={n}"));
                }
            }
        }
    }
}

/// One instance whose memory window `[BASE, BASE + BYTES)` each call starts from
/// a given image; a call returns its results and the window afterwards.
struct Window {
    store: Store<()>,
    instance: Instance,
    memory: Memory,
}

impl Window {
    const BASE: i32 = 4 << 16;
    const BYTES: usize = 4096;

    fn new(engine: &Engine, wasm: &[u8]) -> Window {
        let module = Module::new(engine, wasm).expect("compile");
        let mut store = Store::new(engine, ());
        store.set_fuel(u64::MAX / 2).expect("fuel");
        let mut linker = Linker::new(engine);
        common::link_libc(&mut linker);
        let instance = linker
            .instantiate(&mut store, &module)
            .expect("instantiate");
        let memory = instance.get_memory(&mut store, "memory").expect("memory");
        let pages = memory.size(&store);
        if pages < 8 {
            memory.grow(&mut store, 8 - pages).expect("grow");
        }
        Window {
            store,
            instance,
            memory,
        }
    }

    fn call(&mut self, name: &str, args: &[Val], image: &[u8]) -> (Vec<u128>, Vec<u8>) {
        let range = Self::BASE as usize..Self::BASE as usize + Self::BYTES;
        self.memory.data_mut(&mut self.store)[range.clone()].copy_from_slice(image);
        let func = self
            .instance
            .get_func(&mut self.store, name)
            .expect("export");
        let mut results = vec![Val::I32(0); func.ty(&self.store).results().len()];
        func.call(&mut self.store, args, &mut results)
            .expect("call");
        let window = self.memory.data(&self.store)[range].to_vec();
        (results.iter().map(bits).collect(), window)
    }
}

/// Float extremes over arrays of zeros of both signs, negative values and NaNs:
/// which zero the scalar loop keeps depends on the order of the elements (the first
/// of equal values under `>`, the last under `>=`), and the rewrite must keep the
/// same one (its kernel redoes the fold in order when the extreme is zero). NaNs
/// are never taken, and a NaN start value stays.
#[test]
fn float_extremes_keep_the_scalar_loops_zero() {
    let engine = fuel_engine();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for level in ["O1", "O2", "O3", "Os", "Oz", "O3-simd"] {
        let path = common::root().join(format!("corpus/c/extremes.{level}.wasm"));
        let input = read_binary(&path);
        let result = optimize(&input, &Options::default()).expect("optimize");
        let original = Module::new(engine, &input).expect("compile original");
        let output = Module::new(engine, &result.wasm).expect("compile output");
        for (name, bytes) in [("max_f32", 4), ("max_ge_f32", 4), ("min_f64", 8)] {
            assert!(
                result
                    .report
                    .findings
                    .iter()
                    .any(|f| f.function == name && f.action == Action::Rewritten),
                "{level}: {name} not rewritten"
            );
            let mut fast_path_seen = false;
            for len in [1i64, 2, 7, 8, 9, 16, 17, 33, 64, 100, 1000] {
                for round in 0..12 {
                    let pages = (REGION + 8 * REGION_SIZE) / 65536;
                    let mut image = vec![0u8; (pages * 65536) as usize];
                    let base = (REGION + REGION_SIZE) as usize;
                    // min_f64 looks for the smallest: mirror the values.
                    let sign = if name == "min_f64" { -1.0 } else { 1.0 };
                    for i in 0..len as usize {
                        let r = rng.next();
                        let v: f64 = match r % 8 {
                            0 | 1 => 0.0,
                            2 | 3 => -0.0,
                            4 if round % 3 == 0 => f64::NAN,
                            5 if round % 4 == 0 => 1.0,
                            _ => -(((r >> 8) % 100) as f64) - 1.0,
                        } * sign;
                        if bytes == 4 {
                            let b = (v as f32).to_le_bytes();
                            image[base + 4 * i..base + 4 * i + 4].copy_from_slice(&b);
                        } else {
                            image[base + 8 * i..base + 8 * i + 8].copy_from_slice(&v.to_le_bytes());
                        }
                    }
                    let args = [Val::I32(base as i32), Val::I32(len as i32)];
                    let a = run(&original, name, &args, &image);
                    let b = run(&output, name, &args, &image);
                    assert_eq!(
                        a.result, b.result,
                        "{level} {name} len {len} round {round}: result differs"
                    );
                    if len >= 100 && b.fuel < a.fuel {
                        fast_path_seen = true;
                    }
                }
            }
            assert!(fast_path_seen, "{level}: {name} never took the fast path");
        }
    }
}
