//! The stream client: connect, authenticate, subscribe, read; on any failure count why, wait (jittered
//! backoff) and start over with the full subscription, until told to stop.
//!
//! One session: `[{"T":"success","msg":"connected"}]` first, then `auth`, then `subscribe` once
//! `authenticated` arrives; ready on the `subscription` reply. Frames over `max_frame` end the connection
//! (tungstenite refuses them before allocating); only market-data points reset the `--data-timeout`
//! clock, so a socket that still answers pings but carries no data is noticed (alpaca-py #740).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use crate::backoff::{Backoff, ReconnectPolicy};
use crate::map::{Control, Encoding, Item, Mapper, Market, Outcome};
use crate::metrics::{bump, Channel, Disconnect, Phase, Reason, Shared};
use crate::protocol::{decode_json, decode_msgpack, FrameError, RawPoint};
use crate::publish::Batch;

/// Alpaca's (and alpaca-py's) largest message.
pub const MAX_FRAME: usize = 1024 * 1024;

/// The API key pair sent in `auth`. `Debug` shows neither half.
#[derive(Clone)]
pub struct Keys {
    pub key_id: String,
    pub secret: String,
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Keys { key_id: \"***\", secret: \"***\" }")
    }
}

/// What to connect to and subscribe.
#[derive(Debug, Clone)]
pub struct StreamConfig {
    pub url: String,
    pub symbols: Vec<String>,
    pub channels: Vec<Channel>,
    pub keys: Keys,
    /// Reconnect when no market data arrived for this long (`None`: never).
    pub data_timeout: Option<Duration>,
    /// Connect, upgrade and the replies up to `subscription` must each come within this.
    pub handshake_timeout: Duration,
    pub reconnect: ReconnectPolicy,
    pub max_frame: usize,
}

/// `scheme://host[:port]/path` of a URL: never its user info or query, which could carry secrets.
pub fn display_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let host = authority.rsplit('@').next().unwrap_or(authority);
    format!("{scheme}://{host}{path}")
}

/// How a session ended.
#[derive(Debug)]
struct End {
    why: Disconnect,
    detail: String,
}

impl End {
    fn new(why: Disconnect, detail: impl Into<String>) -> End {
        End {
            why,
            detail: detail.into(),
        }
    }
}

/// Runs sessions until `stop` turns true (or the publisher is gone).
pub async fn run(
    config: StreamConfig,
    shared: Arc<Shared>,
    sink: mpsc::Sender<Batch>,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = Backoff::new(config.reconnect);
    let mut reader = FrameReader::new(&config.channels);
    let mut attempt: u64 = 0;
    let mut down_since: Option<Instant> = None;
    let url = display_url(&config.url);
    loop {
        attempt += 1;
        if attempt > 1 {
            bump(&shared.stats.reconnects, 1);
            reader.mapper.reconnected();
        }
        shared.set_phase(Phase::Connecting { attempt });
        let mut session = Session {
            config: &config,
            shared: &shared,
            sink: &sink,
            reader: &mut reader,
            backoff: &mut backoff,
            down_since: &mut down_since,
        };
        let end = tokio::select! {
            end = session.run() => end,
            _ = stop.wait_for(|stopped| *stopped) => None,
        };
        let Some(end) = end else {
            shared.set_phase(Phase::Stopping);
            return;
        };
        shared.stats.disconnected(end.why);
        down_since.get_or_insert_with(Instant::now);
        let wait = backoff.next_delay();
        let reason = format!("{} ({})", end.detail, end.why.code());
        tracing::warn!(
            "market-data stream {url}: {reason}; reconnecting in {} ms (attempt {})",
            wait.as_millis(),
            attempt + 1
        );
        shared.set_phase(Phase::Waiting {
            reason,
            retry_in: wait,
        });
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|stopped| *stopped) => {
                shared.set_phase(Phase::Stopping);
                return;
            }
        }
    }
}

struct Session<'a> {
    config: &'a StreamConfig,
    shared: &'a Shared,
    sink: &'a mpsc::Sender<Batch>,
    reader: &'a mut FrameReader,
    backoff: &'a mut Backoff,
    down_since: &'a mut Option<Instant>,
}

