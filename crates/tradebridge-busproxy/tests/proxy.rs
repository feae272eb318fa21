//! The proxy between real ZeroMQ sockets over TCP on loopback: forwarding, subscriptions both ways,
//! steering, statistics, the tap, and the errors.

use std::time::{Duration, Instant};

use tradebridge_busproxy::{Proxy, ProxyConfig, ProxyError};

const ANY: &str = "tcp://127.0.0.1:*";

fn publisher(ctx: &zmq::Context, proxy: &Proxy) -> zmq::Socket {
    let socket = ctx.socket(zmq::XPUB).unwrap();
    socket.set_linger(0).unwrap();
    socket.set_rcvtimeo(5_000).unwrap();
    // as the SDK's publisher: every subscription is reported, not only the first of a prefix
    socket.set_xpub_verbose(true).unwrap();
    socket.connect(proxy.frontend()).unwrap();
    socket
}

fn subscriber(ctx: &zmq::Context, endpoint: &str, topic: &[u8]) -> zmq::Socket {
    let socket = ctx.socket(zmq::SUB).unwrap();
    socket.set_linger(0).unwrap();
    socket.set_rcvtimeo(5_000).unwrap();
    socket.set_subscribe(topic).unwrap();
    socket.connect(endpoint).unwrap();
    socket
}

fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn forwards_in_order_counts_and_steers() {
    let proxy = Proxy::start(&ProxyConfig::new(ANY, ANY), None).unwrap();
    let ctx = zmq::Context::new();
    let publisher = publisher(&ctx, &proxy);
    // XSUB replays its subscriptions to a publisher that connects later, once per prefix; once the
    // publisher is attached, every subscriber's subscription reaches it (the backend is XPUB_VERBOSER).
    let first = subscriber(&ctx, proxy.backend(), b"bars");
    assert_eq!(publisher.recv_bytes(0).unwrap(), b"\x01bars");
    let second = subscriber(&ctx, proxy.backend(), b"bars");
    assert_eq!(publisher.recv_bytes(0).unwrap(), b"\x01bars");
    eventually("two subscribers in the tap", || {
        proxy.tap_counts().subscribers() == 2
    });

    for i in 0..100 {
        publisher
            .send(format!("bars {{\"seq\":{i}}}").as_bytes(), 0)
            .unwrap();
    }
    for socket in [&first, &second] {
        for i in 0..100 {
            assert_eq!(
                socket.recv_string(0).unwrap().unwrap(),
                format!("bars {{\"seq\":{i}}}")
            );
        }
    }
    let stats = proxy.statistics().unwrap();
    assert_eq!(stats.frontend_messages_in, 100);
    assert_eq!(stats.backend_messages_out, 100);
    assert_eq!(
        stats.backend_messages_in, 2,
        "two subscribe messages from the backend"
    );
    eventually("the tap counted every frame", || {
        proxy.tap_counts().captured == 100
    });
    let bytes: u64 = (0..100)
        .map(|i| format!("bars {{\"seq\":{i}}}").len() as u64)
        .sum();
    assert_eq!(proxy.tap_counts().topics["bars"], (100, bytes));
    assert_eq!(stats.frontend_bytes_in, bytes);

    // Paused, nothing moves; resumed, the queued message arrives.
    proxy.pause().unwrap();
    publisher.send("bars paused", 0).unwrap();
    first.set_rcvtimeo(300).unwrap();
    assert!(
        first.recv_bytes(0).is_err(),
        "a paused proxy forwarded a message"
    );
    proxy.resume().unwrap();
    first.set_rcvtimeo(5_000).unwrap();
    assert_eq!(first.recv_bytes(0).unwrap(), b"bars paused");

    drop(second);
    eventually("the departed subscriber unsubscribed", || {
        proxy.tap_counts().subscribers() == 1
    });

    proxy.terminate().unwrap();
    assert!(!proxy.is_running());
    assert_eq!(proxy.statistics().unwrap_err().code(), "proxy_not_running");
    assert_eq!(proxy.pause().unwrap_err().code(), "proxy_not_running");
    proxy.terminate().unwrap(); // idempotent
}

