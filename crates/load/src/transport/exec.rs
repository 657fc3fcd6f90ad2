//! Subprocess (`--exec 'CMD'`): an operation runs the command through
//! `sh -c` and waits for it to exit; concurrency is the number of instances
//! running at once. A non-zero exit is a `server_error` naming the status and
//! the first line of stderr; a command still running at the timeout is
//! killed. `{name}` placeholders are filled from `--param` before the driver
//! is built (see [`substitute`]).

use super::{Connection, Driver, OpError, Response};
use scalewall_model::ErrorKind;
use std::process::Stdio;
use tokio::io::AsyncReadExt;

/// Replaces every `{name}` in `template` with `value`.
pub fn substitute(template: &str, name: &str, value: &str) -> String {
    template.replace(&format!("{{{name}}}"), value)
}

/// The `{name}` placeholders a template uses, in order of first use.
pub fn placeholders(template: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else { break };
        let name = &after[..close];
        if !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !found.iter().any(|f| f == name)
        {
            found.push(name.to_string());
        }
        rest = &after[close + 1..];
    }
    found
}

/// Runs one shell command per operation.
pub struct ExecDriver {
    command: String,
}

impl ExecDriver {
    /// A driver running `command` (placeholders already filled).
    pub fn new(command: &str) -> Self {
        ExecDriver {
            command: command.to_string(),
        }
    }
}

/// A slot for one running instance.
pub struct ExecSlot {
    command: String,
}

impl Driver for ExecDriver {
    type Conn = ExecSlot;

    fn protocol(&self) -> &'static str {
        "exec"
    }

    async fn connect(&self) -> Result<ExecSlot, OpError> {
        Ok(ExecSlot {
            command: self.command.clone(),
        })
    }
}

impl Connection for ExecSlot {
    async fn call(&mut self) -> Result<Response, OpError> {
        let mut child = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(&self.command)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| OpError::new(ErrorKind::Connect, format!("cannot start sh: {e}")))?;
        let mut stderr = Vec::new();
        if let Some(mut pipe) = child.stderr.take() {
            // Keep the first 4 KiB for the error message; drain the rest.
            let mut chunk = [0u8; 4096];
            loop {
                match pipe.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) if stderr.len() < 4096 => stderr.extend_from_slice(&chunk[..n]),
                    Ok(_) => {}
                }
            }
        }
        let status = child
            .wait()
            .await
            .map_err(|e| OpError::new(ErrorKind::Io, format!("waiting for the command: {e}")))?;
        if status.success() {
            return Ok(Response {
                status: 0,
                bytes: 0,
                keep_alive: true,
            });
        }
        let first_line = String::from_utf8_lossy(&stderr)
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
            .to_string();
        let how = match status.code() {
            Some(code) => format!("exit status {code}"),
            None => "killed by a signal".to_string(),
        };
        Err(OpError::new(
            ErrorKind::ServerError,
            if first_line.is_empty() {
                how
            } else {
                format!("{how}: {first_line}")
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_found_once_each_and_filled() {
        let t = "load --plugins {size} --seed {seed} --again {size} {not valid} {}";
        assert_eq!(placeholders(t), ["size", "seed"]);
        assert_eq!(
            substitute(t, "size", "10"),
            "load --plugins 10 --seed {seed} --again 10 {not valid} {}"
        );
    }
}
