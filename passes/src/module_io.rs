//! Bytes in, bytes out: parsing with walrus, emitting without losing custom sections,
//! and validating with wasmparser. No file I/O here; the caller owns the files.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use walrus::{FunctionId, IdsToIndices, Module, ModuleConfig, RawCustomSection};
use wasmparser::{Validator, WasmFeatures};

/// Why a byte string could not be loaded as a module barq can rewrite.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The bytes do not start with the wasm magic number.
    #[error("not a WebAssembly binary (no \\0asm magic number)")]
    NotWasm,
    /// A component-model binary rather than a core module.
    #[error("is a WebAssembly component; barq optimizes core modules only")]
    Component,
    /// The module fails validation (truncated, malformed, ill-typed).
    #[error("invalid module: {0}")]
    Invalid(String),
    /// The module is valid, but walrus cannot represent a construct in it (a proposal
    /// walrus does not know). Callers pass such modules through unchanged.
    #[error("uses a feature barq cannot rewrite yet: {0}")]
    Unsupported(String),
}

/// A parsed module plus the facts about the *input* that parsing would lose.
pub struct LoadedModule {
    /// The module in walrus's IR.
    pub module: Module,
    /// Input function index (imports included) of every function present at load.
    pub input_func_index: HashMap<FunctionId, u32>,
    /// Whether any memory is shared (threads): the report marks rewrites there.
    pub has_shared_memory: bool,
    /// Whether the input already used SIMD128 instructions or types.
    pub input_uses_simd: bool,
    /// Whether the input already used bulk-memory instructions.
    pub input_uses_bulk_memory: bool,
}

/// The feature set used to validate inputs and every output: everything wasmparser
/// knows, so a module that some engine accepts is never rejected here.
pub fn all_features() -> WasmFeatures {
    WasmFeatures::all()
}

