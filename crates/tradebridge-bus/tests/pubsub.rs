//! Publisher and Subscriber over real sockets on loopback.

use std::time::Duration;

use tradebridge_bus::{BusError, Options, Publisher, Subscriber};
use tradebridge_contracts::{decode_frame, ErrorCode, Heartbeat, Message, SchemaVersion, Topic};

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

fn pair(topics: &[Topic]) -> (Publisher, Subscriber) {
    let mut publisher = Publisher::bind("tcp://127.0.0.1:*").unwrap();
    let subscriber = Subscriber::connect(publisher.endpoint(), topics).unwrap();
    publisher.wait_for_subscribers(1, WAIT, None).unwrap();
    (publisher, subscriber)
}

#[test]
fn messages_arrive_numbered_with_the_publishers_source() {
    let (mut publisher, mut subscriber) = pair(&[Topic::System]);
    for i in 0..100 {
        assert_eq!(publisher.publish(&beat(i)).unwrap(), i);
    }
    for i in 0..100 {
        let (topic, message) = subscriber.recv_timeout(WAIT).unwrap().expect("a message");
        assert_eq!(topic, Topic::System);
        let Message::Heartbeat(beat) = message else {
            panic!("not a heartbeat")
        };
        assert_eq!((beat.timestamp, beat.seq), (i, Some(i)));
        assert_eq!(beat.source.as_deref(), Some(publisher.source()));
    }
    let stats = subscriber.stats();
    assert_eq!((stats.received, stats.gaps, stats.dropped), (100, 0, 0));
}

#[test]
fn a_republished_message_takes_the_new_envelope() {
    let mut first = Publisher::bind("tcp://127.0.0.1:*").unwrap();
    let mut second = Publisher::bind("tcp://127.0.0.1:*").unwrap();
    for i in 0..3 {
        first.frame(&beat(i));
    }
    let (_, received) = decode_frame(first.frame(&beat(9))).unwrap();
    let (_, republished) = decode_frame(second.frame(&received)).unwrap();
    let Message::Heartbeat(beat) = republished else {
        panic!()
    };
    assert_eq!(
        (beat.seq, beat.source.as_deref()),
        (Some(0), Some(second.source()))
    );
}

