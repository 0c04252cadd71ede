//! `barq-wasm run app.wasm`: see `barq_wasm::run_cli`.

fn main() -> std::process::ExitCode {
    barq_wasm::run_cli::wasm_main()
}
