//! `scalewall watch` as a real daemon process on loopback, with intervals
//! of seconds: schedules and statuses, a target that dies and comes back,
//! an alert a receiver run by the test gets, a timeout, the endpoints and
//! the token, and SIGTERM. Every wait is bounded; every process is killed
//! by a guard.

mod common;

use common::{demo_server_on, free_port, Browser, Reaped};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{mpsc, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

/// The capacity-drift test measures capacity run after run and needs the
/// host to itself: a neighbour's load (the 30 s bench of the timeout test)
/// is a real drop of the capacity it measures, and CI once saw the drift
/// alert before the target changed. It takes this lock to write; every
/// other test reads it, so they run together, and apart from it.
static HOST: RwLock<()> = RwLock::new(());

/// A shared hold on the host (see [`HOST`]); a failed test's poison is
/// no reason to fail another.
fn sharing_the_host() -> RwLockReadGuard<'static, ()> {
    HOST.read().unwrap_or_else(|e| e.into_inner())
}

/// One request with an optional bearer token and body: (status code, body).
fn request(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let length = if body.is_empty() {
        String::new()
    } else {
        format!("Content-Length: {}\r\n", body.len())
    };
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}{length}Connection: close\r\n\r\n{body}"
    )
    .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let code = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n")?.1.to_string();
    Some((code, body))
}

/// One GET: (status code, body).
fn get(port: u16, path: &str, token: Option<&str>) -> Option<(u16, String)> {
    request(port, "GET", path, token, "")
}

/// One POST of `body`: (status code, body).
fn post(port: u16, path: &str, body: &str) -> Option<(u16, String)> {
    request(port, "POST", path, None, body)
}

fn status(port: u16) -> Option<serde_json::Value> {
    let (code, body) = get(port, "/api/status", None)?;
    (code == 200).then(|| serde_json::from_str(&body).ok())?
}

fn job<'a>(v: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    v["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["name"] == name)
        .unwrap()
}

