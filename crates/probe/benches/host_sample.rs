//! Cost of one full host sample (CPU, memory, load, processes by state,
//! uptime, disk, network, open files): what a 1 Hz sampler pays per second.
//! Target (issue: probes): under 1 % of one core at 1 Hz, i.e. < 10 ms per
//! sample. Run: `cargo bench -p scalewall-probe`.

use criterion::{criterion_group, criterion_main, Criterion};
use scalewall_probe::host::HostProbe;
use scalewall_probe::Probe;

fn bench_host_sample(c: &mut Criterion) {
    let mut probe = HostProbe::new(vec!["/".into()]).expect("host probe");
    c.bench_function("host_sample", |b| {
        b.iter(|| probe.sample().expect("sample"))
    });
}

criterion_group!(benches, bench_host_sample);
criterion_main!(benches);