/// One frame as it came off the socket.
#[derive(Debug, Clone, Copy)]
pub enum Frame<'a> {
    Binary(&'a [u8]),
    Text(&'a str),
}

/// A frame's points, sorted: messages for the bus, control messages, and whether it carried market data.
#[derive(Debug, Default)]
pub struct Sorted {
    pub items: Vec<Item>,
    pub controls: Vec<Control>,
    pub data: bool,
}

/// Decodes frames and maps their points, counting everything (the synchronous half of the read loop).
#[derive(Debug)]
pub struct FrameReader {
    pub mapper: Mapper,
    points: Vec<RawPoint>,
}

fn count_problem(shared: &Shared, reason: Reason, what: &str) {
    shared.stats.reject(reason);
    let total = shared.stats.rejected(reason);
    // the first few of each reason, then at powers of two: visible, never a flood
    if total <= 5 || total.is_power_of_two() {
        tracing::warn!(
            "market-data: skipped a {what}: {} (#{total})",
            reason.code()
        );
    }
    shared.problem(format!("skipped malformed input: {}", reason.code()));
}

impl FrameReader {
    pub fn new(channels: &[Channel]) -> FrameReader {
        FrameReader {
            mapper: Mapper::new(channels),
            points: Vec::with_capacity(256),
        }
    }

    pub fn read(&mut self, frame: Frame<'_>, shared: &Shared) -> Sorted {
        let stats = &shared.stats;
        bump(&stats.frames, 1);
        let (result, encoding) = match frame {
            Frame::Binary(bytes) => (decode_msgpack(bytes, &mut self.points), Encoding::Msgpack),
            Frame::Text(text) => (decode_json(text, &mut self.points), Encoding::Json),
        };
        match result {
            Ok(()) => {}
            Err(FrameError::NotAnArray) => count_problem(shared, Reason::NotAnArray, "frame"),
            Err(FrameError::Malformed(_)) => count_problem(shared, Reason::MalformedFrame, "frame"),
        }
        let mut sorted = Sorted {
            items: Vec::with_capacity(self.points.len()),
            ..Sorted::default()
        };
        bump(&stats.points, self.points.len() as u64);
        for point in self.points.drain(..) {
            match self.mapper.map(point, encoding) {
                Outcome::Publish(item) => {
                    sorted.data = true;
                    bump(&stats.received[item.channel.index()], 1);
                    sorted.items.push(item);
                }
                Outcome::GapThenPublish { item, missed } => {
                    sorted.data = true;
                    bump(&stats.bar_gaps, 1);
                    bump(&stats.bars_missed, missed);
                    bump(&stats.received[item.channel.index()], 1);
                    tracing::warn!(
                        "market-data: up to {missed} bar(s) of {} missed while disconnected",
                        match &item.message {
                            Market::Bar(bar) => bar.symbol.as_str(),
                            _ => "?",
                        }
                    );
                    sorted.items.push(item);
                }
                Outcome::DuplicateBar => {
                    sorted.data = true;
                    bump(&stats.duplicate_bars, 1);
                    bump(&stats.received[Channel::Bars.index()], 1);
                }
                Outcome::Unmapped => {
                    sorted.data = true;
                    bump(&stats.unmapped, 1);
                }
                Outcome::Reject(reason) => count_problem(shared, reason, "message"),
                Outcome::Control(control) => sorted.controls.push(control),
            }
        }
        sorted
    }
}

/// Where a session stands in the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Greeting,
    Authenticating,
    Subscribing,
    Streaming,
}

fn auth_frame(keys: &Keys) -> Vec<u8> {
    frame_of(vec![
        ("action", rmpv::Value::from("auth")),
        ("key", rmpv::Value::from(keys.key_id.as_str())),
        ("secret", rmpv::Value::from(keys.secret.as_str())),
    ])
}

/// Alpaca's `subscribe`: every channel with the full symbol list, `action` last (as alpaca-py sends it).
pub fn subscribe_frame(channels: &[Channel], symbols: &[String]) -> Vec<u8> {
    let list = rmpv::Value::Array(symbols.iter().map(|s| s.as_str().into()).collect());
    let mut entries: Vec<(&str, rmpv::Value)> = channels
        .iter()
        .map(|c| (c.alpaca_name(), list.clone()))
        .collect();
    entries.push(("action", "subscribe".into()));
    frame_of(entries)
}

