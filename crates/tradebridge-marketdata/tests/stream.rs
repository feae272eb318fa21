//! The real `market-data` binary against a scripted stream server: hostile input is counted with its
//! reason, error replies and broken connections bring reconnects with backoff, and the bus carries
//! every bar once, in order, with no false gap.

mod support;

use std::time::{Duration, Instant};

use rmpv::Value;
use support::{bar, frame, map, trade, Act, Script, Service, TestServer};
use tradebridge_bus::Subscriber;
use tradebridge_contracts::{Message, Topic};

const KEY: &str = "AKTESTKEYID0001";
const SECRET: &str = "SECRETVALUE-never-logged";
const WAIT: Duration = Duration::from_secs(20);

fn with_acts(acts: Vec<Act>) -> Script {
    Script {
        auth_error: None,
        acts,
    }
}

/// Bars (symbol, timestamp ms) received until `n` bars came, or the deadline.
fn collect_bars(subscriber: &mut Subscriber, n: usize) -> Vec<(String, u64, u64)> {
    let deadline = Instant::now() + WAIT;
    let mut bars = Vec::new();
    while bars.len() < n && Instant::now() < deadline {
        if let Some((_, Message::BarUpdate(bar))) = subscriber
            .recv_timeout(Duration::from_millis(200))
            .expect("bus receive")
        {
            bars.push((bar.symbol, bar.timestamp, bar.seq.unwrap_or(u64::MAX)));
        }
    }
    bars
}

/// Wait until a trade arrives: the subscription is in place, later messages will reach it.
fn wait_until_subscribed(subscriber: &mut Subscriber) {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if let Some((_, Message::TradeUpdate(_))) = subscriber
            .recv_timeout(Duration::from_millis(200))
            .expect("bus receive")
        {
            return;
        }
    }
    panic!("no trade reached the subscriber");
}

fn with_field(point: Value, key: &str, value: Value) -> Value {
    let Value::Map(mut entries) = point else {
        unreachable!("points are maps")
    };
    for (k, v) in entries.iter_mut() {
        if k.as_str() == Some(key) {
            *v = value.clone();
        }
    }
    Value::Map(entries)
}

fn minute(ms: u64) -> i64 {
    ((i128::from(ms) * 1_000_000 - support::T0_NS) / 60_000_000_000) as i64
}

#[test]
fn hostile_input_and_broken_connections_are_counted_and_survived() {
    let oversized = vec![0x90u8; 1_200_000]; // 1.2 MB of empty arrays: over the 1 MiB limit
    let hostile_points = frame(vec![
        map(vec![("T", "zz".into()), ("S", "AAPL".into())]),
        with_field(bar("AAPL", 2), "o", "100".into()),
        with_field(bar("AAPL", 2), "t", "2023-11-14T22:14:00Z".into()),
        Value::from(17),
    ]);
    let server = TestServer::start(vec![
        Script {
            auth_error: Some((402, "auth failed")),
            acts: vec![],
        },
        Script {
            auth_error: Some((406, "connection limit exceeded")),
            acts: vec![],
        },
        with_acts(vec![
            Act::TradesUntilGate,
            Act::Binary(frame(vec![bar("AAPL", 0), bar("AAPL", 1), bar("AAPL", 2)])),
            Act::Binary(b"\xc1\x93\xa1T".to_vec()),
            Act::Binary(hostile_points),
            Act::Text("{\"T\":\"b\"}".into()),
            Act::Binary(oversized),
        ]),
        with_acts(vec![
            // a repeat of minute 2 (dropped: once on the bus), then a batch cut mid-message
            Act::Binary(frame(vec![bar("AAPL", 2), bar("AAPL", 3), bar("AAPL", 4)])),
            Act::Fragment(frame(vec![bar("AAPL", 5)])[..20].to_vec()),
        ]),
        // minutes 5 and 6 went by while disconnected: a counted gap
        with_acts(vec![Act::Binary(frame(vec![bar("AAPL", 7)]))]),
    ]);
    let service = Service::start(
        &server.url(),
        &["--degraded-window-ms", "60000"],
        &[("ALPACA_API_KEY", KEY), ("ALPACA_SECRET_KEY", SECRET)],
    );
    let mut subscriber = Subscriber::connect(&service.endpoint, &[Topic::Market]).unwrap();
    wait_until_subscribed(&mut subscriber);
    server.open_gate();

    let bars = collect_bars(&mut subscriber, 6);
    let minutes: Vec<i64> = bars.iter().map(|(_, ms, _)| minute(*ms)).collect();
    assert_eq!(minutes, [0, 1, 2, 3, 4, 7], "every bar once, in order");
    assert!(
        bars.windows(2).all(|w| w[0].2 < w[1].2),
        "seq rises: {bars:?}"
    );
    assert_eq!(
        subscriber.stats().gaps,
        0,
        "reconnects make no false bus gap"
    );
    assert_eq!(subscriber.stats().malformed, 0);

    let m = |series: &str| service.metric(series).unwrap_or(-1.0);
    // the publisher thread counts right after handing a message to ZeroMQ: wait for it to catch up
    service.wait_for("the counters", WAIT, |_| {
        m("tradebridge_bar_gaps_total{source=\"upstream\"}") == 1.0
            && m("tradebridge_messages_out_total{source=\"bars\"}") == 6.0
            && m("tradebridge_latency_seconds_count{stage=\"upstream_to_bus\"}") >= 6.0
    });
    for (series, expected) in [
        ("tradebridge_auth_failed_total{source=\"disconnects\"}", 1.0),
        (
            "tradebridge_connection_limit_total{source=\"disconnects\"}",
            1.0,
        ),
        (
            "tradebridge_frame_too_large_total{source=\"disconnects\"}",
            1.0,
        ),
        (
            "tradebridge_connection_lost_total{source=\"disconnects\"}",
            1.0,
        ),
        ("tradebridge_reconnects_total{source=\"upstream\"}", 4.0),
        ("tradebridge_subscribed_total{source=\"upstream\"}", 3.0),
        ("tradebridge_errors_total{source=\"upstream\"}", 2.0),
        ("tradebridge_bars_missed_total{source=\"upstream\"}", 2.0),
        ("tradebridge_duplicate_bars_total{source=\"upstream\"}", 1.0),
        (
            "tradebridge_malformed_frame_total{source=\"decode_errors\"}",
            1.0,
        ),
        (
            "tradebridge_unknown_type_total{source=\"decode_errors\"}",
            1.0,
        ),
        (
            "tradebridge_wrong_type_total{source=\"decode_errors\"}",
            1.0,
        ),
        (
            "tradebridge_bad_timestamp_total{source=\"decode_errors\"}",
            1.0,
        ),
        ("tradebridge_not_a_map_total{source=\"decode_errors\"}", 1.0),
        (
            "tradebridge_not_an_array_total{source=\"decode_errors\"}",
            1.0,
        ),
        (
            "tradebridge_frame_too_large_total{source=\"decode_errors\"}",
            1.0,
        ),
        ("tradebridge_messages_out_total{source=\"bars\"}", 6.0),
        ("tradebridge_messages_in_total{source=\"bars\"}", 7.0),
    ] {
        assert_eq!(m(series), expected, "{series}");
    }
    assert!(m("tradebridge_latency_seconds_count{stage=\"upstream_to_bus\"}") >= 6.0);
    assert!(m("tradebridge_latency_seconds_count{stage=\"receive_to_bus\"}") >= 1.0);

    // subscribed again and serving, yet degraded while the problems are recent, with a message
    service.wait_for("ready", WAIT, |s| {
        s.get("/ready").is_some_and(|(status, _)| status == 200)
    });
    let (status, body) = service.get("/health").unwrap();
    assert_eq!(status, 200);
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "degraded", "{health}");
    assert!(!health["message"].as_str().unwrap_or("").is_empty());

    // the project's credential rule chose the keys; they went to the stream and nowhere else
    let seen = server.seen.lock().unwrap().clone();
    let auth = seen[0].auth.clone().unwrap();
    assert_eq!(auth["key"].as_str(), Some(KEY));
    assert_eq!(auth["secret"].as_str(), Some(SECRET));
    for connection in seen.iter().skip(2) {
        let subscribe = connection.subscribe.clone().unwrap();
        assert_eq!(subscribe["bars"][0].as_str(), Some("AAPL"), "re-subscribed");
        assert_eq!(subscribe["action"].as_str(), Some("subscribe"));
    }
    let (code, log) = service.stop();
    assert_eq!(code, Some(0), "{log}");
    assert!(!log.contains(SECRET) && !log.contains(KEY), "{log}");
    assert!(log.contains("connection_limit"), "{log}");
}

