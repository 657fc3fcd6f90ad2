//! The `Run` document's contract: `docs/run.schema.json` is the JSON Schema
//! of the type, and a record written by an earlier schema version still
//! loads. `UPDATE_SNAPSHOTS=1 cargo test -p scalewall-model --test schema`
//! rewrites the schema file after a deliberate change (bump
//! `SCHEMA_VERSION` when a field changes meaning or is removed).

use scalewall_model::{Run, RunStatus, SCHEMA_VERSION};
use std::path::PathBuf;

fn repo_file(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

#[test]
fn the_checked_in_schema_is_the_run_type() {
    let schema = schemars::schema_for!(Run);
    let text = serde_json::to_string_pretty(&schema).unwrap() + "\n";
    let path = repo_file("docs/run.schema.json");
    if std::env::var("UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap();
    assert!(
        checked_in == text,
        "{} differs from the Run type: review the change, bump SCHEMA_VERSION if a field \
         changed meaning, then UPDATE_SNAPSHOTS=1",
        path.display()
    );
}

#[test]
fn a_version_1_record_still_loads_with_its_system_health_typed() {
    let text = std::fs::read_to_string(repo_file("tests/fixtures/run-v1.json")).unwrap();
    let run = Run::from_json(&text).unwrap();
    assert_eq!(run.schema_version, 1);
    const { assert!(SCHEMA_VERSION > 1) };
    assert_eq!(run.status, RunStatus::Completed);
    let health = run.system_health.expect("the v1 record has a snapshot");
    assert!(health.host.mem_total_bytes > 0);
    assert!(!run.scenarios.is_empty());
    // What the v1 document said, the typed record says: nothing is lost.
    let original: serde_json::Value = serde_json::from_str(&text).unwrap();
    let health_again = serde_json::to_value(&health).unwrap();
    assert_eq!(original["system_health"], health_again);
}
