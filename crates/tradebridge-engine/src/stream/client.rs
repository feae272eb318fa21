//! The session loop: connect, `auth`, `listen`, read; on any failure say so, wait (capped exponential
//! backoff with equal jitter, so engines cut off together do not return together) and start over.

use crate::retry::backoff_secs;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use super::decode::{decode, Frame, TradeUpdate};
use super::TradeStreamConfig;
use crate::broker::Credentials;

/// Alpaca's largest message (as alpaca-py allows).
const MAX_FRAME: usize = 1024 * 1024;

/// What the main loop hears from the stream.
#[derive(Debug)]
pub enum StreamEvent {
    /// Authenticated and listening: from now on every order event arrives. Whatever happened while the
    /// stream was down must be reconciled by the receiver.
    Up,
    /// One order event, and when it was taken off the socket (µs since the epoch).
    Update(Box<TradeUpdate>, u64),
    /// A frame that could not be read (its stable code); the session goes on.
    Malformed(&'static str),
    /// The session ended (the reason has no credentials in it); a reconnect follows after `retry_in`.
    Down { reason: String, retry_in: Duration },
}

/// Stops the client task when dropped (or by [`StreamHandle::stop`]).
pub struct StreamHandle {
    stop: Arc<Notify>,
}

impl StreamHandle {
    pub fn stop(&self) {
        self.stop.notify_one();
    }
}

impl Drop for StreamHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Start the client on `runtime`; events go to `sink` until the handle is dropped or `sink`'s receiver is.
pub fn spawn(
    runtime: &tokio::runtime::Handle,
    config: TradeStreamConfig,
    credentials: Credentials,
    sink: Sender<StreamEvent>,
) -> StreamHandle {
    let stop = Arc::new(Notify::new());
    let stopped = stop.clone();
    runtime.spawn(async move {
        tokio::select! {
            _ = run(config, credentials, sink) => {}
            _ = stopped.notified() => {}
        }
    });
    StreamHandle { stop }
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

async fn run(config: TradeStreamConfig, credentials: Credentials, sink: Sender<StreamEvent>) {
    let mut failures: u32 = 0;
    let mut rng = fastrand::Rng::new();
    loop {
        let (reason, was_up) = session(&config, &credentials, &sink).await;
        let Some(reason) = reason else { return };
        // A session that got as far as listening was a success: start the schedule again.
        failures = if was_up {
            1
        } else {
            failures.saturating_add(1)
        };
        let retry_in = Duration::from_secs_f64(backoff_secs(
            config.base_delay,
            config.max_delay,
            failures,
            rng.f64(),
        ));
        if sink.send(StreamEvent::Down { reason, retry_in }).is_err() {
            return;
        }
        tokio::time::sleep(retry_in).await;
    }
}

/// One connection. Returns why it ended (`None`: the receiver is gone, stop) and whether it was up.
async fn session(
    config: &TradeStreamConfig,
    credentials: &Credentials,
    sink: &Sender<StreamEvent>,
) -> (Option<String>, bool) {
    let request = match config.url.as_str().into_client_request() {
        Ok(request) => request,
        Err(error) => return (Some(format!("bad URL: {error}")), false),
    };
    let ws_config = WebSocketConfig::default()
        .max_message_size(Some(MAX_FRAME))
        .max_frame_size(Some(MAX_FRAME));
    let connect = tokio_tungstenite::connect_async_with_config(request, Some(ws_config), true);
    let mut ws = match tokio::time::timeout(config.handshake_timeout, connect).await {
        Ok(Ok((ws, _))) => ws,
        Ok(Err(error)) => return (Some(format!("cannot connect: {error}")), false),
        Err(_) => return (Some("connect timed out".into()), false),
    };
    // The keys go in the frame only; nothing that formats this frame is ever logged.
    let auth = serde_json::json!({
        "action": "auth", "key": credentials.key_id(), "secret": credentials.secret(),
    });
    let listen = serde_json::json!({"action": "listen", "data": {"streams": ["trade_updates"]}});
    if let Err(error) = ws.send(Message::text(auth.to_string())).await {
        return (Some(format!("cannot authenticate: {error}")), false);
    }
    let mut up = false;
    let mut listen_sent = false;
    loop {
        let next = if up {
            ws.next().await
        } else {
            match tokio::time::timeout(config.handshake_timeout, ws.next()).await {
                Ok(next) => next,
                Err(_) => return (Some("no handshake reply in time".into()), false),
            }
        };
        let bytes = match next {
            None => return (Some("stream ended".into()), up),
            Some(Err(error)) => return (Some(format!("connection lost: {error}")), up),
            Some(Ok(Message::Binary(b))) => b.to_vec(),
            Some(Ok(Message::Text(t))) => t.as_bytes().to_vec(),
            Some(Ok(Message::Close(frame))) => {
                let detail = frame.map(|f| format!("{} {}", f.code, f.reason));
                return (
                    Some(format!(
                        "closed by the server {}",
                        detail.unwrap_or_default()
                    )),
                    up,
                );
            }
            Some(Ok(_)) => continue,
        };
        let received = now_us();
        let event = match decode(&bytes) {
            Ok(Frame::Update(update)) => StreamEvent::Update(update, received),
            Ok(Frame::Authorization { authorized: true }) if !listen_sent => {
                listen_sent = true;
                if let Err(error) = ws.send(Message::text(listen.to_string())).await {
                    return (Some(format!("cannot listen: {error}")), false);
                }
                continue;
            }
            Ok(Frame::Authorization { .. }) => {
                let _ = ws.close(None).await;
                return (Some("unauthorized (check the API keys)".into()), false);
            }
            Ok(Frame::Listening { streams }) => {
                if !streams.iter().any(|s| s == "trade_updates") {
                    return (
                        Some("the server did not listen to trade_updates".into()),
                        false,
                    );
                }
                if up {
                    continue;
                }
                up = true;
                StreamEvent::Up
            }
            Ok(Frame::Error { code, message }) => {
                let _ = ws.close(None).await;
                return (
                    Some(format!("server error {}: {message}", code.unwrap_or(0))),
                    up,
                );
            }
            Ok(Frame::Other(_)) => continue,
            Err(error) => StreamEvent::Malformed(error.code()),
        };
        if sink.send(event).is_err() {
            let _ = ws.close(None).await;
            return (None, up);
        }
    }
}
