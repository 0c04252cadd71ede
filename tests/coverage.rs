//! Coverage of the positive corpus: each kernel below must be rewritten, with the
//! right pattern, at every clang level it is listed for (the differential tests
//! then prove each rewrite exact and its fast path taken). A matcher regression
//! that silently stops rewriting a shape fails here.

mod common;

use barq_wasm::{optimize, Action, Options};

const SCALAR_LEVELS: &[&str] = &["O1", "O2", "O3", "Os", "Oz"];

/// (corpus file stem, export, pattern every finding in it must carry, --fast-math)
const EXPECTED: &[(&str, &str, &str, bool)] = &[
    ("c/widening", "dot_u8", "dot", false),
    ("c/widening", "dot_u8_i8", "dot", false),
    ("c/widening", "dot_i16", "dot", false),
    ("c/widening", "dot_u16", "dot", false),
    ("c/widening", "dot_i8_acc16", "dot", false),
    ("c/widening", "sum_u8", "sum", false),
    ("c/widening", "sum_i16", "sum", false),
    ("c/widening", "sum_squares_i16", "sum_squares", false),
    ("c/widening", "sad_u8", "sum", false),
    ("c/widening", "ssd_u8", "sum", false),
    ("c/widening", "abs_sum_i16", "sum", false),
    ("c/widening", "weighted_u16", "sum", false),
    ("c/widening", "count_range_u8", "sum", false),
    ("c/widening", "ct_diff_u8", "reduce_or", false),
    ("c/search", "strlen_u8", "find", false),
    ("c/search", "find_u8", "find", false),
    ("c/search", "memchr_u8", "find", false),
    ("c/search", "memrchr_u8", "find", false),
    ("c/search", "first_diff_u8", "find", false),
    ("c/search", "memcmp_u8", "find", false),
    ("c/search", "find_i32", "find", false),
    ("c/search", "any_nonzero_u8", "find", false),
    ("c/search", "all_equal_i32", "find", false),
    ("c/search", "skip_spaces", "find", false),
    ("c/search", "find_above_f32", "find", false),
    ("c/search", "find_nonascii", "find", false),
    ("c/search", "find_loud_i16", "find", false),
    ("c/search", "find_u64", "find", false),
    ("c/search", "find_nan_f64", "find", false),
    ("c/search", "strnlen_u8", "find", false),
    ("c/search", "find_either_u8", "find", false),
    ("c/search", "find_special_u8", "find", false),
    ("c/search", "span_u8", "find", false),
    ("c/bits", "popcount_sum", "sum", false),
    ("c/bits", "hamming", "sum", false),
    ("c/bits", "hamming_u8", "sum", false),
    ("c/bits", "common_bits", "sum", false),
    ("c/bits", "popcounts", "map", false),
    ("c/scaled_sum", "sum_pair_i32", "sum", false),
    ("c/scaled_sum", "sum_mixed_i32", "sum", false),
    ("c/scaled_sum", "or_pair_i32", "reduce_or", false),
    ("c/dot", "dot_i8", "dot", false),
    ("c/dot", "dot_i32", "dot", false),
    ("c/partial_sums", "sum_squares2_f64", "sum_squares", false),
    ("c/scaled_sum", "sum_scaled_i32", "sum", false),
    ("c/partial_sums", "sum4_i32", "sum", false),
    ("c/unrolled", "axpy_unrolled", "axpy", false),
    ("c/unrolled", "sum_unrolled", "sum", false),
    ("c/sum_squares", "l2_norm", "l2_norm", true),
    ("c/cosine", "cosine_fused", "cosine", true),
    ("c/cosine", "l2_norm_f64", "l2_norm", true),
    ("c/bytes", "copy_u8", "memcpy", false),
    ("c/bytes", "copy_u8_ptr", "memcpy", false),
    ("c/bytes", "copy_back_u8", "memcpy", false),
    ("c/bytes", "copy_u16", "memcpy", false),
    ("c/bytes", "copy_u32", "memcpy", false),
    ("c/bytes", "fill_u8", "memset", false),
    ("c/bytes", "zero_u8", "memset", false),
    ("c/bytes", "fill_u16", "memset", false),
    ("c/bytes", "zero_u32", "memset", false),
    ("c/bytes", "ones_u64", "memset", false),
    ("c/bytes", "smear_u8", "memset", false),
    ("c/cond_store", "relu_if", "relu", false),
    ("c/cond_store", "leaky_if", "map", false),
    ("c/cond_store", "masked_copy", "map", false),
    ("c/cond_store", "replace_nan", "map", false),
    ("c/cond_store", "cap_i64", "map", false),
    ("c/cond_store", "keep_positive", "map", false),
    ("c/extremes", "max_f32", "reduce_max", false),
    ("c/extremes", "max_ge_f32", "reduce_max", false),
    ("c/extremes", "min_f64", "reduce_min", false),
    ("c/extremes", "max_abs_f32", "reduce_max", false),
    ("c/extremes", "max_i32", "reduce_max", false),
    ("c/extremes", "min_u32", "reduce_min", false),
    ("c/extremes", "max_i64", "reduce_max", false),
    ("c/extremes", "max_u8", "reduce_max", false),
    ("c/extremes", "min_i16", "reduce_min", false),
    ("c/extremes", "max_u8_int", "reduce_max", false),
    ("c/argmax", "argmax_first_f32", "argmax", false),
    ("c/argmax", "argmin_i32", "argmin", false),
    ("c/argmax", "argmax_last_f64", "argmax", false),
    ("c/argmax", "argmin_last_f32", "argmin", false),
    ("c/argmax", "argmax_u32", "argmax", false),
    ("c/argmax", "argmax_i64", "argmax", false),
    ("c/argmax", "argmax_abs_f32", "argmax", false),
    ("c/argmax", "argmax_from_f32", "argmax", false),
    ("c/argmax", "argmin_from_f32", "argmin", false),
    ("c/argmax", "argmax_ref_f32", "argmax", false),
    ("c/argmax", "argmin_ref_last_i32", "argmin", false),
    ("c/pixels", "invert_u8", "map", false),
    ("c/pixels", "add_wrap_u8", "add", false),
    ("c/pixels", "add_sat_u8", "map", false),
    ("c/pixels", "threshold_u8", "map", false),
    ("c/pixels", "brighten_u8", "map", false),
    ("c/pixels", "halve_i16", "map", false),
    ("c/pixels", "abs_i8", "map", false),
    ("c/pixels", "scale_u8", "map", false),
    ("c/pixels", "shift_u16", "map", false),
    ("c/pixels", "key_u8", "map", false),
    ("c/pixels", "below_u8", "map", false),
    ("c/pixels", "darken_u8", "map", false),
    ("c/pixels", "near_zero_i8", "map", false),
    ("c/pixels", "above_u_i8", "map", false),
    ("c/pixels", "absdiff_u8", "map", false),
    ("c/pixels", "clip_i16_u8", "clamp", false),
    ("c/pixels", "center_u8_i16", "map", false),
    ("c/pixels", "limit_i16", "clamp", false),
    ("c/pixels", "mix_sat_i16", "map", false),
    ("c/pixels", "sub_sat_u8", "map", false),
    ("c/pixels", "add_sat_u16", "map", false),
    ("c/conv3x3", "edges_u8", "conv2d", false),
    ("c/views", "flip_case_buf", "map", false),
    ("c/views", "add_bufs", "add", false),
    ("c/views", "scale_floats", "scale", false),
    ("c/backward", "axpy_back", "axpy", false),
    ("c/backward", "add_back", "add", false),
    ("c/backward", "scale_back", "scale", false),
    ("c/backward", "relu_back", "relu", false),
    ("c/backward", "flip_case_back", "map", false),
    ("c/backward", "offset_back_i16", "map", false),
    ("c/counts", "count_byte", "sum", false),
    ("c/counts", "count_lines", "sum", false),
    ("c/counts", "count_utf8_chars", "sum", false),
    ("c/counts", "count_above_i8", "sum", false),
    ("c/counts", "count_zero_i16", "sum", false),
    ("c/counts", "count_below_u16", "sum", false),
    ("c/counts", "count_not_u8", "sum", false),
    ("c/counts", "count_positive_f32", "sum", false),
];

