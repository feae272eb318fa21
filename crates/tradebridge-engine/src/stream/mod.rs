//! Alpaca's trade-updates WebSocket (`/stream`): the engine hears each order event as it happens instead
//! of asking for every open order. The client runs on the engine's tokio runtime and hands
//! [`StreamEvent`]s to the (blocking) main loop through a channel; the main loop owns every decision
//! (dedupe, reconcile, the polling fallback), so the stream can only ever add information.
//!
//! URL: derived from the broker's (`http://HOST:PORT` -> `ws://HOST:PORT/stream`, Alpaca paper ->
//! `wss://paper-api.alpaca.markets/stream`); a URL given explicitly must pass the same paper-only rule as
//! the broker's, since the API keys are sent to it.

use std::time::Duration;

use crate::broker::{BrokerUrl, UrlError};

mod client;
mod decode;

pub use client::{spawn, StreamEvent, StreamHandle};
pub use decode::{decode, DecodeError, Frame, TradeUpdate};

/// What to connect to, and how patiently.
#[derive(Clone, Debug)]
pub struct TradeStreamConfig {
    pub url: String,
    /// Connect, upgrade, and each handshake reply must come within this.
    pub handshake_timeout: Duration,
    /// First reconnect wait; doubles up to `max_delay`, each wait drawn in `[step/2, step)`.
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl TradeStreamConfig {
    pub fn new(url: String) -> Self {
        TradeStreamConfig {
            url,
            handshake_timeout: Duration::from_secs(5),
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
        }
    }
}

/// Why a trade-stream URL was refused.
#[derive(Debug, thiserror::Error)]
pub enum StreamUrlError {
    #[error("refusing trade-stream URL {0:?} [bad_stream_url]: expected ws://HOST:PORT/stream or wss://HOST/stream")]
    Shape(String),
    /// Its host is not one the API keys may be sent to.
    #[error("refusing trade-stream URL: {0}")]
    Host(#[from] UrlError),
}

impl StreamUrlError {
    pub fn code(&self) -> &'static str {
        match self {
            StreamUrlError::Shape(_) => "bad_stream_url",
            StreamUrlError::Host(e) => e.code(),
        }
    }
}

/// The broker's trade-updates URL: same host and port, `ws`/`wss` for `http`/`https`, path `/stream`.
pub fn derive_url(broker: &BrokerUrl) -> String {
    let base = broker.as_str();
    let ws = match base.strip_prefix("https://") {
        Some(rest) => format!("wss://{rest}"),
        None => format!("ws://{}", base.trim_start_matches("http://")),
    };
    format!("{ws}/stream")
}

/// Check an explicit `--trade-stream-url`: `ws(s)://` + `/stream` on a host the paper-only rule accepts.
pub fn check_url(url: &str) -> Result<String, StreamUrlError> {
    let shape = || StreamUrlError::Shape(url.chars().take(200).collect());
    let origin = url.strip_suffix("/stream").ok_or_else(shape)?;
    let http = if let Some(rest) = origin.strip_prefix("wss://") {
        format!("https://{rest}")
    } else if let Some(rest) = origin.strip_prefix("ws://") {
        format!("http://{rest}")
    } else {
        return Err(shape());
    };
    let broker = BrokerUrl::parse(&http)?;
    Ok(derive_url(&broker))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_follows_the_broker() {
        let mock = BrokerUrl::parse("http://127.0.0.1:8090").unwrap();
        assert_eq!(derive_url(&mock), "ws://127.0.0.1:8090/stream");
        let paper = BrokerUrl::parse(crate::broker::ALPACA_PAPER_URL).unwrap();
        assert_eq!(derive_url(&paper), "wss://paper-api.alpaca.markets/stream");
    }

    #[test]
    fn explicit_urls_pass_the_paper_rule() {
        assert_eq!(
            check_url("ws://127.0.0.1:9/stream").unwrap(),
            "ws://127.0.0.1:9/stream"
        );
        assert_eq!(
            check_url("wss://paper-api.alpaca.markets/stream").unwrap(),
            "wss://paper-api.alpaca.markets/stream"
        );
        for (url, code) in [
            ("wss://api.alpaca.markets/stream", "not_paper_host"),
            ("ws://paper-api.alpaca.markets/stream", "bad_scheme"),
            ("ws://127.0.0.1:9/v2/iex", "bad_stream_url"),
            ("http://127.0.0.1:9/stream", "bad_stream_url"),
            ("ws://user:pw@127.0.0.1:9/stream", "userinfo"),
        ] {
            assert_eq!(check_url(url).unwrap_err().code(), code, "{url}");
        }
    }
}
