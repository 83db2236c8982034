//! Checkpoints: weights (burnpack) with their config and report beside them, written
//! atomically so that a crash or a diverged run never leaves a half-written file.

use crate::error::{CoreError, Result};
use crate::report::FitReport;
use burn::module::Module;
use burn::store::{ModuleRecord, RecordError};
use serde::Serialize;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// File name of the weights inside a checkpoint folder.
pub const WEIGHTS_FILE: &str = "weights.bpk";
/// File name of the configuration inside a checkpoint folder.
pub const CONFIG_FILE: &str = "config.json";
/// File name of the report inside a checkpoint folder.
pub const REPORT_FILE: &str = "report.json";

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so a
/// reader sees the old content or the new, never a mix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir).map_err(|e| CoreError::io(&dir, e))?;
    let name = path
        .file_name()
        .ok_or_else(|| CoreError::Format {
            path: path.to_path_buf(),
            reason: "not a file path".into(),
        })?
        .to_string_lossy();
    // A temporary name of our own, created exclusively: process, a counter and the clock, with
    // a new name when one exists (a writer beside us, or the leftover of a killed run with
    // the same process id). Only a file this call created is ever removed.
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut created = None;
    for _ in 0..16 {
        let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let tmp = dir.join(format!(".{name}.tmp-{}-{call}-{nanos}", std::process::id()));
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
        {
            Ok(file) => {
                created = Some((tmp, file));
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(CoreError::io(&tmp, e)),
        }
    }
    let Some((tmp, mut file)) = created else {
        return Err(CoreError::io(
            path,
            std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "no free temporary name beside it after 16 tries",
            ),
        ));
    };
    let result = (|| {
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)?;
        // The rename itself reaches the disk with the folder's entry (where the platform
        // lets a folder be opened and synced).
        if let Ok(folder) = fs::File::open(&dir) {
            let _ = folder.sync_all();
        }
        Ok::<(), std::io::Error>(())
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(CoreError::io(path, e));
    }
    Ok(())
}

/// Serialises `value` as pretty JSON, atomically.
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    write_atomic(path, json_bytes(path, value)?.as_bytes())
}

fn json_bytes(path: &Path, value: &impl Serialize) -> Result<String> {
    serde_json::to_string_pretty(value).map_err(|e| CoreError::Format {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Saves a module's weights as burnpack, atomically.
pub fn save_weights<M: Module>(module: &M, path: &Path) -> Result<()> {
    write_atomic(path, &weight_bytes(module, path)?)
}

fn weight_bytes<M: Module>(module: &M, path: &Path) -> Result<burn::tensor::Bytes> {
    module
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|e| CoreError::Format {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
}

/// Loads burnpack weights into `module`, which must have exactly the saved architecture:
/// a missing, unexpected or mis-shaped parameter is a [`CoreError::CheckpointMismatch`]
/// naming it, and an unreadable file a [`CoreError::Format`].
pub fn load_weights<M: Module>(module: M, path: &Path) -> Result<M> {
    if !path.exists() {
        return Err(CoreError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such weights file"),
        ));
    }
    let record = ModuleRecord::load(path).map_err(|e| CoreError::Format {
        path: path.to_path_buf(),
        reason: match e {
            RecordError::Io(m) | RecordError::Validation(m) => m,
        },
    })?;
    module.try_load_record(record).map_err(|e| match e {
        RecordError::Validation(reason) => CoreError::CheckpointMismatch {
            path: path.to_path_buf(),
            reason,
        },
        RecordError::Io(reason) => CoreError::Format {
            path: path.to_path_buf(),
            reason,
        },
    })
}

/// Saves a checkpoint folder: weights, config, and (when given) the report.
pub fn save_checkpoint<M: Module>(
    dir: &Path,
    module: &M,
    config: &impl Serialize,
    report: Option<&FitReport>,
) -> Result<()> {
    // Everything is serialised before the first file is replaced, so a value that cannot be
    // written leaves the folder as it was.
    let (weights, config_path) = (dir.join(WEIGHTS_FILE), dir.join(CONFIG_FILE));
    let weight_bytes = weight_bytes(module, &weights)?;
    let config = json_bytes(&config_path, config)?;
    let report = match report {
        Some(r) => Some(json_bytes(&dir.join(REPORT_FILE), r)?),
        None => None,
    };
    write_atomic(&weights, &weight_bytes)?;
    write_atomic(&config_path, config.as_bytes())?;
    if let Some(report) = report {
        write_atomic(&dir.join(REPORT_FILE), report.as_bytes())?;
    }
    Ok(())
}

/// Loads the weights of a checkpoint folder into `module`.
pub fn load_checkpoint<M: Module>(module: M, dir: &Path) -> Result<M> {
    load_weights(module, &dir.join(WEIGHTS_FILE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_content_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("tl-atomic-{}", std::process::id()));
        let path = dir.join("a.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        // Writers in several threads: each file read back is one writer's whole content.
        let long = |i: u8| vec![b'a' + i; 200_000];
        std::thread::scope(|scope| {
            for i in 0..4u8 {
                let path = &path;
                scope.spawn(move || {
                    for _ in 0..5 {
                        write_atomic(path, &long(i)).unwrap();
                    }
                });
            }
        });
        let back = fs::read(&path).unwrap();
        assert!((0..4).any(|i| back == long(i)), "a mix of writers");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        fs::remove_dir_all(&dir).unwrap();
    }
}
