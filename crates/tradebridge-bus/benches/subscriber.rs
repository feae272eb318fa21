//! The Rust side of the bus in one run: the subscriber's receive path (split, exact topic match, decode
//! with full validation, gap accounting) next to a bare `decode_frame`, the publisher's framing
//! (encode plus envelope splice) next to a bare `encode_frame`, and a real PUB->SUB pipe over inproc.
//! Target: the subscriber decodes at least 1,000,000 BarUpdates per second.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tradebridge_bus::{Options, Publisher, Subscriber};
use tradebridge_contracts::{decode_frame, encode_frame, BarUpdate, Message, SchemaVersion, Topic};

fn bar(i: u64) -> Message {
    let price = 150.0 + (i % 100) as f64 * 0.01;
    Message::BarUpdate(BarUpdate {
        symbol: "AAPL".into(),
        open: price,
        high: price + 0.5,
        low: price - 0.5,
        close: price + 0.25,
        volume: 1_000_000.0,
        timestamp: 1_729_530_000_123 + i,
        vwap: None,
        trade_count: None,
        schema_version: SchemaVersion::default(),
        seq: None,
        source: None,
        sent_at_us: None,
    })
}

fn receive_path(c: &mut Criterion) {
    let mut publisher = Publisher::bind("inproc://bench-frames").unwrap();
    let frames: Vec<Vec<u8>> = (0..1024)
        .map(|i| publisher.frame(&bar(i)).to_vec())
        .collect();
    let mut group = c.benchmark_group("bus receive BarUpdate");
    group.throughput(Throughput::Elements(frames.len() as u64));
    let mut subscriber = Subscriber::connect("inproc://bench-nobody", &[Topic::Market]).unwrap();
    group.bench_function("Subscriber::handle_frame", |b| {
        b.iter(|| {
            for frame in &frames {
                black_box(subscriber.handle_frame(black_box(frame)).unwrap());
            }
        })
    });
    group.bench_function("bare decode_frame", |b| {
        b.iter(|| {
            for frame in &frames {
                black_box(decode_frame(black_box(frame)).unwrap());
            }
        })
    });
    group.finish();

    let messages: Vec<Message> = (0..1024).map(bar).collect();
    let mut group = c.benchmark_group("bus publish framing BarUpdate");
    group.throughput(Throughput::Elements(messages.len() as u64));
    group.bench_function("Publisher::frame (numbered)", |b| {
        b.iter(|| {
            for message in &messages {
                black_box(publisher.frame(black_box(message)));
            }
        })
    });
    group.bench_function("bare encode_frame", |b| {
        b.iter(|| {
            for message in &messages {
                black_box(encode_frame(black_box(message)));
            }
        })
    });
    group.finish();
}

fn socket_pipe(c: &mut Criterion) {
    // one process, one context, inproc: the bus itself without the kernel in the way
    let context = zmq::Context::new();
    let unbounded = Options {
        send_hwm: 0,
        receive_hwm: 0,
        ..Options::default()
    };
    let mut publisher =
        Publisher::new("inproc://bench-pipe", true, unbounded, Some(&context), None).unwrap();
    let mut subscriber = Subscriber::new(
        "inproc://bench-pipe",
        &[Topic::Market],
        false,
        unbounded,
        Some(&context),
    )
    .unwrap();
    publisher
        .wait_for_subscribers(1, Duration::from_secs(5), None)
        .unwrap();
    let messages: Vec<Message> = (0..1024).map(bar).collect();
    let mut group = c.benchmark_group("bus inproc pipe BarUpdate");
    group.throughput(Throughput::Elements(messages.len() as u64));
    group.bench_function("publish + recv", |b| {
        b.iter(|| {
            for message in &messages {
                publisher.publish(message).unwrap();
            }
            for _ in &messages {
                black_box(subscriber.recv().unwrap());
            }
        })
    });
    group.finish();
    assert_eq!(subscriber.stats().gaps, 0);
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = receive_path, socket_pipe
}
criterion_main!(benches);
