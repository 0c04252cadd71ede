//! `barq-opt IN.wasm -o OUT.wasm`: see `barq_wasm::cli`.

fn main() -> std::process::ExitCode {
    barq_wasm::cli::opt_main()
}
