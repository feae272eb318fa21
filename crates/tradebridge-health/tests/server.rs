//! The health server over real loopback sockets, spoken to with raw HTTP/1.1 bytes (so malformed requests
//! can be sent exactly as written).

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::RwLock;
use tradebridge_health::{
    HealthCheck, HealthServer, HealthServerError, HttpLimits, RunningHealthServer, SharedHealth,
};

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

async fn raw(server: &RunningHealthServer, request: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(server.local_addr())
        .await
        .expect("connect");
    stream.write_all(request).await.expect("write");
    let mut bytes = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut bytes))
        .await
        .expect("server answered within 5 s")
        .expect("read");
    let text = String::from_utf8(bytes).expect("utf-8 reply");
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_owned(),
    }
}

async fn request(server: &RunningHealthServer, method: &str, path: &str) -> Reply {
    raw(
        server,
        format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await
}

async fn serve(check: HealthCheck) -> (SharedHealth, RunningHealthServer) {
    let health = Arc::new(RwLock::new(check));
    let server = HealthServer::bind("127.0.0.1:0", health.clone())
        .await
        .expect("bind")
        .spawn();
    (health, server)
}

fn is_rfc3339_seconds(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'Z'
        && text.chars().filter(char::is_ascii_digit).count() == 14
}

#[tokio::test]
async fn guide_flow_gives_the_guide_bodies() {
    let (health, server) = serve(HealthCheck::healthy("market-data")).await;
    assert_ne!(server.port(), 0);
    {
        let mut h = health.write().await;
        *h = h
            .clone()
            .with_metric("websocket_connected", "true")
            .with_metric("messages_processed", "1234");
    }
    let reply = request(&server, "GET", "/health").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let body = reply.json();
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["component"], "market-data");
    assert_eq!(body["message"], "All systems operational");
    assert_eq!(body["schema_version"], "1.0");
    assert_eq!(body["metrics"]["websocket_connected"], "true");
    assert_eq!(body["metrics"]["messages_processed"], "1234");
    assert_eq!(body["metrics"]["uptime_seconds"], "0");
    assert_eq!(body["metrics"].as_object().map(|m| m.len()), Some(3));
    assert!(
        is_rfc3339_seconds(body["timestamp"].as_str().unwrap_or_default()),
        "{body}"
    );

    let ready = request(&server, "GET", "/ready").await;
    assert_eq!(ready.status, 200);
    let ready = ready.json();
    assert_eq!(ready["ready"], true);
    assert_eq!(ready["component"], "market-data");
    assert_eq!(ready["schema_version"], "1.0");
    assert_eq!(ready.as_object().map(|m| m.len()), Some(4), "{ready}");

    let live = request(&server, "GET", "/live").await;
    assert_eq!((live.status, live.body.as_str()), (200, "\"alive\""));
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn status_codes_follow_the_state() {
    let (health, server) = serve(HealthCheck::healthy("svc")).await;
    health
        .write()
        .await
        .set_status(tradebridge_health::HealthStatus::Degraded, "lagging");
    let reply = request(&server, "GET", "/health").await;
    assert_eq!(
        (reply.status, reply.json()["status"].clone()),
        (200, "degraded".into())
    );
    assert_eq!(request(&server, "GET", "/ready").await.status, 200);

    {
        let mut h = health.write().await;
        *h = h.clone().unhealthy("broker down");
    }
    let reply = request(&server, "GET", "/health").await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.json()["message"], "broker down");
    let ready = request(&server, "GET", "/ready").await;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.json()["reason"], "unhealthy: broker down");
    assert_eq!(
        request(&server, "GET", "/live").await.status,
        200,
        "liveness ignores health"
    );

    {
        let mut h = health.write().await;
        *h = h.clone().recovered().not_ready("warming up");
    }
    assert_eq!(request(&server, "GET", "/health").await.status, 200);
    let ready = request(&server, "GET", "/ready").await;
    assert_eq!(
        (ready.status, ready.json()["reason"].clone()),
        (503, "warming up".into())
    );
}

