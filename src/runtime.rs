//! The barq runner: Wasmtime 48 with WASI preview 1, optimizing modules on load.
//!
//! ```
//! use barq_wasm::config::Config;
//! use barq_wasm::runtime::{Runtime, Val};
//!
//! let wasm = wat::parse_str(r#"
//!     (module (func (export "add") (param i32 i32) (result i32)
//!         local.get 0 local.get 1 i32.add))"#)?;
//! let mut runtime = Runtime::new(Config::default().with_pattern_detection(true))?;
//! runtime.load_module(&wasm)?;
//! let results = runtime.invoke("add", &[Val::I32(2), Val::I32(40)])?;
//! assert_eq!(results[0].unwrap_i32(), 42);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Command modules (with `_start`) run with [`Runtime::run`], which returns the exit
//! code the program set. Limits ([`Config::fuel`], [`Config::timeout`]) apply per call.

use crate::config::Config;
use crate::Report;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::{Engine, Instance, Linker, Module, Store};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder};

pub use wasmtime::Val;

/// How often the timeout ticker advances Wasmtime's epoch.
const TICK: Duration = Duration::from_millis(10);

/// Why a module could not be loaded or a call did not complete.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The bytes are not a module this runner can load.
    #[error("cannot load module: {0}")]
    Load(String),
    /// An import nothing provides.
    #[error("{0}")]
    MissingImport(String),
    /// No function export of that name.
    #[error("no exported function `{0}`")]
    NoExport(String),
    /// `invoke` or `run` before `load_module`.
    #[error("no module loaded")]
    NotLoaded,
    /// A wrong argument for an exported function.
    #[error("{0}")]
    BadArgument(String),
    /// The module trapped; the message and the wasm backtrace.
    #[error("{message}\n{backtrace}")]
    Trap {
        /// What trapped (`wasm trap: integer divide by zero`, ...).
        message: String,
        /// The wasm backtrace, one frame a line.
        backtrace: String,
    },
    /// The fuel budget ran out.
    #[error("out of fuel (the --fuel budget of {0} ran out)")]
    OutOfFuel(u64),
    /// The call ran past its timeout.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The program called `proc_exit` (a call other than [`Runtime::run`] ended so).
    #[error("the program exited with code {0}")]
    Exit(i32),
    /// Anything else Wasmtime or WASI reported.
    #[error("{0}")]
    Host(String),
}

/// The store's data: WASI's state and the I/O fast path's.
pub(crate) struct Host {
    wasi: WasiP1Ctx,
    pub(crate) io: crate::wasi_io::IoState,
    /// The loaded instance's `memory` export, for the native kernels and the I/O
    /// fast path (`None` while instantiating: they look the export up then).
    memory: Option<wasmtime::Memory>,
}

impl crate::native::GuestMemory for Host {
    fn guest_memory(&self) -> Option<wasmtime::Memory> {
        self.memory
    }
}

/// A Wasmtime engine and store with WASI preview 1, holding at most one
/// instantiated module.
pub struct Runtime {
    config: Config,
    engine: Engine,
    store: Store<Host>,
    /// WASI exactly as wasmtime-wasi provides it.
    linker: Arc<Linker<Host>>,
    /// WASI through the I/O fast path (`None` when the configuration turns it off).
    wrapped: Option<Linker<Host>>,
    /// The loaded module is linked with `wrapped`.
    uses_wrapped: bool,
    instance: Option<Instance>,
    report: Option<Report>,
    ticker: Option<Arc<AtomicBool>>,
}

