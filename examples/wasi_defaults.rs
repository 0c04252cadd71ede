//! The I/O benchmark's reference: a WASI preview 1 command run by Wasmtime 48 with
//! wasmtime-wasi's defaults (what an embedder gets from `WasiCtxBuilder::new()` and
//! `p1::add_to_linker_sync`), nothing of barq's:
//!
//! ```text
//! cargo run --release --example wasi_defaults -- MODULE.wasm HOST_DIR GUEST_DIR [ARGS]...
//! ```
//!
//! Exits with the program's exit code (134 when it traps).

use wasmtime::{Engine, Linker, Module, Store};
use wasmtime_wasi::p1::{self, WasiP1Ctx};
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder};

fn main() -> wasmtime::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [file, host_dir, guest_dir, rest @ ..] = args.as_slice() else {
        eprintln!("usage: wasi_defaults MODULE.wasm HOST_DIR GUEST_DIR [ARGS]...");
        std::process::exit(2);
    };
    let engine = Engine::default();
    let module = Module::from_file(&engine, file)?;
    let mut linker: Linker<WasiP1Ctx> = Linker::new(&engine);
    p1::add_to_linker_sync(&mut linker, |cx| cx)?;
    let mut builder = WasiCtxBuilder::new();
    builder.inherit_stdio().arg(file).args(rest).preopened_dir(
        host_dir,
        guest_dir,
        FsPerms::ReadWrite,
    )?;
    let mut store = Store::new(&engine, builder.build_p1());
    let instance = linker.instantiate(&mut store, &module)?;
    let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
    let code = match start.call(&mut store, ()) {
        Ok(()) => 0,
        Err(e) => match e.downcast_ref::<I32Exit>() {
            Some(exit) => exit.0,
            None => {
                eprintln!("trap: {e:#}");
                134
            }
        },
    };
    std::process::exit(code)
}
