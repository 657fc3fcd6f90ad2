//! CPU cost of the 1 Hz resource sampler (host probe plus one process
//! probe), measured with this process's own CPU time while the main thread
//! only sleeps. Target (issue: probes): < 1 % of one core over 60 s.
//! Run: `cargo bench -p scalewall-probe --bench sampler_overhead`
//! (`SAMPLER_SECONDS` shortens or lengthens the run).

use scalewall_probe::step_meter::StepMeter;
use std::time::{Duration, Instant};

fn process_cpu_seconds() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a rusage into the valid pointer it is given.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    assert_eq!(rc, 0, "getrusage failed");
    // SAFETY: getrusage succeeded, so the struct is initialised.
    let usage = unsafe { usage.assume_init() };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

fn main() {
    let seconds: u64 = std::env::var("SAMPLER_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let cpu_before = process_cpu_seconds();
    let wall = Instant::now();
    // A target set of one idle child process (the meter leaves itself out).
    let mut child = std::process::Command::new("sleep")
        .arg("3600")
        .spawn()
        .expect("sleep starts");
    let selector = scalewall_probe::target::TargetSelector::Processes {
        roots: scalewall_probe::process::ProcessSelector::Pid(child.id() as i32),
        tree: true,
    };
    let meter = StepMeter::start(Some(&selector), Duration::from_secs(1)).expect("meter starts");
    std::thread::sleep(Duration::from_secs(seconds));
    let resources = meter.finish().expect("meter finishes");
    let cpu = process_cpu_seconds() - cpu_before;
    let wall = wall.elapsed().as_secs_f64();
    let _ = child.kill();
    let _ = child.wait();
    println!(
        "sampler at 1 Hz: {} samples in {wall:.1} s, {cpu:.3} CPU-s = {:.3} % of one core (target < 1 %)",
        resources.samples.len(),
        100.0 * cpu / wall
    );
}
