//! Command-line configuration of the `execution-engine` binary: every endpoint and limit is a flag.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::broker::{BrokerUrl, Credentials, CredentialsError, UrlError, ALPACA_PAPER_URL};
use crate::engine::{ExecutionSettings, RateClock, RateGate};
use crate::retry::RetryPolicy;
use crate::risk::RiskLimits;

/// The mock broker's address when nothing else is said (`tradebridge mock-broker --port 8090`).
pub const DEFAULT_MOCK_BROKER_URL: &str = "http://127.0.0.1:8090";

/// Credentials sent to a loopback mock broker when none are configured (it accepts any non-empty pair).
const MOCK_KEY: &str = "tradebridge-mock";

#[derive(Debug, Clone, Parser)]
#[command(
    name = "execution-engine",
    version,
    about = "Risk-checked execution of tradebridge signals on an Alpaca-compatible paper broker",
    long_about = "Subscribes to Signals, applies the risk limits, places market orders on an \
Alpaca-compatible paper broker (the local mock by default; Alpaca paper when APCA_API_KEY_ID/\
APCA_API_SECRET_KEY or ALPACA_API_KEY/ALPACA_SECRET_KEY are set), follows each order to its final \
state and publishes OrderUpdates on topic `order`. Paper only: any other broker URL is refused.\n\n\
Kill switch: --kill-switch starts engaged; while --kill-switch-file exists it is engaged; SIGUSR1 \
engages it and SIGUSR2 releases it at runtime; with a token in $TRADEBRIDGE_KILL_SWITCH_TOKEN, \
POST /kill-switch/engage and /kill-switch/release on the health port (Authorization: Bearer <token>) \
do the same. Once engaged no order is sent, whatever was already read from the socket.\n\n\
Start-up: open orders and positions are loaded from the broker before the first signal is taken; \
until then signals are refused (exposure_unknown) and /ready says why. See docs/risk.md."
)]
pub struct Args {
    /// Where Signals are published (the engine connects and subscribes to topic `signal`).
    #[arg(long, default_value = "tcp://127.0.0.1:5556")]
    pub signal_endpoint: String,
    /// Where the engine publishes OrderUpdates (topic `order`).
    #[arg(long, default_value = "tcp://127.0.0.1:5557")]
    pub order_endpoint: String,
    /// Connect to the order endpoint instead of binding it (e.g. behind a proxy).
    #[arg(long)]
    pub order_connect: bool,
    /// Bind the signal endpoint instead of connecting to it: strategies connect to the engine.
    #[arg(long)]
    pub signal_bind: bool,
    /// CURVE: this engine's secret key file (else TRADEBRIDGE_CURVE_SECRET_KEY); bound sockets admit
    /// only --curve-allow, connected ones talk only to --curve-server-key (docs/deploy.md)
    #[arg(long)]
    pub curve_secret_key: Option<String>,
    /// CURVE: clients the bound sockets admit: a directory of *.key files, a comma list of keys, or *
    /// (else TRADEBRIDGE_CURVE_ALLOW)
    #[arg(long)]
    pub curve_allow: Option<String>,
    /// CURVE: the server key file of the endpoints this engine connects to (else
    /// TRADEBRIDGE_CURVE_SERVER_KEY)
    #[arg(long)]
    pub curve_server_key: Option<String>,
    /// Optional market-data endpoint: the last BarUpdate close (or TradeUpdate price) of each symbol is a
    /// trusted price. Without one fresh enough, the broker's latest quote is asked.
    #[arg(long)]
    pub market_endpoint: Option<String>,
    /// Broker origin. Default: Alpaca paper when credentials are set, else the local mock broker.
    #[arg(long)]
    pub broker_url: Option<String>,
    /// Serve /health, /ready, /live, /metrics on this port (0 = none).
    #[arg(long, default_value_t = 0)]
    pub health_port: u16,
    /// Address the health port binds: loopback unless told otherwise (`0.0.0.0` for probes from
    /// outside the host).
    #[arg(long, default_value = tradebridge_health::DEFAULT_HEALTH_HOST)]
    pub health_host: String,

