//! Hot-path cost of the instruments a service updates per message, next to the obvious baseline
//! (a `Mutex<u64>` counter and a `Mutex<Vec<f64>>` of samples), and the cost of rendering `/metrics`.

use std::hint::black_box;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use criterion::{criterion_group, criterion_main, Criterion};
use tradebridge_health::{HealthCheck, Telemetry};

fn counters(c: &mut Criterion) {
    let telemetry = Telemetry::new();
    let mutex = Mutex::new(0_u64);
    let mut group = c.benchmark_group("counter_inc");
    group.bench_function("tradebridge_atomic", |b| {
        b.iter(|| black_box(telemetry.messages_processed()).inc())
    });
    group.bench_function("baseline_mutex", |b| {
        b.iter(|| {
            *black_box(&mutex)
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) += 1
        })
    });
    group.finish();

    let histogram = telemetry.latency("decode");
    let samples = Mutex::new(Vec::<f64>::with_capacity(1 << 20));
    let mut group = c.benchmark_group("latency_observe");
    group.bench_function("tradebridge_histogram", |b| {
        b.iter(|| histogram.observe(black_box(Duration::from_micros(42))))
    });
    group.bench_function("baseline_mutex_vec", |b| {
        b.iter(|| {
            let mut guard = samples
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if guard.len() == guard.capacity() {
                guard.clear();
            }
            guard.push(black_box(42e-6));
        })
    });
    group.finish();
}

fn bodies(c: &mut Criterion) {
    let check = HealthCheck::healthy("market-data").with_metric("websocket_connected", "true");
    check
        .telemetry()
        .latency("decode")
        .observe(Duration::from_micros(30));
    check.track("market", || {
        vec![
            ("received", 10),
            ("malformed", 0),
            ("gaps", 1),
            ("dropped", 3),
        ]
    });
    let mut group = c.benchmark_group("render");
    group.bench_function("health_json", |b| {
        b.iter(|| {
            serde_json::to_vec(&check.health_body(SystemTime::now()))
                .map(|v| v.len())
                .unwrap_or(0)
        })
    });
    group.finish();
}

criterion_group!(benches, counters, bodies);
criterion_main!(benches);
