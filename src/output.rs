//! The one owner of stdout and of the files a command writes (atomically,
//! so a full disk never leaves a truncated file).

use anyhow::{Context as _, Result};
use scalewall_model::Run;
use std::io::Write as _;
use std::path::Path;

/// Prints `text` to stdout, flushed.
pub fn print_stdout(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .context("cannot write results to stdout")
}

/// Writes a file atomically; `what` names it in the error. Results are
/// printed before any file is written, so the error says so.
pub fn write_file(path: &Path, bytes: &[u8], what: &str) -> Result<()> {
    scalewall_job::files::write_atomically(path, bytes, what)
        .map_err(|e| anyhow::anyhow!("{e} (results were printed above)"))
}

/// Saves the run record (`--save`).
pub fn save_run(run: &Run, path: &Path) -> Result<()> {
    write_file(path, run.to_json().as_bytes(), "the run record to")
}

/// Checks the files a command will write, before it loads anything, so a
/// wrong path costs nothing measured. Each is (path, the flag naming it).
pub fn check_writable(files: &[(Option<&Path>, &str)]) -> Result<()> {
    for (path, flag) in files {
        if let Some(path) = path {
            scalewall_job::files::check_writable_file(path, flag)?;
        }
    }
    Ok(())
}
