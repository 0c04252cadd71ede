//! The runner's WASI I/O fast path.
//!
//! Wasmtime's WASI preview 1 layer writes one buffer per `fd_write` (the first
//! non-empty iovec), copies through its streams, and never buffers: every `write()`
//! of a program is a host system call. For regular files a program opened itself,
//! `barq-wasm run` serves reads and writes directly:
//!
//! - **in place**: `fd_read`, `fd_pread`, `fd_write` and `fd_pwrite` read into and
//!   write from guest memory, all iovecs in one `preadv`/`pwritev`;
//! - **write coalescing**: consecutive small writes to one file (contiguous, or all
//!   appends) are gathered and written with one system call when the batch would
//!   pass its bound ([`IoOptions::batch_bytes`], 64 KiB by default).
//!
//! Every other WASI call that could observe a file or the order of effects (reads
//! of the same file, through any descriptor, seeks to its end, `fd_sync`,
//! `fd_close`, `fd_filestat_*`, `path_*`, writes to stdout, another file or a pipe,
//! `poll_oneoff`, `proc_exit`, ...) first writes the batch out, and
//! so do the end of every call into the module, a trap and `proc_exit`. Only calls
//! that cannot see a file (clocks, random, args, environment, `fd_fdstat_get`) leave
//! it pending. So the program sees exactly what it would see without the fast path;
//! what differs is what *another process* sees while the program runs, and a host
//! crash (not a trap) can lose a batch that was not yet written, as with any
//! write-behind buffer, until the program calls `fd_sync`. A write error found when a
//! batch is written is reported by the next write, `fd_sync`, `fd_datasync` or
//! `fd_close` on that file (as Linux reports write-back errors), and otherwise by the
//! run itself.
//!
//! The program's stdout takes it too (`fd_write` only) when the runner's stdout is a
//! regular file (`barq-wasm run app.wasm > out.txt`); pipes, terminals, sockets,
//! directories, stdin, stderr and files opened with a `*SYNC` flag never do.
//!
//! How: the runner's linker defines every WASI function itself. A call the fast path
//! does not serve is passed to wasmtime-wasi's own implementation through a small
//! generated "trampoline" module that imports it and the program's memory (WASI
//! functions find the memory as the calling instance's `memory` export), so
//! everything else behaves exactly as in plain Wasmtime, file descriptor numbers
//! included: wasmtime-wasi still opens, owns and closes every descriptor; the fast
//! path keeps a second handle on the same file and the file position.

use crate::runtime::Host;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{IoSlice, IoSliceMut};
use std::path::Path;
use std::sync::Arc;
use wasmtime::{Caller, Extern, Func, FuncType, Instance, Linker, Module, Val};
use wasmtime_wasi::p1::types::{Errno, Fdflags, Oflags, Rights};

/// The WASI preview 1 import module.
pub(crate) const WASI: &str = "wasi_snapshot_preview1";

/// The trampoline's import of the program's memory.
const MEMORY_IMPORT: (&str, &str) = ("barq", "memory");

/// Calls that can observe neither a file nor the order of effects: a pending batch
/// stays pending across them.
const PURE: &[&str] = &[
    "args_get",
    "args_sizes_get",
    "environ_get",
    "environ_sizes_get",
    "clock_res_get",
    "clock_time_get",
    "random_get",
    "sched_yield",
    "fd_prestat_get",
    "fd_prestat_dir_name",
    "fd_fdstat_get",
];

/// Writes that end past this offset are not batched: the system rejects offsets
/// near 2^63 and past the file system's largest file (EINVAL, EFBIG), and the
/// program must get that error from its own call.
const BATCH_END: u64 = 1 << 40;

/// At most this many iovecs per system call (Linux's `IOV_MAX`).
const IOV_MAX: u32 = 1024;

/// The runner's I/O settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoOptions {
    /// Serve regular files directly (in place, one system call per request).
    pub fast_path: bool,
    /// Gather consecutive writes smaller than this many bytes into one system call;
    /// 0 turns write coalescing off.
    pub batch_bytes: usize,
    /// Count WASI calls even with the fast path off (for `--report`).
    pub count_calls: bool,
}

impl Default for IoOptions {
    fn default() -> IoOptions {
        IoOptions {
            fast_path: true,
            batch_bytes: 64 * 1024,
            count_calls: false,
        }
    }
}

impl IoOptions {
    /// Whether the runner defines the WASI functions itself.
    pub(crate) fn wraps(&self) -> bool {
        self.fast_path || self.count_calls
    }
}

