//! CURVE on the Rust bus over real sockets on loopback: the allow-list admits one client, a plaintext
//! peer and a client whose key is not listed receive nothing, and each refusal is counted.

use std::collections::BTreeSet;
use std::thread::sleep;
use std::time::{Duration, Instant};

use tradebridge_bus::security::generate_keypair;
use tradebridge_bus::{Allow, BusError, Curve, Options, Publisher, Subscriber};
use tradebridge_contracts::{Heartbeat, SchemaVersion, Topic};

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

fn until(mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        sleep(Duration::from_millis(20));
    }
    condition()
}

#[test]
fn a_curve_publisher_serves_only_its_allow_list() {
    let (server_public, server_secret) = generate_keypair().unwrap();
    let (client_public, client_secret) = generate_keypair().unwrap();
    let (_, intruder_secret) = generate_keypair().unwrap();
    let allow = Allow::Keys(BTreeSet::from([client_public.clone()]));
    let server = Curve::server(&server_secret, allow).unwrap();
    let mut publisher = Publisher::new_secure(
        "tcp://127.0.0.1:*",
        true,
        Options::default(),
        None,
        None,
        Some(&server),
    )
    .unwrap();
    let endpoint = publisher.endpoint().to_owned();
    let connect = |curve: Option<&Curve>| {
        Subscriber::new_secure(
            &endpoint,
            &[Topic::System],
            false,
            Options::default(),
            None,
            curve,
        )
        .unwrap()
    };
    let mut allowed = connect(Some(
        &Curve::client(&server_public, &client_secret).unwrap(),
    ));
    let intruder_curve = Curve::client(&server_public, &intruder_secret).unwrap();
    let mut not_listed = connect(Some(&intruder_curve));
    let mut plaintext = connect(None);
    publisher.wait_for_subscribers(1, WAIT, None).unwrap();
    assert!(until(|| publisher.curve_stats().denied >= 1
        && publisher.curve_stats().handshake_failed >= 1
        && not_listed.curve_stats().denied >= 1));
    for i in 0..20 {
        publisher.publish(&beat(i)).unwrap();
    }
    for _ in 0..20 {
        assert!(allowed.recv_timeout(WAIT).unwrap().is_some());
    }
    for refused in [&mut not_listed, &mut plaintext] {
        assert!(refused
            .recv_timeout(Duration::from_millis(300))
            .unwrap()
            .is_none());
    }
    assert_eq!(publisher.subscriber_count(None).unwrap(), 1);
    let stats = publisher.curve_stats();
    assert_eq!((stats.allowed, stats.denied), (1, 1), "{stats:?}");
    assert_eq!(allowed.curve_stats().denied, 0);
}

#[test]
fn a_socket_without_its_half_of_the_keys_is_refused() {
    let (server_public, server_secret) = generate_keypair().unwrap();
    let (_, client_secret) = generate_keypair().unwrap();
    let client = Curve::client(&server_public, &client_secret).unwrap();
    let bound = Publisher::new_secure(
        "tcp://127.0.0.1:*",
        true,
        Options::default(),
        None,
        None,
        Some(&client),
    );
    assert!(matches!(bound, Err(BusError::Curve(e)) if e.code == "curve_role_missing"));
    let server = Curve::server(&server_secret, Allow::Any).unwrap();
    let connected = Subscriber::new_secure(
        "tcp://127.0.0.1:1",
        &[],
        false,
        Options::default(),
        None,
        Some(&server),
    );
    assert!(matches!(connected, Err(BusError::Curve(e)) if e.code == "curve_role_missing"));
}

#[test]
fn debug_output_never_shows_the_secret() {
    let (_, secret) = generate_keypair().unwrap();
    let curve = Curve::server(&secret, Allow::Any).unwrap();
    assert!(!format!("{curve:?}").contains(&secret));
}
