//! The `market-data` process: flags, start-up checks, the health endpoints, the stream and the bus
//! publisher, and a clean stop on SIGINT/SIGTERM.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use tokio::sync::{watch, RwLock};
use tradebridge_bus::{Options, Publisher};
use tradebridge_contracts::{validate, SchemaVersion, TradeUpdate};
use tradebridge_health::{spawn_health_server_on, HealthCheck, HealthStatus, OPERATIONAL_MESSAGE};

use crate::backoff::ReconnectPolicy;
use crate::credentials::{Credentials, CredentialsError};
use crate::metrics::{Channel, Phase, Shared};
use crate::stream::{display_url, Keys, StreamConfig, MAX_FRAME};

/// `market-data`: one Alpaca market-data stream connection, republished on the tradebridge bus.
#[derive(Debug, Clone, Parser)]
#[command(name = "market-data", version, about)]
pub struct Args {
    /// The stream's WebSocket URL: the mock broker's (`tradebridge mock-broker --port 8765`), or
    /// Alpaca's `wss://stream.data.alpaca.markets/v2/iex` (or `/v2/sip`, `/v2/test`).
    #[arg(long, default_value = "ws://127.0.0.1:8765/v2/iex")]
    pub stream_url: String,
    /// The bus endpoint this service binds and publishes on (topic `market`).
    #[arg(long, default_value = "tcp://127.0.0.1:5555")]
    pub endpoint: String,
    /// Symbols, comma-separated (`*` = every symbol of the feed).
    #[arg(long, default_value = "AAPL", value_delimiter = ',')]
    pub symbols: Vec<String>,
    /// Channels, comma-separated: bars, trades, quotes, updatedBars, dailyBars.
    #[arg(long, default_value = "bars,trades,quotes", value_delimiter = ',')]
    pub channels: Vec<String>,
    /// Health endpoints port (`/health`, `/ready`, `/live`, `/metrics`); 0 = none.
    #[arg(long, default_value_t = 0)]
    pub health_port: u16,
    /// Address the health port binds: loopback unless told otherwise (`0.0.0.0` for probes from
    /// outside the host).
    #[arg(long, default_value = tradebridge_health::DEFAULT_HEALTH_HOST)]
    pub health_host: String,
    /// Reconnect when no market data arrived for this many seconds (a mute socket); 0 = never.
    #[arg(long, default_value_t = 30.0)]
    pub data_timeout: f64,
    /// Seconds the upgrade and each handshake reply may take.
    #[arg(long, default_value_t = 10.0)]
    pub handshake_timeout: f64,
    /// First reconnect backoff step, in milliseconds (doubled per failure, jittered).
    #[arg(long, default_value_t = 1000)]
    pub reconnect_min_ms: u64,
    /// Largest reconnect backoff step, in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    pub reconnect_max_ms: u64,
    /// How long a skipped frame or an error reply keeps `/health` degraded, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    pub degraded_window_ms: u64,
    /// The publisher's instance id (`source` on the bus); default `rs-<pid>-<random>`.
    #[arg(long)]
    pub source: Option<String>,
    /// CURVE: this publisher's secret key file (else TRADEBRIDGE_CURVE_SECRET_KEY); only
    /// --curve-allow subscribers are admitted, plaintext ones refused (docs/deploy.md)
    #[arg(long)]
    pub curve_secret_key: Option<String>,
    /// CURVE: subscribers admitted: a directory of *.key files, a comma list of keys, or * (else
    /// TRADEBRIDGE_CURVE_ALLOW)
    #[arg(long)]
    pub curve_allow: Option<String>,
}

fn seconds(value: f64, flag: &str) -> Result<Option<Duration>, String> {
    if !value.is_finite() || !(0.0..=86_400.0).contains(&value) {
        return Err(format!(
            "{flag} must be between 0 and 86400 seconds, got {value}"
        ));
    }
    Ok((value > 0.0).then(|| Duration::from_secs_f64(value)))
}

fn is_loopback(url: &str) -> bool {
    let shown = display_url(url);
    let host_port = shown
        .split_once("://")
        .map_or("", |(_, rest)| rest.split('/').next().unwrap_or(""));
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host_port.rsplit_once(':').map_or(host_port, |(h, _)| h),
    };
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The keys for `auth`: the environment by the project's rule; with none at all, a loopback URL (the mock
/// broker, which takes any pair unless told otherwise) gets a placeholder pair.
pub fn keys(url: &str, env: impl Fn(&str) -> Option<String>) -> Result<Keys, String> {
    match Credentials::from_lookup(env) {
        Ok(credentials) => Ok(Keys {
            key_id: credentials.key_id().to_owned(),
            secret: credentials.secret().to_owned(),
        }),
        Err(CredentialsError::Missing) if is_loopback(url) => Ok(Keys {
            key_id: "tradebridge-market-data".into(),
            secret: "mock".into(),
        }),
        Err(error) => Err(error.to_string()),
    }
}

