//! Checkpoints: weights (burnpack) with their config and report beside them, written
//! atomically so that a crash or a diverged run never leaves a half-written file, and
//! checkpoint folders replaced as a whole (stage, then swap).

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

/// Removes the file at `path` if there is one (a missing file is not an error). Writers
/// that keep a pair of files (weights and the card that describes them) remove the old
/// describing file first, so that a failure between the two writes leaves weights without
/// a card, never new weights under an old card.
pub fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

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

/// `value` as pretty JSON; a value that cannot be written is a [`CoreError::Format`] naming
/// `path`.
pub(crate) fn json_bytes(path: &Path, value: &impl Serialize) -> Result<String> {
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
    // `valid()` syncs every running state (batch norm's statistics) first: Burn keeps a
    // state's last update pending until then, and a record reads the value without syncing,
    // so a model saved straight after training lost its last step's statistics (and loaded
    // scored otherwise than the model that was saved). Syncing changes nothing the model
    // computes: its own next `valid()` would do the same.
    module
        .valid()
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
    save_checkpoint_with(dir, module, config, report, &[])
}

/// [`save_checkpoint`] with further files (`(name, bytes)`, such as a training history)
/// that belong to the same checkpoint.
///
/// The folder is replaced as a whole: everything is written into a staging folder beside it
/// and synced, the old folder is renamed aside (`.NAME.old`), the staging folder renamed into
/// place, and the old one removed. A crash at any point leaves a complete checkpoint to load:
/// the new one, or the old one (in place, or aside, where [`load_checkpoint`] finds it).
pub fn save_checkpoint_with<M: Module>(
    dir: &Path,
    module: &M,
    config: &impl Serialize,
    report: Option<&FitReport>,
    extra: &[(&str, Vec<u8>)],
) -> Result<()> {
    // Everything is serialised before anything on disk changes, so a value that cannot be
    // written leaves the folder as it was.
    let mut files: Vec<(String, Vec<u8>)> = vec![
        (
            WEIGHTS_FILE.into(),
            weight_bytes(module, &dir.join(WEIGHTS_FILE))?.to_vec(),
        ),
        (
            CONFIG_FILE.into(),
            json_bytes(&dir.join(CONFIG_FILE), config)?.into_bytes(),
        ),
    ];
    if let Some(r) = report {
        files.push((
            REPORT_FILE.into(),
            json_bytes(&dir.join(REPORT_FILE), r)?.into_bytes(),
        ));
    }
    files.extend(extra.iter().map(|(n, b)| (n.to_string(), b.clone())));
    let (parent, name) = split_dir(dir)?;
    fs::create_dir_all(&parent).map_err(|e| CoreError::io(&parent, e))?;
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let stage = parent.join(format!(".{name}.stage-{}-{call}", std::process::id()));
    let old = aside(&parent, &name);
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |e: std::io::Error| CoreError::io(&p, e)
    };
    // Staging folders a killed writer left behind are removed (one writer per checkpoint).
    let mine = format!(".{name}.stage-{}-", std::process::id());
    let theirs = format!(".{name}.stage-");
    if let Ok(entries) = fs::read_dir(&parent) {
        for e in entries.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with(&theirs) && !n.starts_with(&mine) {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
    let _ = fs::remove_dir_all(&stage);
    fs::create_dir_all(&stage).map_err(io(&stage))?;
    for (file, bytes) in &files {
        let path = stage.join(file);
        let mut f = fs::File::create(&path).map_err(io(&path))?;
        f.write_all(bytes).map_err(io(&path))?;
        f.sync_all().map_err(io(&path))?;
    }
    sync_dir(&stage);
    if dir.exists() {
        // A leftover aside from an earlier crash is older than what is in place.
        if old.exists() {
            fs::remove_dir_all(&old).map_err(io(&old))?;
        }
        fs::rename(dir, &old).map_err(io(dir))?;
    }
    fs::rename(&stage, dir).map_err(io(dir))?;
    sync_dir(&parent);
    if old.exists() {
        fs::remove_dir_all(&old).map_err(io(&old))?;
    }
    Ok(())
}

fn split_dir(dir: &Path) -> Result<(PathBuf, String)> {
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = dir
        .file_name()
        .ok_or_else(|| CoreError::Format {
            path: dir.to_path_buf(),
            reason: "not a folder path".into(),
        })?
        .to_string_lossy()
        .into_owned();
    Ok((parent, name))
}

/// Where a checkpoint folder is set aside while its successor moves in.
fn aside(parent: &Path, name: &str) -> PathBuf {
    parent.join(format!(".{name}.old"))
}

fn sync_dir(dir: &Path) {
    if let Ok(folder) = fs::File::open(dir) {
        let _ = folder.sync_all();
    }
}

/// The folder that holds the complete checkpoint saved as `dir`: `dir` itself, or, when a
/// crash came between setting the old one aside and moving the new one in, the old one.
pub fn checkpoint_folder(dir: &Path) -> PathBuf {
    if dir.join(WEIGHTS_FILE).exists() {
        return dir.to_path_buf();
    }
    match split_dir(dir) {
        Ok((parent, name)) if aside(&parent, &name).join(WEIGHTS_FILE).exists() => {
            aside(&parent, &name)
        }
        _ => dir.to_path_buf(),
    }
}

/// Loads the weights of a checkpoint folder into `module` (from the folder set aside, when a
/// crash interrupted its replacement).
pub fn load_checkpoint<M: Module>(module: M, dir: &Path) -> Result<M> {
    load_weights(module, &checkpoint_folder(dir).join(WEIGHTS_FILE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remove_if_present_removes_a_file_and_takes_a_missing_one_as_done() {
        let dir = std::env::temp_dir().join(format!("tl-remove-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("card.json");
        fs::write(&path, b"{}").unwrap();
        remove_if_present(&path).unwrap();
        assert!(!path.exists());
        remove_if_present(&path).unwrap();
        // A folder where the file should be is an error, not skipped.
        fs::create_dir_all(&path).unwrap();
        assert!(remove_if_present(&path).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

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
