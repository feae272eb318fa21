//! `market-data`'s hot path against its baseline, on the same pre-encoded msgpack frames (100 points
//! each: bars, trades and quotes of 10 symbols, as Alpaca batches them):
//!
//! - `bare_rmp_serde_decode`: a hand-written loop that only decodes the frames with rmp-serde into plain
//!   structs (no validation, no bus);
//! - `decode_map_publish`: the service's own code: [`FrameReader`] (lenient decode, contract checks,
//!   counters) on this thread, then the publisher thread encoding and sending every message into a real
//!   bound socket, with a subscribed SUB draining it on a third thread; timed until the last message
//!   was handed to ZeroMQ.
//!
//! After criterion, one more timed pass of each prints msgs/s and the ratio (the issue asks >= 500k
//! msgs/s and within 2x of the bare loop). `cargo bench -p tradebridge-marketdata`.
#![allow(clippy::print_stdout)]

use std::fmt;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, Throughput};
use rmpv::Value;
use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::Deserialize;
use tokio::sync::mpsc;
use tradebridge_bus::Publisher;
use tradebridge_health::Telemetry;
use tradebridge_marketdata::map::Market;
use tradebridge_marketdata::metrics::{Channel, Shared};
use tradebridge_marketdata::protocol::timestamp_ext;
use tradebridge_marketdata::publish::{self, Batch};
use tradebridge_marketdata::stream::{Frame, FrameReader};

const FRAMES: usize = 500;
const POINTS_PER_FRAME: usize = 100;
const SYMBOLS: [&str; 10] = [
    "AAPL", "MSFT", "NVDA", "AMZN", "GOOG", "META", "TSLA", "BRK.B", "JPM", "V",
];

fn entry(key: &str, value: Value) -> (Value, Value) {
    (key.into(), value)
}

/// Pre-encoded frames; bar times rise per symbol so none is dropped as a repeat.
fn frames() -> Vec<Vec<u8>> {
    let base: i128 = 1_700_000_000_000_000_000;
    let mut minute = 0i128;
    (0..FRAMES)
        .map(|f| {
            let points = (0..POINTS_PER_FRAME)
                .map(|i| {
                    let n = f * POINTS_PER_FRAME + i;
                    let symbol = SYMBOLS[n % SYMBOLS.len()];
                    let price = 100.0 + (n % 97) as f64 * 0.01;
                    if n.is_multiple_of(SYMBOLS.len()) {
                        minute += 1;
                    }
                    let t = Value::Ext(-1, timestamp_ext(base + minute * 60_000_000_000));
                    let fields = match n % 3 {
                        0 => vec![
                            entry("T", "b".into()),
                            entry("S", symbol.into()),
                            entry("o", price.into()),
                            entry("h", (price + 0.5).into()),
                            entry("l", (price - 0.5).into()),
                            entry("c", price.into()),
                            entry("v", 8547.into()),
                            entry("t", t),
                            entry("n", 66.into()),
                            entry("vw", price.into()),
                        ],
                        1 => vec![
                            entry("T", "t".into()),
                            entry("S", symbol.into()),
                            entry("i", (n as u64).into()),
                            entry("x", "V".into()),
                            entry("p", price.into()),
                            entry("s", 90.into()),
                            entry("c", Value::Array(vec!["@".into(), "I".into()])),
                            entry("z", "C".into()),
                            entry("t", t),
                        ],
                        _ => vec![
                            entry("T", "q".into()),
                            entry("S", symbol.into()),
                            entry("bx", "V".into()),
                            entry("bp", (price - 0.01).into()),
                            entry("bs", 35.into()),
                            entry("ax", "V".into()),
                            entry("ap", (price + 0.01).into()),
                            entry("as", 35.into()),
                            entry("c", Value::Array(vec!["R".into()])),
                            entry("z", "C".into()),
                            entry("t", t),
                        ],
                    };
                    Value::Map(fields)
                })
                .collect();
            let mut out = Vec::new();
            rmpv::encode::write_value(&mut out, &Value::Array(points)).expect("writing to a Vec");
            out
        })
        .collect()
}

// ------------------------------------------------------------------------------ the bare baseline

