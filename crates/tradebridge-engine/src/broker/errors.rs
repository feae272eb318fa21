//! What can go wrong talking to the broker, and how an HTTP answer becomes a [`BrokerError`].

use std::time::{Duration, SystemTime};

use serde::Deserialize;

use crate::retry::wait_hint;

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

    pub(super) fn retry_after(&self) -> Option<Duration> {
        match self {
            BrokerError::RateLimited { retry_after }
            | BrokerError::Unavailable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    pub(super) fn is_not_found(&self) -> bool {
        matches!(self, BrokerError::Rejected { status: 404, .. })
    }

    pub(super) fn is_duplicate_client_order_id(&self) -> bool {
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

pub(super) fn gave_up(error: BrokerError, attempts: u32, waited: Duration) -> BrokerError {
    if attempts <= 1 && !error.is_retryable() {
        return error; // a plain refusal: nothing was retried
    }
    BrokerError::GaveUp {
        attempts,
        waited,
        last: Box::new(error),
    }
}

pub(super) fn error_from(
    status: u16,
    mut response: ureq::http::Response<ureq::Body>,
) -> BrokerError {
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