/// What the program asked of WASI and what the host did, for `--report`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IoStats {
    /// WASI calls by function name.
    pub wasi_calls: BTreeMap<String, u64>,
    /// Calls the fast path served itself.
    pub fast_calls: u64,
    /// Calls passed to wasmtime-wasi.
    pub delegated_calls: u64,
    /// System calls the fast path issued (wasmtime-wasi's own are not counted).
    pub syscalls: u64,
    /// Writes gathered into a batch instead of written at once.
    pub batched_writes: u64,
    /// Batches written out.
    pub flushes: u64,
    /// Batches whose write failed (reported to the program later).
    pub deferred_errors: u64,
}

impl IoStats {
    /// The report's text: one line of totals, then the calls by name.
    pub fn to_text(&self) -> String {
        let total: u64 = self.wasi_calls.values().sum();
        let mut text = format!(
            "wasi: {total} calls ({} served by the fast path, {} by wasmtime-wasi); \
             fast path: {} system calls, {} writes batched into {} flushes\n",
            self.fast_calls, self.delegated_calls, self.syscalls, self.batched_writes, self.flushes
        );
        if self.deferred_errors > 0 {
            text.push_str(&format!(
                "wasi: {} batched writes failed\n",
                self.deferred_errors
            ));
        }
        for (name, count) in &self.wasi_calls {
            text.push_str(&format!("  {name:<24}{count:>12}\n"));
        }
        text
    }
}

/// A regular file the fast path serves.
struct FastFile {
    file: File,
    /// The file position (wasmtime-wasi's own copy goes stale and is never read:
    /// every call that uses it on this descriptor comes here).
    pos: u64,
    /// The position is the end of the file after the batch is written (appends).
    pos_after_batch: bool,
    append: bool,
    readable: bool,
    writable: bool,
    /// A batch write failed; the next write, sync or close reports it.
    error: Option<Errno>,
    /// The file's (device, inode): reads and sizes of other files do not wait for
    /// a batch.
    identity: (u64, u64),
    /// The program's stdout, redirected to a regular file by whoever started the
    /// runner: written at the file offset it shares with them; only `fd_write` is
    /// served (wasmtime-wasi refuses the rest on stdio).
    stream: bool,
}

/// Where a batch goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    At(u64),
    Append,
    /// At the open file description's own offset (stdout).
    Stream,
}

struct Batch {
    fd: u32,
    target: Target,
    bytes: Vec<u8>,
}

/// The fast path's state, in the store.
pub(crate) struct IoState {
    options: IoOptions,
    /// Preopened directories by guest descriptor: where files the fast path serves
    /// are opened from.
    preopens: HashMap<u32, Arc<File>>,
    files: HashMap<u32, FastFile>,
    batch: Option<Batch>,
    /// A batch buffer kept for reuse.
    spare: Vec<u8>,
    trampoline_module: Option<Module>,
    trampoline: HashMap<String, Func>,
    pub(crate) stats: IoStats,
}

impl IoState {
    /// The state for a runtime whose preopened directories are `dirs`, in order (they
    /// become guest descriptors 3, 4, ...), and that gives the program this
    /// process's stdout when `stdout` is set.
    pub(crate) fn new(options: IoOptions, dirs: &[std::path::PathBuf], stdout: bool) -> IoState {
        let mut preopens = HashMap::new();
        if options.fast_path {
            for (fd, dir) in (3u32..).zip(dirs) {
                let authority = cap_primitives::ambient_authority();
                if let Ok(handle) = cap_primitives::fs::open_ambient_dir(dir, authority) {
                    preopens.insert(fd, Arc::new(handle));
                }
            }
        }
        let mut files = HashMap::new();
        if options.fast_path && options.batch_bytes > 0 && stdout {
            if let Some(file) = redirected_stdout() {
                files.insert(1, file);
            }
        }
        IoState {
            options,
            preopens,
            files,
            batch: None,
            spare: Vec::new(),
            trampoline_module: None,
            trampoline: HashMap::new(),
            stats: IoStats::default(),
        }
    }

    /// Prepares for `module`: the trampoline to wasmtime-wasi for the WASI functions
    /// it imports. `None` when the module cannot take the wrapped functions (no
    /// exported 32-bit unshared `memory`), so the runtime links it plainly.
    pub(crate) fn prepare(&mut self, engine: &wasmtime::Engine, module: &Module) -> Option<()> {
        let memory = module.exports().find(|e| e.name() == "memory")?;
        let memory = memory.ty().memory()?.clone();
        if memory.is_shared() || memory.is_64() {
            return None;
        }
        let imports: Vec<(String, FuncType)> = module
            .imports()
            .filter(|i| i.module() == WASI)
            .filter_map(|i| Some((i.name().to_string(), i.ty().func()?.clone())))
            .collect();
        let bytes = wat::parse_str(trampoline_text(&imports)).ok()?;
        self.trampoline_module = Some(Module::new(engine, bytes).ok()?);
        self.trampoline.clear();
        Some(())
    }

