//! The guide's `HealthCheck`: what a service says about itself, and the JSON bodies built from it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;

use crate::telemetry::Telemetry;

/// The contract version written into every body (`schema_version`), like every tradebridge encoder.
pub const SCHEMA_VERSION: &str = "1.0";

/// The message a healthy check carries unless told otherwise (the guide's body).
pub const OPERATIONAL_MESSAGE: &str = "All systems operational";

/// The three states of the `health` contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// Everything works.
    Healthy,
    /// Working with reduced quality (a feed lagging, a retry loop); still answers 200.
    Degraded,
    /// Not working; `/health` answers 503 and `/ready` answers 503.
    Unhealthy,
}

impl HealthStatus {
    /// The contract's string: `healthy`, `degraded` or `unhealthy`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Degraded => "degraded",
            Self::Unhealthy => "unhealthy",
        }
    }
}

impl std::fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A service's health: status, message, string metrics, readiness, and its [`Telemetry`].
///
/// Builder methods take and return `self` (the guide's `*h = h.clone().with_metric(..)` idiom); `set_*`
/// methods change a check in place through a write guard. Clones share the same [`Telemetry`], so
/// uptime and counters survive the guide's clone-and-replace updates.
///
/// ```
/// use tradebridge_health::{HealthCheck, HealthStatus};
///
/// let check = HealthCheck::healthy("market-data")
///     .with_metric("websocket_connected", "true")
///     .degraded("feed lagging by 3 s");
/// assert_eq!(check.status(), HealthStatus::Degraded);
/// assert!(check.is_ready());
/// ```
#[derive(Clone, Debug)]
pub struct HealthCheck {
    component: String,
    status: HealthStatus,
    message: String,
    metrics: BTreeMap<String, String>,
    ready: bool,
    not_ready_reason: Option<String>,
    telemetry: Arc<Telemetry>,
}

impl HealthCheck {
    /// A healthy, ready check for `component` ("All systems operational"), with fresh telemetry.
    pub fn healthy(component: impl Into<String>) -> Self {
        Self {
            component: component.into(),
            status: HealthStatus::Healthy,
            message: OPERATIONAL_MESSAGE.to_owned(),
            metrics: BTreeMap::new(),
            ready: true,
            not_ready_reason: None,
            telemetry: Arc::new(Telemetry::new()),
        }
    }

    /// Sets one string metric shown in the `/health` body (replaces a previous value).
    #[must_use]
    pub fn with_metric(mut self, name: impl Into<String>, value: impl ToString) -> Self {
        self.set_metric(name, value);
        self
    }

    /// Marks the check degraded with `message` (still 200 on `/health`).
    #[must_use]
    pub fn degraded(mut self, message: impl Into<String>) -> Self {
        self.set_status(HealthStatus::Degraded, message);
        self
    }

    /// Marks the check unhealthy with `message` (503 on `/health` and `/ready`).
    #[must_use]
    pub fn unhealthy(mut self, message: impl Into<String>) -> Self {
        self.set_status(HealthStatus::Unhealthy, message);
        self
    }

    /// Back to healthy with the operational message.
    #[must_use]
    pub fn recovered(mut self) -> Self {
        self.set_status(HealthStatus::Healthy, OPERATIONAL_MESSAGE);
        self
    }

    /// Not ready to take traffic (sockets not bound yet, indicators cold), with the reason `/ready` shows.
    #[must_use]
    pub fn not_ready(mut self, reason: impl Into<String>) -> Self {
        self.set_ready(false, Some(reason.into()));
        self
    }

    /// Ready to take traffic.
    #[must_use]
    pub fn mark_ready(mut self) -> Self {
        self.set_ready(true, None);
        self
    }

    /// In-place form of [`Self::with_metric`].
    pub fn set_metric(&mut self, name: impl Into<String>, value: impl ToString) {
        self.metrics.insert(name.into(), value.to_string());
    }

    /// Removes an explicit metric.
    pub fn remove_metric(&mut self, name: &str) {
        self.metrics.remove(name);
    }

    /// In-place status change.
    pub fn set_status(&mut self, status: HealthStatus, message: impl Into<String>) {
        self.status = status;
        self.message = message.into();
    }

    /// In-place readiness change; the reason is dropped when `ready` is true.
    pub fn set_ready(&mut self, ready: bool, reason: Option<String>) {
        self.ready = ready;
        self.not_ready_reason = if ready { None } else { reason };
    }

    /// The component name.
    pub fn component(&self) -> &str {
        &self.component
    }

    /// The current status.
    pub fn status(&self) -> HealthStatus {
        self.status
    }

    /// The current message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The explicit metrics (without the automatic ones).
    pub fn metrics(&self) -> &BTreeMap<String, String> {
        &self.metrics
    }

    /// Ready means marked ready and not unhealthy: an unhealthy service must not get traffic.
    pub fn is_ready(&self) -> bool {
        self.ready && self.status != HealthStatus::Unhealthy
    }

    /// The shared instruments (counters, latency histograms, tracked sources).
    pub fn telemetry(&self) -> &Arc<Telemetry> {
        &self.telemetry
    }