    /// Largest absolute position per symbol, in shares (filled + open orders).
    #[arg(long, default_value_t = 100.0)]
    pub max_position: f64,
    /// Largest absolute position per symbol, in dollars at the trusted price.
    #[arg(long, default_value_t = 50_000.0)]
    pub max_notional: f64,
    /// A signal whose `price` is further than this fraction from the trusted price is refused
    /// (`price_band`).
    #[arg(long, default_value_t = 0.05)]
    pub price_band: f64,
    /// A trusted price older than this is not used (the broker's quote is asked again).
    #[arg(long, default_value_t = 5_000)]
    pub price_max_age_ms: u64,
    /// With no trusted price for a symbol, let the signal's own `price` stand in (offline demos
    /// only: whoever publishes signals then chooses the price the limits are checked against).
    #[arg(long)]
    pub allow_signal_price: bool,
    /// Read the bare `NaN`/`Infinity` tokens Python's `json.dumps` writes in a signal's `features` as
    /// null (counted in `signal_bus_nan_tokens`). Off: such a signal is malformed (not JSON), refused.
    #[arg(long)]
    pub allow_nan_tokens: bool,
    /// Orders per rolling second (Alpaca allows 200 requests a minute).
    #[arg(long, default_value_t = 3)]
    pub max_orders_per_sec: u32,
    /// What `--max-orders-per-sec` counts: `wall`, the engine's clock; `market`, the signals'
    /// timestamps (a replay or a deterministic run, whose signals carry the market's time: the same
    /// signals get the same verdicts at any pace; give it one `--submit-workers` to keep their order).
    #[arg(long, value_enum, default_value_t = RateClock::Wall)]
    pub rate_clock: RateClock,
    /// Signals older than this are refused as stale.
    #[arg(long, default_value_t = 5_000)]
    pub max_signal_age_ms: u64,
    /// Signals timestamped further than this in the future are refused.
    #[arg(long, default_value_t = 1_000)]
    pub max_clock_skew_ms: u64,
    /// Shares for a signal of strength 1 (size = round(strength * this)).
    #[arg(long, default_value_t = 10.0)]
    pub max_order_qty: f64,

    /// How often each open order is polled at the broker. Default: 50 ms on loopback (the mock), 1000 ms
    /// at Alpaca, whose 200 requests a minute polling must not exhaust.
    #[arg(long)]
    pub poll_interval_ms: Option<u64>,
    /// Alpaca's trade-updates WebSocket, where the engine hears fills as they happen. Default: derived
    /// from the broker URL (`ws://HOST:PORT/stream` for the mock, `wss://paper-api.alpaca.markets/stream`
    /// for Alpaca paper). The API keys are sent to it, so it must pass the same paper-only rule.
    #[arg(long)]
    pub trade_stream_url: Option<String>,
    /// Do not use the trade-updates stream: follow every order by polling only.
    #[arg(long, conflicts_with = "trade_stream_url")]
    pub no_trade_stream: bool,
    /// While the trade stream is up, each open order is still looked up this often (a safety net).
    #[arg(long, default_value_t = 5_000)]
    pub safety_poll_ms: u64,
    /// Cancel an order still open after this long.
    #[arg(long, default_value_t = 30_000)]
    pub order_timeout_ms: u64,
    /// Timeout of one broker request.
    #[arg(long, default_value_t = 5_000)]
    pub broker_timeout_ms: u64,
    /// Attempts per order submission (the first included) on 429/5xx/timeouts; the client order id stays
    /// the same, so a retry never places a second order.
    #[arg(long, default_value_t = 6)]
    pub broker_max_attempts: u32,
    /// The most time one submission may spend waiting between attempts, the broker's `Retry-After` /
    /// `X-RateLimit-Reset` included; a wait beyond it is not started and the signal is refused.
    #[arg(long, default_value_t = 10_000)]
    pub broker_retry_budget_ms: u64,
    /// Consecutive failed status lookups after which an order is given up (`broker:lookup_failed`).
    #[arg(long, default_value_t = 20)]
    pub lookup_max_failures: u32,
    /// How long an order's status lookups may keep failing before it is given up.
    #[arg(long, default_value_t = 30_000)]
    pub lookup_deadline_ms: u64,
    /// On shutdown, cancel the orders still open.
    #[arg(long)]
    pub cancel_on_exit: bool,