#[tokio::test]
async fn metrics_page_has_counters_histograms_and_tracked_stats() {
    let (health, server) = serve(HealthCheck::healthy("svc")).await;
    let telemetry = health.read().await.telemetry().clone();
    telemetry.messages_processed().add(41);
    telemetry.messages_processed().inc();
    telemetry.malformed_messages().inc();
    telemetry
        .latency("decode")
        .observe(Duration::from_micros(30));
    telemetry.track("market", || vec![("received", 10), ("dropped", 2)]);

    let reply = request(&server, "GET", "/metrics").await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some(tradebridge_health::PROMETHEUS_CONTENT_TYPE)
    );
    for line in [
        "# TYPE tradebridge_uptime_seconds gauge",
        "tradebridge_messages_processed_total 42",
        "tradebridge_malformed_messages_total 1",
        "tradebridge_sequence_gaps_total 0",
        "tradebridge_received_total{source=\"market\"} 10",
        "tradebridge_dropped_total{source=\"market\"} 2",
        "tradebridge_latency_seconds_bucket{stage=\"decode\",le=\"0.000025\"} 0",
        "tradebridge_latency_seconds_bucket{stage=\"decode\",le=\"0.00005\"} 1",
        "tradebridge_latency_seconds_bucket{stage=\"decode\",le=\"+Inf\"} 1",
        "tradebridge_latency_seconds_count{stage=\"decode\"} 1",
        "tradebridge_health_status{status=\"healthy\"} 1",
        "tradebridge_ready 1",
    ] {
        assert!(
            reply.body.lines().any(|l| l == line),
            "missing {line:?} in\n{}",
            reply.body
        );
    }
    let body = request(&server, "GET", "/health").await.json();
    assert_eq!(body["metrics"]["messages_processed"], "42");
    assert_eq!(body["metrics"]["market_dropped"], "2");
}

#[tokio::test]
async fn head_404_and_405_are_answered_properly() {
    let (_health, server) = serve(HealthCheck::healthy("svc")).await;
    for path in ["/health", "/ready", "/live", "/metrics"] {
        let head = request(&server, "HEAD", path).await;
        assert_eq!(head.status, 200, "HEAD {path}");
        assert!(head.body.is_empty(), "HEAD {path} has a body");
        for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "BREW"] {
            let reply = request(&server, method, path).await;
            assert_eq!(reply.status, 405, "{method} {path}");
            assert_eq!(reply.header("allow"), Some("GET,HEAD"), "{method} {path}");
        }
    }
    for path in ["/", "/healthz", "/health/", "/metrics?x=1&y", "/%ff"] {
        let reply = request(&server, "GET", path).await;
        let expected = if path.starts_with("/metrics?") {
            200
        } else {
            404
        };
        assert_eq!(reply.status, expected, "GET {path}");
    }
}

#[tokio::test]
async fn malformed_requests_get_4xx_and_the_server_keeps_serving() {
    let (_health, server) = serve(HealthCheck::healthy("svc")).await;
    let huge_header = format!(
        "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(1 << 20)
    );
    let many_headers = format!("GET /health HTTP/1.1\r\n{}\r\n", "X-H: v\r\n".repeat(500));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("garbage", b"\x00\x01\x02 garbage \xff\xfe\r\n\r\n".to_vec()),
        ("no version", b"GET /health\r\n\r\n".to_vec()),
        ("bad version", b"GET /health HTTP/9.9\r\n\r\n".to_vec()),
        (
            "space in method",
            b"G T /health HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        ),
        (
            "bad header",
            b"GET /health HTTP/1.1\r\nHost x\r\n\r\n".to_vec(),
        ),
        ("huge header", huge_header.into_bytes()),
        ("many headers", many_headers.into_bytes()),
        (
            "bad content-length",
            b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: -3\r\n\r\n".to_vec(),
        ),
    ];
    for (name, bytes) in cases {
        let mut stream = TcpStream::connect(server.local_addr())
            .await
            .expect("connect");
        // The server may answer and close before reading everything; a reset while writing is fine.
        let _ = stream.write_all(&bytes).await;
        let mut reply = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut reply)).await;
        let text = String::from_utf8_lossy(&reply);
        let status: u16 = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        // hyper answers the malformed ones 4xx; a reset without answer is acceptable only for garbage
        // that is not HTTP at all, and never a 5xx.
        assert!(
            (400..500).contains(&status) || (status == 0 && name == "garbage"),
            "{name}: got {status} {text:?}"
        );
    }
    assert_eq!(request(&server, "GET", "/live").await.status, 200);
}

