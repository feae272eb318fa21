//! The tap on libzmq's capture socket: per-topic counts, (un)subscriptions, and the optional `--capture`
//! re-publishing, in one thread beside the proxy.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use tradebridge_health::{Counter, Telemetry};

use crate::{lock, MAX_TOPICS, OTHER_TOPICS};

/// What the capture tap counted so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TapCounts {
    /// data messages the tap saw (a multipart one once)
    pub captured: u64,
    /// subscribe frames (one per subscriber and prefix: the backend is `XPUB_VERBOSER`)
    pub subscribes: u64,
    /// unsubscribe frames (explicit, or sent by libzmq for a subscriber that went away)
    pub unsubscribes: u64,
    /// `(messages, bytes)` per topic, at most [`MAX_TOPICS`] plus [`OTHER_TOPICS`]
    pub topics: BTreeMap<String, (u64, u64)>,
    /// live subscriptions per prefix (subscribes minus unsubscribes)
    pub subscriptions: BTreeMap<String, i64>,
}

impl TapCounts {
    /// Subscribers as the subscriptions show them: the most live subscriptions of any one prefix (every
    /// SDK subscriber subscribes to each of its topics once, so this is exact when all subscribe to a
    /// common topic, and a lower bound otherwise).
    pub fn subscribers(&self) -> u64 {
        self.subscriptions
            .values()
            .copied()
            .max()
            .unwrap_or(0)
            .max(0) as u64
    }
}

#[derive(Default)]
pub(crate) struct Tap {
    pub(crate) captured: AtomicU64,
    pub(crate) subscribes: AtomicU64,
    pub(crate) unsubscribes: AtomicU64,
    pub(crate) topics: Mutex<BTreeMap<String, (Counter, Counter)>>,
    pub(crate) subscriptions: Mutex<BTreeMap<String, i64>>,
}

/// How long the tap sleeps once the capture queue is empty.
const TAP_PAUSE: std::time::Duration = std::time::Duration::from_millis(1);

fn is_control_command(frame: &[u8]) -> bool {
    matches!(frame, b"PAUSE" | b"RESUME" | b"TERMINATE" | b"STATISTICS")
}

fn topic_of(frame: &[u8]) -> &[u8] {
    let end = frame.iter().position(|&b| b == b' ').unwrap_or(frame.len());
    &frame[..end]
}

/// The shared counters of one topic, tracked by `telemetry` so `/metrics` shows them.
fn register(tap: &Tap, telemetry: Option<&Telemetry>, name: String) -> (Counter, Counter) {
    let counters = lock(&tap.topics).entry(name.clone()).or_default().clone();
    if let Some(telemetry) = telemetry {
        let (messages, bytes) = counters.clone();
        telemetry.track(format!("topic:{name}"), move || {
            vec![("messages", messages.get()), ("bytes", bytes.get())]
        });
    }
    counters
}

pub(crate) fn run_tap(
    input: &zmq::Socket,
    output: Option<&zmq::Socket>,
    tap: &Tap,
    stop: &AtomicBool,
    telemetry: Option<&Telemetry>,
) {
    // the counters of topics already seen, local so the hot path takes no lock
    let mut local: BTreeMap<Vec<u8>, (Counter, Counter)> = BTreeMap::new();
    let mut other: Option<(Counter, Counter)> = None;
    let mut message = zmq::Message::new();
    // inside a multipart data message: its later frames are data whatever byte they start with
    let mut continuing = false;
    while !stop.load(Ordering::Relaxed) {
        if input.recv(&mut message, zmq::DONTWAIT).is_err() {
            // Drained: sleep rather than block. A blocked reader is woken by the proxy thread for every
            // frame (an eventfd write and a context switch each, the proxy's largest cost per message);
            // one that polls is signalled once per pause, and the capture queue holds what comes meanwhile
            // (a millisecond of traffic is far below its high-water mark).
            std::thread::sleep(TAP_PAUSE);
            continue;
        }
        let frame: &[u8] = &message;
        let more = message.get_more();
        let flags = zmq::DONTWAIT | if more { zmq::SNDMORE } else { 0 };
        if continuing {
            continuing = more;
            if let Some(output) = output {
                let _ = output.send(frame, flags);
            }
            continue;
        }
        match frame.first() {
            // Bus frames start with a topic (text); 0x01/0x00 + prefix are (un)subscriptions going
            // frontend-ward, which the capture socket also sees.
            Some(&kind @ (0 | 1)) => {
                let prefix = String::from_utf8_lossy(&frame[1..]).into_owned();
                let mut subscriptions = lock(&tap.subscriptions);
                let live = subscriptions.entry(prefix.clone()).or_insert(0);
                if kind == 1 {
                    *live += 1;
                    tap.subscribes.fetch_add(1, Ordering::Relaxed);
                } else {
                    *live -= 1;
                    tap.unsubscribes.fetch_add(1, Ordering::Relaxed);
                    if *live <= 0 {
                        subscriptions.remove(&prefix);
                    }
                }
            }
            // libzmq 4.3 copies the control commands to the capture socket too
            _ if is_control_command(frame) => {}
            _ => {
                // a data message counts once, under the topic of its first frame
                continuing = more;
                tap.captured.fetch_add(1, Ordering::Relaxed);
                let topic = topic_of(frame);
                if !local.contains_key(topic) && local.len() < MAX_TOPICS {
                    let counters =
                        register(tap, telemetry, String::from_utf8_lossy(topic).into_owned());
                    local.insert(topic.to_vec(), counters);
                }
                let (messages, bytes) = match local.get(topic) {
                    Some(counters) => counters,
                    None => other
                        .get_or_insert_with(|| register(tap, telemetry, OTHER_TOPICS.to_owned())),
                };
                messages.inc();
                bytes.add(frame.len() as u64);
                if let Some(output) = output {
                    // PUB never blocks: a slow recorder loses copies, the bus loses nothing; the frames
                    // of a multipart message stay one message.
                    let _ = output.send(frame, flags);
                }
            }
        }
    }
}