impl Args {
    /// The checked stream configuration (a one-line reason when a flag is wrong).
    pub fn stream_config(&self, keys: Keys) -> Result<StreamConfig, String> {
        if !(self.stream_url.starts_with("ws://") || self.stream_url.starts_with("wss://")) {
            return Err(format!(
                "--stream-url must be a ws:// or wss:// URL, got {}",
                display_url(&self.stream_url)
            ));
        }
        let mut channels = Vec::new();
        for name in &self.channels {
            let channel = Channel::parse(name.trim()).ok_or_else(|| {
                format!(
                    "unknown channel {name:?}: use bars, trades, quotes, updatedBars, dailyBars"
                )
            })?;
            if !channels.contains(&channel) {
                channels.push(channel);
            }
        }
        if channels.is_empty() {
            return Err("--channels is empty".into());
        }
        let mut symbols: Vec<String> = Vec::new();
        for symbol in &self.symbols {
            let symbol = symbol.trim().to_owned();
            if symbol != "*" && !is_contract_symbol(&symbol) {
                return Err(format!(
                    "invalid symbol {symbol:?}: 1-32 of A-Z 0-9 . / : - starting with a letter or digit"
                ));
            }
            if !symbols.contains(&symbol) {
                symbols.push(symbol);
            }
        }
        if symbols.is_empty() {
            return Err("--symbols is empty".into());
        }
        if self.reconnect_min_ms == 0 || self.reconnect_max_ms < self.reconnect_min_ms {
            return Err("need 0 < --reconnect-min-ms <= --reconnect-max-ms".into());
        }
        Ok(StreamConfig {
            url: self.stream_url.clone(),
            symbols,
            channels,
            keys,
            data_timeout: seconds(self.data_timeout, "--data-timeout")?,
            handshake_timeout: seconds(self.handshake_timeout, "--handshake-timeout")?
                .unwrap_or(Duration::from_secs(10)),
            reconnect: ReconnectPolicy {
                base_delay: Duration::from_millis(self.reconnect_min_ms),
                max_delay: Duration::from_millis(self.reconnect_max_ms),
            },
            max_frame: MAX_FRAME,
        })
    }
}

/// The contract's symbol rule, asked of the contract crate.
fn is_contract_symbol(symbol: &str) -> bool {
    validate(&TradeUpdate {
        symbol: symbol.to_owned(),
        price: 1.0,
        size: 1.0,
        timestamp: 0,
        trade_id: None,
        exchange: None,
        schema_version: SchemaVersion::default(),
        seq: None,
        source: None,
        sent_at_us: None,
    })
    .is_ok()
}

/// Runs the service until SIGINT/SIGTERM; `Err` is the one-line reason it could not start.
pub fn run(args: Args) -> Result<(), String> {
    let keys = keys(&args.stream_url, |name| std::env::var(name).ok())?;
    let config = args.stream_config(keys)?;
    let window = Duration::from_millis(args.degraded_window_ms);
    // wss:// needs a rustls provider; ring is the one built in (a second install is harmless)
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let check = HealthCheck::healthy("market-data").not_ready("connecting to the stream");
    let shared = Shared::new(check.telemetry());
    shared.track(&check);
    let health = Arc::new(RwLock::new(check));
    let curve = tradebridge_bus::Curve::from_env(&tradebridge_bus::CurveFlags {
        secret_key_file: args.curve_secret_key.clone(),
        server_key_file: None,
        allow: args.curve_allow.clone(),
    })
    .map_err(|e| e.to_string())?;
    let publisher = Publisher::new_secure(
        &args.endpoint,
        true,
        Options::default(),
        None,
        args.source,
        curve.as_ref(),
    )
    .map_err(|e| e.to_string())?;
    if let Some(handle) = publisher.curve_handle() {
        health
            .blocking_read()
            .track("curve_publisher", move || handle.stats().metrics());
    }
    tracing::info!(
        "publishing on {} as {}; stream {} symbols {} channels {}",
        publisher.endpoint(),
        publisher.source(),
        display_url(&config.url),
        config.symbols.join(","),
        config
            .channels
            .iter()
            .map(|c| c.alpaca_name())
            .collect::<Vec<_>>()
            .join(",")
    );
    let (sink, publisher_thread) = crate::publish::spawn(publisher, shared.clone())
        .map_err(|e| format!("cannot start the publisher thread: {e}"))?;
    let served = runtime.block_on(async {
        let server = if args.health_port > 0 {
            let server =
                spawn_health_server_on(&args.health_host, args.health_port, health.clone())
                    .await
                    .map_err(|e| e.to_string())?;
            tracing::info!("health endpoints on port {}", server.port());
            Some(server)
        } else {
            None
        };
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(async move {
            wait_for_signal().await;
            let _ = stop.send(true);
        });
        let reporter = tokio::spawn(report_health(shared.clone(), health.clone(), window));
        crate::stream::run(config, shared, sink, stopped).await;
        reporter.abort();
        if let Some(server) = server {
            let _ = server.shutdown().await;
        }
        Ok::<(), String>(())
    });
    // the stream dropped its sender: the thread publishes what is queued, then closes the socket
    let _ = publisher_thread.join();
    served
}

