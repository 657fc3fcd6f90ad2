//! Time to fit the USL to 1,000 (concurrency, throughput) points.
//! Target (issue: sweep and USL): under 10 ms. Run: `cargo bench -p scalewall-stats`.

use criterion::{criterion_group, criterion_main, Criterion};
use scalewall_stats::usl::{fit, usl, Point};
use std::hint::black_box;

fn points(count: usize) -> Vec<Point> {
    // A curve with a peak near N = 22, with ±2 % deterministic noise.
    (0..count)
        .map(|i| {
            let n = 1.0 + i as f64 * 0.1;
            let noise = 1.0 + 0.02 * ((i as f64 * 12.9898).sin() * 43_758.545).fract();
            Point {
                concurrency: n,
                throughput: usl(0.05, 0.002, 200.0, n) * noise,
            }
        })
        .collect()
}

fn bench_fit(c: &mut Criterion) {
    let data = points(1000);
    c.bench_function("usl_fit_1000_points", |b| {
        b.iter(|| fit(black_box(&data)).expect("fits"))
    });
}

criterion_group!(benches, bench_fit);
criterion_main!(benches);
