//! Writing files so that a full disk or a crash never leaves a truncated
//! one: write beside the target, then rename over it.

use crate::error::{JobError, Result};
use std::path::{Path, PathBuf};

/// Writes `bytes` to a temporary name beside `path`, then renames it to
/// `path`. `what` names the file in the error (e.g. `the report to`).
pub fn write_atomically(path: &Path, bytes: &[u8], what: &str) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".partial");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
        .map_err(|error| JobError::msg(format!("cannot write {what} {}: {error}", path.display())))
}

/// Checks, before any load, that `path` can be written: its folder exists
/// and takes a new file. `what` names it in the error (e.g. `--save`), so a
/// typo in a path costs nothing measured.
pub fn check_writable_file(path: &Path, what: &str) -> Result<()> {
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    if !folder.is_dir() {
        return Err(JobError::msg(format!(
            "{what} {}: the folder {} does not exist",
            path.display(),
            folder.display()
        )));
    }
    if path.is_dir() {
        return Err(JobError::msg(format!(
            "{what} {}: is a folder, not a file",
            path.display()
        )));
    }
    probe_folder(folder).map_err(|error| {
        JobError::msg(format!(
            "{what} {}: cannot write in {}: {error}",
            path.display(),
            folder.display()
        ))
    })
}

/// Checks, before any load, that the folder `dir` exists or can be made,
/// and takes new files.
pub fn check_writable_folder(dir: &Path, what: &str) -> Result<()> {
    std::fs::create_dir_all(dir)
        .and_then(|()| probe_folder(dir))
        .map_err(|error| JobError::msg(format!("{what} {}: {error}", dir.display())))
}

/// Creates and removes an empty file in `folder`.
fn probe_folder(folder: &Path) -> std::io::Result<()> {
    let probe = folder.join(format!(".scalewall-write-check-{}", std::process::id()));
    std::fs::write(&probe, b"")?;
    std::fs::remove_file(&probe)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unwritable_paths_are_named_before_anything_runs() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nodir/x/run.json");
        let e = check_writable_file(&missing, "--save")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("--save ") && e.contains("does not exist"),
            "{e}"
        );
        check_writable_file(&dir.path().join("run.json"), "--save").unwrap();
        assert!(check_writable_file(dir.path(), "--save").is_err());
        let reports = dir.path().join("a/b");
        check_writable_folder(&reports, "the report folder").unwrap();
        assert!(reports.is_dir());
        assert_eq!(
            std::fs::read_dir(&reports).unwrap().count(),
            0,
            "no probe file left"
        );
    }
}
