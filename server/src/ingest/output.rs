//! Writing the outputs of `reco ingest` as one set: a reader sees the old set or the new one,
//! never a mix, and a failed or killed ingest leaves the old set as it was.
//!
//! The set is the features folder (`matrix.safetensors`, `users.tsv`, `items.tsv` and
//! `interactions.tsv`); the `--interactions` path is a relative symbolic link to the folder's
//! `interactions.tsv` (unless it is that file), so it always resolves into the current set.
//! An ingest:
//! 1. checks the targets before writing anything (`--features` must be a folder or absent,
//!    `--interactions` a file, a symbolic link or absent, and not elsewhere inside the folder)
//!    and removes the temporary folders and links of killed ingests (`.NAME.PID.tmp` whose
//!    process is gone);
//! 2. writes the new set into `.features.PID.tmp` beside the folder, fsyncing every file and
//!    the folder; an error (full disk, …) removes it and changes nothing else;
//! 3. swaps it with the old folder in one step (`renameat2(RENAME_EXCHANGE)` on Linux; a plain
//!    rename if there is no old folder), fsyncs the parent folder and deletes the old set;
//! 4. the first time, turns `--interactions` into the link by an atomic rename, before the
//!    swap (a regular file there is first linked into the old folder, so the old set stays
//!    whole), or right after it when there is no old folder.
//!
//! Where the exchange is not supported (not Linux, or a file system without it) the old folder
//! is renamed away and the new one renamed in: a reader in between finds no folder (and is told
//! to run `reco ingest`), never a mix. `reco train` notices a swap while it reads the folder
//! and reads it again (see [`crate::dataset::Dataset::load_features`]).
use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::dataset::{Ingested, ITEMS_FILE, MATRIX_FILE, USERS_FILE};
use crate::error::{Result, ServerError};

/// Name of the interactions file inside the features folder.
pub const INTERACTIONS_FILE: &str = "interactions.tsv";

/// The checked output paths.
struct Targets {
    /// The features folder (a symbolic link to a folder resolved to that folder).
    folder: PathBuf,
    /// Its parent folder, where the temporary folder is made.
    parent: PathBuf,
    /// Its file name.
    name: OsString,
    /// Whether it exists already.
    exists: bool,
    /// The `--interactions` path and the link target to put there (`None`: it is the
    /// folder's own `interactions.tsv`).
    link: Option<(PathBuf, PathBuf)>,
}

fn usage(msg: String) -> ServerError {
    ServerError::Usage(msg)
}

/// `to` relative to the folder `from` (both absolute and canonical).
fn relative(from: &Path, to: &Path) -> PathBuf {
    let f: Vec<_> = from.components().collect();
    let t: Vec<_> = to.components().collect();
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..f.len() {
        out.push("..");
    }
    for c in &t[common..] {
        out.push(c);
    }
    out
}

/// `path`'s parent folder, created if missing, and its canonical form.
fn parent_of(path: &Path) -> Result<(PathBuf, PathBuf)> {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    fs::create_dir_all(&parent).map_err(|e| ServerError::io(&parent, e))?;
    let canonical = fs::canonicalize(&parent).map_err(|e| ServerError::io(&parent, e))?;
    Ok((parent, canonical))
}

