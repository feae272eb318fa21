//! The v1.1 envelope stamp over real sockets: every message stamped, the transit histogram fed by it,
//! and what a subscriber forgives (`SignalGenerated`, opt-in `NaN` features) counted.

use std::time::Duration;

use tradebridge_bus::{Options, Publisher, Subscriber};
use tradebridge_contracts::{
    decode_frame, now_us, ErrorCode, Heartbeat, Message, SchemaVersion, Topic,
};

const WAIT: Duration = Duration::from_secs(10);

fn beat(i: u64) -> Heartbeat {
    Heartbeat {
        component: format!("c{i}"),
        timestamp: i,
        status: None,
        schema_version: SchemaVersion::default(),
        seq: None,
        source: None,
        sent_at_us: None,
    }
}

fn pair(topics: &[Topic], options: Options) -> (Publisher, Subscriber) {
    let mut publisher = Publisher::bind("tcp://127.0.0.1:*").unwrap();
    let subscriber = Subscriber::new(publisher.endpoint(), topics, false, options, None).unwrap();
    publisher.wait_for_subscribers(1, WAIT, None).unwrap();
    (publisher, subscriber)
}

#[test]
fn every_message_is_stamped_and_its_transit_observed() {
    let (mut publisher, mut subscriber) = pair(&[Topic::System], Options::default());
    let before = now_us();
    for i in 0..50 {
        publisher.publish(&beat(i)).unwrap();
    }
    let after = now_us();
    for _ in 0..50 {
        let (_, message) = subscriber.recv_timeout(WAIT).unwrap().expect("a message");
        let Message::Heartbeat(beat) = message else {
            panic!("not a heartbeat")
        };
        let sent = beat.sent_at_us.expect("stamped");
        assert!(
            (before..=after).contains(&sent),
            "{sent} not in {before}..={after}"
        );
    }
    let transit = &subscriber.stats().transit;
    assert_eq!((transit.count, transit.negative), (50, 0));
    assert!(transit.p50_us().is_some() && transit.p99_us() >= transit.p50_us());
}

#[test]
fn a_republished_message_gets_one_fresh_stamp() {
    let mut publisher = Publisher::bind("tcp://127.0.0.1:*").unwrap();
    let mut stale = beat(1);
    stale.sent_at_us = Some(1);
    let frame = publisher.frame(&stale).to_vec();
    let text = String::from_utf8(frame.clone()).unwrap();
    assert_eq!(text.matches("\"sent_at_us\"").count(), 1, "{text}");
    let (_, Message::Heartbeat(sent)) = decode_frame(&frame).unwrap() else {
        panic!()
    };
    assert!(sent.sent_at_us.unwrap() > 1);
    assert_eq!(stale.sent_at_us, Some(1)); // the caller's message is unchanged
}

const ORIGINAL: &[u8] = br#"signal {"type": "SignalGenerated", "symbol": "AAPL", "direction": "long", "strength": 0.85, "timestamp": 1729530000123, "features": [NaN, 2.0, Infinity], "metadata": {"strategy": "ml-predictor"}}"#;
const ORIGINAL_WARM: &[u8] = br#"signal {"type": "SignalGenerated", "symbol": "AAPL", "direction": "long", "strength": 0.85, "timestamp": 1729530000124, "features": [1.0, 2.0, 3.0], "metadata": null}"#;

#[test]
fn the_original_bridges_signals_are_read_with_allow_nan_tokens_and_counted() {
    let options = Options {
        allow_nan_tokens: true,
        ..Options::default()
    };
    let (mut publisher, mut subscriber) = pair(&[Topic::Signal], options);
    publisher.send_raw(ORIGINAL).unwrap();
    publisher.send_raw(ORIGINAL_WARM).unwrap();
    let (_, first) = subscriber
        .recv_timeout(WAIT)
        .unwrap()
        .expect("the NaN signal");
    let Message::Signal(signal) = first else {
        panic!()
    };
    assert_eq!(signal.features, Some(vec![None, Some(2.0), None]));
    subscriber
        .recv_timeout(WAIT)
        .unwrap()
        .expect("the warm signal");
    let stats = subscriber.stats();
    assert_eq!((stats.legacy, stats.nan_tokens, stats.malformed), (2, 1, 0));
    assert_eq!(stats.transit.count, 0); // no sent_at_us: no transit invented
}

#[test]
fn without_the_option_nan_signals_are_refused_counted_and_reading_goes_on() {
    let (mut publisher, mut subscriber) = pair(&[Topic::Signal], Options::default());
    publisher.send_raw(ORIGINAL).unwrap();
    publisher.send_raw(ORIGINAL_WARM).unwrap();
    let (_, Message::Signal(signal)) = subscriber.recv_timeout(WAIT).unwrap().expect("a signal")
    else {
        panic!()
    };
    assert_eq!(signal.timestamp, 1_729_530_000_124);
    let stats = subscriber.stats();
    assert_eq!(
        stats.malformed_by_code.get(ErrorCode::InvalidJson.as_str()),
        Some(&1)
    );
    assert_eq!((stats.legacy, stats.nan_tokens), (1, 0));
}