/// Validates a module with every feature enabled.
pub fn validate(bytes: &[u8]) -> Result<(), String> {
    Validator::new_with_features(all_features())
        .validate_all(bytes)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Parses and validates `bytes` into walrus's IR.
///
/// `keep_dwarf` asks walrus to carry DWARF sections through (rewriting their code
/// offsets); without it they are dropped, as wasm-opt does without `-g`.
pub fn load(bytes: &[u8], keep_dwarf: bool) -> Result<LoadedModule, LoadError> {
    if bytes.len() < 8 || &bytes[0..4] != b"\0asm" {
        return Err(LoadError::NotWasm);
    }
    // Version 1 is a core module; components use a different version/layer field.
    if bytes[4..8] != [1, 0, 0, 0] {
        if wasmparser::Parser::is_component(bytes) {
            return Err(LoadError::Component);
        }
        return Err(LoadError::Invalid(format!(
            "unknown binary version {:02x?}",
            &bytes[4..8]
        )));
    }

    let index_map: Arc<Mutex<HashMap<FunctionId, u32>>> = Arc::default();
    let mut config = ModuleConfig::new();
    config.generate_dwarf(keep_dwarf);
    let sink = Arc::clone(&index_map);
    config.on_parse(move |_module, indices| {
        let mut map = sink.lock().unwrap_or_else(|e| e.into_inner());
        let mut index = 0u32;
        while let Ok(id) = indices.get_func(index) {
            map.insert(id, index);
            index += 1;
        }
        Ok(())
    });
    // walrus validates while it parses (with the standard proposals). Only when it
    // fails do we validate with every feature, to tell a broken module (an error)
    // from a valid one that walrus cannot represent (passed through by the caller).
    let module = config.parse(bytes).map_err(|e| match validate(bytes) {
        Err(invalid) => LoadError::Invalid(invalid),
        Ok(()) => LoadError::Unsupported(one_line(&e)),
    })?;
    let input_uses_simd = uses_simd(bytes);
    let input_uses_bulk_memory = uses_bulk_memory(&module);
    let has_shared_memory = module.memories.iter().any(|m| m.shared);
    let input_func_index =
        std::mem::take(&mut *index_map.lock().unwrap_or_else(|e| e.into_inner()));
    Ok(LoadedModule {
        module,
        input_func_index,
        has_shared_memory,
        input_uses_simd,
        input_uses_bulk_memory,
    })
}

/// Emits `module` to bytes, leaving it intact for further passes.
///
/// `walrus::Module::emit_wasm` moves the custom sections out of the module and never
/// puts them back, so a second emit (validation after each pass, `--print-after`)
/// would silently drop them. This puts raw copies back after every emit.
pub fn emit(module: &mut Module) -> Vec<u8> {
    let no_indices = IdsToIndices::default();
    let saved: Vec<RawCustomSection> = module
        .customs
        .iter()
        .map(|(_, section)| RawCustomSection {
            name: section.name().to_string(),
            data: section.data(&no_indices).into_owned(),
        })
        .collect();
    let bytes = module.emit_wasm();
    for section in saved {
        module.customs.add(section);
    }
    bytes
}

/// Joins an error's cause chain into one line.
pub fn one_line(error: &dyn std::fmt::Display) -> String {
    let text = format!("{error:#}");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(": ")
}

/// Whether a (valid) module uses any `v128` value or SIMD instruction.
fn uses_bulk_memory(module: &Module) -> bool {
    use walrus::ir::Instr;
    module.funcs.iter_local().any(|(_, func)| {
        crate::passes::simd_elementwise::instructions(func).any(|instr| {
            matches!(
                instr,
                Instr::MemoryCopy(_)
                    | Instr::MemoryFill(_)
                    | Instr::MemoryInit(_)
                    | Instr::DataDrop(_)
            )
        })
    })
}

fn uses_simd(bytes: &[u8]) -> bool {
    use wasmparser::{Payload, ValType};
    let is_v128 = |t: &ValType| matches!(t, ValType::V128);
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        let Ok(payload) = payload else { return false };
        match payload {
            Payload::TypeSection(reader) => {
                for ty in reader.into_iter_err_on_gc_types().flatten() {
                    if ty.params().iter().chain(ty.results()).any(is_v128) {
                        return true;
                    }
                }
            }
            Payload::GlobalSection(reader)
                if reader
                    .clone()
                    .into_iter()
                    .flatten()
                    .any(|g| is_v128(&g.ty.content_type)) =>
            {
                return true;
            }
            Payload::CodeSectionEntry(body) => {
                if let Ok(locals) = body.get_locals_reader() {
                    if locals.into_iter().flatten().any(|(_, t)| is_v128(&t)) {
                        return true;
                    }
                }
                // Every SIMD instruction is encoded behind the 0xFD prefix byte.
                if let Ok(mut ops) = body.get_operators_reader() {
                    while !ops.eof() {
                        match ops.read_with_offset() {
                            Ok((_, offset)) if bytes.get(offset) == Some(&0xFD) => return true,
                            Ok(_) => {}
                            Err(_) => break,
                        }
                    }
                }
            }
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emit_twice_keeps_custom_sections() {
        let mut module = Module::default();
        module.customs.add(RawCustomSection {
            name: "keep-me".into(),
            data: vec![1, 2, 3],
        });
        let first = emit(&mut module);
        let second = emit(&mut module);
        assert_eq!(first, second);
        let names: Vec<String> = wasmparser::Parser::new(0)
            .parse_all(&second)
            .filter_map(|p| match p {
                Ok(wasmparser::Payload::CustomSection(c)) => Some(c.name().to_string()),
                _ => None,
            })
            .collect();
        assert!(names.contains(&"keep-me".to_string()), "{names:?}");
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        assert!(matches!(load(b"hello", false), Err(LoadError::NotWasm)));
        assert!(matches!(
            load(b"\0asm\x01\0\0\0\x01", false),
            Err(LoadError::Invalid(_))
        ));
    }
}
