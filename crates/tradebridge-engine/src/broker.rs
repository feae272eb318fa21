//! A blocking client for the subset of Alpaca's trading REST API the engine needs:
//! `POST /v2/orders`, `GET /v2/orders/{id}`, `GET /v2/orders:by_client_order_id`, `DELETE /v2/orders/{id}`,
//! `GET /v2/positions`.
//!
//! Paper only, forced: [`BrokerUrl::parse`] accepts Alpaca's paper endpoint or a loopback address (our
//! mock broker) and refuses everything else before any request is made. Secrets live in [`Credentials`],
//! whose `Debug` never shows them.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::retry::{wait_hint, Jitter, RetryPolicy};
use crate::risk::Side;

/// Alpaca's paper trading origin.
pub const ALPACA_PAPER_URL: &str = "https://paper-api.alpaca.markets";

/// A broker origin that passed the paper-only check (no trailing slash, no `/v2`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerUrl(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UrlError {
    #[error("broker URL {0:?} is not http(s)://host[:port]")]
    Malformed(String),
    #[error(
        "refusing broker URL {0:?}: paper trading only ({ALPACA_PAPER_URL} or a loopback address)"
    )]
    NotPaper(String),
}

impl BrokerUrl {
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let trimmed = url.trim().trim_end_matches('/');
        let origin = trimmed.strip_suffix("/v2").unwrap_or(trimmed);
        let (scheme, rest) = origin
            .split_once("://")
            .ok_or_else(|| UrlError::Malformed(url.to_owned()))?;
        if scheme != "http" && scheme != "https"
            || rest.is_empty()
            || rest.contains(['/', '?', '#', '@'])
        {
            return Err(UrlError::Malformed(url.to_owned()));
        }
        let host = match rest.strip_prefix('[') {
            Some(v6) => v6
                .split_once(']')
                .map(|(h, _)| h)
                .ok_or_else(|| UrlError::Malformed(url.to_owned()))?,
            None => rest.split(':').next().unwrap_or_default(),
        };
        let loopback = host == "localhost" || host == "::1" || host.starts_with("127.");
        let paper = format!("{scheme}://{rest}") == ALPACA_PAPER_URL;
        if !(loopback || paper) {
            return Err(UrlError::NotPaper(url.to_owned()));
        }
        Ok(BrokerUrl(origin.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_loopback(&self) -> bool {
        self.0 != ALPACA_PAPER_URL
    }
}

impl fmt::Display for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// API key id and secret. `Debug` redacts both: they must never reach a log line.
#[derive(Clone)]
pub struct Credentials {
    key_id: String,
    secret: String,
}

impl Credentials {
    pub fn new(key_id: impl Into<String>, secret: impl Into<String>) -> Self {
        Credentials {
            key_id: key_id.into(),
            secret: secret.into(),
        }
    }

    /// From Alpaca's own variables (`APCA_API_KEY_ID`/`APCA_API_SECRET_KEY`) or ours
    /// (`ALPACA_API_KEY`/`ALPACA_SECRET_KEY`), through `lookup` (the environment in production).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Option<Self> {
        let pairs = [
            ("APCA_API_KEY_ID", "APCA_API_SECRET_KEY"),
            ("ALPACA_API_KEY", "ALPACA_SECRET_KEY"),
        ];
        pairs.iter().find_map(|(k, s)| {
            let key = lookup(k).filter(|v| !v.is_empty())?;
            let secret = lookup(s).filter(|v| !v.is_empty())?;
            Some(Credentials::new(key, secret))
        })
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credentials { key_id: \"***\", secret: \"***\" }")
    }
}

/// The order body Alpaca's `POST /v2/orders` takes (market orders, whole shares).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OrderRequest {
    pub symbol: String,
    pub qty: String,
    pub side: &'static str,
    #[serde(rename = "type")]
    pub order_type: &'static str,
    pub time_in_force: &'static str,
    pub client_order_id: String,
}

impl OrderRequest {
    pub fn market(symbol: &str, side: Side, qty: f64, client_order_id: &str) -> Self {
        OrderRequest {
            symbol: symbol.to_owned(),
            qty: format!("{qty}"),
            side: side.as_str(),
            order_type: "market",
            time_in_force: "day",
            client_order_id: client_order_id.to_owned(),
        }
    }
}