    /// Shorthand for [`Telemetry::track`]: `source` is read at every request to `/health` and `/metrics`.
    pub fn track<F>(&self, name: impl Into<String>, source: F)
    where
        F: Fn() -> Vec<(&'static str, u64)> + Send + Sync + 'static,
    {
        self.telemetry.track(name, source);
    }

    /// The `/health` body as of `now`: explicit metrics win over telemetry counters and tracked stats of
    /// the same name; `uptime_seconds` is always the telemetry's.
    pub fn health_body(&self, now: SystemTime) -> HealthBody {
        let mut metrics = BTreeMap::new();
        for (name, value) in self.telemetry.health_metrics() {
            metrics.insert(name, value);
        }
        metrics.extend(self.metrics.iter().map(|(k, v)| (k.clone(), v.clone())));
        metrics.insert(
            "uptime_seconds".to_owned(),
            self.telemetry.uptime().as_secs().to_string(),
        );
        HealthBody {
            status: self.status,
            component: self.component.clone(),
            message: self.message.clone(),
            metrics,
            timestamp: rfc3339_seconds(now),
            schema_version: SCHEMA_VERSION,
        }
    }

    /// The `/ready` body as of `now`.
    pub fn readiness_body(&self, now: SystemTime) -> ReadinessBody {
        let reason = if self.is_ready() {
            None
        } else if self.status == HealthStatus::Unhealthy {
            Some(format!("unhealthy: {}", self.message))
        } else {
            Some(
                self.not_ready_reason
                    .clone()
                    .unwrap_or_else(|| "not ready".to_owned()),
            )
        };
        ReadinessBody {
            ready: self.is_ready(),
            component: self.component.clone(),
            timestamp: rfc3339_seconds(now),
            reason,
            schema_version: SCHEMA_VERSION,
        }
    }
}

/// The JSON of `GET /health` (the contract's `health` schema).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HealthBody {
    /// `healthy`, `degraded` or `unhealthy`.
    pub status: HealthStatus,
    /// The component name.
    pub component: String,
    /// Human-readable state.
    pub message: String,
    /// String metrics, `uptime_seconds` included.
    pub metrics: BTreeMap<String, String>,
    /// RFC 3339 UTC, whole seconds (`2025-10-21T17:00:00Z`).
    pub timestamp: String,
    /// Always [`SCHEMA_VERSION`].
    pub schema_version: &'static str,
}

/// The JSON of `GET /ready` (the contract's `readiness` schema).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReadinessBody {
    /// Whether the service takes traffic.
    pub ready: bool,
    /// The component name.
    pub component: String,
    /// RFC 3339 UTC, whole seconds.
    pub timestamp: String,
    /// Why not ready; absent when ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Always [`SCHEMA_VERSION`].
    pub schema_version: &'static str,
}

/// `2025-10-21T17:00:00Z` for a time at or after the epoch (earlier times clamp to the epoch).
pub fn rfc3339_seconds(time: SystemTime) -> String {
    let secs = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar (H. Hinnant's
/// algorithm), to avoid a date-time dependency for one format.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn timestamps_match_known_dates() {
        assert_eq!(rfc3339_seconds(at(0)), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_seconds(at(1_761_066_000)), "2025-10-21T17:00:00Z");
        assert_eq!(rfc3339_seconds(at(951_782_400)), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_seconds(at(4_102_444_799)), "2099-12-31T23:59:59Z");
        assert_eq!(
            rfc3339_seconds(SystemTime::UNIX_EPOCH - Duration::from_secs(5)),
            "1970-01-01T00:00:00Z"
        );
    }

    #[test]
    fn guide_snippet_gives_the_guide_body() {
        let check = HealthCheck::healthy("market-data")
            .with_metric("websocket_connected", "true")
            .with_metric("messages_processed", "1234");
        let body = serde_json::to_value(check.health_body(at(1_761_066_000))).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "status": "healthy",
                "component": "market-data",
                "message": "All systems operational",
                "metrics": {"websocket_connected": "true", "messages_processed": "1234", "uptime_seconds": "0"},
                "timestamp": "2025-10-21T17:00:00Z",
                "schema_version": "1.0"
            })
        );
        let ready = serde_json::to_value(check.readiness_body(at(1_761_066_000))).unwrap();
        assert_eq!(
            ready,
            serde_json::json!({
                "ready": true,
                "component": "market-data",
                "timestamp": "2025-10-21T17:00:00Z",
                "schema_version": "1.0"
            })
        );
    }

    #[test]
    fn explicit_metrics_win_and_counters_appear_once_they_count() {
        let check = HealthCheck::healthy("svc").with_metric("messages_processed", "7");
        check.telemetry().messages_processed().add(3);
        check.telemetry().sequence_gaps().inc();
        check.track("sub", || vec![("received", 9)]);
        let body = check.health_body(SystemTime::now());
        assert_eq!(body.metrics["messages_processed"], "7");
        assert_eq!(body.metrics["sequence_gaps"], "1");
        assert_eq!(body.metrics["sub_received"], "9");
        assert!(!body.metrics.contains_key("malformed_messages"));
    }

    #[test]
    fn unhealthy_is_not_ready_and_says_why() {
        let check = HealthCheck::healthy("svc").unhealthy("broker down");
        let ready = check.readiness_body(SystemTime::now());
        assert!(!ready.ready);
        assert_eq!(ready.reason.as_deref(), Some("unhealthy: broker down"));
        let check = check.recovered().not_ready("warming up");
        assert_eq!(
            check.readiness_body(SystemTime::now()).reason.as_deref(),
            Some("warming up")
        );
        assert!(check.clone().mark_ready().is_ready());
    }

    #[test]
    fn clones_share_telemetry() {
        let check = HealthCheck::healthy("svc");
        let updated = check.clone().with_metric("a", 1);
        updated.telemetry().messages_processed().inc();
        assert_eq!(check.telemetry().messages_processed().get(), 1);
    }
}