#[tokio::test]
async fn keep_alive_connection_serves_many_requests() {
    let (_health, server) = serve(HealthCheck::healthy("svc")).await;
    let mut stream = TcpStream::connect(server.local_addr())
        .await
        .expect("connect");
    let one = b"GET /live HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut pipelined = Vec::new();
    for _ in 0..50 {
        pipelined.extend_from_slice(one);
    }
    pipelined.extend_from_slice(b"GET /live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(&pipelined).await.expect("write");
    let mut reply = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut reply))
        .await
        .expect("timely")
        .expect("read");
    assert_eq!(
        String::from_utf8_lossy(&reply)
            .matches("HTTP/1.1 200 OK")
            .count(),
        51
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_burst_has_no_errors() {
    let (_health, server) = serve(HealthCheck::healthy("svc")).await;
    let addr = server.local_addr();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..32 {
        tasks.spawn(async move {
            let paths = ["/health", "/ready", "/live", "/metrics"];
            let mut stream = TcpStream::connect(addr).await.expect("connect");
            let mut ok = 0;
            for i in 0..50 {
                let path = paths[(worker + i) % paths.len()];
                let last = if i == 49 { "Connection: close\r\n" } else { "" };
                let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\n{last}\r\n");
                stream.write_all(req.as_bytes()).await.expect("write");
                ok += 1;
            }
            let mut reply = Vec::new();
            stream.read_to_end(&mut reply).await.expect("read");
            (
                ok,
                String::from_utf8_lossy(&reply)
                    .matches("HTTP/1.1 200 OK")
                    .count(),
            )
        });
    }
    while let Some(done) = tasks.join_next().await {
        let (sent, answered) = done.expect("task");
        assert_eq!(sent, answered);
    }
}

#[tokio::test]
async fn binding_a_taken_port_is_a_typed_error() {
    let health = Arc::new(RwLock::new(HealthCheck::healthy("svc")));
    let first = HealthServer::bind("127.0.0.1:0", health.clone())
        .await
        .expect("bind");
    let taken = first.local_addr();
    let err = HealthServer::bind(taken, health)
        .await
        .expect_err("port is taken");
    assert!(matches!(err, HealthServerError::Bind { .. }), "{err:?}");
    assert!(err.to_string().contains(&taken.port().to_string()), "{err}");
}

#[tokio::test]
async fn shutdown_stops_the_listener() {
    let (_health, server) = serve(HealthCheck::healthy("svc")).await;
    let addr = server.local_addr();
    server.shutdown().await.expect("clean shutdown");
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "still accepting after shutdown"
    );
}

#[tokio::test]
async fn shutdown_is_bounded_by_idle_and_half_sent_connections() {
    let (_health, server) = serve(HealthCheck::healthy("svc")).await;
    let addr = server.local_addr();
    let _idle = TcpStream::connect(addr).await.expect("connect");
    let mut half = TcpStream::connect(addr).await.expect("connect");
    half.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let mut keep_alive = TcpStream::connect(addr).await.expect("connect");
    keep_alive
        .write_all(b"GET /live HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut buf = [0_u8; 512];
    let _ = keep_alive.read(&mut buf).await.expect("answer");
    let started = std::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(5), server.shutdown())
        .await
        .expect("shutdown within 5 s")
        .expect("clean shutdown");
    assert!(started.elapsed() < tradebridge_health::SHUTDOWN_GRACE + Duration::from_millis(900));
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "still accepting after shutdown"
    );
}

#[tokio::test]
async fn a_service_serves_its_own_routes_next_to_the_health_endpoints() {
    use tradebridge_health::axum::routing::post;
    use tradebridge_health::axum::Router;

    let health = Arc::new(RwLock::new(HealthCheck::healthy("engine")));
    let routes = Router::new().route("/kill-switch/engage", post(|| async { "engaged" }));
    let server = HealthServer::bind("127.0.0.1:0", health)
        .await
        .expect("bind")
        .with_routes(routes)
        .spawn();
    let extra = request(&server, "POST", "/kill-switch/engage").await;
    assert_eq!((extra.status, extra.body.as_str()), (200, "engaged"));
    assert_eq!(request(&server, "GET", "/health").await.status, 200);
    let unknown = request(&server, "GET", "/nowhere").await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["error"], "not_found");
    server.shutdown().await.expect("clean stop");
}

#[tokio::test]
async fn limits_close_slow_heads_and_refuse_connections_over_the_cap() {
    let health = Arc::new(RwLock::new(HealthCheck::healthy("svc")));
    let limits = HttpLimits {
        max_connections: 2,
        header_read_timeout: Duration::from_millis(300),
        ..HttpLimits::default()
    };
    let server = HealthServer::bind("127.0.0.1:0", health)
        .await
        .expect("bind")
        .with_limits(limits)
        .spawn();
    let addr = server.local_addr();
    // A slowloris holds one slot; a probe is still served, and the slowloris is cut at its timeout.
    let mut slow = TcpStream::connect(addr).await.expect("connect");
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .expect("write");
    assert_eq!(request(&server, "GET", "/live").await.status, 200);
    let mut rest = Vec::new();
    let cut = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut rest)).await;
    assert!(cut.is_ok(), "the slowloris outlived its header timeout");
    // Two idle connections fill the cap: the next one is answered 503 and counted.
    let idle = [
        TcpStream::connect(addr).await.expect("connect"),
        TcpStream::connect(addr).await.expect("connect"),
    ];
    tokio::time::sleep(Duration::from_millis(100)).await;
    let refused = request(&server, "GET", "/health").await;
    assert_eq!(refused.status, 503, "{}", refused.body);
    drop(idle);
    let mut page = request(&server, "GET", "/metrics").await;
    for _ in 0..50 {
        if page.status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        page = request(&server, "GET", "/metrics").await;
    }
    assert!(
        page.body
            .contains("tradebridge_http_connections_refused_total 1\n"),
        "{}",
        page.body
    );
}
