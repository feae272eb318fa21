//! The kill switch over HTTP, served on the health port next to `/health`:
//!
//! | route | effect |
//! |---|---|
//! | `POST /kill-switch/engage` | engage (latched until a release); answers once no order can leave |
//! | `POST /kill-switch/release` | release the latch (409 while the kill file still holds the switch) |
//!
//! Both need `Authorization: Bearer <token>`, the token being the value of the environment variable
//! named by `--kill-switch-token-env`. Without a token configured the routes answer 403: a switch that
//! anyone on the network can flip would be a way to stop (or restart) trading for anyone.
//! Errors are JSON `{"error": <stable code>, "message": ...}`; the token never appears in an answer or a log.

use std::sync::Arc;

use subtle::ConstantTimeEq;
use tradebridge_health::axum::extract::State;
use tradebridge_health::axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use tradebridge_health::axum::response::{IntoResponse, Response};
use tradebridge_health::axum::routing::post;
use tradebridge_health::axum::Router;

use crate::kill::{Change, KillSwitch, Source};

#[derive(Clone)]
struct Control {
    kill: KillSwitch,
    token: Option<Arc<[u8]>>,
}

/// The routes, to merge into the health server (`HealthServer::with_routes`). `token`: the bearer token,
/// `None` (or empty) to refuse every call.
pub fn routes(kill: KillSwitch, token: Option<String>) -> Router {
    let token = token
        .filter(|t| !t.is_empty())
        .map(|t| Arc::from(t.into_bytes()));
    Router::new()
        .route("/kill-switch/engage", post(engage))
        .route("/kill-switch/release", post(release))
        .with_state(Control { kill, token })
}

fn json(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body.to_string(),
    )
        .into_response()
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    json(
        status,
        serde_json::json!({"error": code, "message": message}),
    )
}

impl Control {
    /// The refusal to send, or `None` when the caller presented the token.
    fn refusal(&self, headers: &HeaderMap) -> Option<Response> {
        let Some(token) = &self.token else {
            return Some(error(
                StatusCode::FORBIDDEN,
                "kill_switch_http_disabled",
                "no kill-switch token is configured (see --kill-switch-token-env)",
            ));
        };
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::as_bytes)
            .unwrap_or_default();
        // Constant time: the answer's timing says nothing about how much of a guess was right.
        if bool::from(given.ct_eq(token)) {
            None
        } else {
            let mut refused = error(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "a valid `Authorization: Bearer <token>` header is required",
            );
            refused
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            Some(refused)
        }
    }

    /// Run a change off the async workers: engaging waits for an order attempt in flight.
    async fn apply(&self, change: fn(&KillSwitch) -> Change) -> Option<Change> {
        let kill = self.kill.clone();
        match tokio::task::spawn_blocking(move || change(&kill)).await {
            Ok(change) => Some(change),
            Err(failed) => {
                tracing::error!(error = %failed, "kill switch change failed");
                None
            }
        }
    }
}

fn internal() -> Response {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "the kill switch could not be changed",
    )
}

fn answer(change: Change, kill: &KillSwitch) -> serde_json::Value {
    serde_json::json!({
        "engaged": change.engaged,
        "changed": change.transition,
        "engaged_at_us": change.engaged_at_us,
        "held_by_file": kill.held_by_file(),
    })
}

async fn engage(State(control): State<Control>, headers: HeaderMap) -> Response {
    if let Some(refused) = control.refusal(&headers) {
        return refused;
    }
    match control.apply(|k| k.engage(Source::Http)).await {
        Some(change) => {
            if change.transition {
                tracing::warn!(source = "http", "kill switch engaged");
            }
            json(StatusCode::OK, answer(change, &control.kill))
        }
        None => internal(),
    }
}

async fn release(State(control): State<Control>, headers: HeaderMap) -> Response {
    if let Some(refused) = control.refusal(&headers) {
        return refused;
    }
    match control.apply(|k| k.release(Source::Http)).await {
        Some(change) if change.engaged => {
            let mut body = answer(change, &control.kill);
            body["error"] = "kill_switch_file_present".into();
            body["message"] = "the kill-switch file still exists: remove it to release".into();
            json(StatusCode::CONFLICT, body)
        }
        Some(change) => {
            if change.transition {
                tracing::warn!(source = "http", "kill switch released");
            }
            json(StatusCode::OK, answer(change, &control.kill))
        }
        None => internal(),
    }
}