/// Copy and fill loops become bulk memory at every level, and SIMD128 maps (4- and
/// 8-byte elements) or nothing (bytes) under --no-bulk-memory.
#[test]
fn copies_and_fills_use_bulk_memory_unless_forbidden() {
    for level in SCALAR_LEVELS {
        let path = common::root().join(format!("corpus/c/bytes.{level}.wasm"));
        let input = common::read(&path);
        let result = optimize(&input, &Options::default()).expect("optimize");
        let rewritten: Vec<_> = result
            .report
            .findings
            .iter()
            .filter(|f| f.action == Action::Rewritten)
            .collect();
        assert!(rewritten.len() >= 12, "{level}: {rewritten:?}");
        // (Copies and fills nested in a loop move in place with SIMD128.)
        assert!(rewritten.iter().all(|f| f.tier
            == Some(if f.function.contains("_rows_") {
                barq_wasm::Tier::Simd128
            } else {
                barq_wasm::Tier::BulkMemory
            })));
        assert!(result
            .report
            .notes
            .iter()
            .any(|n| n.contains("bulk memory")));
        let options = Options {
            allow_bulk_memory: false,
            ..Options::default()
        };
        let result = optimize(&input, &options).expect("optimize");
        for f in &result.report.findings {
            assert_ne!(f.tier, Some(barq_wasm::Tier::BulkMemory), "{level}: {f:?}");
            if f.function == "copy_u8" {
                assert_ne!(f.action, Action::Rewritten, "{level}: {f:?}");
            }
        }
        assert!(
            result
                .report
                .findings
                .iter()
                .any(|f| f.function == "copy_u32" && f.action == Action::Rewritten),
            "{level}: {:?}",
            result.report.findings
        );
    }
}

