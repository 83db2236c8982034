//! Importing PyTorch and safetensors weights into Burn modules, through burn-store.
//!
//! A [`KeyMap`] renames the file's keys (regex -> replacement) onto the module's parameter
//! paths. Every parameter of the module must receive a tensor of the right shape, except
//! those under a prefix the caller marks as fresh (a new head); keys of the file that land
//! nowhere are reported. Reading a pickle never executes code: burn-store's reader only
//! interprets the tensor records of a `state_dict`.

use crate::error::{ModelError, Result};
use burn::module::Module;
use burn::store::{
    ApplyResult, KeyRemapper, ModuleSnapshot, PyTorchToBurnAdapter, PytorchStore,
    PytorchStoreError, SafetensorsStore, SafetensorsStoreError,
};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Renames from a file's keys to a module's parameter paths, applied in order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KeyMap {
    /// `(regex, replacement)` pairs; `$1` refers to a capture group.
    pub renames: Vec<(String, String)>,
    /// Parameter path prefixes that are deliberately not in the file (a new head).
    pub fresh: Vec<String>,
}

impl KeyMap {
    /// A map with these renames and no fresh parts.
    pub fn new(renames: &[(&str, &str)]) -> Self {
        Self {
            renames: renames
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            fresh: Vec::new(),
        }
    }

    /// Marks parameters under `prefix` as fresh: not expected in the file.
    pub fn with_fresh(mut self, prefix: &str) -> Self {
        self.fresh.push(prefix.to_string());
        self
    }

    fn remapper(&self) -> Result<KeyRemapper> {
        KeyRemapper::from_patterns(
            self.renames
                .iter()
                .map(|(a, b)| (a.as_str(), b.as_str()))
                .collect(),
        )
        .map_err(|e| ModelError::KeyMap(e.to_string()))
    }
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportReport {
    /// Parameters that received a tensor.
    pub applied: Vec<String>,
    /// Parameters left at their initial values because they are fresh.
    pub fresh: Vec<String>,
    /// Keys of the file that matched no parameter.
    pub unused: Vec<String>,
}

fn judge(result: ApplyResult, map: &KeyMap, path: &Path) -> Result<ImportReport> {
    if !result.errors.is_empty() {
        let errors: Vec<String> = result.errors.iter().map(|e| format!("{e:?}")).collect();
        return Err(ModelError::Mismatch {
            path: path.to_path_buf(),
            reason: format!("mis-shaped or unreadable tensors: {}", errors.join("; ")),
        });
    }
    if result.applied.is_empty() {
        return Err(ModelError::KeyMap(format!(
            "no key of {} matched a parameter of the model (file keys: {})",
            path.display(),
            preview(&result.unused)
        )));
    }
    let (fresh, missing): (Vec<String>, Vec<String>) = result
        .missing
        .into_iter()
        .map(|(p, _)| p)
        .partition(|p| map.fresh.iter().any(|f| p.starts_with(f.as_str())));
    if !missing.is_empty() {
        return Err(ModelError::Mismatch {
            path: path.to_path_buf(),
            reason: format!(
                "missing parameters {} (file keys left unused: {})",
                preview(&missing),
                preview(&result.unused)
            ),
        });
    }
    Ok(ImportReport {
        applied: result.applied,
        fresh,
        unused: result.unused,
    })
}

fn mismatch(path: &Path, reason: String) -> ModelError {
    ModelError::Mismatch {
        path: path.to_path_buf(),
        reason: format!("mis-shaped tensors: {reason}"),
    }
}

fn preview(names: &[String]) -> String {
    if names.is_empty() {
        return "none".into();
    }
    let shown: Vec<&str> = names.iter().take(8).map(String::as_str).collect();
    let more = names.len().saturating_sub(8);
    if more > 0 {
        format!("[{}] and {more} more", shown.join(", "))
    } else {
        format!("[{}]", shown.join(", "))
    }
}

fn check_file(path: &Path) -> Result<()> {
    let meta = std::fs::metadata(path).map_err(|e| ModelError::Unreadable {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    if meta.len() == 0 {
        return Err(ModelError::Unreadable {
            path: path.to_path_buf(),
            reason: "empty file".into(),
        });
    }
    Ok(())
}

/// Loads a PyTorch `state_dict` (`.pt`/`.pth`) into `module` through `map`.
///
/// Sequential indices are kept as they are in the file (no renumbering), so a map can name
/// `conv_layers.3` exactly as PyTorch wrote it.
pub fn load_pytorch<M: Module>(module: M, path: &Path, map: &KeyMap) -> Result<(M, ImportReport)> {
    check_file(path)?;
    let mut store = PytorchStore::from_file(path)
        .map_indices_contiguous(false)
        .remap(map.remapper()?)
        .allow_partial(true);
    let mut module = module;
    let result = module.load_from(&mut store).map_err(|e| match e {
        PytorchStoreError::ValidationFailed(reason) => mismatch(path, reason),
        other => ModelError::Unreadable {
            path: path.to_path_buf(),
            reason: format!("not a readable PyTorch state_dict: {other}"),
        },
    })?;
    let report = judge(result, map, path)?;
    Ok((module, report))
}

/// Loads a safetensors file written by PyTorch / Hugging Face (Linear weights stored
/// transposed there; the adapter turns them around) into `module` through `map`.
pub fn load_safetensors<M: Module>(
    module: M,
    path: &Path,
    map: &KeyMap,
) -> Result<(M, ImportReport)> {
    check_file(path)?;
    let mut store = SafetensorsStore::from_file(path)
        .with_from_adapter(PyTorchToBurnAdapter)
        .skip_enum_variants(true)
        .remap(map.remapper()?)
        .allow_partial(true);
    let mut module = module;
    let result = module.load_from(&mut store).map_err(|e| match e {
        SafetensorsStoreError::ValidationFailed(reason) => mismatch(path, reason),
        other => ModelError::Unreadable {
            path: path.to_path_buf(),
            reason: format!("not a readable safetensors file: {other}"),
        },
    })?;
    let report = judge(result, map, path)?;
    Ok((module, report))
}
