//! How the report names a function: the name section, else an export, else `func[N]`.

use std::collections::HashMap;
use walrus::{ExportItem, FunctionId, Module};

/// Display names for every function of a module, computed once.
pub struct FunctionNames {
    names: HashMap<FunctionId, String>,
}

impl FunctionNames {
    /// Collects names from the name section and exports; `input_index` supplies the
    /// `func[N]` fallback in the input's index space.
    pub fn new(module: &Module, input_index: &HashMap<FunctionId, u32>) -> Self {
        let mut exported: HashMap<FunctionId, &str> = HashMap::new();
        for export in module.exports.iter() {
            if let ExportItem::Function(id) = export.item {
                exported.entry(id).or_insert(export.name.as_str());
            }
        }
        let names = module
            .funcs
            .iter()
            .map(|f| {
                let name = match (&f.name, exported.get(&f.id())) {
                    (Some(name), _) => name.clone(),
                    (None, Some(export)) => export.to_string(),
                    (None, None) => match input_index.get(&f.id()) {
                        Some(index) => format!("func[{index}]"),
                        None => format!("func[new {}]", f.id().index()),
                    },
                };
                (f.id(), name)
            })
            .collect();
        FunctionNames { names }
    }

    /// The display name of `id`.
    pub fn get(&self, id: FunctionId) -> &str {
        self.names.get(&id).map(String::as_str).unwrap_or("func[?]")
    }
}