/// The least a decoder must do: every field of the three message kinds into a plain struct.
#[allow(non_snake_case, dead_code)]
#[derive(Deserialize)]
struct Bare {
    T: String,
    S: String,
    #[serde(default)]
    o: Option<f64>,
    #[serde(default)]
    h: Option<f64>,
    #[serde(default)]
    l: Option<f64>,
    /// a bar's close, or a trade's/quote's condition list
    #[serde(default)]
    c: CloseOrConditions,
    #[serde(default)]
    v: Option<f64>,
    #[serde(default)]
    n: Option<u64>,
    #[serde(default)]
    vw: Option<f64>,
    #[serde(default)]
    p: Option<f64>,
    #[serde(default)]
    s: Option<f64>,
    #[serde(default)]
    i: Option<u64>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    bp: Option<f64>,
    #[serde(default)]
    bs: Option<f64>,
    #[serde(default)]
    ap: Option<f64>,
    #[serde(default, rename = "as")]
    as_: Option<f64>,
    t: BareTime,
}

#[derive(Default)]
struct CloseOrConditions(#[allow(dead_code)] Option<f64>);

impl<'de> Deserialize<'de> for CloseOrConditions {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CloseOrConditions;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number or a list")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(CloseOrConditions(Some(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(CloseOrConditions(Some(v as f64)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(CloseOrConditions(None))
            }
        }
        d.deserialize_any(V)
    }
}

struct BareTime(#[allow(dead_code)] i8, #[allow(dead_code)] Vec<u8>);

impl<'de> Deserialize<'de> for BareTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = BareTime;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a msgpack extension")
            }
            fn visit_newtype_struct<D: Deserializer<'de>>(
                self,
                d: D,
            ) -> Result<BareTime, D::Error> {
                d.deserialize_any(self)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<BareTime, A::Error> {
                let tag: i8 = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::custom("no tag"))?;
                let data: Bytes = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::custom("no data"))?;
                Ok(BareTime(tag, data.0))
            }
        }
        d.deserialize_any(V)
    }
}

struct Bytes(Vec<u8>);

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Bytes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Bytes, E> {
                Ok(Bytes(v.to_vec()))
            }
        }
        d.deserialize_bytes(V)
    }
}

fn bare_decode(frames: &[Vec<u8>]) -> usize {
    let mut n = 0;
    for frame in frames {
        let points: Vec<Bare> = rmp_serde::from_slice(frame).expect("bench frames decode");
        n += black_box(points).len();
    }
    n
}

// ---------------------------------------------------------------------------- the service's path

