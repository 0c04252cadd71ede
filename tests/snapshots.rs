//! Snapshots (insta) of the audit for representative corpus modules: one per source
//! language and a near miss. A snapshot is the report JSON followed by the before /
//! after text of every changed function; review changes with `cargo insta review`.

mod common;

use barq_wasm::{optimize, Options};

/// The wasm text of function `name` (`(func $name ...` up to its closing paren).
fn function_text(module_text: &str, name: &str) -> Option<String> {
    let header = format!("  (func ${name} ");
    let mut lines = module_text.lines().skip_while(|l| !l.starts_with(&header));
    let first = lines.next()?;
    let mut out = format!("{first}\n");
    for line in lines {
        out.push_str(line);
        out.push('\n');
        if line == "  )" {
            break;
        }
    }
    Some(out)
}

/// The report plus the before/after text of every changed function and the text of
/// every injected kernel. (No versions appear: producers are not printed.)
fn snapshot_of(relative: &str, options: &Options) -> String {
    let input = common::read(&common::root().join(relative));
    let mut result = optimize(&input, options).expect("optimize");
    result.report.module = relative.to_string();
    let mut out = barq_wasm::report::to_json(&result.report);
    let before = wasmprinter::print_bytes(&input).expect("print input");
    let after = wasmprinter::print_bytes(&result.wasm).expect("print output");
    let mut changed: Vec<&str> = result
        .report
        .findings
        .iter()
        .filter(|f| f.action == barq_wasm::Action::Rewritten)
        .map(|f| f.function.as_str())
        .collect();
    changed.dedup();
    out.push_str("\n\n;; changed functions\n");
    if changed.is_empty() {
        out.push_str(";; (none)\n");
    }
    for name in changed {
        out.push_str(&format!(";; ---- before: {name}\n"));
        out.push_str(&function_text(&before, name).unwrap_or_default());
        out.push_str(&format!(";; ---- after: {name}\n"));
        out.push_str(&function_text(&after, name).unwrap_or_default());
    }
    for line in after.lines().filter(|l| l.starts_with("  (func $barq_")) {
        let name = line["  (func $".len()..]
            .split(' ')
            .next()
            .unwrap_or_default();
        out.push_str(&format!(";; ---- kernel: {name}\n"));
        out.push_str(&function_text(&after, name).unwrap_or_default());
    }
    out
}

macro_rules! report_snapshot {
    ($name:ident, $path:expr) => {
        report_snapshot!($name, $path, Options::default());
    };
    ($name:ident, $path:expr, $options:expr) => {
        #[test]
        fn $name() {
            let text = snapshot_of($path, &$options);
            insta::with_settings!({
                snapshot_path => "../snapshots/report",
                prepend_module_to_snapshot => false,
                omit_expression => true,
                description => $path,
            }, {
                insta::assert_snapshot!(stringify!($name), text);
            });
        }
    };
}

report_snapshot!(c_dot_o2, "corpus/c/dot.O2.wasm");
report_snapshot!(c_matmul_o3_simd, "corpus/c/matmul.O3-simd.wasm");
report_snapshot!(c_conv3x3_oz, "corpus/c/conv3x3.Oz.wasm");
report_snapshot!(rust_vector_o3, "corpus/rust/vector.O3.wasm");
report_snapshot!(
    assemblyscript_vector_o3,
    "corpus/assemblyscript/vector.O3.wasm"
);
report_snapshot!(
    near_miss_prefix_sum_o2,
    "corpus/near-miss/prefix_sum.O2.wasm"
);
report_snapshot!(c_axpy_o1, "corpus/c/axpy.O1.wasm");
report_snapshot!(c_relu_oz, "corpus/c/relu.Oz.wasm");
report_snapshot!(c_cond_store_o2, "corpus/c/cond_store.O2.wasm");
report_snapshot!(c_widening_o2, "corpus/c/widening.O2.wasm");
report_snapshot!(c_partial_sums_o3, "corpus/c/partial_sums.O3.wasm");
report_snapshot!(
    c_cosine_o2_fast_math,
    "corpus/c/cosine.O2.wasm",
    Options {
        fast_math: true,
        ..Options::default()
    }
);
report_snapshot!(c_unrolled_oz, "corpus/c/unrolled.Oz.wasm");
report_snapshot!(c_bytes_o2, "corpus/c/bytes.O2.wasm");
report_snapshot!(c_bytes_oz, "corpus/c/bytes.Oz.wasm");
report_snapshot!(
    near_miss_bytes_overlap_o2,
    "corpus/near-miss/bytes_overlap.O2.wasm"
);