/// The fields of Alpaca's Order object the engine reads. Decimals may arrive as strings or numbers.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct BrokerOrder {
    pub id: String,
    pub client_order_id: String,
    pub symbol: String,
    pub side: String,
    #[serde(default, deserialize_with = "decimal::option")]
    pub qty: Option<f64>,
    #[serde(default, deserialize_with = "decimal::option")]
    pub filled_qty: Option<f64>,
    #[serde(default, deserialize_with = "decimal::option")]
    pub filled_avg_price: Option<f64>,
    pub status: String,
    #[serde(default, rename = "type")]
    pub order_type: Option<String>,
    #[serde(default)]
    pub time_in_force: Option<String>,
}

impl BrokerOrder {
    /// Alpaca's statuses after which an order never changes again.
    pub fn is_final(&self) -> bool {
        is_final_status(&self.status)
    }

    pub fn filled(&self) -> f64 {
        self.filled_qty.unwrap_or(0.0)
    }
}

pub fn is_final_status(status: &str) -> bool {
    matches!(
        status,
        "filled" | "canceled" | "expired" | "rejected" | "replaced" | "done_for_day" | "stopped"
    )
}

/// One position from `GET /v2/positions` (signed qty: negative for a short).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct BrokerPosition {
    pub symbol: String,
    #[serde(deserialize_with = "decimal::required")]
    pub qty: f64,
    #[serde(default)]
    pub side: Option<String>,
}

impl BrokerPosition {
    /// Alpaca reports short positions with a negative qty; some servers send a positive qty and
    /// `side: "short"`. Both become a negative number.
    pub fn signed_qty(&self) -> f64 {
        if self.side.as_deref() == Some("short") {
            -self.qty.abs()
        } else {
            self.qty
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The broker answered 4xx (other than 429): the order is refused and retrying won't help.
    #[error("broker refused ({status}, code {code:?}): {message}")]
    Rejected {
        status: u16,
        code: Option<i64>,
        message: String,
    },
    /// 429: refused before it took effect. `retry_after` is the wait the broker asked for, if any.
    #[error("broker rate limit reached{}", hint_text(.retry_after))]
    RateLimited { retry_after: Option<Duration> },
    /// 5xx, timeouts, connection errors: the request may or may not have taken effect.
    #[error("broker unavailable: {detail}{}", hint_text(.retry_after))]
    Unavailable {
        detail: String,
        retry_after: Option<Duration>,
    },
    /// Retries stopped (attempt cap or wait budget); `last` is the final failure.
    #[error("{last} (gave up after {attempts} attempts, {} ms waited)", .waited.as_millis())]
    GaveUp {
        attempts: u32,
        waited: Duration,
        last: Box<BrokerError>,
    },
    /// The broker answered 2xx with a body we cannot read.
    #[error("unexpected broker answer: {0}")]
    Protocol(String),
}

fn hint_text(wait: &Option<Duration>) -> String {
    wait.map(|w| format!(" (retry in {} ms)", w.as_millis()))
        .unwrap_or_default()
}

impl BrokerError {
    /// Worth another attempt with the same `client_order_id`.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            BrokerError::RateLimited { .. } | BrokerError::Unavailable { .. }
        )
    }

    /// The broker could not serve us (now or after retries), as opposed to refusing the request.
    pub fn is_transient(&self) -> bool {
        self.is_retryable() || matches!(self, BrokerError::GaveUp { .. })
    }

    /// A failure after which a submission may or may not exist at the broker.
    pub fn is_ambiguous(&self) -> bool {
        matches!(self, BrokerError::Unavailable { .. })
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            BrokerError::RateLimited { retry_after }
            | BrokerError::Unavailable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    fn is_not_found(&self) -> bool {
        matches!(self, BrokerError::Rejected { status: 404, .. })
    }

    fn is_duplicate_client_order_id(&self) -> bool {
        matches!(self, BrokerError::Rejected { status: 422, message, .. } if message.contains("client_order_id"))
    }
}

#[derive(Deserialize)]
struct AlpacaErrorBody {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    message: Option<String>,
}

/// What the client saw of the broker's limits and failures (for `/health` and `/metrics`).
#[derive(Debug, Default)]
pub struct BrokerStats {
    requests: AtomicU64,
    rate_limited: AtomicU64,
    server_errors: AtomicU64,
    retries: AtomicU64,
    waited_ms: AtomicU64,
    ambiguous_lookups: AtomicU64,
    recovered_by_lookup: AtomicU64,
    rate_limit_remaining: AtomicU64,
}

impl BrokerStats {
    /// `(name, value)` pairs, names as in the metrics (`broker_<name>`).
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        vec![
            ("broker_requests", read(&self.requests)),
            ("broker_rate_limited", read(&self.rate_limited)),
            ("broker_server_errors", read(&self.server_errors)),
            ("broker_retries", read(&self.retries)),
            ("broker_waited_ms", read(&self.waited_ms)),
            ("broker_ambiguous_lookups", read(&self.ambiguous_lookups)),
            (
                "broker_recovered_by_lookup",
                read(&self.recovered_by_lookup),
            ),
        ]
    }