/// A copy loop that moves 32 bytes or more per iteration (clang -O2 and -O3 unroll
/// `copy_u64` four times) is left alone by both bulk memory and SIMD128, with the
/// reason; the same function's one-element loops (-O1, -Os, -Oz) are rewritten.
#[test]
fn wide_copy_loops_are_left_alone() {
    for level in SCALAR_LEVELS {
        let path = common::root().join(format!("corpus/c/bytes.{level}.wasm"));
        for allow_bulk_memory in [true, false] {
            let options = Options {
                allow_bulk_memory,
                ..Options::default()
            };
            let result = optimize(&common::read(&path), &options).expect("optimize");
            let findings: Vec<_> = result
                .report
                .findings
                .iter()
                .filter(|f| f.function == "copy_u64")
                .collect();
            let unrolled = ["O2", "O3"].contains(level);
            let wide = findings.iter().any(|f| {
                f.action == Action::Detected
                    && f.reason
                        .as_deref()
                        .is_some_and(|r| r.contains("32 bytes or more"))
            });
            let rewritten = findings.iter().any(|f| f.action == Action::Rewritten);
            assert_eq!(
                (wide, rewritten),
                (unrolled, !unrolled),
                "{level} bulk {allow_bulk_memory}: {findings:?}"
            );
        }
    }
}