impl Targets {
    fn check(interactions: &Path, features: &Path) -> Result<Targets> {
        let (folder, exists) = match fs::symlink_metadata(features) {
            Ok(m) if m.is_dir() => (features.to_path_buf(), true),
            Ok(m) if m.is_symlink() => match fs::canonicalize(features) {
                Ok(target) if target.is_dir() => (target, true),
                _ => {
                    return Err(usage(format!(
                        "--features {} is a symbolic link to something that is not a folder; pass a folder",
                        features.display()
                    )))
                }
            },
            Ok(_) => {
                return Err(usage(format!(
                    "--features {} is a file, not a folder; pass a folder path (it is created if missing)",
                    features.display()
                )))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => (features.to_path_buf(), false),
            Err(e) => return Err(ServerError::io(features, e)),
        };
        let name = folder
            .file_name()
            .ok_or_else(|| usage(format!("--features {} has no folder name", features.display())))?
            .to_os_string();
        let (parent, parent_abs) = parent_of(&folder)?;
        let folder_abs = parent_abs.join(&name);

        match fs::symlink_metadata(interactions) {
            Ok(m) if m.is_file() || m.is_symlink() => {}
            Ok(_) => {
                return Err(usage(format!(
                    "--interactions {} exists and is not a regular file; pass a file path",
                    interactions.display()
                )))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(ServerError::io(interactions, e)),
        }
        let file_name = interactions.file_name().ok_or_else(|| {
            usage(format!(
                "--interactions {} has no file name",
                interactions.display()
            ))
        })?;
        let (_, link_dir) = parent_of(interactions)?;
        let link = if link_dir == folder_abs && file_name == INTERACTIONS_FILE {
            None
        } else if link_dir.starts_with(&folder_abs) {
            return Err(usage(format!(
                "--interactions {} is inside the features folder {}: use {} or a path outside it",
                interactions.display(),
                features.display(),
                features.join(INTERACTIONS_FILE).display()
            )));
        } else {
            Some((
                interactions.to_path_buf(),
                relative(&link_dir, &folder_abs.join(INTERACTIONS_FILE)),
            ))
        };
        Ok(Targets {
            folder,
            parent,
            name,
            exists,
            link,
        })
    }
}

/// `.NAME.PID.tmp`, the temporary name used beside `NAME`.
fn temp_path(dir: &Path, name: &std::ffi::OsStr, pid: u32) -> PathBuf {
    dir.join(format!(".{}.{pid}.tmp", name.to_string_lossy()))
}

/// Whether process `pid` may be running (always true where that cannot be told).
fn alive(pid: u32) -> bool {
    let proc = Path::new("/proc");
    !proc.join("self").exists() || proc.join(pid.to_string()).exists()
}

/// Removes `.NAME.PID.tmp` entries in `dir` left by processes that are gone (a `kill -9`
/// during an ingest). Best effort: a failure only leaves the entry for next time.
pub fn remove_stale(dir: &Path, name: &std::ffi::OsStr) {
    let prefix = format!(".{}.", name.to_string_lossy());
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(pid) = file
            .to_str()
            .and_then(|f| f.strip_prefix(&prefix))
            .and_then(|f| f.strip_suffix(".tmp"))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == std::process::id() || alive(pid) {
            continue;
        }
        let path = entry.path();
        let _ = match entry.file_type() {
            Ok(t) if t.is_dir() => fs::remove_dir_all(&path),
            _ => fs::remove_file(&path),
        };
    }
}

/// Fsyncs a folder, so that renames in it survive a crash.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// Puts the folder `new` at `folder`; returns where the old folder now is (to delete).
fn swap_in(new: &Path, folder: &Path, exists: bool, old: &Path) -> io::Result<Option<PathBuf>> {
    if !exists {
        fs::rename(new, folder)?;
        return Ok(None);
    }
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{renameat_with, RenameFlags, CWD};
        use rustix::io::Errno;
        match renameat_with(CWD, new, CWD, folder, RenameFlags::EXCHANGE) {
            Ok(()) => return Ok(Some(new.to_path_buf())),
            Err(e) if ![Errno::INVAL, Errno::NOSYS, Errno::NOTSUP].contains(&e) => return Err(e.into()),
            Err(_) => {}
        }
    }
    fs::rename(folder, old)?;
    if let Err(e) = fs::rename(new, folder) {
        let _ = fs::rename(old, folder);
        return Err(e);
    }
    Ok(Some(old.to_path_buf()))
}