    /// The broker's last `X-RateLimit-Remaining`, once it sent one.
    pub fn rate_limit_remaining(&self) -> Option<u64> {
        Some(self.rate_limit_remaining.load(Ordering::Relaxed)).filter(|n| *n != u64::MAX)
    }

    fn bump(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// Blocking Alpaca REST client (one keep-alive connection pool).
pub struct BrokerClient {
    agent: ureq::Agent,
    base: BrokerUrl,
    credentials: Credentials,
    policy: RetryPolicy,
    /// No request before this instant: the broker said its rate-limit window is spent.
    hold_off_until: Mutex<Option<Instant>>,
    stats: BrokerStats,
}

impl fmt::Debug for BrokerClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrokerClient")
            .field("base", &self.base)
            .field("credentials", &self.credentials)
            .field("policy", &self.policy)
            .finish()
    }
}

impl BrokerClient {
    pub fn new(base: BrokerUrl, credentials: Credentials, timeout: Duration) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build()
            .into();
        let stats = BrokerStats::default();
        stats
            .rate_limit_remaining
            .store(u64::MAX, Ordering::Relaxed);
        BrokerClient {
            agent,
            base,
            credentials,
            policy: RetryPolicy::default(),
            hold_off_until: Mutex::new(None),
            stats,
        }
    }

    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    pub fn base(&self) -> &BrokerUrl {
        &self.base
    }

    pub fn stats(&self) -> &BrokerStats {
        &self.stats
    }

    /// While the broker's rate-limit window is spent: the instant it refills (callers skip optional
    /// requests, such as status polls, until then).
    pub fn held_off_until(&self) -> Option<Instant> {
        let mut guard = self
            .hold_off_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if guard.is_some_and(|until| until <= Instant::now()) {
            *guard = None;
        }
        *guard
    }

    fn hold_off(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut guard = self
            .hold_off_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !matches!(*guard, Some(current) if current >= until) {
            *guard = Some(until);
        }
    }

    /// Submit an order, never twice. Every attempt carries the same `client_order_id`. After an
    /// ambiguous failure (5xx, timeout: the order may exist) the order is looked up by that id before it
    /// is sent again; if a resend meets "client_order_id must be unique", the earlier attempt landed and
    /// that order is fetched. Waits honour the broker's `Retry-After`/`X-RateLimit-Reset`, are jittered,
    /// and stop at the policy's attempt cap or wait budget (a wait past the budget is not started).
    pub fn submit(&self, order: &OrderRequest) -> Result<BrokerOrder, BrokerError> {
        let url = format!("{}/v2/orders", self.base);
        let client_order_id = order.client_order_id.as_str();
        let mut jitter = Jitter::new(client_order_id);
        let mut waited = Duration::ZERO;
        let mut maybe_placed = false;
        let mut failed = 0;
        // A window already known to be spent: wait for it (or refuse now) instead of earning a 429.
        if let Some(until) = self.held_off_until() {
            let wait = until.saturating_duration_since(Instant::now());
            if wait > self.policy.budget {
                return Err(BrokerError::GaveUp {
                    attempts: 0,
                    waited,
                    last: Box::new(BrokerError::RateLimited {
                        retry_after: Some(wait),
                    }),
                });
            }
            self.sleep(wait);
            waited += wait;
        }
        loop {
            let error = match self.post_json(&url, order) {
                Ok(placed) => return Ok(placed),
                Err(e) if maybe_placed && e.is_duplicate_client_order_id() => {
                    self.stats
                        .recovered_by_lookup
                        .fetch_add(1, Ordering::Relaxed);
                    return self.lookup_with_retries(client_order_id);
                }
                Err(e) => e,
            };
            failed += 1;
            if error.is_ambiguous() {
                maybe_placed = true;
                if let Some(found) = self.find_placed(client_order_id) {
                    return Ok(found);
                }
            }
            match self.next_wait(&error, failed, waited, &mut jitter) {
                Some(wait) => {
                    BrokerStats::bump(&self.stats.retries, 1);
                    tracing::info!(%client_order_id, %error, wait_ms = wait.as_millis() as u64, "order submission will be retried");
                    self.sleep(wait);
                    waited += wait;
                }
                None => {
                    // A 429 after an ambiguous failure: one last look before reporting failure.
                    if maybe_placed && !error.is_ambiguous() {
                        if let Some(found) = self.find_placed(client_order_id) {
                            return Ok(found);
                        }
                    }
                    return Err(gave_up(error, failed, waited));
                }
            }
        }
    }

    /// The wait before the next attempt, or `None` to give up.
    fn next_wait(
        &self,
        error: &BrokerError,
        failed: u32,
        waited: Duration,
        jitter: &mut Jitter,
    ) -> Option<Duration> {
        if !error.is_retryable() || failed >= self.policy.max_attempts {
            return None;
        }
        let wait = self.policy.delay(failed, error.retry_after(), jitter);
        (waited + wait <= self.policy.budget).then_some(wait)
    }

    fn sleep(&self, wait: Duration) {
        if !wait.is_zero() {
            BrokerStats::bump(&self.stats.waited_ms, wait.as_millis() as u64);
            std::thread::sleep(wait);
        }
    }

    /// After an ambiguous failure: the order if the broker holds it, `None` if not (or unknown).
    fn find_placed(&self, client_order_id: &str) -> Option<BrokerOrder> {
        BrokerStats::bump(&self.stats.ambiguous_lookups, 1);
        match self.get_by_client_order_id(client_order_id) {
            Ok(found) => {
                BrokerStats::bump(&self.stats.recovered_by_lookup, 1);
                tracing::info!(%client_order_id, "order found at the broker after an ambiguous failure");
                Some(found)
            }
            Err(e) if e.is_not_found() => None,
            Err(e) => {
                tracing::warn!(%client_order_id, error = %e, "lookup after an ambiguous failure failed");
                None
            }
        }
    }

    /// Idempotent reads are retried like submissions (no ambiguity: reading twice is harmless).
    fn retrying<R>(&self, read: impl Fn() -> Result<R, BrokerError>) -> Result<R, BrokerError> {
        let mut jitter = Jitter::new("read");
        let mut waited = Duration::ZERO;
        let mut failed = 0;
        loop {
            let error = match read() {
                Ok(value) => return Ok(value),
                Err(e) => e,
            };
            failed += 1;
            match self.next_wait(&error, failed, waited, &mut jitter) {
                Some(wait) => {
                    BrokerStats::bump(&self.stats.retries, 1);
                    self.sleep(wait);
                    waited += wait;
                }
                None => return Err(gave_up(error, failed, waited)),
            }
        }
    }

    fn lookup_with_retries(&self, client_order_id: &str) -> Result<BrokerOrder, BrokerError> {
        self.retrying(|| self.get_by_client_order_id(client_order_id))
    }

    /// One status lookup, not retried: the caller polls again later.
    pub fn get(&self, order_id: &str) -> Result<BrokerOrder, BrokerError> {
        self.get_json(
            self.agent
                .get(format!("{}/v2/orders/{}", self.base, order_id)),
        )
    }

    pub fn get_by_client_order_id(
        &self,
        client_order_id: &str,
    ) -> Result<BrokerOrder, BrokerError> {
        let url = format!("{}/v2/orders:by_client_order_id", self.base);
        self.get_json(
            self.agent
                .get(url)
                .query("client_order_id", client_order_id),
        )
    }

    /// Ask the broker to cancel; a 422 (already final) is not an error for the caller.
    pub fn cancel(&self, order_id: &str) -> Result<(), BrokerError> {
        let request = self.authorize(
            self.agent
                .delete(format!("{}/v2/orders/{}", self.base, order_id)),
        );
        let response = self.answer(request.call())?;
        match response.status().as_u16() {
            200..=299 | 422 => Ok(()),
            status => Err(self.observe(error_from(status, response))),
        }
    }

    /// Positions, retried within the policy (startup must survive a throttled or flaky broker).
    pub fn positions(&self) -> Result<Vec<BrokerPosition>, BrokerError> {
        self.retrying(|| self.get_json(self.agent.get(format!("{}/v2/positions", self.base))))
    }

    fn authorize<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        request
            .header("APCA-API-KEY-ID", self.credentials.key_id.as_str())
            .header("APCA-API-SECRET-KEY", self.credentials.secret.as_str())
    }

    fn get_json<R: DeserializeOwned>(
        &self,
        request: ureq::RequestBuilder<ureq::typestate::WithoutBody>,
    ) -> Result<R, BrokerError> {
        let response = self.answer(self.authorize(request).call())?;
        self.read_json(response)
    }

    fn post_json<R: DeserializeOwned, T: Serialize>(
        &self,
        url: &str,
        body: &T,
    ) -> Result<R, BrokerError> {
        let response = self.answer(self.authorize(self.agent.post(url)).send_json(body))?;
        self.read_json(response)
    }

    /// Count the request and read the broker's rate-limit headers, which come with every answer: when
    /// the window is spent (`X-RateLimit-Remaining: 0`) further requests wait for its reset.
    fn answer(
        &self,
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<ureq::http::Response<ureq::Body>, BrokerError> {
        BrokerStats::bump(&self.stats.requests, 1);
        let response = result.map_err(|e| {
            self.observe(BrokerError::Unavailable {
                detail: e.to_string(),
                retry_after: None,
            })
        })?;
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok());
        if let Some(remaining) = header("x-ratelimit-remaining").and_then(|v| v.trim().parse().ok())
        {
            self.stats
                .rate_limit_remaining
                .store(remaining, Ordering::Relaxed);
            if remaining == 0 && response.status().is_success() {
                if let Some(wait) =
                    wait_hint(429, None, header("x-ratelimit-reset"), SystemTime::now())
                {
                    self.hold_off(wait);
                }
            }
        }
        Ok(response)
    }

    fn read_json<R: DeserializeOwned>(
        &self,
        mut response: ureq::http::Response<ureq::Body>,
    ) -> Result<R, BrokerError> {
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(self.observe(error_from(status, response)));
        }
        response
            .body_mut()
            .read_json::<R>()
            .map_err(|e| BrokerError::Protocol(e.to_string()))
    }

    /// Count a failure; a 429 with a known wait holds every request off until then.
    fn observe(&self, error: BrokerError) -> BrokerError {
        match &error {
            BrokerError::RateLimited { retry_after } => {
                BrokerStats::bump(&self.stats.rate_limited, 1);
                if let Some(wait) = retry_after {
                    self.hold_off(*wait);
                }
            }
            BrokerError::Unavailable { .. } => BrokerStats::bump(&self.stats.server_errors, 1),
            _ => {}
        }
        error
    }
}