impl Runtime {
    /// A runtime with `config`'s limits and WASI view.
    pub fn new(config: Config) -> Result<Runtime, RunError> {
        let mut wasmtime_config = wasmtime::Config::new();
        wasmtime_config.consume_fuel(config.fuel.is_some());
        wasmtime_config.epoch_interruption(config.timeout.is_some());
        let engine = Engine::new(&wasmtime_config).map_err(host)?;
        let mut wasi = WasiCtxBuilder::new();
        // The runner is synchronous: blocking file operations run on this thread
        // rather than through Tokio's spawn_blocking and back (set before the
        // preopens, which copy it).
        wasi.allow_blocking_current_thread(true);
        if config.inherit_stdio {
            wasi.inherit_stdio();
        }
        wasi.args(&config.args).envs(&config.env);
        for (host_path, guest_path) in &config.dirs {
            wasi.preopened_dir(host_path, guest_path, FsPerms::ReadWrite)
                .map_err(|e| {
                    RunError::Host(format!(
                        "cannot open directory {}: {e}",
                        host_path.display()
                    ))
                })?;
        }
        let dirs: Vec<_> = config.dirs.iter().map(|(host, _)| host.clone()).collect();
        let mut store = Store::new(
            &engine,
            Host {
                wasi: wasi.build_p1(),
                io: crate::wasi_io::IoState::new(config.io, &dirs, config.inherit_stdio),
                memory: None,
            },
        );
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |h: &mut Host| &mut h.wasi)
            .map_err(host)?;
        crate::native::add_to_linker(&mut linker).map_err(host)?;
        let linker = Arc::new(linker);
        let wrapped = if config.io.wraps() {
            let mut wrapped = Linker::new(&engine);
            crate::wasi_io::add_to_linker(&mut wrapped, linker.clone(), &mut store)
                .map_err(host)?;
            crate::native::add_to_linker(&mut wrapped).map_err(host)?;
            Some(wrapped)
        } else {
            None
        };
        let ticker = config.timeout.map(|_| {
            // Advances the epoch every TICK until the runtime is dropped.
            let stop = Arc::new(AtomicBool::new(false));
            let (flag, engine) = (stop.clone(), engine.clone());
            std::thread::spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    engine.increment_epoch();
                }
            });
            stop
        });
        Ok(Runtime {
            config,
            engine,
            store,
            linker,
            wrapped,
            uses_wrapped: false,
            instance: None,
            report: None,
            ticker,
        })
    }

    /// Loads a module (binary or text): optimizes it when the configuration says so,
    /// checks that every import is provided, instantiates it, and runs a WASI
    /// reactor's `_initialize`.
    pub fn load_module(&mut self, bytes: &[u8]) -> Result<(), RunError> {
        let bytes = if self.config.optimizes() {
            let optimized = crate::optimize(bytes, &self.config.options())
                .map_err(|e| RunError::Load(e.to_string()))?;
            self.report = Some(optimized.report);
            optimized.wasm
        } else {
            bytes.to_vec()
        };
        let module =
            Module::new(&self.engine, &bytes).map_err(|e| RunError::Load(format!("{e:#}")))?;
        self.uses_wrapped = self.wrapped.is_some()
            && self
                .store
                .data_mut()
                .io
                .prepare(&self.engine, &module)
                .is_some();
        for import in module.imports() {
            let linker = match &self.wrapped {
                Some(wrapped) if self.uses_wrapped => wrapped,
                _ => &*self.linker,
            };
            if linker.get_by_import(&mut self.store, &import).is_none() {
                return Err(RunError::MissingImport(missing_import(
                    import.module(),
                    import.name(),
                )));
            }
        }
        // An earlier module's memory must not serve this one's start function.
        self.store.data_mut().memory = None;
        let instance = self.call_limited(|store, linker| linker.instantiate(store, &module))?;
        self.instance = Some(instance);
        self.store.data_mut().memory = instance.get_memory(&mut self.store, "memory");
        if instance
            .get_typed_func::<(), ()>(&mut self.store, "_initialize")
            .is_ok()
        {
            self.invoke("_initialize", &[])?;
        }
        Ok(())
    }

    /// Calls an exported function with `args`; returns its results.
    pub fn invoke(&mut self, name: &str, args: &[Val]) -> Result<Vec<Val>, RunError> {
        let instance = self.instance.ok_or(RunError::NotLoaded)?;
        let func = instance
            .get_func(&mut self.store, name)
            .ok_or_else(|| RunError::NoExport(name.to_string()))?;
        let ty = func.ty(&self.store);
        if ty.params().len() != args.len() {
            return Err(RunError::BadArgument(format!(
                "`{name}` takes {} arguments, {} given",
                ty.params().len(),
                args.len()
            )));
        }
        let mut results = vec![Val::I32(0); ty.results().len()];
        self.call_limited(|store, _| func.call(store, args, &mut results))?;
        Ok(results)
    }

    /// Runs a WASI command's `_start`; returns the exit code the program set (0 when
    /// `_start` returns).
    pub fn run(&mut self) -> Result<i32, RunError> {
        match self.invoke("_start", &[]) {
            Ok(_) => Ok(0),
            Err(RunError::Exit(code)) => Ok(code),
            Err(e) => Err(e),
        }
    }

    /// The parameter and result types of an export, if it is a function.
    pub fn signature(&mut self, name: &str) -> Option<wasmtime::FuncType> {
        let instance = self.instance?;
        let func = instance.get_func(&mut self.store, name)?;
        Some(func.ty(&self.store))
    }

    /// Copies `len` bytes at `offset` out of the module's exported `memory`.
    pub fn read_memory(&mut self, offset: usize, len: usize) -> Result<Vec<u8>, RunError> {
        let memory = self.exported_memory()?;
        let data = memory.data(&self.store);
        data.get(offset..offset.saturating_add(len))
            .map(<[u8]>::to_vec)
            .ok_or_else(|| RunError::BadArgument(format!("{offset}+{len} is outside memory")))
    }

    /// Copies `bytes` into the module's exported `memory` at `offset`.
    pub fn write_memory(&mut self, offset: usize, bytes: &[u8]) -> Result<(), RunError> {
        let memory = self.exported_memory()?;
        memory
            .data_mut(&mut self.store)
            .get_mut(offset..offset.saturating_add(bytes.len()))
            .ok_or_else(|| {
                RunError::BadArgument(format!("{offset}+{} is outside memory", bytes.len()))
            })?
            .copy_from_slice(bytes);
        Ok(())
    }

    fn exported_memory(&mut self) -> Result<wasmtime::Memory, RunError> {
        let instance = self.instance.ok_or(RunError::NotLoaded)?;
        instance
            .get_memory(&mut self.store, "memory")
            .ok_or_else(|| RunError::NoExport("memory".to_string()))
    }

    /// What the program asked of WASI and what the I/O fast path did, when the
    /// runtime serves WASI itself (the fast path, or [`IoOptions::count_calls`]).
    ///
    /// [`IoOptions::count_calls`]: crate::wasi_io::IoOptions::count_calls
    pub fn io_stats(&self) -> Option<&crate::wasi_io::IoStats> {
        self.uses_wrapped.then_some(&self.store.data().io.stats)
    }

    /// The optimizer's report for the loaded module, if it was optimized.
    pub fn report(&self) -> Option<&Report> {
        self.report.as_ref()
    }

    /// Runs `f` under the configured fuel and time limits, turning Wasmtime's
    /// errors into [`RunError`]s.
    fn call_limited<T>(
        &mut self,
        f: impl FnOnce(&mut Store<Host>, &Linker<Host>) -> wasmtime::Result<T>,
    ) -> Result<T, RunError> {
        if let Some(fuel) = self.config.fuel {
            self.store.set_fuel(fuel).map_err(host)?;
        }
        if let Some(timeout) = self.config.timeout {
            let ticks = (timeout.as_millis() / TICK.as_millis()).max(1) as u64;
            self.store.set_epoch_deadline(ticks);
            self.store.epoch_deadline_trap();
        }
        let linker = match &self.wrapped {
            Some(wrapped) if self.uses_wrapped => wrapped,
            _ => &*self.linker,
        };
        let result = f(&mut self.store, linker);
        // Whatever happened (a return, a trap, proc_exit), batched writes go out now.
        let unreported = self.store.data_mut().io.finish();
        let result = result.map_err(|e| self.classify(e));
        match unreported.first() {
            Some((fd, errno)) if matches!(result, Ok(_) | Err(RunError::Exit(_))) => {
                Err(RunError::Host(format!(
                    "a batched write to file descriptor {fd} failed after the program's \
                     write returned ({errno:?}); rerun with --io-batch=off to see it where \
                     it happens"
                )))
            }
            _ => result,
        }
    }

    fn classify(&self, error: wasmtime::Error) -> RunError {
        if let Some(exit) = error.downcast_ref::<I32Exit>() {
            return RunError::Exit(exit.0);
        }
        let backtrace = error
            .downcast_ref::<wasmtime::WasmBacktrace>()
            .map(|b| b.to_string())
            .unwrap_or_default();
        match error.downcast_ref::<wasmtime::Trap>() {
            Some(wasmtime::Trap::OutOfFuel) => RunError::OutOfFuel(self.config.fuel.unwrap_or(0)),
            Some(wasmtime::Trap::Interrupt) => {
                RunError::Timeout(self.config.timeout.unwrap_or_default())
            }
            Some(trap) => RunError::Trap {
                message: trap.to_string(),
                backtrace,
            },
            None => RunError::Host(format!("{error:#}")),
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(stop) = &self.ticker {
            stop.store(true, Ordering::Relaxed);
        }
    }
}

fn host(e: impl std::fmt::Display) -> RunError {
    RunError::Host(e.to_string())
}

/// The message for an import nothing provides.
fn missing_import(module: &str, name: &str) -> String {
    if module == crate::native::MODULE {
        format!(
            "the module imports `barq::{name}`, a native kernel this version of barq-wasm \
             does not provide (made by a newer barq-opt --target native?)"
        )
    } else {
        format!(
            "missing import `{module}::{name}`: barq-wasm provides WASI preview 1 \
             (`wasi_snapshot_preview1`) only"
        )
    }
}