#[test]
fn a_mute_socket_is_left_and_health_recovers() {
    let server = TestServer::start(vec![
        // subscribed, one trade, then silence
        with_acts(vec![Act::Binary(frame(vec![trade("AAPL", 1)]))]),
        with_acts(vec![
            Act::TradesUntilGate,
            Act::Binary(frame(vec![bar("AAPL", 0)])),
        ]),
    ]);
    let service = Service::start(
        &server.url(),
        &["--data-timeout", "0.3", "--degraded-window-ms", "100"],
        &[],
    );
    let m = |series: &str| service.metric(series).unwrap_or(-1.0);
    service.wait_for("a data timeout", WAIT, |_| {
        m("tradebridge_data_timeout_total{source=\"disconnects\"}") >= 1.0
    });
    let mut subscriber = Subscriber::connect(&service.endpoint, &[Topic::Market]).unwrap();
    wait_until_subscribed(&mut subscriber);
    server.open_gate();
    assert_eq!(collect_bars(&mut subscriber, 1).len(), 1);
    service.wait_for("healthy again", WAIT, |s| {
        s.get("/health")
            .is_some_and(|(_, body)| body.contains("\"healthy\""))
    });
    // without keys, a loopback stream got the placeholder pair
    let auth = server.seen.lock().unwrap()[0].auth.clone().unwrap();
    assert_eq!(auth["action"].as_str(), Some("auth"));
    let (code, log) = service.stop();
    assert_eq!(code, Some(0), "{log}");
}

#[test]
fn unusable_flags_and_unreachable_streams() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_market-data"))
        .args(["--channels", "bars,news"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(text.contains("unknown channel"), "{text}");

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_market-data"))
        .args(["--stream-url", "wss://stream.data.alpaca.markets/v2/iex"])
        .env_remove("ALPACA_API_KEY")
        .env_remove("APCA_API_KEY_ID")
        .env_remove("ALPACA_SECRET_KEY")
        .env("APCA_API_SECRET_KEY", "only-half-of-a-pair")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(
        text.contains("incomplete_pair") && !text.contains("only-half"),
        "{text}"
    );

    // nothing listens there: the service keeps trying, not ready, degraded with the reason
    let port = support::free_port();
    let service = Service::start(&format!("ws://127.0.0.1:{port}/v2/iex"), &[], &[]);
    service.wait_for("a failed connect", WAIT, |s| {
        s.metric("tradebridge_connect_failed_total{source=\"disconnects\"}")
            .is_some_and(|n| n >= 2.0)
    });
    let (status, body) = service.get("/ready").unwrap();
    assert_eq!(status, 503, "{body}");
    let (code, log) = service.stop();
    assert_eq!(code, Some(0), "{log}");
}
