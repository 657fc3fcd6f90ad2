//! The command-line contract: `scalewall --help` and every command's
//! `--help` against checked-in snapshots in `tests/snapshots/help/`. A
//! changed flag or wording fails here until the snapshot is reviewed;
//! `UPDATE_SNAPSHOTS=1 cargo test --test cli_help` rewrites them.

use std::path::PathBuf;

/// Every command, and the top level ("").
const COMMANDS: &[&str] = &[
    "",
    "run",
    "init",
    "validate",
    "history",
    "show",
    "compare",
    "report",
    "baseline",
    "suite",
    "plan",
    "bench",
    "sweep",
    "fit",
    "probe",
    "demo",
    "demo-server",
    "watch",
    "status",
    "report-job",
];

fn help_of(command: &str) -> String {
    let mut args: Vec<&str> = Vec::new();
    if !command.is_empty() {
        args.push(command);
    }
    args.push("--help");
    let out = assert_cmd::Command::cargo_bin("scalewall")
        .expect("binary built")
        .args(&args)
        // A fixed width, whatever the terminal of whoever runs the tests.
        .env("COLUMNS", "100")
        .output()
        .expect("scalewall runs");
    assert!(out.status.success(), "scalewall {command} --help failed");
    String::from_utf8(out.stdout).expect("help is UTF-8")
}

#[test]
fn every_commands_help_matches_its_snapshot() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/help");
    let update = std::env::var("UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1");
    let mut differing = Vec::new();
    for command in COMMANDS {
        let name = if command.is_empty() {
            "scalewall"
        } else {
            command
        };
        let path = dir.join(format!("{name}.txt"));
        let help = help_of(command);
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &help).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_SNAPSHOTS=1 writes it)", path.display()));
        if help != expected {
            differing.push(format!("--- {}\n{help}", path.display()));
        }
    }
    assert!(
        differing.is_empty(),
        "help differs from its snapshot (review, then UPDATE_SNAPSHOTS=1):\n{}",
        differing.join("\n")
    );
}

#[test]
fn the_top_level_help_lists_the_exit_codes() {
    let help = help_of("");
    assert!(help.contains("Exit codes:"), "{help}");
    assert!(help.contains("143  stopped by SIGTERM"), "{help}");
}