    /// The journal of accepted signals (one fsync'd line each, before the order is sent): a signal
    /// delivered again after a restart is refused as `duplicate` instead of ordered twice. Without it,
    /// only the broker's refusal of a repeated client order id stands between a replay and a second
    /// order (docs/DESIGN.md, "Restart safety").
    #[arg(long)]
    pub journal: Option<PathBuf>,
    /// How long the journal remembers a signal id (older entries are compacted away).
    #[arg(long, default_value_t = 86_400_000)]
    pub journal_window_ms: u64,
    /// At most this many signal ids are remembered for duplicate refusal (in memory, and as live journal
    /// entries), oldest forgotten first: the idempotency window is `--journal-window-ms` or this many
    /// ids, whichever is shorter, so memory is bounded (about 150 bytes an id).
    #[arg(long, default_value_t = 100_000)]
    pub idempotency_max_ids: usize,
    /// Threads sending orders to the broker, so the main loop never waits on it.
    #[arg(long, default_value_t = 4)]
    pub submit_workers: usize,
    /// Approved orders waiting for a worker, at most; beyond it a signal is refused (`queue_full`). Large
    /// enough for a burst; small enough that what waits is not stale by the time it is sent.
    #[arg(long, default_value_t = 1024)]
    pub submit_queue: usize,
    /// Threads reading from the broker off the main loop (latest quotes, order polls, the exposure
    /// load), and how many reads may be pending at once (beyond it a poll waits for its next turn and a
    /// signal needing a quote is refused `queue_full`).
    #[arg(long, default_value_t = 2)]
    pub broker_readers: usize,
    #[arg(long, default_value_t = 1024)]
    pub broker_read_queue: usize,
    /// How long a signal without a trusted price waits for the broker's quote (the loop reads on
    /// meanwhile); past it the signal is refused `broker_unavailable`.
    #[arg(long, default_value_t = 2_000)]
    pub price_wait_ms: u64,
    /// Signals waiting for a quote, at most; beyond it a signal is refused `queue_full`.
    #[arg(long, default_value_t = 1024)]
    pub price_wait_queue: usize,
    /// On SIGTERM/SIGINT, how long sends in flight may still take to be answered (then the engine exits;
    /// their journal entries are resolved at the next start).
    #[arg(long, default_value_t = 500)]
    pub shutdown_grace_ms: u64,

    /// Give up (exit 1) when open orders and positions cannot be loaded from the broker for this long
    /// after start-up (0 = keep trying; signals are refused meanwhile).
    #[arg(long, default_value_t = 30_000)]
    pub sync_deadline_ms: u64,

    /// Start with the kill switch engaged (every signal refused).
    #[arg(long)]
    pub kill_switch: bool,
    /// The kill switch is engaged while this file exists (checked every 20 ms).
    #[arg(long)]
    pub kill_switch_file: Option<PathBuf>,
    /// When the kill switch engages, cancel every open order of the account.
    #[arg(long)]
    pub kill_switch_cancel_orders: bool,
    /// When the kill switch engages, close every position of the account (market orders placed by the
    /// broker, cancelling open orders first).
    #[arg(long)]
    pub kill_switch_flatten: bool,
    /// The environment variable holding the bearer token of the HTTP kill-switch routes (unset or empty:
    /// the routes answer 403).
    #[arg(long, default_value = "TRADEBRIDGE_KILL_SWITCH_TOKEN")]
    pub kill_switch_token_env: String,

