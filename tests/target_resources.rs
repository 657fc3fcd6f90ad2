//! Issue 13: a target is the whole service, not one pid. Each test starts a
//! real multi-process server (a Python prefork or fork-per-request server,
//! nginx, PostgreSQL), loads it with `scalewall bench`, and checks the
//! target's CPU and memory against an independent reading: the test's own
//! parse of /proc for every process of the server, taken around the run,
//! or a known CPU burn per request.

mod common;

use common::{f, json, scalewall, under_ci, Reaped};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// A small HTTP server: `prefork` forks WORKERS workers that accept on one
/// socket (keep-alive); `fork` forks a child per request (Connection:
/// close), reaped by the parent. Every request burns BURN_MS of CPU. The
/// parent first touches SHARE_MIB of memory its workers share unwritten.
/// Workers die with the parent (PR_SET_PDEATHSIG).
const SERVER: &str = r#"
import ctypes, os, signal, socket, sys, time
port, mode, workers, burn, share = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4]) / 1000, int(sys.argv[5])
data = bytearray(share * 1024 * 1024)
for i in range(0, len(data), 4096):
    data[i] = 1
libc = ctypes.CDLL(None)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen(512)
def burn_cpu():
    end = time.process_time() + burn
    while time.process_time() < end:
        pass
def serve(c, keep):
    buf = b""
    while True:
        d = c.recv(65536)
        if not d:
            break
        buf += d
        while b"\r\n\r\n" in buf:
            _, buf = buf.split(b"\r\n\r\n", 1)
            burn_cpu()
            if keep:
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            else:
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                c.close()
                return
    c.close()
pids = []
if mode == "prefork":
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:
            libc.prctl(1, signal.SIGKILL)
            while True:
                c, _ = s.accept()
                serve(c, True)
        pids.append(pid)
    print("ready", *pids, flush=True)
    while True:
        time.sleep(1)
else:
    def reap(*_):
        try:
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        except ChildProcessError:
            pass
    signal.signal(signal.SIGCHLD, reap)
    print("ready", flush=True)
    while True:
        c, _ = s.accept()
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            libc.prctl(1, signal.SIGKILL)
            s.close()
            serve(c, False)
            os._exit(0)
        c.close()
"#;

