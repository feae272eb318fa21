//! The bus side: one [`Publisher`] on its own thread, fed batches (one per stream frame) through a
//! bounded channel. The read loop never waits on ZeroMQ, ZeroMQ sockets never cross an `.await`, and
//! decoding and publishing run on two cores at once. A full channel makes the read loop wait, which slows
//! the WebSocket reads: back-pressure reaches the stream (Alpaca answers a client that stays behind with
//! 407) instead of memory growing.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;
use tradebridge_bus::{BusError, Publisher};

use crate::map::{Item, Market};
use crate::metrics::{bump, Shared};

/// The messages of one stream frame.
#[derive(Debug)]
pub struct Batch {
    pub items: Vec<Item>,
    /// When the frame was read.
    pub received: Instant,
}

/// Frames waiting for the publisher thread before the read loop waits.
pub const QUEUE_FRAMES: usize = 1024;

fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0)
}

/// Publish one message; returns its `seq`.
pub fn publish(publisher: &mut Publisher, message: &Market) -> Result<u64, BusError> {
    match message {
        Market::Bar(m) => publisher.publish(m),
        Market::Trade(m) => publisher.publish(m),
        Market::Quote(m) => publisher.publish(m),
    }
}

/// Publish a batch, counting and timing every message.
pub fn publish_batch(publisher: &mut Publisher, batch: &Batch, shared: &Shared) {
    for item in &batch.items {
        match publish(publisher, &item.message) {
            Ok(_) => bump(&shared.stats.published[item.channel.index()], 1),
            Err(error) => {
                bump(&shared.stats.publish_errors, 1);
                tracing::warn!("cannot publish a {:?} message: {error}", item.channel);
            }
        }
    }
    // one clock read per frame: every message of it left within the same few microseconds
    let now = now_ns();
    for item in &batch.items {
        let lag = (now - item.event_ns) as f64 / 1e9;
        shared.upstream_latency.observe_seconds(lag);
    }
    if !batch.items.is_empty() {
        shared.receive_latency.observe(batch.received.elapsed());
    }
}

/// Moves `publisher` to a thread that publishes every batch sent on the returned channel, until the
/// channel closes; join the handle to have the socket closed (lingering at most its `linger_ms`).
pub fn spawn(
    mut publisher: Publisher,
    shared: Arc<Shared>,
) -> std::io::Result<(mpsc::Sender<Batch>, JoinHandle<()>)> {
    let (sender, mut receiver) = mpsc::channel::<Batch>(QUEUE_FRAMES);
    let handle = std::thread::Builder::new()
        .name("bus-publisher".into())
        .spawn(move || {
            while let Some(batch) = receiver.blocking_recv() {
                publish_batch(&mut publisher, &batch, &shared);
            }
        })?;
    Ok((sender, handle))
}