#[test]
fn malformed_frames_are_counted_and_skipped_in_order() {
    let (mut publisher, mut subscriber) = pair(&[]);
    publisher.publish(&beat(0)).unwrap();
    for garbage in [
        &b"no-space"[..],
        b"system {",
        b"market {\"type\":\"Heartbeat\"}",
        b"nope {}",
    ] {
        publisher.send_raw(garbage).unwrap();
    }
    publisher.publish(&beat(1)).unwrap();
    let timestamps: Vec<u64> = (0..2)
        .map(|_| match subscriber.recv_timeout(WAIT).unwrap() {
            Some((_, Message::Heartbeat(beat))) => beat.timestamp,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(timestamps, [0, 1]);
    let stats = subscriber.stats();
    assert_eq!(stats.malformed, 4);
    assert_eq!(stats.malformed_by_code["bad_frame"], 1);
    assert_eq!(stats.malformed_by_code["invalid_json"], 1);
    assert_eq!(stats.malformed_by_code["unknown_topic"], 1);
    assert_eq!(stats.gaps, 0);
}

#[test]
fn a_strict_subscriber_returns_the_contract_error() {
    let mut publisher = Publisher::bind("tcp://127.0.0.1:*").unwrap();
    let mut subscriber = Subscriber::connect(publisher.endpoint(), &[])
        .unwrap()
        .strict(true);
    publisher.wait_for_subscribers(1, WAIT, None).unwrap();
    publisher.send_raw(b"system {oops").unwrap();
    match subscriber.recv_timeout(WAIT) {
        Err(BusError::Contract(error)) => assert_eq!(error.code, ErrorCode::InvalidJson),
        other => panic!("expected a contract error, got {other:?}"),
    }
}

#[test]
fn topics_match_exactly() {
    let (mut publisher, mut subscriber) = pair(&[Topic::Signal]);
    publisher.send_raw(b"signals {}").unwrap();
    publisher.publish(&beat(0)).unwrap(); // system: filtered by ZeroMQ itself
    assert!(subscriber
        .recv_timeout(Duration::from_millis(200))
        .unwrap()
        .is_none());
    assert_eq!(subscriber.stats().filtered, 1);
    assert_eq!(subscriber.stats().malformed, 0);
}

#[test]
fn a_restarted_publisher_is_found_again_and_its_missed_start_is_a_gap() {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let endpoint = format!("tcp://127.0.0.1:{port}");
    let options = Options {
        reconnect_ivl_ms: 20,
        reconnect_ivl_max_ms: 100,
        ..Options::default()
    };
    let mut subscriber =
        Subscriber::new(&endpoint, &[Topic::System], false, options, None).unwrap();
    // a stable instance id (its role) is what lets a subscriber tell a restart from a new publisher
    let feed = || Some("feed-1".to_owned());
    {
        let mut first = Publisher::new(&endpoint, true, Options::default(), None, feed()).unwrap();
        first.wait_for_subscribers(1, WAIT, None).unwrap();
        for i in 0..3 {
            first.publish(&beat(i)).unwrap();
            assert!(subscriber.recv_timeout(WAIT).unwrap().is_some());
        }
    }
    let mut second = Publisher::new(&endpoint, true, Options::default(), None, feed()).unwrap();
    second.publish(&beat(0)).unwrap(); // nobody subscribed yet: lost
                                       // the subscriber re-subscribes while it services its socket
    while second.subscriber_count(None).unwrap() == 0 {
        assert!(subscriber
            .recv_timeout(Duration::from_millis(20))
            .unwrap()
            .is_none());
    }
    second.publish(&beat(1)).unwrap();
    let (_, message) = subscriber
        .recv_timeout(WAIT)
        .unwrap()
        .expect("the restarted publisher");
    let Message::Heartbeat(beat) = message else {
        panic!()
    };
    assert_eq!(beat.seq, Some(1));
    // the numbering went back from 2 to 1: a restart whose new 0 was lost
    let stats = subscriber.stats();
    assert_eq!((stats.restarts, stats.gaps, stats.dropped), (1, 1, 1));
    assert_eq!(stats.sources, 1);
}

#[test]
fn fifty_interleaved_publishers_on_one_topic_invent_no_loss() {
    let mut subscriber = Subscriber::bind("tcp://127.0.0.1:*", &[Topic::System]).unwrap();
    let mut publishers: Vec<Publisher> = (0..50)
        .map(|_| Publisher::connect(subscriber.endpoint()).unwrap())
        .collect();
    for publisher in &mut publishers {
        // the subscription reaches a connecting publisher once the subscriber services its socket
        while publisher.subscriber_count(None).unwrap() == 0 {
            let _ = subscriber.recv_timeout(Duration::from_millis(1)).unwrap();
        }
    }
    let rounds = 40;
    for i in 0..rounds {
        for publisher in &mut publishers {
            publisher.publish(&beat(i)).unwrap();
        }
    }
    let mut received = 0;
    while received < 50 * rounds {
        subscriber
            .recv_timeout(WAIT)
            .unwrap()
            .expect("every message");
        received += 1;
    }
    let stats = subscriber.stats();
    assert_eq!(
        (stats.received, stats.restarts, stats.gaps, stats.dropped),
        (50 * rounds, 0, 0, 0)
    );
    assert_eq!((stats.sources, stats.missed_at_join), (50, 0));
    assert!(stats.by_source().all(|(_, _, s)| s.received == rounds));
}

#[test]
fn a_frame_above_the_limit_is_refused_and_counted_as_too_large() {
    let options = Options {
        max_message_bytes: 4096,
        ..Options::default()
    };
    let mut publisher = Publisher::bind("tcp://127.0.0.1:*").unwrap();
    let mut subscriber = Subscriber::new(publisher.endpoint(), &[], false, options, None).unwrap();
    publisher.wait_for_subscribers(1, WAIT, None).unwrap();
    let mut big = b"system ".to_vec();
    big.resize(10_000, b' ');
    publisher.send_raw(&big).unwrap();
    publisher.publish(&beat(0)).unwrap();
    assert!(subscriber.recv_timeout(WAIT).unwrap().is_some());
    let stats = subscriber.stats();
    assert_eq!((stats.too_large, stats.malformed), (1, 1));
    assert_eq!(stats.malformed_by_code["too_large"], 1);
    let mut strict = Subscriber::new(publisher.endpoint(), &[], false, options, None)
        .unwrap()
        .strict(true);
    publisher.wait_for_subscribers(2, WAIT, None).unwrap();
    publisher.send_raw(&big).unwrap();
    match strict.recv_timeout(WAIT) {
        Err(BusError::Contract(error)) => assert_eq!(error.code.as_str(), "too_large"),
        other => panic!("expected too_large, got {other:?}"),
    }
}

#[test]
fn waiting_for_absent_subscribers_times_out() {
    let mut publisher = Publisher::bind("tcp://127.0.0.1:*").unwrap();
    match publisher.wait_for_subscribers(1, Duration::from_millis(100), Some(Topic::Market)) {
        Err(BusError::SubscriberTimeout {
            seen: 0, wanted: 1, ..
        }) => {}
        other => panic!("expected a timeout, got {other:?}"),
    }
}

#[test]
fn binding_a_taken_endpoint_is_a_one_line_error() {
    let first = Publisher::bind("tcp://127.0.0.1:*").unwrap();
    let error = Publisher::bind(first.endpoint()).unwrap_err();
    let text = error.to_string();
    assert!(text.starts_with("cannot bind tcp://127.0.0.1:"), "{text}");
    assert!(!text.contains('\n'));
}

#[test]
fn subscriptions_are_counted_per_topic() {
    let mut publisher = Publisher::bind("tcp://127.0.0.1:*").unwrap();
    let _both = Subscriber::connect(publisher.endpoint(), &[Topic::Market, Topic::Signal]).unwrap();
    let _all = Subscriber::connect(publisher.endpoint(), &[]).unwrap();
    assert_eq!(
        publisher
            .wait_for_subscribers(2, WAIT, Some(Topic::Market))
            .unwrap(),
        2
    );
    assert_eq!(publisher.subscriber_count(Some(Topic::Order)).unwrap(), 1);
    assert_eq!(publisher.subscriber_count(None).unwrap(), 3);
}