fn gave_up(error: BrokerError, attempts: u32, waited: Duration) -> BrokerError {
    if attempts <= 1 && !error.is_retryable() {
        return error; // a plain refusal: nothing was retried
    }
    BrokerError::GaveUp {
        attempts,
        waited,
        last: Box::new(error),
    }
}

fn error_from(status: u16, mut response: ureq::http::Response<ureq::Body>) -> BrokerError {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let retry_after = wait_hint(
        status,
        header("retry-after").as_deref(),
        header("x-ratelimit-reset").as_deref(),
        SystemTime::now(),
    );
    let text = response.body_mut().read_to_string().unwrap_or_default();
    if status == 429 {
        return BrokerError::RateLimited { retry_after };
    }
    if status >= 500 {
        return BrokerError::Unavailable {
            detail: format!("HTTP {status}"),
            retry_after,
        };
    }
    let parsed: Option<AlpacaErrorBody> = serde_json::from_str(&text).ok();
    let (code, message) = match parsed {
        Some(body) => (body.code, body.message.unwrap_or_default()),
        None => (None, text.chars().take(200).collect()),
    };
    BrokerError::Rejected {
        status,
        code,
        message,
    }
}

/// Alpaca sends decimals as JSON strings ("10", "151.23"); accept numbers too.
mod decimal {
    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Decimal {
        Number(f64),
        Text(String),
    }