/// Starts the Python server; `None` (skipped, or a panic under CI) when
/// python3 is missing. Returns the child, its port and the worker pids.
fn python_server(
    mode: &str,
    workers: u32,
    burn_ms: u32,
    share_mib: u32,
    wrap: Option<&str>,
) -> Option<(Reaped, u16, Vec<i32>)> {
    let dir = std::env::temp_dir().join(format!("scalewall-target-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("server.py");
    std::fs::write(&script, SERVER).unwrap();
    let port = common::free_port();
    let args = [
        script.to_str().unwrap().to_string(),
        port.to_string(),
        mode.to_string(),
        workers.to_string(),
        burn_ms.to_string(),
        share_mib.to_string(),
    ];
    let spawned = match wrap {
        // `sh -c 'echo $$ > cgroup.procs; exec python3 …'`: the server
        // and every process it forks start inside the cgroup.
        Some(procs) => Command::new("sh")
            .arg("-c")
            .arg(format!("echo $$ > {procs} && exec python3 \"$@\""))
            .arg("sh")
            .args(&args)
            .stdout(Stdio::piped())
            .spawn(),
        None => Command::new("python3")
            .args(&args)
            .stdout(Stdio::piped())
            .spawn(),
    };
    let Ok(child) = spawned else {
        assert!(
            !under_ci(),
            "python3 is needed for the target tests under CI"
        );
        eprintln!("skipped: python3 not found (it runs the multi-process servers)");
        return None;
    };
    let mut child = Reaped(child);
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let mut words = line.split_whitespace();
    assert_eq!(words.next(), Some("ready"), "{line}");
    let workers = words.map(|w| w.parse().unwrap()).collect();
    Some((child, port, workers))
}

/// The test's own reading of a process: (utime + stime, cutime + cstime)
/// in seconds, from /proc/PID/stat.
fn cpu_of(pid: i32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let Some((_, rest)) = stat.rsplit_once(") ") else {
        return (0.0, 0.0);
    };
    // After the command: state is field 3; utime..cstime are fields 14–17.
    let fields: Vec<f64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    let ticks = 100.0; // USER_HZ on Linux
    (
        (fields[11] + fields[12]) / ticks,
        (fields[13] + fields[14]) / ticks,
    )
}

/// Every process whose parent chain reaches `root` (root included).
fn tree_of(root: i32) -> Vec<i32> {
    let mut parents = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if let Some((_, rest)) = stat.rsplit_once(") ") {
            if let Some(ppid) = rest.split_whitespace().nth(1).and_then(|p| p.parse().ok()) {
                parents.push((pid, ppid));
            }
        }
    }
    let mut tree = vec![root];
    loop {
        let before = tree.len();
        for &(pid, ppid) in &parents {
            if tree.contains(&ppid) && !tree.contains(&pid) {
                tree.push(pid);
            }
        }
        if tree.len() == before {
            return tree;
        }
    }
}

/// The whole tree's CPU so far: own time of every live member, plus the
/// root's reaped-children time.
fn tree_cpu(root: i32) -> f64 {
    tree_of(root)
        .into_iter()
        .map(|pid| {
            let (own, reaped) = cpu_of(pid);
            own + reaped
        })
        .sum()
}

fn bench(url: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["bench", url, "-o", "json", "--no-history"];
    args.extend_from_slice(extra);
    let out = scalewall(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    json(&out)
}

fn within(measured: f64, known: f64, share: f64) -> bool {
    (measured - known).abs() <= share * known + 0.03
}

#[test]
fn a_prefork_servers_workers_are_counted() {
    let Some((server, port, workers)) = python_server("prefork", 3, 2, 1, None) else {
        return;
    };
    let root = server.0.id() as i32;
    assert_eq!(workers.len(), 3);
    let before = tree_cpu(root);
    let v = bench(
        &format!("http://127.0.0.1:{port}/"),
        &["-c", "3", "-d", "2s"],
    );
    let independent = tree_cpu(root) - before;
    let reported = f(&v, "/resources/target/cpu_s");
    eprintln!("prefork: scalewall {reported:.3} CPU-s, /proc {independent:.3} CPU-s");
    assert!(
        within(reported, independent, 0.10),
        "scalewall {reported} vs /proc {independent}"
    );
    // The workers burn 2 ms a request: the CPU is at least that.
    let requests = f(&v, "/requests");
    assert!(
        reported >= 0.9 * requests * 0.002,
        "{reported} for {requests}"
    );
    let members = v["resources"]["target"]["members"].as_array().unwrap();
    let roles: Vec<&str> = members
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(
        roles,
        ["listener", "worker", "worker", "worker"],
        "{members:?}"
    );
}

#[test]
fn a_fork_per_request_servers_exited_children_are_counted() {
    let Some((server, port, _)) = python_server("fork", 0, 5, 1, None) else {
        return;
    };
    let root = server.0.id() as i32;
    let before = tree_cpu(root);
    let parent_before = cpu_of(root).0;
    let v = bench(
        &format!("http://127.0.0.1:{port}/"),
        &["-c", "2", "-d", "2s"],
    );
    std::thread::sleep(Duration::from_millis(300)); // the last children are reaped
    let independent = tree_cpu(root) - before;
    let parent_own = cpu_of(root).0 - parent_before;
    let reported = f(&v, "/resources/target/cpu_s");
    let requests = f(&v, "/requests");
    eprintln!(
        "fork per request: scalewall {reported:.3} CPU-s, /proc {independent:.3} CPU-s, {requests} requests × 5 ms = {:.3}",
        requests * 0.005
    );
    assert!(requests >= 20.0, "{v:#}");
    assert!(
        within(reported, independent, 0.15),
        "scalewall {reported} vs /proc {independent}"
    );
    assert!(reported >= 0.9 * requests * 0.005, "{reported}");
    // Most of it was the children's, seen only through the parent's
    // reaped-children time: the parent's own time is the smaller part.
    assert!(
        parent_own < 0.5 * reported,
        "parent {parent_own} of {reported}"
    );
}

/// The test's own PSS sum over a tree, bytes.
fn pss_of_tree(root: i32) -> u64 {
    tree_of(root)
        .into_iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok())
        .filter_map(|text| {
            text.lines()
                .find(|l| l.starts_with("Pss:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .sum::<u64>()
        * 1024
}

#[test]
fn shared_memory_is_counted_once() {
    // A parent touches 64 MiB that its 2 workers share unwritten: RSS
    // counts it three times, PSS once.
    let Some((server, port, _)) = python_server("prefork", 2, 0, 64, None) else {
        return;
    };
    let root = server.0.id() as i32;
    let v = bench(
        &format!("http://127.0.0.1:{port}/"),
        &["-c", "2", "-d", "1s"],
    );
    let independent = pss_of_tree(root) as f64;
    let reported = f(&v, "/resources/target/rss_end_bytes");
    assert_eq!(v["resources"]["target"]["memory"], "pss");
    eprintln!(
        "shared memory: scalewall {:.1} MiB, test's PSS sum {:.1} MiB",
        reported / 1048576.0,
        independent / 1048576.0
    );
    assert!(
        (reported - independent).abs() <= 0.10 * independent,
        "{reported} vs {independent}"
    );
    assert!(
        reported < 2.0 * 64.0 * 1048576.0,
        "the shared 64 MiB was counted more than once"
    );
}

/// A cgroup v2 the test creates; killed and removed on drop.
struct Cgroup(std::path::PathBuf);

impl Drop for Cgroup {
    fn drop(&mut self) {
        let _ = std::fs::write(self.0.join("cgroup.kill"), "1");
        for _ in 0..50 {
            if std::fs::remove_dir(&self.0).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn cgroup2_mount() -> Option<std::path::PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    text.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        (right.split_whitespace().next() == Some("cgroup2"))
            .then(|| left.split_whitespace().nth(4).map(Into::into))
            .flatten()
    })
}

fn usage_usec(dir: &Path) -> f64 {
    std::fs::read_to_string(dir.join("cpu.stat"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("usage_usec "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

#[test]
fn a_cgroup_is_measured_from_its_own_counters() {
    let name = format!("scalewall-test-{}", std::process::id());
    let made = cgroup2_mount().and_then(|mount| {
        let dir = mount.join(&name);
        std::fs::create_dir(&dir).ok().map(|_| Cgroup(dir))
    });
    let Some(cgroup) = made else {
        // Not every machine lets a test make a cgroup (no cgroup2 mount,
        // no write access): then there is nothing to select.
        eprintln!("skipped: cannot create a cgroup v2 here");
        return;
    };
    let procs = cgroup.0.join("cgroup.procs");
    let Some((_server, port, _)) = python_server("prefork", 2, 2, 1, Some(procs.to_str().unwrap()))
    else {
        return;
    };
    let before = usage_usec(&cgroup.0);
    let v = bench(
        &format!("http://127.0.0.1:{port}/"),
        &[
            "-c",
            "2",
            "-d",
            "2s",
            "--target-process",
            &format!("cgroup:{name}"),
        ],
    );
    let independent = (usage_usec(&cgroup.0) - before) / 1e6;
    let reported = f(&v, "/resources/target/cpu_s");
    eprintln!("cgroup: scalewall {reported:.3} CPU-s, cpu.stat {independent:.3} CPU-s");
    assert!(
        within(reported, independent, 0.10),
        "{reported} vs {independent}"
    );
    assert_eq!(
        v["resources"]["target"]["members"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let requests = f(&v, "/requests");
    assert!(
        reported >= 0.9 * requests * 0.002,
        "{reported} for {requests}"
    );
}

#[test]
fn a_cpu_hog_beside_the_target_is_everything_else_and_saturates_the_host() {
    let Some((_server, port, _)) = python_server("prefork", 2, 1, 1, None) else {
        return;
    };
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let hogs: Vec<Reaped> = (0..cores)
        .map(|_| {
            Reaped(
                Command::new("sh")
                    .args(["-c", "while :; do :; done"])
                    .spawn()
                    .unwrap(),
            )
        })
        .collect();
    // The hogs' CPU over the step's own span, not around the whole
    // command: the command also starts, checks the target and writes its
    // output, and there the hogs have the cores to themselves (measured
    // around the command they used 4.85-5.79 CPU-s beside a 2 s step's
    // 2.07-2.11 of everything else, and this test failed 2 runs in 3). A
    // thread reads their CPU every 10 ms with the wall clock; the step's
    // span is `resources.started_at` + `resources.wall_s`.
    let pids: Vec<i32> = hogs.iter().map(|h| h.0.id() as i32).collect();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut readings: Vec<(std::time::SystemTime, f64)> = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let cpu: f64 = pids.iter().map(|&pid| cpu_of(pid).0).sum();
                readings.push((std::time::SystemTime::now(), cpu));
                std::thread::sleep(Duration::from_millis(10));
            }
            readings
        })
    };
    let v = bench(
        &format!("http://127.0.0.1:{port}/"),
        &["-c", "2", "-d", "2s"],
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let readings = sampler.join().unwrap();
    let started = humantime::parse_rfc3339(v["resources"]["started_at"].as_str().unwrap())
        .expect("resources.started_at is RFC 3339");
    let ended = started + Duration::from_secs_f64(f(&v, "/resources/wall_s"));
    // The hogs' CPU at a moment: the last reading at or before it (readings
    // are 10 ms apart; /proc counts 10 ms ticks).
    let cpu_at = |at: std::time::SystemTime| -> f64 {
        readings
            .iter()
            .take_while(|(when, _)| *when <= at)
            .last()
            .map_or(0.0, |(_, cpu)| *cpu)
    };
    let hogged = cpu_at(ended) - cpu_at(started);
    let other = f(&v, "/resources/other_cpu_s");
    eprintln!(
        "attribution: over the step's {:.3} s the hogs used {hogged:.3} CPU-s (/proc), scalewall's everything else {other:.3}",
        f(&v, "/resources/wall_s")
    );
    // Everything else holds the hogs and also what no process is charged
    // for (the kernel's softirq work for the loopback traffic, ksoftirqd)
    // and any other process of the host: a CI run saw 2.18 CPU-s beside
    // the hogs' 1.95. The readings are 10 ms apart at each end of the span,
    // two hogs' worth: 0.05 CPU-s.
    assert!(
        other >= hogged - 0.05 && other <= hogged * 1.25 + 0.05,
        "{other} vs {hogged}"
    );
    assert!(
        v["resources"]["flags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "host_saturated"),
        "{:#}",
        v["resources"]
    );
}

#[test]
fn postgresql_backends_are_counted_with_the_postmaster() {
    if !common::service_answers("PostgreSQL", 5432) {
        return;
    }
    // The postmaster: the postgres process whose parent is not one; the
    // test sums its whole tree itself.
    let comm = |pid: i32| {
        std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    let ppid = |pid: i32| -> i32 {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| s.rsplit_once(") ").map(|(_, r)| r.to_string()))
            .and_then(|r| r.split_whitespace().nth(1).and_then(|p| p.parse().ok()))
            .unwrap_or(0)
    };
    let postmaster = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<i32>().ok())
        .find(|&pid| comm(pid) == "postgres" && comm(ppid(pid)) != "postgres");
    let Some(postmaster) = postmaster else {
        assert!(!under_ci(), "the postmaster must run on this host under CI");
        eprintln!("skipped: PostgreSQL answers but its postmaster is not on this host");
        return;
    };
    let before = tree_cpu(postmaster);
    let v = bench(
        "postgres://postgres@127.0.0.1:5432/test",
        &["-c", "8", "-d", "3s"],
    );
    std::thread::sleep(Duration::from_millis(300)); // backends exit and are reaped
    let independent = tree_cpu(postmaster) - before;
    let reported = f(&v, "/resources/target/cpu_s");
    let per_1000 = f(&v, "/resources/target/cpu_s_per_1000_ops");
    eprintln!(
        "PostgreSQL: scalewall {reported:.3} CPU-s ({per_1000:.4} per 1,000 queries), /proc {independent:.3} CPU-s"
    );
    assert!(reported > 0.1, "the backends did the work: {reported}");
    assert!(
        within(reported, independent, 0.15),
        "scalewall {reported} vs /proc {independent}"
    );
}

#[test]
fn nginx_workers_are_counted_with_the_master() {
    let Some(nginx) = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| Path::new(p).exists())
    else {
        assert!(
            !under_ci(),
            "nginx must be installed under CI (.ci/run installs it)"
        );
        eprintln!("skipped: nginx not installed");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let conf = dir.path().join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "worker_processes 2;\ndaemon off;\npid {0}/nginx.pid;\nerror_log {0}/error.log;\n\
             events {{ worker_connections 256; }}\n\
             http {{ access_log off; client_body_temp_path {0}; proxy_temp_path {0}; fastcgi_temp_path {0}; uwsgi_temp_path {0}; scgi_temp_path {0};\n\
             server {{ listen 127.0.0.1:{port}; location / {{ return 200 \"ok\"; }} }} }}\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let master = Nginx(Reaped(
        Command::new(nginx)
            .args([
                "-c",
                conf.to_str().unwrap(),
                "-p",
                dir.path().to_str().unwrap(),
            ])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    ));
    let root = master.0 .0.id() as i32;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while tree_of(root).len() < 3 || std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "nginx did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let before = tree_cpu(root);
    let v = bench(
        &format!("http://127.0.0.1:{port}/"),
        &["-c", "8", "-d", "2s"],
    );
    let independent = tree_cpu(root) - before;
    let reported = f(&v, "/resources/target/cpu_s");
    eprintln!(
        "nginx (2 workers): scalewall {reported:.3} CPU-s ({:.4} per 1,000 requests), /proc {independent:.3} CPU-s",
        f(&v, "/resources/target/cpu_s_per_1000_ops")
    );
    assert!(reported > 0.1, "the workers did the work: {reported}");
    assert!(
        within(reported, independent, 0.10),
        "scalewall {reported} vs /proc {independent}"
    );
}

/// nginx stopped gracefully on drop (its workers outlive a killed master):
/// SIGQUIT, a bounded wait, then SIGKILL.
struct Nginx(Reaped);

impl Drop for Nginx {
    fn drop(&mut self) {
        let pid = self.0 .0.id().to_string();
        let _ = Command::new("kill").args(["-QUIT", &pid]).status();
        for _ in 0..100 {
            if matches!(self.0 .0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Issue 29, item 5, the leak verdict's known answer: demo-server `--leak
/// 2MiB/s` grows 120 MiB a minute, and a 60 s bench finds the slope within
/// 10 % with a MEDIUM finding in the stored run; the same server without
/// the leak, benched at the same time, gets no finding and says "no growth
/// detected". Both benches run at once (an open model at 200/s each: light
/// load), so the test takes one minute, not two.
#[test]
fn a_leaking_target_is_found_and_a_steady_one_is_not() {
    let (_leaky, leaky_port) = common::demo_server_child(&["--leak", "2MiB/s"]);
    let (_steady, steady_port) = common::demo_server_child(&[]);
    let dir = tempfile::tempdir().unwrap();
    let bench = |port: &str, name: &str| {
        let save = dir.path().join(format!("{name}.json"));
        let child = Command::new(assert_cmd::cargo::cargo_bin("scalewall"))
            .args([
                "bench",
                &format!("http://127.0.0.1:{port}/"),
                "-c",
                "4",
                "-r",
                "200",
                "-d",
                "60s",
                "-o",
                "json",
                "--no-history",
                "--no-progress",
                "--save",
            ])
            .arg(&save)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        (Reaped(child), save)
    };
    let (mut leaky, leaky_save) = bench(&leaky_port, "leaky");
    let (mut steady, steady_save) = bench(&steady_port, "steady");
    // Bounded: a 60 s step and the command around it, on a busy machine.
    let finish = |child: &mut Reaped| -> serde_json::Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(150);
        while child.0.try_wait().unwrap().is_none() {
            assert!(std::time::Instant::now() < deadline, "bench did not finish");
            std::thread::sleep(Duration::from_millis(200));
        }
        let mut out = String::new();
        std::io::Read::read_to_string(&mut child.0.stdout.take().unwrap(), &mut out).unwrap();
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.0.stderr.take().unwrap(), &mut err).unwrap();
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"))
    };
    let leaky_json = finish(&mut leaky);
    let steady_json = finish(&mut steady);
    let growth = &leaky_json["resources"]["memory_growth"];
    eprintln!("leaky: {growth:#}");
    assert_eq!(growth["verdict"], "suspected_leak", "{growth:#}");
    let per_min = f(growth, "/bytes_per_h") / 60.0;
    let known = 2.0 * 1024.0 * 1024.0 * 60.0;
    assert!(
        (per_min / known - 1.0).abs() < 0.10,
        "{} MiB/min against 120",
        per_min / 1048576.0
    );
    assert!(f(growth, "/low_bytes_per_h") > 0.0);
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&leaky_save).unwrap()).unwrap();
    let leak = run["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["subject"] == "bench.memory_growth")
        .unwrap_or_else(|| panic!("no leak finding: {:#}", run["findings"]));
    assert_eq!(leak["severity"], "MEDIUM");
    assert!(
        leak["message"].as_str().unwrap().contains("suspected leak"),
        "{leak:#}"
    );
    assert!(leak["fix"].as_str().unwrap().contains("a day"), "{leak:#}");

    let calm = &steady_json["resources"]["memory_growth"];
    eprintln!("steady: {calm:#}");
    assert_eq!(calm["verdict"], "no_growth", "{calm:#}");
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&steady_save).unwrap()).unwrap();
    assert!(
        run["findings"].as_array().is_none_or(|f| f.is_empty()),
        "{:#}",
        run["findings"]
    );
}