/// Polls until `ok` holds for the status (or panics after `limit`).
fn wait_for(
    port: u16,
    limit: Duration,
    what: &str,
    ok: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + limit;
    let mut last = serde_json::Value::Null;
    while Instant::now() < deadline {
        if let Some(v) = status(port) {
            if ok(&v) {
                return v;
            }
            last = v;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("waited {limit:?} for {what}; last status: {last:#}");
}

/// Starts `scalewall watch` in `dir` and waits for its endpoints.
fn daemon(dir: &Path, port: u16, extra: &[&str]) -> Reaped {
    let child = Reaped(
        Command::new(assert_cmd::cargo::cargo_bin("scalewall"))
            .arg("watch")
            .args(extra)
            .current_dir(dir)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    while get(port, "/health", None).is_none() {
        assert!(
            Instant::now() < deadline,
            "the daemon did not start listening"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// A webhook receiver: each POST body, answered 200.
fn receiver() -> (u16, mpsc::Receiver<serde_json::Value>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_ok() {
                if let Ok(v) = serde_json::from_slice(&body) {
                    let _ = tx.send(v);
                }
            }
            let _ = reader
                .get_mut()
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (port, rx)
}

fn config(dir: &Path, text: &str) {
    std::fs::write(dir.join("scalewall.toml"), text).unwrap();
}

#[test]
fn jobs_run_on_their_schedules_fail_recover_and_alert() {
    let _host = sharing_the_host();
    let dir = tempfile::tempdir().unwrap();
    let target = free_port();
    let (_server, _) = demo_server_on(&format!("127.0.0.1:{target}"), &[]);
    let (hook, alerts) = receiver();
    let port = free_port();
    config(
        dir.path(),
        &format!(
            r#"name = "shop"
[[service]]
name = "api"
url = "http://127.0.0.1:{target}"
[[scenario]]
name = "get"
service = "api"
kind = "bench"
connections = 2
duration = "500ms"
[[scenario]]
name = "get2"
service = "api"
kind = "bench"
connections = 1
duration = "300ms"
[watch]
listen = "127.0.0.1:{port}"
[[job]]
name = "fast"
every = "1s"
jitter = "20%"
scenarios = ["get"]
[[job]]
name = "slow"
every = "2s"
scenarios = ["get2"]
[[alert]]
url = "http://127.0.0.1:{hook}/hook"
on = ["status"]
"#
        ),
    );
    let _daemon = daemon(dir.path(), port, &[]);
    // Both jobs run and are OK; never two runs at once.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v = status(port).unwrap();
        let running = v["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|j| j["running"] == true)
            .count();
        assert!(running <= 1, "two runs at once: {v:#}");
        if job(&v, "fast")["runs"].as_u64() >= Some(2)
            && job(&v, "slow")["runs"].as_u64() >= Some(1)
        {
            assert_eq!(job(&v, "fast")["status"], "OK", "{v:#}");
            assert_eq!(job(&v, "slow")["status"], "OK", "{v:#}");
            break;
        }
        assert!(Instant::now() < deadline, "jobs did not run: {v:#}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Runs are stored under the job's name, with their reports.
    let history =
        scalewall_history::History::open(&dir.path().join(".scalewall/history.db")).unwrap();
    let fast = history.list(Some("fast"), 100).unwrap();
    assert!(fast.len() >= 2, "{fast:?}");
    assert!(dir
        .path()
        .join(format!(".scalewall/reports/{}.html", fast[0].id))
        .exists());

    // The target dies: FAILING within two intervals, and the alert says so.
    drop(_server);
    wait_for(port, Duration::from_secs(20), "fast FAILING", |v| {
        job(v, "fast")["status"] == "FAILING"
    });
    let alert = alerts
        .recv_timeout(Duration::from_secs(20))
        .expect("an alert POST");
    assert_eq!(alert["status"], "FAILING", "{alert:#}");
    assert_eq!(alert["previous_status"], "OK", "{alert:#}");
    assert!(
        alert["job"] == "fast" || alert["job"] == "slow",
        "{alert:#}"
    );

    // It comes back: RECOVERING, then OK after two good runs.
    let (_server, _) = demo_server_on(&format!("127.0.0.1:{target}"), &[]);
    wait_for(port, Duration::from_secs(20), "fast RECOVERING", |v| {
        job(v, "fast")["status"] == "RECOVERING"
    });
    wait_for(port, Duration::from_secs(20), "fast OK", |v| {
        job(v, "fast")["status"] == "OK"
    });
    let statuses: Vec<String> = alerts
        .try_iter()
        .chain(alerts.recv_timeout(Duration::from_secs(5)))
        .map(|a| a["status"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        statuses.iter().any(|s| s == "RECOVERING" || s == "OK"),
        "{statuses:?}"
    );

    // /metrics: every sample's family declared, the job counters present.
    let (code, metrics) = get(port, "/metrics", None).unwrap();
    assert_eq!(code, 200);
    assert!(
        metrics.contains("scalewall_job_status{job=\"fast\",status=\"OK\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("scalewall_scenario_throughput_per_second{job=\"fast\",scenario=\"get\"}"),
        "{metrics}"
    );
    if let Ok(out) = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            child.stdin.take().unwrap().write_all(metrics.as_bytes())?;
            child.wait_with_output()
        })
    {
        assert!(
            out.status.success(),
            "promtool: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The dashboard: the job table, badges, a sparkline, a report link.
    let (code, page) = get(port, "/", None).unwrap();
    assert_eq!(code, 200);
    assert!(
        page.contains("<span class=\"badge tone-good\">OK</span>"),
        "{page}"
    );
    assert!(page.contains("<polyline"), "{page}");
    let link = page
        .split("href=\"/reports/")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    assert_eq!(get(port, &format!("/reports/{link}"), None).unwrap().0, 200);
    assert_eq!(get(port, "/reports/..%2Fhistory.db", None).unwrap().0, 404);
    let (code, health) = get(port, "/health", None).unwrap();
    assert_eq!((code, health.as_str()), (200, "{\"status\":\"healthy\"}"));
    dashboard_in_a_browser(port);
}

/// The live dashboard in headless Chromium: no console errors, the job
/// table and sparklines rendered, a screenshot under the test output folder.
fn dashboard_in_a_browser(port: u16) {
    let Some(browser) = Browser::find() else {
        return;
    };
    let url = format!("http://127.0.0.1:{port}/");
    let dom = browser.dom(&url);
    assert!(
        dom.contains("<th>job</th>") && dom.contains("<polyline"),
        "{dom}"
    );
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("watch-dashboard.png");
    browser.screenshot(&url, &shot, &[]);
}

#[test]
fn a_target_whose_capacity_drops_gives_a_drift_finding_and_an_alert() {
    let _host = HOST.write().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let target = free_port();
    let listen = format!("127.0.0.1:{target}");
    // σ 0.02, κ 0.005, 2 ms: N* ≈ 14, X(N*) ≈ 3,200 req/s.
    let usl =
        |kappa: &str| ["--latency", "2ms", "--sigma", "0.02", "--kappa", kappa].map(String::from);
    let (server, _) = demo_server_on(&listen, &usl("0.005").each_ref().map(String::as_str));
    let (hook, alerts) = receiver();
    let port = free_port();
    config(
        dir.path(),
        &format!(
            r#"[[service]]
name = "api"
url = "http://127.0.0.1:{target}"
[[scenario]]
name = "scaling"
service = "api"
kind = "sweep"
concurrency = [1, 2, 4, 8, 16, 32]
step = "250ms"
warmup = "0s"
[watch]
listen = "127.0.0.1:{port}"
[[job]]
name = "capacity"
every = "1s"
[[alert]]
url = "http://127.0.0.1:{hook}/hook"
on = ["capacity_drift"]
"#
        ),
    );
    let _daemon = daemon(dir.path(), port, &[]);
    // Six runs make the run-to-run noise known.
    wait_for(port, Duration::from_secs(60), "6 runs", |v| {
        job(v, "capacity")["runs"].as_u64() >= Some(6)
    });
    if let Ok(alert) = alerts.try_recv() {
        panic!("no drift yet, but: {alert:#}");
    }
    // κ 0.005 → 0.05: N* ≈ 4.4, X(N*) ≈ 1,200 req/s.
    drop(server);
    let (_server, _) = demo_server_on(&listen, &usl("0.05").each_ref().map(String::as_str));
    let alert = alerts
        .recv_timeout(Duration::from_secs(30))
        .expect("a capacity-drift alert");
    let drift = &alert["findings"][0];
    assert_eq!(drift["subject"], "capacity_drift.scaling", "{alert:#}");
    assert_eq!(drift["severity"], "MEDIUM", "{alert:#}");
    assert!(
        drift["evidence"].as_str().unwrap().starts_with("X(N*) "),
        "{alert:#}"
    );
}

#[test]
fn a_run_past_its_timeout_is_cancelled_and_sigterm_stops_the_daemon_cleanly() {
    let _host = sharing_the_host();
    let dir = tempfile::tempdir().unwrap();
    let (_server, target) = common::demo_server_child(&[]);
    let port = free_port();
    config(
        dir.path(),
        &format!(
            r#"[[service]]
name = "api"
url = "http://127.0.0.1:{target}"
[[scenario]]
name = "long"
service = "api"
kind = "bench"
connections = 2
duration = "30s"
[watch]
listen = "127.0.0.1:{port}"
[[job]]
name = "long"
every = "1s"
timeout = "1s"
"#
        ),
    );
    let mut daemon = daemon(dir.path(), port, &[]);
    wait_for(port, Duration::from_secs(20), "TIMEOUT", |v| {
        job(v, "long")["status"] == "TIMEOUT"
    });
    // The daemon keeps serving, and the run is kept as interrupted.
    assert_eq!(get(port, "/health", None).unwrap().0, 200);
    let history =
        scalewall_history::History::open(&dir.path().join(".scalewall/history.db")).unwrap();
    let runs = history.list(Some("long"), 10).unwrap();
    assert_eq!(runs.last().unwrap().status, "interrupted", "{runs:?}");
    // SIGTERM during a run: exit 0 within 5 s.
    wait_for(port, Duration::from_secs(10), "a run going", |v| {
        job(v, "long")["running"] == true
    });
    let pid = daemon.0.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let code = loop {
        if let Some(status) = daemon.0.try_wait().unwrap() {
            break status.code();
        }
        assert!(Instant::now() < deadline, "still running 5 s after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(code, Some(0));
    // `status` reads the job from the history without a daemon.
    let out = common::scalewall(&[
        "status",
        "-f",
        dir.path().join("scalewall.toml").to_str().unwrap(),
        "--history",
        dir.path().join(".scalewall/history.db").to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("long") && text.contains("TIMEOUT"), "{text}");
}

#[test]
fn a_non_loopback_listen_needs_a_token_and_the_token_guards_every_endpoint_but_health() {
    let _host = sharing_the_host();
    let dir = tempfile::tempdir().unwrap();
    let base = r#"[[service]]
name = "api"
url = "http://127.0.0.1:9"
[[scenario]]
name = "get"
service = "api"
kind = "bench"
duration = "1s"
[[job]]
name = "j"
every = "1h"
"#;
    config(
        dir.path(),
        &format!("{base}[watch]\nlisten = \"0.0.0.0:{}\"\n", free_port()),
    );
    let out = Command::new(assert_cmd::cargo::cargo_bin("scalewall"))
        .arg("watch")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is not loopback: set token"), "{stderr}");

    let port = free_port();
    let token = "0123456789abcdef-token";
    config(
        dir.path(),
        &format!("{base}[watch]\nlisten = \"127.0.0.1:{port}\"\ntoken = \"{token}\"\n"),
    );
    let _daemon = daemon(dir.path(), port, &[]);
    assert_eq!(get(port, "/health", None).unwrap().0, 200);
    for path in ["/", "/api/status", "/metrics"] {
        assert_eq!(get(port, path, None).unwrap().0, 401, "{path}");
        assert_eq!(
            get(port, path, Some("wrong-token-0123456")).unwrap().0,
            401,
            "{path}"
        );
        assert_eq!(get(port, path, Some(token)).unwrap().0, 200, "{path}");
    }
}

#[test]
fn once_runs_every_job_and_exits_with_the_worst_code() {
    let _host = sharing_the_host();
    let dir = tempfile::tempdir().unwrap();
    let (_server, target) = common::demo_server_child(&[]);
    config(
        dir.path(),
        &format!(
            r#"[[service]]
name = "api"
url = "http://127.0.0.1:{target}"
[[service]]
name = "gone"
url = "http://127.0.0.1:{}"
[[scenario]]
name = "get"
service = "api"
kind = "bench"
connections = 1
duration = "300ms"
[[scenario]]
name = "down"
service = "gone"
kind = "bench"
duration = "300ms"
[[job]]
name = "ok"
every = "1h"
scenarios = ["get"]
[[job]]
name = "broken"
every = "1h"
scenarios = ["down"]
"#,
            free_port()
        ),
    );
    let out = Command::new(assert_cmd::cargo::cargo_bin("scalewall"))
        .args(["watch", "--once"])
        .current_dir(dir.path())
        .timeout_output(Duration::from_secs(60));
    // The unreachable target is a CRITICAL finding: exit 5.
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let history =
        scalewall_history::History::open(&dir.path().join(".scalewall/history.db")).unwrap();
    assert_eq!(history.list(Some("ok"), 10).unwrap().len(), 1);
    assert_eq!(history.list(Some("broken"), 10).unwrap().len(), 1);
    drop(history);

    // Retention: both runs drop their per-interval detail, once; their
    // reports still render.
    let db = dir.path().join(".scalewall/history.db");
    let prune = || {
        common::scalewall(&[
            "history",
            "prune",
            "--keep-full",
            "0s",
            "--history",
            db.to_str().unwrap(),
        ])
    };
    let out = prune();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.starts_with("pruned 2 runs older than"),
        "{text}"
    );
    assert!(String::from_utf8_lossy(&prune().stdout).starts_with("pruned 0 runs"));
    let history = scalewall_history::History::open(&db).unwrap();
    let id = &history.list(Some("ok"), 1).unwrap()[0].id;
    assert!(history.load(id).unwrap().scenarios[0].steps[0]
        .intervals
        .is_empty());
    let out = common::scalewall(&["report", id, "--history", db.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("## Load results"));
}

/// `Command::output` with a bound.
trait TimeoutOutput {
    fn timeout_output(&mut self, limit: Duration) -> std::process::Output;
}

impl TimeoutOutput for Command {
    fn timeout_output(&mut self, limit: Duration) -> std::process::Output {
        let child = self
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        match rx.recv_timeout(limit) {
            Ok(out) => out.unwrap(),
            Err(_) => {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
                panic!("the command ran past {limit:?}");
            }
        }
    }
}

/// Issue 29, item 7: two jobs on two services. Stopping the gateway fails
/// the gateway's job only (a job probes the services its scenarios load,
/// not every service of the config); five failing runs send one alert, not
/// five; its recovery sends one "resolved" with how long it lasted.
#[test]
fn a_service_down_fails_only_its_job_and_alerts_once_then_resolves() {
    let _host = sharing_the_host();
    let dir = tempfile::tempdir().unwrap();
    let gateway = free_port();
    let (gateway_server, _) = demo_server_on(&format!("127.0.0.1:{gateway}"), &[]);
    let (_stores_server, stores) = common::demo_server_child(&[]);
    let (hook, alerts) = receiver();
    let port = free_port();
    config(
        dir.path(),
        &format!(
            r#"name = "platform"
[[service]]
name = "gateway"
url = "http://127.0.0.1:{gateway}"
health = "http://127.0.0.1:{gateway}/health"
[[service]]
name = "stores"
url = "http://127.0.0.1:{stores}"
health = "http://127.0.0.1:{stores}/health"
[[scenario]]
name = "gw-get"
service = "gateway"
kind = "bench"
connections = 1
duration = "200ms"
[[scenario]]
name = "store-get"
service = "stores"
kind = "bench"
connections = 1
duration = "200ms"
[watch]
listen = "127.0.0.1:{port}"
[[job]]
name = "gateway"
every = "1s"
scenarios = ["gw-get"]
[[job]]
name = "stores"
every = "1s"
scenarios = ["store-get"]
[[alert]]
url = "http://127.0.0.1:{hook}/hook"
on = ["status"]
"#
        ),
    );
    let _daemon = daemon(dir.path(), port, &[]);
    wait_for(port, Duration::from_secs(30), "both jobs OK", |v| {
        job(v, "gateway")["status"] == "OK" && job(v, "stores")["status"] == "OK"
    });
    drop(gateway_server);
    // Five failing runs in a row (runs are one at a time across the jobs,
    // each about 1.5 s with its probe: bounded generously).
    let down = wait_for(
        port,
        Duration::from_secs(90),
        "5 failing gateway runs",
        |v| {
            job(v, "gateway")["status"] == "FAILING"
                && job(v, "gateway")["consecutive"].as_u64() >= Some(5)
        },
    );
    let stores_runs = job(&down, "stores")["runs"].as_u64().unwrap();
    // The stores job ran while the gateway was down and stayed OK.
    let v = wait_for(port, Duration::from_secs(30), "another stores run", |v| {
        job(v, "stores")["runs"].as_u64() > Some(stores_runs)
    });
    assert_eq!(job(&v, "stores")["status"], "OK", "{v:#}");
    assert_eq!(job(&v, "stores")["errors"], 0, "{v:#}");
    let sent: Vec<serde_json::Value> = alerts.try_iter().collect();
    assert_eq!(sent.len(), 1, "one alert for five failing runs: {sent:#?}");
    assert_eq!(sent[0]["job"], "gateway");
    assert_eq!(sent[0]["state"], "firing");
    assert_eq!(sent[0]["status"], "FAILING");

    // It comes back: one "resolved", with its duration.
    let (_gateway_again, _) = demo_server_on(&format!("127.0.0.1:{gateway}"), &[]);
    wait_for(port, Duration::from_secs(30), "gateway RECOVERING", |v| {
        job(v, "gateway")["status"] == "RECOVERING"
    });
    let resolved = alerts
        .recv_timeout(Duration::from_secs(10))
        .expect("a resolved alert");
    assert_eq!(resolved["job"], "gateway", "{resolved:#}");
    assert_eq!(resolved["state"], "resolved", "{resolved:#}");
    assert_eq!(resolved["resolved"][0]["alert"], "status FAILING");
    assert!(
        f64_of(&resolved["resolved"][0]["duration_s"]) > 0.0,
        "{resolved:#}"
    );
    assert!(
        alerts.recv_timeout(Duration::from_secs(3)).is_err(),
        "nothing more"
    );

    // Issue 29, item 3: the engine report, live and on disk, holds both
    // jobs, the next analysis and the overall trend.
    let (code, page) = get(port, "/report", None).unwrap();
    assert_eq!(code, 200);
    assert!(page.contains("<h1>scalewall engine report</h1>"), "{page}");
    assert!(
        page.contains("<td class=\"text\">gateway</td>")
            && page.contains("<td class=\"text\">stores</td>"),
        "{page}"
    );
    assert!(page.contains("next analysis"), "{page}");
    let md = std::fs::read_to_string(dir.path().join(".scalewall/reports/engine.md")).unwrap();
    assert!(md.contains("| gateway | load | 1 s |"), "{md}");
    assert!(md.contains("**Overall trend: "), "{md}");
    let out = assert_cmd::Command::cargo_bin("scalewall")
        .unwrap()
        .current_dir(dir.path())
        .args(["status", "--report", "-o", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let engine: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(engine["jobs"].as_array().unwrap().len(), 2, "{engine:#}");
    assert!(engine["next_analysis"].is_string(), "{engine:#}");
}

fn f64_of(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// `scalewall report-job` in `dir` (its config gives the daemon's address).
fn report_job(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(assert_cmd::cargo::cargo_bin("scalewall"))
        .arg("report-job")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// Issue 29, item 2: the jobs people already have under the daemon. A
/// command that succeeds, one that fails (its exit code and the end of its
/// output say why), one past its timeout, and a push job that turns late,
/// then recovers when it reports itself; each as a load job is: in
/// /api/status, /metrics, the engine report, the alerts and `status`.
#[test]
fn command_and_push_jobs_run_fail_time_out_and_report_themselves() {
    let _host = sharing_the_host();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (hook, alerts) = receiver();
    config(
        dir.path(),
        &format!(
            r#"[watch]
listen = "127.0.0.1:{port}"
[[job]]
name = "tidy"
every = "1s"
command = ["sh", "-c", "echo tidied"]
[[job]]
name = "backup"
every = "1s"
command = "echo starting; echo 'pg_dump: error: disk full' >&2; exit 2"
shell = true
[[job]]
name = "hung"
every = "1s"
timeout = "1s"
command = ["sleep", "30"]
[[job]]
name = "nightly"
push = true
every = "2s"
grace = "1s"
[[alert]]
url = "http://127.0.0.1:{hook}/hook"
on = ["status"]
"#
        ),
    );
    let first = daemon(dir.path(), port, &[]);
    // The push job is due 3 s after the start; the hung one needs 1 s a run.
    let v = wait_for(port, Duration::from_secs(30), "every job judged", |v| {
        job(v, "tidy")["status"] == "OK"
            && job(v, "backup")["status"] == "FAILING"
            && job(v, "hung")["status"] == "TIMEOUT"
            && job(v, "nightly")["status"] == "FAILING"
    });
    assert_eq!(job(&v, "tidy")["kind"], "command");
    assert_eq!(job(&v, "tidy")["last_run"]["output"], "tidied\n");
    assert_eq!(job(&v, "tidy")["last_run"]["exit_code"], 0);
    let backup = &job(&v, "backup")["last_run"];
    assert_eq!(backup["exit_code"], 2, "{backup:#}");
    assert_eq!(
        backup["output"], "starting\npg_dump: error: disk full\n",
        "{backup:#}"
    );
    assert!(
        backup["error"].as_str().unwrap().starts_with(
            "job backup ended with exit code 2: last output: starting ⏎ pg_dump: error: disk full"
        ),
        "{backup:#}"
    );
    // Killed at its 1 s timeout, not at the 30 s sleep's end.
    let hung = job(&v, "hung")["last_run"]["duration_s"].as_f64().unwrap();
    assert!((1.0..5.0).contains(&hung), "{hung}");
    let nightly = &job(&v, "nightly");
    assert_eq!(nightly["kind"], "push");
    assert!(
        nightly["last_run"]["error"]
            .as_str()
            .unwrap()
            .starts_with("job nightly is late since "),
        "{nightly:#}"
    );
    // A report that is not one is refused with the reason; only a push
    // job's path takes a POST.
    let (code, why) = post(port, "/api/jobs/nightly/runs", r#"{"status":"done"}"#).unwrap();
    assert_eq!(
        (code, why.trim()),
        (
            400,
            "status 'done': expected \"ok\", \"error\" or \"timeout\""
        )
    );
    assert_eq!(post(port, "/api/status", "{}").unwrap().0, 405);
    assert_eq!(get(port, "/api/jobs/nightly/runs", None).unwrap().0, 405);
    // The job reports itself; a wrong name is refused with the right ones.
    let refused = report_job(dir.path(), &["nightlyy", "--status", "ok"]);
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("no push job 'nightlyy' (push jobs: nightly)"),
        "{said}"
    );
    let reported = report_job(
        dir.path(),
        &[
            "nightly",
            "--status",
            "ok",
            "--duration",
            "1m 30s",
            "--message",
            "3 files",
        ],
    );
    assert!(
        reported.status.success(),
        "{}",
        String::from_utf8_lossy(&reported.stderr)
    );
    let v = wait_for(port, Duration::from_secs(10), "the report recorded", |v| {
        job(v, "nightly")["last_run"]["outcome"] == "ok"
    });
    let nightly = &job(&v, "nightly");
    assert_ne!(nightly["status"], "FAILING", "{nightly:#}");
    assert_eq!(nightly["last_run"]["duration_s"], 90.0);
    assert_eq!(nightly["last_run"]["output"], "3 files");
    // Alerts as for load jobs: the failing command once, not once a run.
    let mut failing = Vec::new();
    while let Ok(alert) = alerts.recv_timeout(Duration::from_millis(500)) {
        failing.push(alert["job"].as_str().unwrap_or_default().to_string());
    }
    assert_eq!(
        failing.iter().filter(|j| *j == "backup").count(),
        1,
        "{failing:?}"
    );
    let (_, metrics) = get(port, "/metrics", None).unwrap();
    assert!(
        metrics.contains("job=\"backup\"") && metrics.contains("job=\"nightly\""),
        "{metrics}"
    );
    let (_, engine) = get(port, "/report.json", None).unwrap();
    let engine: serde_json::Value = serde_json::from_str(&engine).unwrap();
    let kinds: Vec<&str> = engine["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["command", "command", "command", "push"]);
    let (_, markdown) = get(port, "/report", None).unwrap();
    assert!(markdown.contains("exit code 2"), "{markdown}");
    // `status` replays them from the history, without the daemon.
    let status = Command::new(assert_cmd::cargo::cargo_bin("scalewall"))
        .args(["status", "-o", "json"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(job(&status, "backup")["status"], "FAILING", "{status:#}");
    assert_eq!(job(&status, "hung")["status"], "TIMEOUT", "{status:#}");
    // Killed and restarted, the daemon resumes its counters and what it
    // had firing: the failing command's runs go on from where they were,
    // and its alert is not sent again.
    drop(first);
    let saved: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join(".scalewall/reports/watch-state.json")).unwrap(),
    )
    .unwrap();
    let runs_before = saved["jobs"]["backup"][0].as_u64().unwrap();
    let sent_before = saved["alerts"][0]["sent"].as_u64().unwrap();
    assert!(runs_before >= 1 && sent_before >= 2, "{saved:#}");
    let _second = daemon(dir.path(), port, &[]);
    let v = wait_for(port, Duration::from_secs(20), "two more backup runs", |v| {
        job(v, "backup")["runs"].as_u64() >= Some(runs_before + 2)
    });
    assert_eq!(job(&v, "backup")["status"], "FAILING", "{v:#}");
    assert!(
        job(&v, "backup")["errors"].as_u64() >= Some(runs_before + 2),
        "{v:#}"
    );
    assert!(
        v["alerts"][0]["sent"].as_u64() >= Some(sent_before),
        "{v:#}"
    );
    while let Ok(alert) = alerts.try_recv() {
        assert_ne!(
            alert["job"], "backup",
            "sent again after a restart: {alert:#}"
        );
    }
}