    /// Writes the pending batch out.
    pub(crate) fn flush(&mut self) {
        let Some(batch) = self.batch.take() else {
            return;
        };
        self.stats.flushes += 1;
        if let Some(file) = self.files.get_mut(&batch.fd) {
            let result = match batch.target {
                Target::At(offset) => {
                    write_all_at(&file.file, &batch.bytes, offset, &mut self.stats)
                }
                Target::Append => append_all(&file.file, &batch.bytes, &mut self.stats)
                    .and_then(|()| end_of(&file.file, &mut self.stats))
                    .map(|end| {
                        file.pos = end;
                        file.pos_after_batch = false;
                    }),
                Target::Stream => write_all(&file.file, &batch.bytes, &mut self.stats),
            };
            if let Err(e) = result {
                file.error = Some(errno_of(e));
                self.stats.deferred_errors += 1;
            }
        }
        let mut bytes = batch.bytes;
        bytes.clear();
        self.spare = bytes;
    }

    /// Writes the pending batch out and returns the write errors the program has not
    /// been told of (by descriptor), forgetting them.
    pub(crate) fn finish(&mut self) -> Vec<(u32, Errno)> {
        self.flush();
        let mut errors: Vec<(u32, Errno)> = self
            .files
            .iter_mut()
            .filter_map(|(fd, f)| Some((*fd, f.error.take()?)))
            .collect();
        errors.sort_by_key(|e| e.0);
        errors
    }

    fn count(&mut self, name: &str) {
        match self.stats.wasi_calls.get_mut(name) {
            Some(n) => *n += 1,
            None => {
                self.stats.wasi_calls.insert(name.to_string(), 1);
            }
        }
    }

    /// `fd_write` (`at` = None) or `fd_pwrite` on a fast file.
    fn write(
        &mut self,
        data: &[u8],
        fd: u32,
        ranges: &[(usize, usize)],
        at: Option<u64>,
    ) -> Result<u32, Errno> {
        let total: usize = ranges.iter().map(|r| r.1).sum();
        let limit = self.options.batch_bytes;
        let file = self.files.get_mut(&fd).ok_or(Errno::Badf)?;
        if let Some(error) = file.error.take() {
            return Err(error);
        }
        if !file.writable {
            return Err(Errno::Badf);
        }
        let target = match (file.stream, file.append, at) {
            (true, _, _) => Target::Stream,
            // Linux's pwrite ignores the offset on a file opened for appending, and
            // wasmtime-wasi does the same.
            (false, true, _) => Target::Append,
            (false, false, Some(offset)) => Target::At(offset),
            (false, false, None) => Target::At(file.pos),
        };
        let in_range = match target {
            Target::At(offset) => offset.saturating_add(total as u64) <= BATCH_END,
            Target::Append | Target::Stream => true,
        };
        let batching = limit > 0 && total < limit && in_range && !(file.append && at.is_some());
        let joins = self.batch.as_ref().is_some_and(|b| {
            b.fd == fd
                && b.bytes.len() + total <= limit
                && match (b.target, target) {
                    (Target::Append, Target::Append) | (Target::Stream, Target::Stream) => true,
                    (Target::At(start), Target::At(offset)) => {
                        start.checked_add(b.bytes.len() as u64) == Some(offset)
                    }
                    _ => false,
                }
        });
        if !(batching && joins) {
            self.flush();
        }
        let file = self.files.get_mut(&fd).ok_or(Errno::Badf)?;
        if let Some(error) = file.error.take() {
            return Err(error);
        }
        let written = if batching {
            let batch = self.batch.get_or_insert_with(|| Batch {
                fd,
                target,
                bytes: std::mem::take(&mut self.spare),
            });
            for &(start, len) in ranges {
                batch.bytes.extend_from_slice(&data[start..start + len]);
            }
            self.stats.batched_writes += 1;
            if file.append {
                file.pos_after_batch = true;
            }
            total
        } else {
            let slices: Vec<IoSlice<'_>> = ranges
                .iter()
                .map(|&(start, len)| IoSlice::new(&data[start..start + len]))
                .collect();
            self.stats.syscalls += 1;
            let n = match target {
                Target::At(offset) => rustix::io::pwritev(&file.file, &slices, offset),
                Target::Append => {
                    rustix::io::pwritev2(&file.file, &slices, 0, rustix::io::ReadWriteFlags::APPEND)
                }
                Target::Stream => rustix::io::writev(&file.file, &slices),
            }
            .map_err(|e| errno_of(e.into()))?;
            if file.append && at.is_none() {
                file.pos = end_of(&file.file, &mut self.stats).map_err(errno_of)?;
            }
            n
        };
        if !file.append && !file.stream && at.is_none() {
            file.pos = file
                .pos
                .checked_add(written as u64)
                .ok_or(Errno::Overflow)?;
        }
        Ok(written as u32)
    }

