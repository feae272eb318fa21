//! Conformance testee: the broker-access policy of `tradebridge-access` (paper-only URL rule,
//! credential precedence, retry schedule) behind a line protocol on stdin/stdout, driven by `conformance/broker_access` (one
//! JSON request per line, one JSON response per line, in order). The Python twin is
//! `conformance/testees/python/broker_access.py`; both answer the same requests.
//!
//! Requests and answers:
//! - `{"id": 1, "op": "url", "input": "http://127.0.0.1:8090/v2"}`
//!   -> `{"ok": true, "origin": "http://127.0.0.1:8090", "loopback": true}` or `{"ok": false, "code": ...}`
//! - `{"op": "credentials", "env": {...}, "env_file": {...}}` -> `{"ok": true, "key": ..., "secret": ...}`
//! - `{"op": "retry", "policy": {"max_attempts": 6, "base_delay": 0.1, "max_delay": 2.0, "budget": 10.0},
//!   "failed": 1, "status": 429 | null, "headers": {...}, "now": 1700000000.0, "waited": 0.0, "u": 0.5}`
//!   -> `{"ok": true, "delay": 0.0123}` or `{"ok": false, "code": "budget_exhausted"}`
//! - `{"op": "codes"}` -> every refusal code per rule; `{"op": "defaults"}` -> the default retry policy.
//!
//! A panic is reported as `"code": "panic"` (the harness fails on it); the process keeps serving.

use std::time::{Duration, UNIX_EPOCH};

use serde_json::{json, Map, Value};
use tradebridge_access::credentials::{Credentials, CredentialsError};
use tradebridge_access::retry::{is_retryable_status, wait_hint, GiveUp, RetryPolicy};
use tradebridge_access::url::{BrokerUrl, UrlRefusal};

fn main() {
    tradebridge_testees::serve_lines(serve, failure);
}

fn object(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

fn failure(code: &str, message: &str) -> Map<String, Value> {
    object(json!({"ok": false, "code": code, "message": message}))
}

fn serve(request: &Value) -> Map<String, Value> {
    match request
        .get("op")
        .and_then(Value::as_str)
        .unwrap_or_default()
    {
        "url" => match request.get("input").and_then(Value::as_str) {
            Some(input) => match BrokerUrl::parse(input) {
                Ok(url) => object(
                    json!({"ok": true, "origin": url.as_str(), "loopback": url.is_loopback()}),
                ),
                Err(error) => failure(error.code(), &error.to_string()),
            },
            None => failure("bad_request", "input must be a string"),
        },
        "credentials" => {
            let env = lookup(request.get("env"));
            let file = lookup(request.get("env_file"));
            match Credentials::resolve(env, file) {
                // The vectors hold made-up values; reporting them is how the harness sees the choice.
                Ok(found) => {
                    object(json!({"ok": true, "key": found.key_id(), "secret": found.secret()}))
                }
                Err(error) => failure(error.code(), &error.to_string()),
            }
        }
        "retry" => retry(request),
        "codes" => object(json!({
            "ok": true,
            "url": UrlRefusal::ALL.iter().map(|r| r.code()).collect::<Vec<_>>(),
            "credentials": CredentialsError::CODES,
            "retry": GiveUp::ALL.iter().map(|g| g.code()).collect::<Vec<_>>(),
        })),
        "defaults" => {
            let policy = RetryPolicy::default();
            object(json!({"ok": true, "policy": {
                "max_attempts": policy.max_attempts,
                "base_delay": policy.base_delay.as_secs_f64(),
                "max_delay": policy.max_delay.as_secs_f64(),
                "budget": policy.budget.as_secs_f64(),
            }}))
        }
        other => failure("bad_request", &format!("unknown op {other:?}")),
    }
}

/// A JSON object of strings as a variable lookup.
fn lookup(map: Option<&Value>) -> impl Fn(&str) -> Option<String> {
    let map = map.and_then(Value::as_object).cloned().unwrap_or_default();
    move |name| map.get(name).and_then(Value::as_str).map(str::to_owned)
}

fn retry(request: &Value) -> Map<String, Value> {
    let number = |value: Option<&Value>, name: &str| {
        value
            .and_then(|v| v.get(name))
            .and_then(Value::as_f64)
            .unwrap_or(f64::NAN)
    };
    let seconds = |value: f64| Duration::try_from_secs_f64(value).ok();
    let policy_value = request.get("policy");
    let (Some(base_delay), Some(max_delay), Some(budget), Some(waited)) = (
        seconds(number(policy_value, "base_delay")),
        seconds(number(policy_value, "max_delay")),
        seconds(number(policy_value, "budget")),
        seconds(number(Some(request), "waited")),
    ) else {
        return failure(
            "bad_request",
            "policy.{base_delay,max_delay,budget} and waited are seconds",
        );
    };
    let policy = RetryPolicy {
        max_attempts: number(policy_value, "max_attempts") as u32,
        base_delay,
        max_delay,
        budget,
    };
    let status = request
        .get("status")
        .and_then(Value::as_u64)
        .map(|s| s as u16);
    let header = |name: &str| {
        request
            .get("headers")
            .and_then(|h| h.get(name))
            .and_then(Value::as_str)
    };
    let now = UNIX_EPOCH + Duration::from_secs_f64(number(Some(request), "now").max(0.0));
    let hint =
        status.and_then(|s| wait_hint(s, header("Retry-After"), header("X-RateLimit-Reset"), now));
    let failed = number(Some(request), "failed") as u32;
    let u = number(Some(request), "u");
    match policy.decide(failed, is_retryable_status(status), hint, waited, u) {
        Ok(delay) => object(json!({"ok": true, "delay": delay.as_secs_f64()})),
        Err(give_up) => failure(give_up.code(), "no further attempt"),
    }
}
