//! Snapshots (insta) of the audit for representative corpus modules: one per source
//! language and a near miss. A snapshot is the report JSON followed by the before /
//! after text of every changed function; review changes with `cargo insta review`.

mod common;

use barq_wasm::{optimize, Options};

/// The report plus the changed functions' text, with versions stripped.
fn snapshot_of(relative: &str, options: &Options) -> String {
    let input = common::read(&common::root().join(relative));
    let mut result = optimize(&input, options).expect("optimize");
    result.report.module = relative.to_string();
    let mut out = barq_wasm::report::to_json(&result.report);
    out.push_str("\n\n;; changed functions\n");
    if result.printed.is_empty() && result.report.summary.rewritten == 0 {
        out.push_str(";; (none)\n");
    }
    for (pass, text) in &result.printed {
        out.push_str(&format!(";; after {pass}\n{text}"));
    }
    out
}

macro_rules! report_snapshot {
    ($name:ident, $path:expr) => {
        #[test]
        fn $name() {
            let text = snapshot_of($path, &Options::default());
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