#[test]
fn the_capture_socket_carries_every_data_frame_and_no_subscription() {
    let config = ProxyConfig {
        capture: Some(ANY.to_owned()),
        ..ProxyConfig::new(ANY, ANY)
    };
    let proxy = Proxy::start(&config, None).unwrap();
    let ctx = zmq::Context::new();
    let recorder = subscriber(&ctx, proxy.capture().unwrap(), b"");
    let publisher = publisher(&ctx, &proxy);
    let _everything = subscriber(&ctx, proxy.backend(), b"");
    assert_eq!(publisher.recv_bytes(0).unwrap(), b"\x01");
    // The recorder's own subscription is on the capture PUB: wait until a probe frame reaches it.
    eventually("the recorder is connected", || {
        publisher.send("signals probe", 0).unwrap();
        recorder.set_rcvtimeo(50).unwrap();
        recorder.recv_bytes(0).is_ok()
    });
    recorder.set_rcvtimeo(5_000).unwrap();
    while recorder.recv_bytes(zmq::DONTWAIT).is_ok() {}
    publisher.send("signals one", 0).unwrap();
    publisher.send("bars two", 0).unwrap();
    assert_eq!(recorder.recv_bytes(0).unwrap(), b"signals one");
    assert_eq!(recorder.recv_bytes(0).unwrap(), b"bars two");
    proxy.terminate().unwrap();
}

#[test]
fn a_taken_port_is_a_typed_bind_error() {
    let proxy = Proxy::start(&ProxyConfig::new(ANY, ANY), None).unwrap();
    let taken = proxy.frontend().to_owned();
    let err = Proxy::start(&ProxyConfig::new(ANY, &taken), None).unwrap_err();
    assert_eq!(err.code(), "bind_failed");
    assert!(
        matches!(
            err,
            ProxyError::Bind {
                role: "backend",
                ..
            }
        ),
        "{err}"
    );
    let err = Proxy::start(&ProxyConfig::new("nonsense://x", ANY), None).unwrap_err();
    assert!(
        matches!(
            err,
            ProxyError::Bind {
                role: "frontend",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn the_frontend_also_connects_to_a_publisher_that_binds() {
    let ctx = zmq::Context::new();
    let binder = ctx.socket(zmq::XPUB).unwrap();
    binder.set_linger(0).unwrap();
    binder.set_rcvtimeo(5_000).unwrap();
    binder.bind(ANY).unwrap();
    let endpoint = binder.get_last_endpoint().unwrap().unwrap();
    let config = ProxyConfig {
        frontend_connect: vec![endpoint],
        ..ProxyConfig::new(ANY, ANY)
    };
    let proxy = Proxy::start(&config, None).unwrap();
    let sub = subscriber(&ctx, proxy.backend(), b"market");
    assert_eq!(binder.recv_bytes(0).unwrap(), b"\x01market");
    binder.send("market bound", 0).unwrap();
    assert_eq!(sub.recv_bytes(0).unwrap(), b"market bound");
    proxy.terminate().unwrap();
}

#[test]
fn a_multipart_message_moves_whole_and_is_counted_once() {
    let config = ProxyConfig {
        capture: Some(ANY.to_owned()),
        ..ProxyConfig::new(ANY, ANY)
    };
    let proxy = Proxy::start(&config, None).unwrap();
    let ctx = zmq::Context::new();
    let publisher = publisher(&ctx, &proxy);
    let sub = subscriber(&ctx, proxy.backend(), b"bars");
    assert_eq!(publisher.recv_bytes(0).unwrap(), b"\x01bars");
    let recorder = subscriber(&ctx, proxy.capture().unwrap(), b"");
    eventually("the recorder is connected", || {
        publisher.send("bars probe", 0).unwrap();
        recorder.set_rcvtimeo(50).unwrap();
        recorder.recv_bytes(0).is_ok()
    });
    recorder.set_rcvtimeo(5_000).unwrap();
    while recorder.recv_bytes(zmq::DONTWAIT).is_ok() {}
    while sub.recv_bytes(zmq::DONTWAIT).is_ok() {}
    let before = proxy.statistics().unwrap();
    // the tap counts behind the proxy: wait until it has seen everything forwarded so far
    eventually("the tap caught up", || {
        proxy.tap_counts().captured == before.frontend_messages_in
    });
    let topic_before = proxy.tap_counts().topics["bars"];

    publisher
        .send_multipart([&b"bars head"[..], b"", b"tail"], 0)
        .unwrap();
    assert_eq!(
        sub.recv_multipart(0).unwrap(),
        vec![b"bars head".to_vec(), Vec::new(), b"tail".to_vec()]
    );
    assert_eq!(
        recorder.recv_multipart(0).unwrap(),
        vec![b"bars head".to_vec(), Vec::new(), b"tail".to_vec()]
    );
    // libzmq's statistics count the message once with the bytes of all its parts; the tap counts it
    // once under the topic of its first frame, with that frame's bytes
    let after = proxy.statistics().unwrap();
    assert_eq!(after.frontend_messages_in - before.frontend_messages_in, 1);
    assert_eq!(after.backend_bytes_out - before.backend_bytes_out, 13);
    eventually("the tap counted the message", || {
        let topic = proxy.tap_counts().topics["bars"];
        (topic.0 - topic_before.0, topic.1 - topic_before.1) == (1, 9)
    });
    proxy.terminate().unwrap();
}