#[test]
fn positive_kernels_are_rewritten_at_every_level() {
    let mut failures = Vec::new();
    for (stem, function, pattern, fast_math) in EXPECTED {
        let options = Options {
            fast_math: *fast_math,
            ..Options::default()
        };
        for level in SCALAR_LEVELS {
            let path = common::root().join(format!("corpus/{stem}.{level}.wasm"));
            let result = optimize(&common::read(&path), &options).expect("optimize");
            let findings: Vec<_> = result
                .report
                .findings
                .iter()
                .filter(|f| f.function == *function)
                .collect();
            let ok = !findings.is_empty()
                && findings.iter().any(|f| f.action == Action::Rewritten)
                && findings.iter().all(|f| f.pattern == *pattern);
            if !ok {
                failures.push(format!("{stem}.{level} {function}: {findings:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Hand-written partial sums are exact even in float: the main loop is rewritten
/// without --fast-math (its scalar remainder loop needs it and is only detected).
#[test]
fn float_partial_sums_are_rewritten_exactly() {
    for level in SCALAR_LEVELS {
        let path = common::root().join(format!("corpus/c/partial_sums.{level}.wasm"));
        let result = optimize(&common::read(&path), &Options::default()).expect("optimize");
        let rewritten = result.report.findings.iter().any(|f| {
            f.function == "dot4_f32"
                && f.action == Action::Rewritten
                && f.exact
                && f.reason
                    .as_deref()
                    .is_some_and(|r| r.contains("interleaved"))
        });
        assert!(rewritten, "{level}: {:?}", result.report.findings);
    }
}

/// The report names 8-bit data by how the code reads it: `int8_t` maps (clang loads
/// the bytes zero-extended and sign-extends each use) are `i8`, unsigned ones `u8`,
/// 16-bit ones `i16`, in both the elementwise and the loop-nest pass.
#[test]
fn narrow_maps_report_their_element_type() {
    use barq_wasm::Elem;
    let expected = [
        ("abs_i8", Elem::I8),
        ("invert_u8", Elem::U8),
        ("scale_u8", Elem::U8),
        ("threshold_u8", Elem::U8),
        ("darken_u8", Elem::U8),
        ("halve_i16", Elem::I16),
        ("limit_i16", Elem::I16),
    ];
    let mut failures = Vec::new();
    for level in SCALAR_LEVELS.iter().chain(&["O3-simd"]) {
        let findings = default_findings("c/pixels", level);
        for (function, elem) in expected {
            let elems: Vec<_> = of(&findings, function).iter().map(|f| f.elem).collect();
            if elems.is_empty() || elems.iter().any(|e| *e != Some(elem)) {
                failures.push(format!("pixels.{level} {function}: {elems:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The convolution forms of corpus/c/conv_forms.c (several channels, 5x5, zero
/// padding by bounds tests, stride 2, channels last) are rewritten at the levels
/// whose loops the lockstep understands, and said about (not silently skipped) at
/// the others: clang -Oz leaves the output loop's exit inside the window loops
/// ("no loop exit test"); the -O3 -msimd128 builds are mostly the compiler's own
/// vector code.
#[test]
fn convolution_forms_are_rewritten() {
    const FORMS: &[(&str, &[&str])] = &[
        ("conv_chw", &["O1", "O2", "O3", "Os"]),
        ("conv5x5", &["O1", "O2", "O3", "Os"]),
        ("conv_same", &["O1", "O2", "O3", "Os", "O3-simd"]),
        ("conv_s2", &["O1", "O2", "O3", "Os"]),
        ("conv_hwc", &["O1", "O2", "O3", "Os", "O3-simd"]),
    ];
    let mut failures = Vec::new();
    for level in SCALAR_LEVELS.iter().chain(&["O3-simd"]) {
        let all = default_findings("c/conv_forms", level);
        for (function, levels) in FORMS {
            let findings = of(&all, function);
            // (Channels last runs its lanes across output channels: one matrix-vector
            // product per pixel, which the report may call a GEMM.)
            let named = |f: &&&barq_wasm::Finding| {
                f.pattern == "conv2d" || (*function == "conv_hwc" && f.pattern == "gemm")
            };
            let ok = if levels.contains(level) {
                findings
                    .iter()
                    .any(|f| f.action == Action::Rewritten && named(&f))
            } else {
                !findings.is_empty()
            };
            if !ok {
                failures.push(format!("conv_forms.{level} {function}: {findings:?}"));
            }
        }
    }
    // rustc over raw pointers (corpus/rust/conv.rs; at opt-level=3 the padded
    // window's column counter is advanced once, inside a block: `x = x + 1`).
    for (level, functions) in [
        ("O3", &["conv_chw_rs", "conv_same_rs"][..]),
        ("Os", &["conv_chw_rs", "conv_same_rs"]),
    ] {
        let all = default_findings("rust/conv", level);
        for function in functions {
            let findings = of(&all, function);
            let ok = findings
                .iter()
                .any(|f| f.action == Action::Rewritten && f.pattern == "conv2d");
            if !ok {
                failures.push(format!("rust/conv.{level} {function}: {findings:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The findings for `corpus/{stem}.{level}.wasm` under the default options.
/// Counts of matching elements as rustc and AssemblyScript write them (a filter's
/// `count()`, a fold over `(v < 0) as u32` that rustc turns into a shift of the
/// sign bit, core's `str::chars().count()`, AssemblyScript's `if (..) k++` as a
/// `select`) are rewritten.
#[test]
fn counts_are_rewritten_in_rust_and_assemblyscript() {
    let mut failures = Vec::new();
    let cases: &[(&str, &[&str], &[&str])] = &[
        (
            "rust/counts",
            &["O3", "Os"],
            &[
                "count_byte_rs",
                "count_lines_rs",
                "count_negative_rs",
                // (core::str::count's byte loop, reached from count_chars_rs)
                "_ZN4core3str5count23char_count_general_case",
            ],
        ),
        (
            "assemblyscript/vector",
            &["O3", "Oz"],
            &["count_byte", "count_negative_i16"],
        ),
    ];
    for (stem, levels, functions) in cases {
        for level in *levels {
            let all = default_findings(stem, level);
            for function in *functions {
                let ok = all.iter().any(|f| {
                    f.function.starts_with(function)
                        && f.action == Action::Rewritten
                        && f.pattern == "sum"
                });
                if !ok {
                    let findings: Vec<_> = all
                        .iter()
                        .filter(|f| f.function.starts_with(function))
                        .collect();
                    failures.push(format!("{stem}.{level} {function}: {findings:?}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Integer folds as rustc writes them: widening terms other than a load or a
/// product (`u8::abs_diff`, a squared difference of `i16`s), computed in i32
/// lanes, the bitwise folds of a constant-time comparison and a parity check, and
/// sums of bit counts.
#[test]
fn widening_terms_and_bitwise_folds_are_rewritten_in_rust() {
    let mut failures = Vec::new();
    let cases = [
        ("sad_u8_rs", "sum", "widened-i32x4"),
        ("ssd_i16_rs", "sum", "widened-i32x4"),
        ("ct_eq_rs", "reduce_or", "widened-i32x4"),
        ("xor_words_rs", "reduce_xor", "reduce-i32xor"),
    ];
    // (And bit counts: `count_ones` is `i32.popcnt`, counted bytewise in lanes.)
    let bits = [
        ("hamming_rs", "sum", "reduce-i32add"),
        ("popcount_sum_rs", "sum", "reduce-i32add"),
        ("common_bits_u8_rs", "sum", "widened-i32x4"),
    ];
    // (And `iter().max()`/`min()` over narrow elements: re-narrowed running values.)
    let extremes = [
        ("max_u8_rs", "reduce_max", "normalized"),
        ("min_i16_rs", "reduce_min", "normalized"),
    ];
    for level in ["O3", "Os"] {
        for (stem, function, pattern, shape) in cases
            .iter()
            .map(|c| ("rust/widening", c.0, c.1, c.2))
            .chain(extremes.iter().map(|c| ("rust/minmax", c.0, c.1, c.2)))
            .chain(bits.iter().map(|c| ("rust/bits", c.0, c.1, c.2)))
        {
            let all = default_findings(stem, level);
            let findings = of(&all, function);
            let ok = !findings.is_empty()
                && findings.iter().all(|f| {
                    f.action == Action::Rewritten
                        && f.pattern == pattern
                        && f.reason.as_deref().is_some_and(|r| r.contains(shape))
                });
            if !ok {
                failures.push(format!("{stem}.{level} {function}: {findings:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Saturating arithmetic (Rust's `saturating_add`/`saturating_sub`, C clamps to
/// the lane's range) runs in narrow lanes with the lanes' saturating operators,
/// rustc -O3's unrolled 16-bit copies included (which no wider lanes take).
#[test]
fn saturating_arithmetic_runs_in_narrow_lanes() {
    let mut failures = Vec::new();
    let cases = [
        ("rust/vector", "mix_sat_i16_rs", "i16x8"),
        ("rust/vector", "add_sat_u16_rs", "i16x8"),
        ("rust/vector", "sub_sat_u8_rs", "i8x16"),
        ("c/pixels", "mix_sat_i16", "i16x8"),
        ("c/pixels", "sub_sat_u8", "i8x16"),
        ("c/pixels", "add_sat_u8", "i8x16"),
    ];
    for (stem, function, lanes) in cases {
        let levels: &[&str] = if stem.starts_with("rust") {
            &["O3", "Os"]
        } else {
            SCALAR_LEVELS
        };
        for level in levels {
            let all = default_findings(stem, level);
            let findings = of(&all, function);
            let ok = !findings.is_empty()
                && findings.iter().all(|f| {
                    f.action == Action::Rewritten
                        && f.reason.as_deref().is_some_and(|r| {
                            r.contains(&format!("bottom-{lanes}"))
                                || r.contains(&format!("top-{lanes}"))
                        })
                });
            if !ok {
                failures.push(format!("{stem}.{level} {function}: {findings:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Loops calling libm's fmaxf/fminf (clang) or Rust's f32::max/min: the calls are
/// inlined (identified by probing) and the ReLU and clamp loops vectorized; the
/// f64 ReLU keeps its inlined calls in a scalar loop (64-bit lanes are left alone)
/// and the running maximum through fmaxf likewise (not a form the extremum
/// kernels take yet).
#[test]
fn min_max_calls_are_inlined_and_their_loops_rewritten() {
    let mut failures = Vec::new();
    let c_levels: Vec<&str> = SCALAR_LEVELS.to_vec();
    // (stem, levels, functions whose loop is vectorized, functions only inlined)
    type Case<'a> = (&'a str, &'a [&'a str], &'a [&'a str], &'a [&'a str]);
    let cases: [Case; 2] = [
        (
            "c/minmax",
            &c_levels,
            &["relu_fmaxf", "clamp_fminmaxf"],
            &["relu_fmax_f64", "max_fmaxf"],
        ),
        (
            "rust/minmax",
            &["O3", "Os"],
            &["relu_max_rs", "clamp_min_max_rs"],
            &["relu_max_f64_rs", "max_fold_rs"],
        ),
    ];
    for (stem, levels, vectorized, inlined) in cases {
        for level in levels {
            let all = default_findings(stem, level);
            for function in vectorized.iter().chain(inlined) {
                let findings = of(&all, function);
                let inlined_here = findings.iter().any(|f| {
                    f.action == Action::Rewritten
                        && f.pattern.starts_with("fm")
                        && f.reason
                            .as_deref()
                            .is_some_and(|r| r.contains("identified by probing"))
                });
                let simd = findings.iter().any(|f| {
                    f.action == Action::Rewritten && f.tier == Some(barq_wasm::Tier::Simd128)
                });
                if !inlined_here || simd != vectorized.contains(function) {
                    failures.push(format!("{stem}.{level} {function}: {findings:?}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// AssemblyScript's typed arrays: the loop reloads each array's `dataStart` from
/// its header in every iteration (a store might change it); the map pass loads it
/// once behind its guard. At -Oz asc leaves the element accessor a call (declined).
#[test]
fn assemblyscript_typed_array_loops_are_rewritten() {
    let all = default_findings("assemblyscript/vector", "O3");
    for (function, pattern) in [("saxpy_view", "axpy"), ("scale_view", "scale")] {
        let findings = of(&all, function);
        assert!(
            findings
                .iter()
                .any(|f| f.action == Action::Rewritten && f.pattern == pattern),
            "{function}: {findings:?}"
        );
    }
}

fn default_findings(stem: &str, level: &str) -> Vec<barq_wasm::Finding> {
    let path = common::root().join(format!("corpus/{stem}.{level}.wasm"));
    let result = optimize(&common::read(&path), &Options::default()).expect("optimize");
    result.report.findings
}

/// Those of them about `function`.
fn of<'f>(findings: &'f [barq_wasm::Finding], function: &str) -> Vec<&'f barq_wasm::Finding> {
    findings.iter().filter(|f| f.function == function).collect()
}