    /// Writes the batch out if it goes to the file `fd` is open on (through any
    /// descriptor).
    fn flush_file(&mut self, fd: u32) {
        let identity = |fd: u32| self.files.get(&fd).map(|f| f.identity);
        if let Some(batch) = &self.batch {
            if batch.fd == fd || identity(batch.fd) == identity(fd) {
                self.flush();
            }
        }
    }

    /// `fd_read` (`at` = None) or `fd_pread` on a fast file.
    fn read(
        &mut self,
        data: &mut [u8],
        fd: u32,
        ranges: &[(usize, usize)],
        at: Option<u64>,
    ) -> Result<u32, Errno> {
        self.flush_file(fd);
        let file = self.files.get_mut(&fd).ok_or(Errno::Badf)?;
        if !file.readable {
            return Err(Errno::Badf);
        }
        let offset = at.unwrap_or(file.pos);
        let mut slices = match disjoint_slices(data, ranges) {
            Some(slices) => slices,
            // Overlapping buffers: the first one only, as wasmtime-wasi reads.
            None => disjoint_slices(data, &ranges[..1]).unwrap_or_default(),
        };
        let mut slices: Vec<IoSliceMut<'_>> =
            slices.iter_mut().map(|s| IoSliceMut::new(s)).collect();
        self.stats.syscalls += 1;
        let n =
            rustix::io::preadv(&file.file, &mut slices, offset).map_err(|e| errno_of(e.into()))?;
        if at.is_none() {
            file.pos = file.pos.checked_add(n as u64).ok_or(Errno::Overflow)?;
        }
        Ok(n as u32)
    }

    /// `fd_seek` on a fast file.
    fn seek(&mut self, fd: u32, offset: i64, whence: u32) -> Result<u64, Errno> {
        if whence == 2 || self.files.get(&fd).is_some_and(|f| f.pos_after_batch) {
            self.flush_file(fd);
        }
        let file = self.files.get_mut(&fd).ok_or(Errno::Badf)?;
        let pos = match whence {
            0 if offset >= 0 => offset as u64,
            1 => file.pos.checked_add_signed(offset).ok_or(Errno::Inval)?,
            2 => end_of(&file.file, &mut self.stats)
                .map_err(errno_of)?
                .checked_add_signed(offset)
                .ok_or(Errno::Inval)?,
            _ => return Err(Errno::Inval),
        };
        file.pos = pos;
        Ok(pos)
    }

    /// `fd_tell` on a fast file.
    fn tell(&mut self, fd: u32) -> Result<u64, Errno> {
        if self.files.get(&fd).is_some_and(|f| f.pos_after_batch) {
            self.flush_file(fd);
        }
        Ok(self.files.get(&fd).ok_or(Errno::Badf)?.pos)
    }

    /// After wasmtime-wasi opened `path` relative to `dirfd` as `fd`: a second handle
    /// on the file, if it is a regular file in a preopened directory.
    fn opened(&mut self, dirfd: u32, path: &str, rights: u64, fdflags: u32, oflags: u32, fd: u32) {
        self.files.remove(&fd);
        self.preopens.remove(&fd);
        let sync = (Fdflags::DSYNC | Fdflags::RSYNC | Fdflags::SYNC).bits() as u32;
        if !self.options.fast_path
            || fdflags & sync != 0
            || oflags & Oflags::DIRECTORY.bits() as u32 != 0
        {
            return;
        }
        let Some(dir) = self.preopens.get(&dirfd) else {
            return;
        };
        let readable = rights & Rights::FD_READ.bits() != 0;
        let writable = rights & Rights::FD_WRITE.bits() != 0;
        if !readable && !writable {
            return;
        }
        let mut options = cap_primitives::fs::OpenOptions::new();
        options.read(readable).write(writable);
        self.stats.syscalls += 2;
        let Ok(file) = cap_primitives::fs::open(dir, Path::new(path), &options) else {
            return;
        };
        let Ok(metadata) = file.metadata() else {
            return;
        };
        if !metadata.is_file() {
            return;
        }
        use std::os::unix::fs::MetadataExt;
        let identity = (metadata.dev(), metadata.ino());
        self.files.insert(
            fd,
            FastFile {
                file,
                pos: 0,
                pos_after_batch: false,
                append: fdflags & Fdflags::APPEND.bits() as u32 != 0,
                readable,
                writable,
                error: None,
                identity,
                stream: false,
            },
        );
    }
}