/// A SUB on its own thread receiving everything published to `endpoint`, until dropped.
struct Drain {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

impl Drain {
    fn start(endpoint: &str) -> Drain {
        let endpoint = endpoint.to_owned();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let context = zmq::Context::new();
            let socket = context.socket(zmq::SUB).expect("sub");
            socket.set_rcvhwm(0).expect("hwm");
            socket.set_subscribe(b"market").expect("subscribe");
            socket.connect(&endpoint).expect("connect");
            socket.set_rcvtimeo(50).expect("timeout");
            let mut received = 0u64;
            let mut message = zmq::Message::new();
            while !stopping.load(Ordering::Relaxed) {
                if socket.recv(&mut message, 0).is_ok() {
                    received += 1;
                }
            }
            received
        });
        Drain {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Drain {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Pipeline {
    shared: Arc<Shared>,
    reader: FrameReader,
    sink: Option<mpsc::Sender<Batch>>,
    publisher: Option<std::thread::JoinHandle<()>>,
    drain: Option<Drain>,
}

impl Pipeline {
    fn start() -> Pipeline {
        let telemetry = Telemetry::new();
        let shared = Shared::new(&telemetry);
        let mut publisher = Publisher::bind("tcp://127.0.0.1:0").expect("bind");
        let drain = Drain::start(publisher.endpoint());
        publisher
            .wait_for_subscribers(1, Duration::from_secs(10), None)
            .expect("the drain subscribes");
        let (sink, handle) = publish::spawn(publisher, shared.clone()).expect("publisher thread");
        Pipeline {
            shared,
            reader: FrameReader::new(&[Channel::Bars, Channel::Trades, Channel::Quotes]),
            sink: Some(sink),
            publisher: Some(handle),
            drain: Some(drain),
        }
    }

    fn published(&self) -> u64 {
        self.shared
            .stats
            .published
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }

    /// Every frame through decode, map and publish; returns when the last message left.
    fn run(&mut self, frames: &[Vec<u8>]) -> u64 {
        // bars repeat across runs: a fresh mapper, so none is dropped as already published
        self.reader = FrameReader::new(&[Channel::Bars, Channel::Trades, Channel::Quotes]);
        let target = self.published() + (frames.len() * POINTS_PER_FRAME) as u64;
        let sink = self.sink.as_ref().expect("running");
        for frame in frames {
            let sorted = self.reader.read(Frame::Binary(frame), &self.shared);
            let batch = Batch {
                items: sorted.items,
                received: Instant::now(),
            };
            sink.blocking_send(batch).expect("publisher alive");
        }
        // sleep, not spin: on a two-core machine a spinning waiter takes the publisher's core
        while self.published() < target {
            std::thread::sleep(Duration::from_micros(200));
        }
        target
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.sink.take();
        if let Some(handle) = self.publisher.take() {
            let _ = handle.join();
        }
        self.drain.take();
    }
}

fn benches(c: &mut Criterion) {
    let frames = frames();
    let points = (FRAMES * POINTS_PER_FRAME) as u64;
    let mut group = c.benchmark_group("market_data");
    group.throughput(Throughput::Elements(points));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("bare_rmp_serde_decode", |b| b.iter(|| bare_decode(&frames)));
    let mut pipeline = Pipeline::start();
    group.bench_function("decode_map_publish", |b| b.iter(|| pipeline.run(&frames)));
    group.finish();
}

/// Messages per second of one timed pass.
fn rate(pass: &mut dyn FnMut()) -> f64 {
    let started = Instant::now();
    pass();
    (FRAMES * POINTS_PER_FRAME) as f64 / started.elapsed().as_secs_f64()
}

/// Best of `rounds` passes of each, taken in turns so that load from other processes on the machine
/// weighs on both sides alike.
fn best_in_turns(rounds: usize, passes: &mut [&mut dyn FnMut()]) -> Vec<f64> {
    let mut best = vec![0.0f64; passes.len()];
    for _ in 0..rounds {
        for (i, pass) in passes.iter_mut().enumerate() {
            best[i] = best[i].max(rate(pass));
        }
    }
    best
}

fn summary() {
    let frames = frames();
    let telemetry = Telemetry::new();
    let shared = Shared::new(&telemetry);
    // the publishing half alone, on this thread: encode + send of pre-mapped messages
    let mut reader = FrameReader::new(&[Channel::Bars, Channel::Trades, Channel::Quotes]);
    let batches: Vec<Batch> = frames
        .iter()
        .map(|frame| Batch {
            items: reader.read(Frame::Binary(frame), &shared).items,
            received: Instant::now(),
        })
        .collect();
    let mut publisher = Publisher::bind("tcp://127.0.0.1:0").expect("bind");
    let drain = Drain::start(publisher.endpoint());
    publisher
        .wait_for_subscribers(1, Duration::from_secs(10), None)
        .expect("the drain subscribes");
    let mut encoder = Publisher::bind("tcp://127.0.0.1:0").expect("bind");
    let mut pipeline = Pipeline::start();
    let rates = best_in_turns(
        7,
        &mut [
            &mut || {
                black_box(bare_decode(&frames));
            },
            &mut || {
                let mut reader =
                    FrameReader::new(&[Channel::Bars, Channel::Trades, Channel::Quotes]);
                for frame in &frames {
                    black_box(reader.read(Frame::Binary(frame), &shared));
                }
            },
            &mut || {
                for batch in &batches {
                    publish::publish_batch(&mut publisher, batch, &shared);
                }
            },
            &mut || {
                pipeline.run(&frames);
            },
            &mut || {
                // the bus's frame encoding alone (JSON + envelope), without the send
                for batch in &batches {
                    for item in &batch.items {
                        let frame = match &item.message {
                            Market::Bar(m) => encoder.frame(m).len(),
                            Market::Trade(m) => encoder.frame(m).len(),
                            Market::Quote(m) => encoder.frame(m).len(),
                        };
                        black_box(frame);
                    }
                }
            },
        ],
    );
    drop(pipeline);
    drop(publisher);
    drop(drain);
    let [bare, read_only, publish_only, service, encode_only] = rates[..] else {
        unreachable!("five passes")
    };
    println!("bus frame encoding alone (Publisher::frame, no send): {encode_only:.0} msgs/s");
    println!("market-data decode+map alone (no bus): {read_only:.0} msgs/s");
    println!("market-data publish alone (encode + send, SUB draining): {publish_only:.0} msgs/s");
    println!(
        "market-data decode+map+publish: {service:.0} msgs/s; bare rmp-serde decode: {bare:.0} msgs/s; \
         ratio {:.2}x (issue: >= 500000 msgs/s and <= 2x)",
        bare / service
    );
}

criterion_group!(group, benches);

fn main() {
    group();
    summary();
    Criterion::default().configure_from_args().final_summary();
}