    /// Signals from NATS JetStream (`--signals-nats` and its companions; see `input::NatsArgs`).
    #[command(flatten)]
    pub nats: crate::input::NatsArgs,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Url(#[from] UrlError),
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    #[error("{0} is Alpaca paper: set APCA_API_KEY_ID/APCA_API_SECRET_KEY (or ALPACA_API_KEY/ALPACA_SECRET_KEY)")]
    MissingCredentials(String),
    #[error("invalid limit: {0}")]
    Limit(&'static str),
    #[error(transparent)]
    StreamUrl(#[from] crate::stream::StreamUrlError),
}

impl Args {
    pub fn limits(&self) -> Result<RiskLimits, ConfigError> {
        if self.max_position.is_nan() || self.max_position <= 0.0 {
            return Err(ConfigError::Limit("--max-position must be > 0"));
        }
        if self.max_notional.is_nan() || self.max_notional <= 0.0 {
            return Err(ConfigError::Limit("--max-notional must be > 0"));
        }
        if self.max_orders_per_sec == 0 {
            return Err(ConfigError::Limit("--max-orders-per-sec must be >= 1"));
        }
        if self.max_order_qty.is_nan() || self.max_order_qty < 1.0 {
            return Err(ConfigError::Limit("--max-order-qty must be >= 1"));
        }
        if !(self.price_band.is_finite() && self.price_band > 0.0 && self.price_band < 1.0) {
            return Err(ConfigError::Limit(
                "--price-band must be a fraction between 0 and 1 (0.05 = 5%)",
            ));
        }
        Ok(RiskLimits {
            max_position: self.max_position,
            max_notional: self.max_notional,
            // On the market clock only the gate where orders leave counts (the book's window is wall time).
            max_orders_per_sec: match self.rate_clock {
                RateClock::Wall => self.max_orders_per_sec,
                RateClock::Market => u32::MAX,
            },
            price_band: self.price_band,
            max_price_age: Duration::from_millis(self.price_max_age_ms),
            allow_signal_price: self.allow_signal_price,
            max_signal_age: Duration::from_millis(self.max_signal_age_ms),
            max_clock_skew: Duration::from_millis(self.max_clock_skew_ms),
        })
    }

    /// The order-rate limit where orders leave, on the `--rate-clock`.
    pub fn rate_gate(&self) -> RateGate {
        RateGate::with_clock(self.max_orders_per_sec, self.rate_clock)
    }

    pub fn settings(&self, broker: &BrokerUrl) -> ExecutionSettings {
        let default_poll = if broker.is_loopback() { 50 } else { 1_000 };
        ExecutionSettings {
            poll_interval: Duration::from_millis(self.poll_interval_ms.unwrap_or(default_poll)),
            order_timeout: Duration::from_millis(self.order_timeout_ms),
            lookup_max_failures: self.lookup_max_failures.max(1),
            lookup_deadline: Duration::from_millis(self.lookup_deadline_ms),
            safety_poll_interval: Duration::from_millis(self.safety_poll_ms.max(1)),
            broker_readers: self.broker_readers.max(1),
            broker_read_queue: self.broker_read_queue.max(1),
            price_wait: Duration::from_millis(self.price_wait_ms),
            price_wait_queue: self.price_wait_queue,
        }
    }

    /// The trade-updates stream to listen to (`None` with `--no-trade-stream`).
    pub fn trade_stream(&self, broker: &BrokerUrl) -> Result<Option<String>, ConfigError> {
        if self.no_trade_stream {
            return Ok(None);
        }
        Ok(Some(match &self.trade_stream_url {
            Some(url) => crate::stream::check_url(url)?,
            None => crate::stream::derive_url(broker),
        }))
    }

    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            max_attempts: self.broker_max_attempts.max(1),
            budget: Duration::from_millis(self.broker_retry_budget_ms),
            ..RetryPolicy::default()
        }
    }

    /// The broker to use and the credentials to send, from the flags and `lookup` (the environment).
    pub fn broker(
        &self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<(BrokerUrl, Credentials), ConfigError> {
        let credentials = match Credentials::from_lookup(lookup) {
            Err(CredentialsError::Missing) => None,
            found => Some(found?),
        };
        let default = if credentials.is_some() {
            ALPACA_PAPER_URL
        } else {
            DEFAULT_MOCK_BROKER_URL
        };
        let url = BrokerUrl::parse(self.broker_url.as_deref().unwrap_or(default))?;
        match credentials {
            Some(c) => Ok((url, c)),
            None if url.is_loopback() => Ok((url, Credentials::new(MOCK_KEY, MOCK_KEY))),
            None => Err(ConfigError::MissingCredentials(url.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Args {
        Args::try_parse_from(std::iter::once("execution-engine").chain(extra.iter().copied()))
            .unwrap()
    }

    #[test]
    fn defaults_need_no_credentials_and_use_the_mock() {
        let (url, _) = args(&[]).broker(|_| None).unwrap();
        assert_eq!(url.as_str(), DEFAULT_MOCK_BROKER_URL);
        assert_eq!(
            args(&[]).limits().unwrap(),
            RiskLimits {
                max_orders_per_sec: 3,
                ..RiskLimits::default()
            }
        );
    }

    #[test]
    fn credentials_switch_the_default_to_alpaca_paper() {
        let env = |k: &str| k.starts_with("APCA").then(|| "x".to_owned());
        let (url, _) = args(&[]).broker(env).unwrap();
        assert_eq!(url.as_str(), ALPACA_PAPER_URL);
    }

    #[test]
    fn paper_without_credentials_and_live_urls_are_refused() {
        let paper = args(&["--broker-url", ALPACA_PAPER_URL])
            .broker(|_| None)
            .unwrap_err();
        assert!(paper.to_string().contains("APCA_API_KEY_ID"));
        let live =
            args(&["--broker-url", "https://api.alpaca.markets"]).broker(|_| Some("x".into()));
        assert!(matches!(live, Err(ConfigError::Url(e)) if e.code() == "not_paper_host"));
    }

    #[test]
    fn polling_is_gentler_on_alpaca() {
        let mock = BrokerUrl::parse("http://127.0.0.1:1").unwrap();
        let paper = BrokerUrl::parse(ALPACA_PAPER_URL).unwrap();
        assert_eq!(
            args(&[]).settings(&mock).poll_interval,
            Duration::from_millis(50)
        );
        assert_eq!(
            args(&[]).settings(&paper).poll_interval,
            Duration::from_millis(1_000)
        );
        let set = args(&["--poll-interval-ms", "7"]);
        assert_eq!(set.settings(&paper).poll_interval, Duration::from_millis(7));
    }

    #[test]
    fn the_trade_stream_follows_the_broker_unless_told() {
        let mock = BrokerUrl::parse("http://127.0.0.1:8090").unwrap();
        let paper = BrokerUrl::parse(ALPACA_PAPER_URL).unwrap();
        assert_eq!(
            args(&[]).trade_stream(&mock).unwrap().as_deref(),
            Some("ws://127.0.0.1:8090/stream")
        );
        assert_eq!(
            args(&[]).trade_stream(&paper).unwrap().as_deref(),
            Some("wss://paper-api.alpaca.markets/stream")
        );
        assert_eq!(
            args(&["--no-trade-stream"]).trade_stream(&mock).unwrap(),
            None
        );
        let elsewhere = args(&["--trade-stream-url", "wss://api.alpaca.markets/stream"]);
        assert!(
            matches!(elsewhere.trade_stream(&paper), Err(ConfigError::StreamUrl(e)) if e.code() == "not_paper_host")
        );
    }

    #[test]
    fn on_the_market_clock_only_the_gate_counts_the_order_rate() {
        assert_eq!(args(&[]).rate_clock, RateClock::Wall);
        let market = args(&["--rate-clock", "market", "--max-orders-per-sec", "5"]);
        assert_eq!(market.limits().unwrap().max_orders_per_sec, u32::MAX);
        assert!(format!("{:?}", market.rate_gate()).contains("Market"));
        assert!(Args::try_parse_from(["execution-engine", "--rate-clock", "sundial"]).is_err());
    }

    #[test]
    fn limits_are_validated() {
        assert!(args(&["--max-position", "0"]).limits().is_err());
        assert!(args(&["--max-orders-per-sec", "0"]).limits().is_err());
        assert!(args(&["--max-notional", "NaN"]).limits().is_err());
        assert!(args(&["--max-order-qty", "0.5"]).limits().is_err());
        for band in ["0", "1", "5", "NaN", "-0.1"].map(|b| format!("--price-band={b}")) {
            assert!(args(&[band.as_str()]).limits().is_err(), "{band}");
        }
        let strict = args(&[]).limits().unwrap();
        assert_eq!(
            (strict.price_band, strict.allow_signal_price),
            (0.05, false)
        );
    }
}
