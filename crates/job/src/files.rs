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
