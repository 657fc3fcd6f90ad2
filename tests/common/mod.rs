//! Helpers shared by the end-to-end tests: the real binary, JSON parsing,
//! and raw TCP servers that misbehave on purpose.

#![allow(dead_code)] // each test binary uses a different subset

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Output;
use std::time::Duration;

/// Runs `scalewall ARGS…` to completion.
pub fn scalewall(args: &[&str]) -> Output {
    assert_cmd::Command::cargo_bin("scalewall")
        .expect("binary built")
        .args(args)
        .timeout(Duration::from_secs(60))
        .output()
        .expect("scalewall runs")
}

/// Parses stdout as JSON, showing stderr when it is not.
pub fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// A float field by JSON pointer.
pub fn f(v: &serde_json::Value, pointer: &str) -> f64 {
    v.pointer(pointer)
        .and_then(serde_json::Value::as_f64)
        .unwrap_or_else(|| panic!("{pointer} missing in {v:#}"))
}

/// Starts a raw TCP server; `behave` gets each accepted connection on its own thread.
pub fn raw_server(behave: fn(TcpStream)) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || behave(stream));
        }
    });
    addr
}

/// Reads until the end of one request head (or EOF); false on EOF.
pub fn read_request(stream: &mut TcpStream) -> bool {
    let mut seen = Vec::new();
    let mut byte = [0u8; 1024];
    loop {
        match stream.read(&mut byte) {
            Ok(0) | Err(_) => return false,
            Ok(n) => {
                seen.extend_from_slice(&byte[..n]);
                if seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    return true;
                }
            }
        }
    }
}

/// Answers the head and part of the body, then closes.
pub fn closes_mid_response(mut stream: TcpStream) {
    if read_request(&mut stream) {
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly a part");
    }
}

/// Answers with bytes that are not HTTP.
pub fn sends_garbage(mut stream: TcpStream) {
    if read_request(&mut stream) {
        let _ = stream.write_all(b"\x16\x03\x01 this is not an HTTP response\r\n\r\n");
    }
}

/// Accepts and reads, never answers (holds the socket for a while).
pub fn never_answers(mut stream: TcpStream) {
    read_request(&mut stream);
    std::thread::sleep(Duration::from_secs(20));
}

/// Keeps every core out of idle for the life of the guard, as `idle=poll`
/// does for latency benchmarks: one SCHED_IDLE spinner per core.
///
/// On a VM, waking a thread on a halted vCPU costs 100–300 µs and varies
/// minute to minute with the host; that is the hypervisor's latency, not the
/// measurement's. SCHED_IDLE threads run only when nothing else wants the
/// core and give way at once, so they take no CPU from the measured server
/// or generator.
pub struct KeepCpusAwake {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl KeepCpusAwake {
    pub fn start() -> Self {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = (0..cores)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let param = libc::sched_param { sched_priority: 0 };
                    // SAFETY: changes only the calling thread's scheduling policy.
                    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
                    if rc != 0 {
                        return; // without SCHED_IDLE a spinner would compete: do nothing
                    }
                    while !stop.load(Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                })
            })
            .collect();
        KeepCpusAwake { stop, threads }
    }
}

impl Drop for KeepCpusAwake {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Whether a service answers on 127.0.0.1:`port`. When it does not, under
/// `CI=true` this panics (`.ci/run` starts every service the tests need);
/// elsewhere it says the test is skipped and why.
pub fn service_answers(name: &str, port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    if TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{name} must answer on {addr} under CI (.ci/run starts it)");
    }
    eprintln!("skipped: no {name} on {addr}");
    false
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Kills a child process when dropped.
pub struct Reaped(pub std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `scalewall demo-server --listen 127.0.0.1:0 EXTRA…` as a child and
/// returns it with the port it printed.
pub fn demo_server_child(extra: &[&str]) -> (Reaped, String) {
    demo_server_on("127.0.0.1:0", extra)
}

/// Starts `scalewall demo-server --listen LISTEN EXTRA…` as a child and
/// returns it with the port it printed.
pub fn demo_server_on(listen: &str, extra: &[&str]) -> (Reaped, String) {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut server = Reaped(
        Command::new(assert_cmd::cargo::cargo_bin("scalewall"))
            .args(["demo-server", "--listen", listen])
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(server.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    // "demo-server listening on http://127.0.0.1:PORT/ (...)"
    let port = line
        .split("127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap()
        .to_string();
    (server, port)
}

/// Whether this is CI (`CI=true`), where a missing tool is a failure.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Headless Chromium at 1280×900, when installed (under CI it must be:
/// `.ci/run` installs it). Each call runs a fresh browser on its own
/// profile; `None` (after saying why) where there is none.
pub struct Browser {
    binary: &'static std::path::Path,
    profile: tempfile::TempDir,
}

impl Browser {
    /// The browser, or `None` with the reason printed.
    pub fn find() -> Option<Browser> {
        let binary = std::path::Path::new("/usr/bin/chromium");
        if !binary.exists() {
            assert!(
                !under_ci(),
                "chromium must be installed under CI (.ci/run installs it)"
            );
            eprintln!("skipped the browser check: no /usr/bin/chromium");
            return None;
        }
        Some(Browser {
            binary,
            profile: tempfile::tempdir().unwrap(),
        })
    }

    /// Opens `url` with the extra flags; its stdout and stderr.
    pub fn open(&self, url: &str, extra: &[String]) -> Output {
        std::process::Command::new(self.binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--enable-logging=stderr",
                "--v=0",
                "--hide-scrollbars",
                "--window-size=1280,900",
            ])
            .arg(format!("--user-data-dir={}", self.profile.path().display()))
            .args(extra)
            .arg(url)
            .output()
            .unwrap()
    }

    /// The page's DOM after it loaded, checking that the browser logged no
    /// console message (an error or a warning of the page).
    pub fn dom(&self, url: &str) -> String {
        let out = self.open(url, &["--dump-dom".to_string()]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let console: Vec<String> = String::from_utf8_lossy(&out.stderr)
            .lines()
            .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught"))
            .map(str::to_string)
            .collect();
        assert!(console.is_empty(), "console messages: {console:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A 1280×900 PNG of the page at `shot`, its path printed.
    pub fn screenshot(&self, url: &str, shot: &std::path::Path, extra: &[String]) {
        let _ = std::fs::remove_file(shot);
        let mut flags = vec![format!("--screenshot={}", shot.display())];
        flags.extend_from_slice(extra);
        let out = self.open(url, &flags);
        assert!(
            out.status.success() && shot.exists(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("screenshot: {}", shot.display());
    }
}

/// `redis-cli -p PORT ARGS…`: its output, trimmed.
pub fn redis_cli(port: u16, args: &[&str]) -> String {
    let out = std::process::Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli runs");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `psql` in the test database: the output of one statement (unaligned,
/// tuples only), asserting it succeeded.
pub fn psql(sql: &str) -> String {
    let out = std::process::Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            "test",
            "-tAc",
            sql,
        ])
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Writes `text` to `name` in `dir`; the path as text.
pub fn rows_file(dir: &std::path::Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// 1,000 feed rows `id,name` (0..999, `user, N`), whose names hold a
/// comma and a space (one word, one parameter: a value is never split).
pub fn thousand_rows(dir: &std::path::Path) -> String {
    let mut csv = String::from("id,name\n");
    for i in 0..1000 {
        csv.push_str(&format!("{i},\"user, {i}\"\n"));
    }
    rows_file(dir, "rows.csv", &csv)
}
