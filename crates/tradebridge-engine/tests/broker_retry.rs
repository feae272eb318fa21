//! The broker client's retries against a scripted HTTP server on loopback: each test lists the answers the
//! "broker" gives, in order, and checks the requests the client made.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tradebridge_engine::broker::{BrokerClient, BrokerError, BrokerUrl, Credentials, OrderRequest};
use tradebridge_engine::retry::RetryPolicy;
use tradebridge_engine::risk::Side;

const ORDER: &str = r#"{"id":"o-1","client_order_id":"tb-x","symbol":"AAPL","side":"buy","qty":"1","filled_qty":"0","status":"accepted"}"#;

/// One scripted answer: status, extra headers, body.
type Answer = (u16, Vec<(String, String)>, &'static str);

/// The requests served so far: "METHOD path" and when it arrived.
type Seen = Arc<Mutex<Vec<(String, Instant)>>>;

/// Serves `answers` in order (one per request, keep-alive honoured); records "METHOD path" and when.
fn scripted(answers: Vec<Answer>) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    thread::spawn(move || {
        let mut answers = answers.into_iter();
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut writer = stream;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let mut length = 0;
                loop {
                    let mut header = String::new();
                    reader.read_line(&mut header).unwrap();
                    if header.trim().is_empty() {
                        break;
                    }
                    if let Some((name, value)) = header.split_once(':') {
                        if name.eq_ignore_ascii_case("content-length") {
                            length = value.trim().parse().unwrap();
                        }
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let request: Vec<&str> = line.split_whitespace().take(2).collect();
                log.lock()
                    .unwrap()
                    .push((request.join(" "), Instant::now()));
                let Some((status, headers, body)) = answers.next() else {
                    return;
                };
                let mut text = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
                    body.len()
                );
                for (name, value) in headers {
                    text.push_str(&format!("{name}: {value}\r\n"));
                }
                text.push_str("\r\n");
                text.push_str(body);
                writer.write_all(text.as_bytes()).unwrap();
            }
        }
    });
    (url, seen)
}

fn client(url: &str, policy: RetryPolicy) -> BrokerClient {
    BrokerClient::new(
        BrokerUrl::parse(url).unwrap(),
        Credentials::new("k", "s"),
        Duration::from_secs(5),
    )
    .with_retry_policy(policy)
}

fn order() -> OrderRequest {
    OrderRequest::market("AAPL", Side::Buy, 1.0, "tb-x")
}

fn requests(seen: &Mutex<Vec<(String, Instant)>>) -> Vec<String> {
    seen.lock()
        .unwrap()
        .iter()
        .map(|(r, _)| r.clone())
        .collect()
}

fn header(name: &str, value: impl ToString) -> (String, String) {
    (name.to_owned(), value.to_string())
}

#[test]
fn retry_after_is_honoured_before_the_same_order_is_sent_again() {
    let (url, seen) = scripted(vec![
        (429, vec![header("Retry-After", "0.4")], "{}"),
        (200, vec![], ORDER),
    ]);
    let placed = client(&url, RetryPolicy::default())
        .submit(&order())
        .unwrap();
    assert_eq!(placed.id, "o-1");
    let log = seen.lock().unwrap().clone();
    assert_eq!(log.len(), 2);
    assert!(log[1].1 - log[0].1 >= Duration::from_millis(400));
}

#[test]
fn alpacas_reset_header_sets_the_wait_and_a_wait_past_the_budget_is_not_started() {
    let reset = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 30;
    let (url, seen) = scripted(vec![(
        429,
        vec![
            header("X-RateLimit-Limit", 200),
            header("X-RateLimit-Remaining", 0),
            header("X-RateLimit-Reset", reset),
        ],
        "{}",
    )]);
    let broker = client(&url, RetryPolicy::default());
    let started = Instant::now();
    let error = broker.submit(&order()).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(1), "{error}");
    assert!(matches!(&error, BrokerError::GaveUp { last, .. }
        if matches!(**last, BrokerError::RateLimited { retry_after: Some(w) } if w > Duration::from_secs(25))));
    assert_eq!(requests(&seen), ["POST /v2/orders"]);
    // Held off: the next submission fails without a request.
    assert!(broker.held_off_until().is_some());
    assert!(broker.submit(&order()).is_err());
    assert_eq!(requests(&seen).len(), 1);
}

#[test]
fn an_ambiguous_failure_is_looked_up_by_client_order_id_instead_of_resent() {
    let (url, seen) = scripted(vec![(503, vec![], "{}"), (200, vec![], ORDER)]);
    let placed = client(&url, RetryPolicy::default())
        .submit(&order())
        .unwrap();
    assert_eq!(placed.client_order_id, "tb-x");
    assert_eq!(
        requests(&seen),
        [
            "POST /v2/orders",
            "GET /v2/orders:by_client_order_id?client_order_id=tb-x"
        ]
    );
}

#[test]
fn attempts_are_capped_and_the_jittered_backoff_grows() {
    let not_found = r#"{"code":40410000,"message":"order not found"}"#;
    let mut answers = Vec::new();
    for _ in 0..3 {
        answers.push((500, vec![], "{}"));
        answers.push((404, vec![], not_found));
    }
    let (url, seen) = scripted(answers);
    let policy = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(40),
        ..RetryPolicy::default()
    };
    let error = client(&url, policy).submit(&order()).unwrap_err();
    assert!(
        matches!(error, BrokerError::GaveUp { attempts: 3, .. }),
        "{error}"
    );
    let log = seen.lock().unwrap().clone();
    let posts: Vec<Instant> = log
        .iter()
        .filter(|(r, _)| r.starts_with("POST"))
        .map(|(_, at)| *at)
        .collect();
    assert_eq!((posts.len(), log.len()), (3, 6));
    // Equal jitter: at least half the step (20 ms, then 40 ms) between attempts.
    assert!(posts[1] - posts[0] >= Duration::from_millis(20));
    assert!(posts[2] - posts[1] >= Duration::from_millis(40));
}

#[test]
fn a_refusal_is_not_retried() {
    let (url, seen) = scripted(vec![(
        403,
        vec![],
        r#"{"code":40310000,"message":"insufficient buying power"}"#,
    )]);
    let error = client(&url, RetryPolicy::default())
        .submit(&order())
        .unwrap_err();
    assert!(
        matches!(error, BrokerError::Rejected { status: 403, .. }),
        "{error}"
    );
    assert_eq!(requests(&seen).len(), 1);
}