async fn wait_for_signal() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// What `/health` and `/ready` say, from the stream's condition: ready once subscribed; degraded while
/// disconnected, and for `window` after malformed input or an error reply.
pub fn assess(shared: &Shared, window: Duration, check: &mut HealthCheck) {
    let condition = shared.condition();
    let recent = condition
        .last_problem
        .as_ref()
        .filter(|(_, at)| at.elapsed() < window)
        .map(|(text, _)| text.clone());
    match &condition.phase {
        Phase::Subscribed => {
            check.set_ready(true, None);
            check.set_metric("websocket_connected", "true");
            match recent {
                Some(text) => check.set_status(HealthStatus::Degraded, text),
                None => check.set_status(HealthStatus::Healthy, OPERATIONAL_MESSAGE),
            }
        }
        Phase::Connecting { attempt } => {
            check.set_metric("websocket_connected", "false");
            check.set_ready(
                false,
                Some(format!("connecting to the stream (attempt {attempt})")),
            );
            if *attempt > 1 {
                check.set_status(HealthStatus::Degraded, "reconnecting to the stream");
            }
        }
        Phase::Waiting { reason, retry_in } => {
            check.set_metric("websocket_connected", "false");
            check.set_ready(false, Some(format!("disconnected: {reason}")));
            check.set_status(
                HealthStatus::Degraded,
                format!(
                    "stream disconnected: {reason}; reconnecting in {} ms",
                    retry_in.as_millis()
                ),
            );
        }
        Phase::Stopping => {
            check.set_ready(false, Some("stopping".into()));
        }
    }
}

async fn report_health(shared: Arc<Shared>, health: Arc<RwLock<HealthCheck>>, window: Duration) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tick.tick().await;
        assess(&shared, window, &mut *health.write().await);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Args {
        Args::try_parse_from(std::iter::once("market-data").chain(extra.iter().copied())).unwrap()
    }

    fn keys() -> Keys {
        Keys {
            key_id: "k".into(),
            secret: "s".into(),
        }
    }

    #[test]
    fn defaults_are_the_mock_and_the_guides_endpoint() {
        let config = args(&[]).stream_config(keys()).unwrap();
        assert_eq!(config.url, "ws://127.0.0.1:8765/v2/iex");
        assert_eq!(
            config.channels,
            [Channel::Bars, Channel::Trades, Channel::Quotes]
        );
        assert_eq!(config.data_timeout, Some(Duration::from_secs(30)));
        assert_eq!(args(&[]).endpoint, "tcp://127.0.0.1:5555");
    }

    #[test]
    fn bad_flags_are_refused_with_a_reason() {
        let refused = |extra: &[&str]| args(extra).stream_config(keys()).unwrap_err();
        assert!(refused(&["--channels", "bars,news"]).contains("unknown channel"));
        assert!(refused(&["--symbols", "aapl"]).contains("invalid symbol"));
        assert!(refused(&["--stream-url", "http://x/v2/iex"]).contains("ws://"));
        assert!(refused(&["--data-timeout=-1"]).contains("--data-timeout"));
        assert!(refused(&["--reconnect-min-ms", "0"]).contains("reconnect"));
    }

    #[test]
    fn credentials_follow_the_project_rule_and_never_show() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let url = "wss://stream.data.alpaca.markets/v2/iex";
        let chosen = super::keys(
            url,
            env(&[
                ("APCA_API_KEY_ID", "a"),
                ("APCA_API_SECRET_KEY", "b"),
                ("ALPACA_API_KEY", "k"),
                ("ALPACA_SECRET_KEY", "s"),
            ]),
        )
        .unwrap();
        assert_eq!((chosen.key_id.as_str(), chosen.secret.as_str()), ("k", "s"));
        let half = super::keys(url, env(&[("ALPACA_API_KEY", "AKSECRETVALUE")])).unwrap_err();
        assert!(half.contains("incomplete_pair") && !half.contains("AKSECRETVALUE"));
        assert!(super::keys(url, env(&[]))
            .unwrap_err()
            .contains("no_credentials"));
        // the mock takes any pair: a loopback URL without keys still starts
        assert!(super::keys("ws://127.0.0.1:1/v2/iex", env(&[])).is_ok());
        assert!(super::keys("ws://[::1]:1/v2/iex", env(&[])).is_ok());
        assert!(super::keys("ws://localhost.evil.com/v2/iex", env(&[])).is_err());
    }
}