fn frame_of(entries: Vec<(&str, rmpv::Value)>) -> Vec<u8> {
    let map = rmpv::Value::Map(entries.into_iter().map(|(k, v)| (k.into(), v)).collect());
    let mut out = Vec::with_capacity(128);
    // writing into a Vec cannot fail
    let _ = rmpv::encode::write_value(&mut out, &map);
    out
}

fn upstream_end(code: u16, msg: &str) -> Option<End> {
    let why = match code {
        401 | 402 | 404 => Disconnect::AuthFailed,
        406 => Disconnect::ConnectionLimit,
        407 => Disconnect::SlowClient,
        _ => return None,
    };
    Some(End::new(why, format!("upstream error {code}: {msg}")))
}

impl Session<'_> {
    async fn run(&mut self) -> Option<End> {
        let config = self.config;
        let mut request = match config.url.as_str().into_client_request() {
            Ok(request) => request,
            Err(error) => return Some(End::new(Disconnect::ConnectFailed, error.to_string())),
        };
        // what alpaca-py sends: the server answers in msgpack instead of JSON text
        request.headers_mut().insert(
            "Content-Type",
            HeaderValue::from_static("application/msgpack"),
        );
        let ws_config = WebSocketConfig::default()
            .max_message_size(Some(config.max_frame))
            .max_frame_size(Some(config.max_frame));
        let connect = tokio_tungstenite::connect_async_with_config(request, Some(ws_config), true);
        let mut ws = match tokio::time::timeout(config.handshake_timeout, connect).await {
            Ok(Ok((ws, _response))) => ws,
            Ok(Err(error)) => return Some(End::new(Disconnect::ConnectFailed, error.to_string())),
            Err(_) => {
                return Some(End::new(
                    Disconnect::ConnectFailed,
                    "no WebSocket upgrade in time",
                ))
            }
        };
        bump(&self.shared.stats.connects, 1);
        let mut step = Step::Greeting;
        let mut deadline = Instant::now() + config.handshake_timeout;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let next = match tokio::time::timeout(remaining, ws.next()).await {
                Ok(next) => next,
                Err(_) if step == Step::Streaming => {
                    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
                    return Some(End::new(Disconnect::DataTimeout, "no market data in time"));
                }
                Err(_) => {
                    return Some(End::new(
                        Disconnect::BadGreeting,
                        format!("no reply in time while {step:?}"),
                    ))
                }
            };
            let received = Instant::now();
            let sorted = match next {
                None => return Some(End::new(Disconnect::ConnectionLost, "stream ended")),
                Some(Err(WsError::Capacity(CapacityError::MessageTooLong { size, max_size }))) => {
                    self.shared.stats.reject(Reason::FrameTooLarge);
                    return Some(End::new(
                        Disconnect::FrameTooLarge,
                        format!("a {size}-byte frame (limit {max_size})"),
                    ));
                }
                Some(Err(error)) => {
                    return Some(End::new(Disconnect::ConnectionLost, error.to_string()))
                }
                Some(Ok(Message::Close(frame))) => {
                    let detail = frame.map_or_else(
                        || "closed by the server".to_owned(),
                        |f| format!("closed by the server ({} {})", f.code, f.reason),
                    );
                    return Some(End::new(Disconnect::Closed, detail));
                }
                Some(Ok(Message::Binary(bytes))) => {
                    self.reader.read(Frame::Binary(&bytes), self.shared)
                }
                Some(Ok(Message::Text(text))) => {
                    self.reader.read(Frame::Text(text.as_str()), self.shared)
                }
                // pings are answered by tungstenite itself
                Some(Ok(_)) => continue,
            };
            let before = step;
            let Sorted {
                items,
                controls,
                data,
            } = sorted;
            if let Some(end) = self.route(controls, &mut step, &mut ws).await {
                let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
                return Some(end);
            }
            if step == Step::Streaming && (data || before != step) {
                deadline = received
                    + config
                        .data_timeout
                        .unwrap_or(Duration::from_secs(86_400 * 365));
            } else if step != before {
                // every handshake step gets its own full timeout
                deadline = received + config.handshake_timeout;
            }
            if !items.is_empty() {
                let batch = Batch { items, received };
                if self.sink.send(batch).await.is_err() {
                    // the publisher thread is gone: nothing left to do
                    return None;
                }
            }
        }
    }

    /// Answer the handshake's control messages; an end if an error reply ends the session.
    async fn route<S>(&mut self, controls: Vec<Control>, step: &mut Step, ws: &mut S) -> Option<End>
    where
        S: futures_util::Sink<Message> + Unpin,
        S::Error: fmt::Display,
    {
        for control in controls {
            if let Some(end) = self.control(control, step, ws).await {
                return Some(end);
            }
        }
        None
    }

    async fn control<S>(&mut self, control: Control, step: &mut Step, ws: &mut S) -> Option<End>
    where
        S: futures_util::Sink<Message> + Unpin,
        S::Error: fmt::Display,
    {
        let config = self.config;
        match control {
            Control::Success(msg) if msg == "connected" && *step == Step::Greeting => {
                *step = Step::Authenticating;
                let frame = auth_frame(&config.keys);
                if let Err(error) = ws.send(Message::Binary(frame.into())).await {
                    return Some(End::new(Disconnect::ConnectionLost, error.to_string()));
                }
                None
            }
            Control::Success(msg) if msg == "authenticated" && *step == Step::Authenticating => {
                *step = Step::Subscribing;
                let frame = subscribe_frame(&config.channels, &config.symbols);
                if let Err(error) = ws.send(Message::Binary(frame.into())).await {
                    return Some(End::new(Disconnect::ConnectionLost, error.to_string()));
                }
                None
            }
            Control::Subscription => {
                if *step == Step::Subscribing {
                    *step = Step::Streaming;
                    self.subscribed();
                }
                None
            }
            Control::Success(msg) if *step == Step::Greeting => Some(End::new(
                Disconnect::BadGreeting,
                format!("unexpected first message: success {msg:?}"),
            )),
            Control::Success(_) => None,
            Control::Error { code, msg } => {
                bump(&self.shared.stats.upstream_errors, 1);
                self.shared.problem(format!("upstream error {code}: {msg}"));
                tracing::warn!("market-data: upstream error {code}: {msg}");
                upstream_end(code, &msg)
            }
        }
    }

    fn subscribed(&mut self) {
        bump(&self.shared.stats.subscribed, 1);
        self.backoff.reset();
        if let Some(since) = self.down_since.take() {
            let ms = since.elapsed().as_millis() as u64;
            bump(&self.shared.stats.disconnected_ms, ms);
            tracing::info!("market-data: subscribed again after {ms} ms");
        } else {
            tracing::info!("market-data: subscribed");
        }
        self.shared.set_phase(Phase::Subscribed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_secrets() {
        assert_eq!(
            display_url("wss://key:secret@stream.data.alpaca.markets/v2/iex?token=x"),
            "wss://stream.data.alpaca.markets/v2/iex"
        );
        assert_eq!(
            display_url("ws://127.0.0.1:8765/v2/iex"),
            "ws://127.0.0.1:8765/v2/iex"
        );
    }

    #[test]
    fn keys_never_print() {
        let keys = Keys {
            key_id: "AKID".into(),
            secret: "SECRET".into(),
        };
        let shown = format!("{keys:?}");
        assert!(!shown.contains("AKID") && !shown.contains("SECRET"));
    }

    #[test]
    fn subscribe_lists_every_channel_and_ends_with_action() {
        let frame = subscribe_frame(&[Channel::Bars, Channel::Trades], &["AAPL".into()]);
        let value = rmpv::decode::read_value(&mut &frame[..]).unwrap();
        let map = value.as_map().unwrap();
        let keys: Vec<&str> = map.iter().map(|(k, _)| k.as_str().unwrap()).collect();
        assert_eq!(keys, ["bars", "trades", "action"]);
        assert_eq!(map[0].1.as_array().unwrap()[0].as_str(), Some("AAPL"));
    }
}
