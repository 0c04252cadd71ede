// The runner's I/O scenarios written with Rust's std (a different libc-free call
// pattern: write_vectored, BufWriter, OpenOptions, seek, read_to_end).
// Usage: io_rust DIR. Built with Debian's rustc 1.63 for wasm32-wasi (build.sh).
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, IoSlice, Read, Seek, SeekFrom, Write};

fn main() -> std::io::Result<()> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "/data".to_string());
    let path = format!("{dir}/rust.log");
    {
        let mut out = BufWriter::with_capacity(100, File::create(&path)?);
        for i in 0..2000 {
            writeln!(out, "record {i:05} {}", "x".repeat(i % 37))?;
        }
        out.flush()?;
    }
    let mut file = OpenOptions::new().read(true).write(true).open(&path)?;
    // One writev may write fewer bytes than asked (wasmtime-wasi writes the first
    // buffer): the rest follows, as write_all_vectored would do.
    let parts: [&[u8]; 3] = [b"HEAD", b"", b"ER"];
    let slices = [IoSlice::new(parts[0]), IoSlice::new(parts[1]), IoSlice::new(parts[2])];
    let written = file.write_vectored(&slices)?;
    let joined = parts.concat();
    file.write_all(&joined[written..])?;
    println!("vectored {} at {}", joined.len(), file.stream_position()?);
    file.seek(SeekFrom::End(-10))?;
    let mut tail = String::new();
    file.read_to_string(&mut tail)?;
    println!("tail {tail:?}");
    file.seek(SeekFrom::Start(3))?;
    file.write_all(b"-patched-")?;
    let mut all = Vec::new();
    file.seek(SeekFrom::Start(0))?;
    file.read_to_end(&mut all)?;
    println!("size {} sum {}", all.len(), all.iter().map(|&b| b as u64).sum::<u64>());
    let mut log = OpenOptions::new().append(true).create(true).open(format!("{dir}/append.log"))?;
    for i in 0..500 {
        write!(log, "{i},")?;
    }
    println!("append position {}", log.stream_position()?);
    fs::rename(&path, format!("{dir}/renamed.log"))?;
    println!("renamed size {}", fs::metadata(format!("{dir}/renamed.log"))?.len());
    Ok(())
}
