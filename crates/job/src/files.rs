//! Writing files so that a full disk or a crash never leaves a truncated
//! one: write beside the target, then rename over it; and the report
//! folder's retention (`[report] keep`).

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

/// How long report files are kept (`[report] keep`): for a time, or the
/// newest runs' reports by count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKeep {
    /// Reports of runs newer than this (`keep = "30d"`).
    For(std::time::Duration),
    /// The reports of this many newest runs (`keep = 500`).
    Runs(usize),
}

/// Whether a file name is a report scalewall wrote: `<run id>.md`, `.json`
/// or `.html`, the id a UUID's 36 characters. Nothing else in the folder is
/// ever removed.
fn report_run_id(name: &str) -> Option<&str> {
    let (stem, ext) = name.rsplit_once('.')?;
    let uuid = stem.len() == 36
        && stem.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        });
    (uuid && matches!(ext, "md" | "json" | "html")).then_some(stem)
}

/// Which report files `keep` drops, given each file's name and its age
/// (pure). Run ids are time-ordered, so by count the newest runs are the
/// greatest ids; every format of a run goes together.
pub fn reports_to_drop(files: &[(String, std::time::Duration)], keep: ReportKeep) -> Vec<String> {
    match keep {
        ReportKeep::For(limit) => files
            .iter()
            .filter(|(name, age)| report_run_id(name).is_some() && *age > limit)
            .map(|(name, _)| name.clone())
            .collect(),
        ReportKeep::Runs(n) => {
            let mut ids: Vec<&str> = files
                .iter()
                .filter_map(|(name, _)| report_run_id(name))
                .collect();
            ids.sort_unstable();
            ids.dedup();
            let cut = ids.len().saturating_sub(n);
            let dropped = &ids[..cut];
            files
                .iter()
                .filter(|(name, _)| report_run_id(name).is_some_and(|id| dropped.contains(&id)))
                .map(|(name, _)| name.clone())
                .collect()
        }
    }
}

/// Removes the report files of `dir` that `keep` drops; the count removed.
pub fn prune_reports(dir: &Path, keep: ReportKeep) -> Result<usize> {
    let now = std::time::SystemTime::now();
    let entries = std::fs::read_dir(dir).map_err(|e| {
        JobError::msg(format!(
            "cannot read the report folder {}: {e}",
            dir.display()
        ))
    })?;
    let files: Vec<(String, std::time::Duration)> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| {
            let age = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| now.duration_since(t).ok())
                .unwrap_or_default();
            Some((e.file_name().into_string().ok()?, age))
        })
        .collect();
    let mut removed = 0;
    for name in reports_to_drop(&files, keep) {
        if std::fs::remove_file(dir.join(&name)).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
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
    use std::time::Duration;

    const A: &str = "01a23c5e-a6e6-7298-891c-039749982c48";
    const B: &str = "01a23c5e-d891-773a-866a-8c424610db1d";
    const C: &str = "01a23c5f-0000-773a-866a-8c424610db1d";

    fn files() -> Vec<(String, Duration)> {
        let day = Duration::from_secs(86_400);
        let mut files = Vec::new();
        for (id, age) in [(A, 40 * day), (B, 10 * day), (C, day)] {
            for ext in ["md", "json", "html"] {
                files.push((format!("{id}.{ext}"), age));
            }
        }
        // Not scalewall's: never removed, however old.
        files.push(("notes.md".into(), 400 * day));
        files.push((format!("{A}.md.partial"), 400 * day));
        files
    }

    #[test]
    fn retention_drops_only_old_reports_every_format_together() {
        let mut by_age =
            reports_to_drop(&files(), ReportKeep::For(Duration::from_secs(30 * 86_400)));
        by_age.sort();
        assert_eq!(
            by_age,
            [format!("{A}.html"), format!("{A}.json"), format!("{A}.md")]
        );
        let mut by_count = reports_to_drop(&files(), ReportKeep::Runs(1));
        by_count.sort();
        assert_eq!(by_count.len(), 6, "{by_count:?}");
        assert!(by_count.iter().all(|n| !n.starts_with(C)), "{by_count:?}");
        assert!(reports_to_drop(&files(), ReportKeep::Runs(5)).is_empty());
    }
}