    fn to_f64<E: serde::de::Error>(d: Decimal) -> Result<f64, E> {
        match d {
            Decimal::Number(x) => Ok(x),
            Decimal::Text(s) => s
                .trim()
                .parse()
                .map_err(|_| E::custom(format!("not a decimal: {s:?}"))),
        }
    }

    pub fn option<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        Option::<Decimal>::deserialize(d)?.map(to_f64).transpose()
    }

    pub fn required<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        to_f64(Decimal::deserialize(d)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_and_loopback_urls_are_accepted() {
        for ok in [
            "https://paper-api.alpaca.markets",
            "https://paper-api.alpaca.markets/",
            "https://paper-api.alpaca.markets/v2",
            "http://127.0.0.1:8090",
            "http://localhost:1234",
            "http://[::1]:99",
        ] {
            assert!(BrokerUrl::parse(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            BrokerUrl::parse("http://127.0.0.1:9/").unwrap().as_str(),
            "http://127.0.0.1:9"
        );
        assert!(!BrokerUrl::parse(ALPACA_PAPER_URL).unwrap().is_loopback());
    }

    #[test]
    fn live_and_foreign_urls_are_refused() {
        for bad in [
            "https://api.alpaca.markets",
            "http://paper-api.alpaca.markets",
            "https://paper-api.alpaca.markets.evil.com",
            "https://evil.com/?x=paper-api.alpaca.markets",
            "http://10.0.0.1:8090",
            "http://user@127.0.0.1.example.com",
        ] {
            assert!(BrokerUrl::parse(bad).is_err(), "{bad}");
        }
        assert!(matches!(
            BrokerUrl::parse("ftp://127.0.0.1"),
            Err(UrlError::Malformed(_))
        ));
        assert!(matches!(
            BrokerUrl::parse("api.alpaca.markets"),
            Err(UrlError::Malformed(_))
        ));
    }

    #[test]
    fn credentials_never_print() {
        let env = |k: &str| match k {
            "ALPACA_API_KEY" => Some("PKTESTKEY".to_owned()),
            "ALPACA_SECRET_KEY" => Some("s3cr3t".to_owned()),
            _ => None,
        };
        let creds = Credentials::from_lookup(env).unwrap();
        let shown = format!("{creds:?}");
        assert!(!shown.contains("PKTESTKEY") && !shown.contains("s3cr3t"));
        let client = BrokerClient::new(
            BrokerUrl::parse("http://127.0.0.1:1").unwrap(),
            creds,
            Duration::from_secs(1),
        );
        assert!(!format!("{client:?}").contains("s3cr3t"));
        assert!(Credentials::from_lookup(|_| None).is_none());
        // Alpaca's own names win when both sets are present.
        let both = |k: &str| Some(format!("{k}-value"));
        let creds = Credentials::from_lookup(both).unwrap();
        assert_eq!(creds.key_id, "APCA_API_KEY_ID-value");
    }

    #[test]
    fn orders_decode_with_string_or_number_decimals() {
        let json = r#"{"id":"o1","client_order_id":"c1","symbol":"AAPL","side":"buy","qty":"10",
            "filled_qty":10,"filled_avg_price":"151.25","status":"filled","type":"market","extra":1}"#;
        let order: BrokerOrder = serde_json::from_str(json).unwrap();
        assert_eq!(
            (order.qty, order.filled(), order.filled_avg_price),
            (Some(10.0), 10.0, Some(151.25))
        );
        assert!(order.is_final());
        let open: BrokerOrder = serde_json::from_str(
            r#"{"id":"o","client_order_id":"c","symbol":"A","side":"sell","qty":"1","filled_qty":"0","filled_avg_price":null,"status":"accepted"}"#,
        )
        .unwrap();
        assert!(!open.is_final() && open.filled_avg_price.is_none());
        let short: BrokerPosition =
            serde_json::from_str(r#"{"symbol":"A","qty":"5","side":"short"}"#).unwrap();
        assert_eq!(short.signed_qty(), -5.0);
    }

    #[test]
    fn order_request_is_alpacas_shape() {
        let body =
            serde_json::to_value(OrderRequest::market("AAPL", Side::Sell, 3.0, "tb-1")).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"symbol":"AAPL","qty":"3","side":"sell","type":"market","time_in_force":"day","client_order_id":"tb-1"})
        );
    }
}