/// Adds every WASI function `plain` defines to `linker`, served by the fast path or
/// passed on to `plain`'s.
pub(crate) fn add_to_linker(
    linker: &mut Linker<Host>,
    plain: Arc<Linker<Host>>,
    store: &mut wasmtime::Store<Host>,
) -> wasmtime::Result<()> {
    let funcs: Vec<(String, Func)> = plain
        .iter(&mut *store)
        .filter(|(module, _, _)| *module == WASI)
        .filter_map(|(_, name, ext)| Some((name.to_string(), ext.into_func()?)))
        .collect();
    let definitions: Vec<(String, FuncType)> = funcs
        .into_iter()
        .map(|(name, func)| (name, func.ty(&*store)))
        .collect();
    for (name, ty) in definitions {
        let plain = plain.clone();
        let name: Arc<str> = name.into();
        linker.func_new(
            WASI,
            &name.clone(),
            ty,
            move |mut caller, params, results| call(&mut caller, &plain, &name, params, results),
        )?;
    }
    Ok(())
}

/// One WASI call.
fn call(
    caller: &mut Caller<'_, Host>,
    plain: &Linker<Host>,
    name: &str,
    params: &[Val],
    results: &mut [Val],
) -> wasmtime::Result<()> {
    caller.data_mut().io.count(name);
    let i32_at = |k: usize| params.get(k).and_then(Val::i32).map(|v| v as u32);
    let i64_at = |k: usize| params.get(k).and_then(Val::i64);
    let fd = i32_at(0).unwrap_or(u32::MAX);
    let fast = match caller.data().io.files.get(&fd) {
        Some(file) if file.stream => name == "fd_write",
        Some(_) => true,
        None => false,
    };
    let served = match name {
        "fd_write" | "fd_read" if fast => {
            fast_io(caller, name, fd, i32_at(1), i32_at(2), None, i32_at(3))?
        }
        "fd_pwrite" | "fd_pread" if fast => fast_io(
            caller,
            name,
            fd,
            i32_at(1),
            i32_at(2),
            i64_at(3).map(|v| v as u64),
            i32_at(4),
        )?,
        "fd_seek" if fast => match (i64_at(1), i32_at(2), i32_at(3)) {
            (Some(offset), Some(whence), Some(out)) => {
                if whence > 2 {
                    // wiggle's conversion traps on a bad enum value, as here.
                    return Err(wasmtime::Error::msg(
                        "In func wasi_snapshot_preview1::fd_seek: invalid enum value Whence",
                    ));
                }
                let result = caller.data_mut().io.seek(fd, offset, whence);
                Some(finish_u64(caller, result, out)?)
            }
            _ => None,
        },
        "fd_tell" if fast => match i32_at(1) {
            Some(out) => {
                let result = caller.data_mut().io.tell(fd);
                Some(finish_u64(caller, result, out)?)
            }
            None => None,
        },
        _ => None,
    };
    if let Some(errno) = served {
        caller.data_mut().io.stats.fast_calls += 1;
        results[0] = Val::I32(errno);
        return Ok(());
    }
    if !PURE.contains(&name) {
        caller.data_mut().io.flush();
    }
    delegate(caller, plain, name, params, results)?;
    let ok = results.first().and_then(Val::i32) == Some(0);
    let io = &mut caller.data_mut().io;
    match name {
        "fd_close" if ok => {
            io.preopens.remove(&fd);
            if let Some(error) = io.files.remove(&fd).and_then(|f| f.error) {
                results[0] = Val::I32(error as i32);
            }
        }
        "fd_sync" | "fd_datasync" if ok => {
            if let Some(error) = io.files.get_mut(&fd).and_then(|f| f.error.take()) {
                results[0] = Val::I32(error as i32);
            }
        }
        "fd_renumber" if ok => {
            if let Some(to) = i32_at(1).filter(|&to| to != fd) {
                io.files.remove(&to);
                io.preopens.remove(&to);
                if let Some(file) = io.files.remove(&fd) {
                    io.files.insert(to, file);
                }
                if let Some(dir) = io.preopens.remove(&fd) {
                    io.preopens.insert(to, dir);
                }
            }
        }
        "fd_fdstat_set_flags" if ok => {
            if let (Some(file), Some(flags)) = (io.files.get_mut(&fd), i32_at(1)) {
                file.append = flags & Fdflags::APPEND.bits() as u32 != 0;
            }
        }
        "path_open" if ok => {
            if let (Some(path), Some(len), Some(oflags), Some(rights), Some(fdflags), Some(out)) = (
                i32_at(2),
                i32_at(3),
                i32_at(4),
                i64_at(5),
                i32_at(7),
                i32_at(8),
            ) {
                let memory = crate::native::exported_memory(caller);
                if let Some(memory) = memory {
                    let (data, host) = memory.data_and_store_mut(&mut *caller);
                    let opened = load_u32(data, out);
                    let path = range(data, path, len)
                        .and_then(|r| std::str::from_utf8(&data[r.0..r.0 + r.1]).ok());
                    if let (Some(new_fd), Some(path)) = (opened, path) {
                        host.io
                            .opened(fd, path, rights as u64, fdflags, oflags, new_fd);
                    }
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// `fd_write`, `fd_pwrite`, `fd_read` or `fd_pread` on a fast file: the errno, or
/// `None` to pass the call on.
#[allow(clippy::too_many_arguments)]
fn fast_io(
    caller: &mut Caller<'_, Host>,
    name: &str,
    fd: u32,
    iovs: Option<u32>,
    iovs_len: Option<u32>,
    at: Option<u64>,
    out: Option<u32>,
) -> wasmtime::Result<Option<i32>> {
    let (Some(iovs), Some(iovs_len), Some(out)) = (iovs, iovs_len, out) else {
        return Ok(None);
    };
    if (name == "fd_pwrite" || name == "fd_pread") && at.is_none() {
        return Ok(None);
    }
    let Some(memory) = crate::native::exported_memory(caller) else {
        return Ok(None);
    };
    let (data, host) = memory.data_and_store_mut(&mut *caller);
    let ranges = iovec_ranges(data, iovs, iovs_len)?;
    let result = if name.contains("write") {
        host.io.write(data, fd, &ranges, at)
    } else {
        host.io.read(data, fd, &ranges, at)
    };
    Ok(Some(match result {
        Ok(n) => {
            store(data, out, &n.to_le_bytes())?;
            0
        }
        Err(errno) => errno as i32,
    }))
}

fn finish_u64(
    caller: &mut Caller<'_, Host>,
    result: Result<u64, Errno>,
    out: u32,
) -> wasmtime::Result<i32> {
    Ok(match result {
        Ok(value) => {
            let memory = crate::native::exported_memory(caller)
                .ok_or_else(|| wasmtime::Error::msg("missing required memory export"))?;
            store(memory.data_mut(&mut *caller), out, &value.to_le_bytes())?;
            0
        }
        Err(errno) => errno as i32,
    })
}

/// Passes a call on to wasmtime-wasi's implementation, through the trampoline.
fn delegate(
    caller: &mut Caller<'_, Host>,
    plain: &Linker<Host>,
    name: &str,
    params: &[Val],
    results: &mut [Val],
) -> wasmtime::Result<()> {
    caller.data_mut().io.stats.delegated_calls += 1;
    if caller.data().io.trampoline.is_empty() {
        instantiate_trampoline(caller, plain)?;
    }
    let func = caller
        .data()
        .io
        .trampoline
        .get(name)
        .copied()
        .ok_or_else(|| wasmtime::Error::msg(format!("barq-wasm: no trampoline for `{name}`")))?;
    func.call(&mut *caller, params, results)
}

fn instantiate_trampoline(
    caller: &mut Caller<'_, Host>,
    plain: &Linker<Host>,
) -> wasmtime::Result<()> {
    let module = caller.data().io.trampoline_module.clone().ok_or_else(|| {
        wasmtime::Error::msg("barq-wasm: WASI called before the module was prepared")
    })?;
    let memory = crate::native::exported_memory(caller)
        .ok_or_else(|| wasmtime::Error::msg("missing required memory export"))?;
    let mut imports: Vec<Extern> = Vec::new();
    for import in module.imports() {
        if (import.module(), import.name()) == MEMORY_IMPORT {
            imports.push(memory.into());
        } else {
            let definition = plain.get(&mut *caller, import.module(), import.name())?;
            imports.push(definition);
        }
    }
    let instance = Instance::new(&mut *caller, &module, &imports)?;
    let names: Vec<String> = module
        .exports()
        .filter(|e| e.ty().func().is_some())
        .map(|e| e.name().to_string())
        .collect();
    for name in names {
        if let Some(func) = instance.get_func(&mut *caller, &name) {
            caller.data_mut().io.trampoline.insert(name, func);
        }
    }
    Ok(())
}

/// The trampoline: each WASI function `imports` lists, imported and re-exported from
/// an instance that exports the program's memory.
fn trampoline_text(imports: &[(String, FuncType)]) -> String {
    let signature = |ty: &FuncType| {
        let params: Vec<String> = ty.params().map(|t| t.to_string()).collect();
        let results: Vec<String> = ty.results().map(|t| t.to_string()).collect();
        format!(
            "(param {}) (result {})",
            params.join(" "),
            results.join(" ")
        )
    };
    let mut text = String::from("(module\n");
    for (k, (name, ty)) in imports.iter().enumerate() {
        text.push_str(&format!(
            "  (import \"{WASI}\" \"{name}\" (func $f{k} {}))\n",
            signature(ty)
        ));
    }
    text.push_str(&format!(
        "  (import \"{}\" \"{}\" (memory 0))\n  (export \"memory\" (memory 0))\n",
        MEMORY_IMPORT.0, MEMORY_IMPORT.1
    ));
    for (k, (name, ty)) in imports.iter().enumerate() {
        let gets: String = (0..ty.params().len())
            .map(|p| format!(" local.get {p}"))
            .collect();
        text.push_str(&format!(
            "  (func (export \"{name}\") {}{gets} call $f{k})\n",
            signature(ty)
        ));
    }
    text.push(')');
    text
}

/// The buffers of an iovec array, as wasmtime-wasi checks them: a misaligned or
/// out-of-bounds array, or a first non-empty buffer out of bounds, traps; later
/// buffers out of bounds end the list (the call does part of the work, the program
/// repeats the rest and traps then, as it would in wasmtime-wasi).
fn iovec_ranges(data: &[u8], ptr: u32, len: u32) -> wasmtime::Result<Vec<(usize, usize)>> {
    if !ptr.is_multiple_of(4) {
        return Err(wasmtime::Error::msg("pointer not aligned"));
    }
    let mut ranges = Vec::new();
    let mut total = 0u64;
    for k in 0..len.min(IOV_MAX) {
        let at = ptr as u64 + 8 * k as u64;
        let entry = u32::try_from(at)
            .ok()
            .and_then(|at| range(data, at, 8))
            .map(|(start, _)| &data[start..start + 8]);
        let Some(entry) = entry else {
            if ranges.is_empty() {
                return Err(wasmtime::Error::msg("pointer out of bounds"));
            }
            break;
        };
        let buf = u32::from_le_bytes(entry[0..4].try_into().unwrap());
        let buf_len = u32::from_le_bytes(entry[4..8].try_into().unwrap());
        if buf_len == 0 {
            continue;
        }
        let Some(r) = range(data, buf, buf_len) else {
            if ranges.is_empty() {
                return Err(wasmtime::Error::msg("pointer out of bounds"));
            }
            break;
        };
        if total + buf_len as u64 > u32::MAX as u64 {
            break;
        }
        total += buf_len as u64;
        ranges.push(r);
    }
    Ok(ranges)
}

/// `ptr..ptr+len` in `data`, as (start, len).
fn range(data: &[u8], ptr: u32, len: u32) -> Option<(usize, usize)> {
    let end = ptr as u64 + len as u64;
    (end <= data.len() as u64).then_some((ptr as usize, len as usize))
}

fn load_u32(data: &[u8], ptr: u32) -> Option<u32> {
    let (start, _) = range(data, ptr, 4)?;
    Some(u32::from_le_bytes(data[start..start + 4].try_into().ok()?))
}

/// Stores a result at an aligned guest pointer; a bad pointer traps, as in wiggle.
fn store(data: &mut [u8], ptr: u32, bytes: &[u8]) -> wasmtime::Result<()> {
    if !(ptr as usize).is_multiple_of(bytes.len()) {
        return Err(wasmtime::Error::msg("pointer not aligned"));
    }
    let (start, len) = range(data, ptr, bytes.len() as u32)
        .ok_or_else(|| wasmtime::Error::msg("pointer out of bounds"))?;
    data[start..start + len].copy_from_slice(bytes);
    Ok(())
}

/// Disjoint mutable slices of `data` for `ranges`, in their order; `None` when two
/// overlap.
fn disjoint_slices<'a>(data: &'a mut [u8], ranges: &[(usize, usize)]) -> Option<Vec<&'a mut [u8]>> {
    let mut order: Vec<usize> = (0..ranges.len()).collect();
    order.sort_by_key(|&k| ranges[k].0);
    let mut slices: Vec<Option<&'a mut [u8]>> = (0..ranges.len()).map(|_| None).collect();
    let mut rest: &'a mut [u8] = data;
    let mut base = 0usize;
    for k in order {
        let (start, len) = ranges[k];
        if start < base {
            return None;
        }
        let tail = std::mem::take(&mut rest).split_at_mut(start - base).1;
        let (mine, tail) = tail.split_at_mut(len);
        slices[k] = Some(mine);
        rest = tail;
        base = start + len;
    }
    slices.into_iter().collect()
}

fn write_all_at(
    file: &File,
    mut bytes: &[u8],
    mut offset: u64,
    stats: &mut IoStats,
) -> std::io::Result<()> {
    while !bytes.is_empty() {
        stats.syscalls += 1;
        let n = rustix::io::pwrite(file, bytes, offset)?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        bytes = &bytes[n..];
        offset += n as u64;
    }
    Ok(())
}

fn write_all(file: &File, mut bytes: &[u8], stats: &mut IoStats) -> std::io::Result<()> {
    while !bytes.is_empty() {
        stats.syscalls += 1;
        let n = rustix::io::write(file, bytes)?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        bytes = &bytes[n..];
    }
    Ok(())
}

/// This process's stdout, if it is a regular file (`> out.txt`): never a terminal,
/// pipe or socket.
fn redirected_stdout() -> Option<FastFile> {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let file = File::from(std::io::stdout().as_fd().try_clone_to_owned().ok()?);
    let metadata = file.metadata().ok()?;
    metadata.is_file().then(|| FastFile {
        file,
        pos: 0,
        pos_after_batch: false,
        append: false,
        readable: false,
        writable: true,
        error: None,
        identity: (metadata.dev(), metadata.ino()),
        stream: true,
    })
}

fn append_all(file: &File, mut bytes: &[u8], stats: &mut IoStats) -> std::io::Result<()> {
    while !bytes.is_empty() {
        stats.syscalls += 1;
        let n = rustix::io::pwritev2(
            file,
            &[IoSlice::new(bytes)],
            0,
            rustix::io::ReadWriteFlags::APPEND,
        )?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        bytes = &bytes[n..];
    }
    Ok(())
}

fn end_of(file: &File, stats: &mut IoStats) -> std::io::Result<u64> {
    stats.syscalls += 1;
    Ok(file.metadata()?.len())
}

/// The WASI errno for a host error (the errors positional reads and writes and
/// `fstat` give; anything else is `EIO`).
fn errno_of(error: std::io::Error) -> Errno {
    use rustix::io::Errno as E;
    let Some(code) = error.raw_os_error() else {
        return Errno::Io;
    };
    match E::from_raw_os_error(code) {
        E::ACCESS => Errno::Acces,
        E::AGAIN => Errno::Again,
        E::BADF => Errno::Badf,
        E::DQUOT => Errno::Dquot,
        E::FBIG => Errno::Fbig,
        E::INTR => Errno::Intr,
        E::INVAL => Errno::Inval,
        E::ISDIR => Errno::Isdir,
        E::NOMEM => Errno::Nomem,
        E::NOSPC => Errno::Nospc,
        E::NXIO => Errno::Nxio,
        E::OVERFLOW => Errno::Overflow,
        E::PERM => Errno::Perm,
        E::PIPE => Errno::Pipe,
        E::ROFS => Errno::Rofs,
        E::SPIPE => Errno::Spipe,
        _ => Errno::Io,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disjoint_slices_keep_the_iovec_order() {
        let mut data: Vec<u8> = (0..16).collect();
        let slices = disjoint_slices(&mut data, &[(8, 4), (0, 2), (12, 0)]).unwrap();
        assert_eq!(
            slices.iter().map(|s| s.len()).collect::<Vec<_>>(),
            [4, 2, 0]
        );
        assert_eq!(slices[0][0], 8);
        assert_eq!(slices[1][1], 1);
        assert!(disjoint_slices(&mut data, &[(0, 4), (2, 4)]).is_none());
    }

    #[test]
    fn iovec_arrays_are_checked_as_wasmtime_wasi_checks_them() {
        let mut data = vec![0u8; 64];
        // [0]: 4 bytes at 32; [1]: 8 bytes at 60 (past the end).
        data[0..4].copy_from_slice(&32u32.to_le_bytes());
        data[4..8].copy_from_slice(&4u32.to_le_bytes());
        data[8..12].copy_from_slice(&60u32.to_le_bytes());
        data[12..16].copy_from_slice(&8u32.to_le_bytes());
        assert_eq!(iovec_ranges(&data, 0, 2).unwrap(), [(32, 4)]);
        assert!(iovec_ranges(&data, 8, 1).is_err());
        assert!(iovec_ranges(&data, 2, 1).is_err());
        assert!(iovec_ranges(&data, 60, 2).is_err());
        assert!(iovec_ranges(&data, 0, 0).unwrap().is_empty());
    }
}