/// Replaces `path` by a symbolic link to `target` in one rename.
fn link_atomically(path: &Path, target: &Path) -> Result<()> {
    let name = path.file_name().unwrap_or_default();
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if fs::read_link(path).is_ok_and(|t| t == target) {
        return Ok(());
    }
    let tmp = temp_path(dir, name, std::process::id());
    let _ = fs::remove_file(&tmp);
    let result = (|| {
        #[cfg(unix)]
        std::os::unix::fs::symlink(target, &tmp)?;
        #[cfg(not(unix))]
        fs::copy(dir.join(target), &tmp)?;
        fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(|e| ServerError::io(path, e))
}

/// Writes the outputs of `reco ingest` as one set (see the module docs); returns the paths
/// written, for the report.
pub fn write_outputs(
    ingested: &Ingested,
    interactions: &Path,
    features: &Path,
    source: &Path,
) -> Result<Vec<PathBuf>> {
    let t = Targets::check(interactions, features)?;
    remove_stale(&t.parent, &t.name);
    let old_name = {
        let mut n = t.name.clone();
        n.push("-old");
        n
    };
    remove_stale(&t.parent, &old_name);
    if let Some((link, _)) = &t.link {
        if let (Some(dir), Some(name)) = (link.parent(), link.file_name()) {
            remove_stale(
                if dir.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    dir
                },
                name,
            );
        }
    }

    let pid = std::process::id();
    let tmp = temp_path(&t.parent, &t.name, pid);
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(|e| ServerError::io(&tmp, e))?;
    }
    fs::create_dir(&tmp).map_err(|e| ServerError::io(&tmp, e))?;
    let written = (|| {
        ingested
            .dataset
            .write_features_files(&tmp, &ingested.item_rows, source)?;
        ingested.write_interactions_file(&tmp.join(INTERACTIONS_FILE))?;
        sync_dir(&tmp).map_err(|e| ServerError::io(&tmp, e))
    })();
    if let Err(e) = written {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }

    // The link is made before the swap whenever the old set stays whole with it: it resolves
    // into whichever folder is in place. A regular interactions file is first linked into the
    // old folder (first ingest after the link layout came in).
    let mut linked = false;
    if let Some((link, target)) = &t.link {
        let regular = fs::symlink_metadata(link).is_ok_and(|m| m.is_file());
        let in_old = t.folder.join(INTERACTIONS_FILE);
        let ready = if regular && t.exists && !in_old.exists() {
            let staged = temp_path(&t.folder, INTERACTIONS_FILE.as_ref(), pid);
            let moved = fs::hard_link(link, &staged)
                .or_else(|_| fs::copy(link, &staged).map(drop))
                .and_then(|()| fs::rename(&staged, &in_old));
            if moved.is_err() {
                let _ = fs::remove_file(&staged);
            }
            moved.is_ok()
        } else {
            !regular || t.exists
        };
        if ready {
            if let Err(e) = link_atomically(link, target) {
                let _ = fs::remove_dir_all(&tmp);
                return Err(e);
            }
            linked = true;
        }
    }

    let old = temp_path(&t.parent, &old_name, pid);
    let replaced = match swap_in(&tmp, &t.folder, t.exists, &old) {
        Ok(r) => r,
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            return Err(ServerError::io(&t.folder, e));
        }
    };
    sync_dir(&t.parent).map_err(|e| ServerError::io(&t.parent, e))?;
    if let Some(old) = replaced {
        let _ = fs::remove_dir_all(old);
    }
    if let (Some((link, target)), false) = (&t.link, linked) {
        link_atomically(link, target)?;
    }
    Ok([
        interactions.to_path_buf(),
        features.join(MATRIX_FILE),
        features.join(USERS_FILE),
        features.join(ITEMS_FILE),
    ]
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        let r = |a: &str, b: &str| relative(Path::new(a), Path::new(b));
        assert_eq!(
            r("/w/data/processed", "/w/data/features/interactions.tsv"),
            Path::new("../features/interactions.tsv")
        );
        assert_eq!(r("/w", "/w/f/interactions.tsv"), Path::new("f/interactions.tsv"));
        assert_eq!(
            r("/a/b/c", "/x/interactions.tsv"),
            Path::new("../../../x/interactions.tsv")
        );
    }
}
