//! The blocking HTTP client: retries, ambiguity recovery by client order id, rate-limit hold-off.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::credentials::Credentials;
use super::errors::{error_from, gave_up, BrokerError};
use super::url::BrokerUrl;
use super::wire::{BrokerOrder, BrokerPosition, LatestQuotes, OrderRequest, Quote};
use crate::retry::{wait_hint, Jitter, RetryPolicy};

/// Alpaca's market-data origin (latest quotes), for a client of Alpaca paper.
pub const ALPACA_DATA_URL: &str = "https://data.alpaca.markets";

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
    timeout: Duration,
    base: BrokerUrl,
    credentials: Credentials,
    policy: RetryPolicy,
    /// No request before this instant: the broker said its rate-limit window is spent.
    hold_off_until: Mutex<Option<Instant>>,
    stats: BrokerStats,
}

/// Idle connections kept per host at the least (ureq's own default is 3).
const IDLE_CONNECTIONS: usize = 8;

fn agent(timeout: Duration, idle_per_host: usize) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        // The broker and, for Alpaca, its market-data host.
        .max_idle_connections(2 * idle_per_host)
        .max_idle_connections_per_host(idle_per_host)
        .build()
        .into()
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
        let agent = agent(timeout, IDLE_CONNECTIONS);
        let stats = BrokerStats::default();
        stats
            .rate_limit_remaining
            .store(u64::MAX, Ordering::Relaxed);
        BrokerClient {
            agent,
            timeout,
            base,
            credentials,
            policy: RetryPolicy::default(),
            hold_off_until: Mutex::new(None),
            stats,
        }
    }

    /// Keep up to `threads` idle connections to the broker: one per thread that calls it at once (the
    /// submission workers and the readers). With fewer, each burst closed the connections the pool could
    /// not keep and the next one opened new ones, each a TCP connect and 256 KiB of fresh buffers.
    pub fn with_idle_connections(mut self, threads: usize) -> Self {
        self.agent = agent(self.timeout, threads.max(IDLE_CONNECTIONS));
        self
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
        self.submit_while(order, || Some(()))?
            .ok_or_else(|| BrokerError::Protocol("submission halted without a gate".into()))
    }

    /// [`BrokerClient::submit`], asking `permit` right before each attempt is sent and holding what it
    /// returns until that attempt's answer is read (the kill switch's gate). `Ok(None)`: `permit` said no
    /// and the order is not at the broker: never sent, or an earlier attempt that failed ambiguously was
    /// looked up and not found. No retry is started once `permit` says no.
    pub fn submit_while<G>(
        &self,
        order: &OrderRequest,
        permit: impl Fn() -> Option<G>,
    ) -> Result<Option<BrokerOrder>, BrokerError> {
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
            let attempt = {
                let Some(_permit) = permit() else {
                    return Ok(if maybe_placed {
                        self.find_placed(client_order_id)
                    } else {
                        None
                    });
                };
                self.post_json(&url, order)
            };
            let error = match attempt {
                Ok(placed) => return Ok(Some(placed)),
                Err(e) if maybe_placed && e.is_duplicate_client_order_id() => {
                    self.stats
                        .recovered_by_lookup
                        .fetch_add(1, Ordering::Relaxed);
                    return self.lookup_with_retries(client_order_id).map(Some);
                }
                Err(e) => e,
            };
            failed += 1;
            if error.is_ambiguous() {
                maybe_placed = true;
                if let Some(found) = self.find_placed(client_order_id) {
                    return Ok(Some(found));
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
                            return Ok(Some(found));
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
        let hint = error.retry_after();
        self.policy
            .decide(failed, error.is_retryable(), hint, waited, jitter.unit())
            .ok()
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

    /// Every open order of the account (`GET /v2/orders?status=open`), oldest first, all pages: each page
    /// starts after the last `submitted_at` of the previous one; an order seen twice is kept once.
    /// Each page is retried within the policy.
    pub fn open_orders(&self) -> Result<Vec<BrokerOrder>, BrokerError> {
        const PAGE: usize = 500;
        let url = format!("{}/v2/orders", self.base);
        let mut seen = std::collections::HashSet::new();
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page: Vec<BrokerOrder> = self.retrying(|| {
                let mut request = self
                    .agent
                    .get(&url)
                    .query("status", "open")
                    .query("limit", PAGE.to_string())
                    .query("direction", "asc");
                if let Some(cursor) = &after {
                    request = request.query("after", cursor);
                }
                self.get_json(request)
            })?;
            let full = page.len() >= PAGE;
            let cursor = page.last().and_then(|o| o.submitted_at.clone());
            let before = all.len();
            all.extend(page.into_iter().filter(|o| seen.insert(o.id.clone())));
            // A short page is the last; a page of orders already seen (or without times) cannot advance.
            match cursor {
                Some(cursor) if full && all.len() > before => after = Some(cursor),
                _ => return Ok(all),
            }
        }
    }

    /// The market-data origin: Alpaca's data host for Alpaca paper, the broker itself on loopback (the
    /// mock serves both APIs on one origin). The credentials only ever go to these two origins.
    fn data_origin(&self) -> &str {
        if self.base.is_loopback() {
            self.base.as_str()
        } else {
            ALPACA_DATA_URL
        }
    }

    /// The mid of the latest quote of `symbol` (`GET /v2/stocks/quotes/latest?symbols=`), the bid or
    /// the ask alone when only one side is quoted; `None` when the broker has no quote. Retried within
    /// the policy, like a submission: the order it prices waits for it.
    pub fn latest_quote(&self, symbol: &str) -> Result<Option<f64>, BrokerError> {
        let url = format!("{}/v2/stocks/quotes/latest", self.data_origin());
        // A window known to be spent: wait for it within the budget, or fail without asking.
        if let Some(until) = self.held_off_until() {
            let wait = until.saturating_duration_since(Instant::now());
            if wait > self.policy.budget {
                return Err(BrokerError::GaveUp {
                    attempts: 0,
                    waited: Duration::ZERO,
                    last: Box::new(BrokerError::RateLimited {
                        retry_after: Some(wait),
                    }),
                });
            }
            self.sleep(wait);
        }
        let quotes: LatestQuotes =
            self.retrying(|| self.get_json(self.agent.get(&url).query("symbols", symbol)))?;
        Ok(quotes.quotes.get(symbol).and_then(Quote::price))
    }

    /// Cancel every open order of the account (`DELETE /v2/orders`); the number the broker canceled.
    pub fn cancel_all(&self) -> Result<usize, BrokerError> {
        let url = format!("{}/v2/orders", self.base);
        let response = self.answer(self.authorize(self.agent.delete(url)).call())?;
        let answers: Vec<serde_json::Value> = self.read_json(response)?;
        Ok(answers.len())
    }

    /// Close every position of the account, cancelling open orders first
    /// (`DELETE /v2/positions?cancel_orders=true`); the number of positions the broker closes.
    pub fn close_all_positions(&self) -> Result<usize, BrokerError> {
        let url = format!("{}/v2/positions", self.base);
        let request = self.agent.delete(url).query("cancel_orders", "true");
        let response = self.answer(self.authorize(request).call())?;
        let answers: Vec<serde_json::Value> = self.read_json(response)?;
        Ok(answers.len())
    }

    fn authorize<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        request
            .header("APCA-API-KEY-ID", self.credentials.key_id())
            .header("APCA-API-SECRET-KEY", self.credentials.secret())
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
