//! Unit tests of the risk book: sizing, limits, prices, the rate window.

use super::*;
use std::collections::HashSet;

#[test]
fn every_refusal_has_a_metric_named_after_it() {
    for reason in Refusal::ALL {
        assert_eq!(reason.metric_name(), format!("refused_{}", reason.as_str()));
    }
}

const NOW_MS: u64 = 1_700_000_000_000;

fn limits() -> RiskLimits {
    RiskLimits {
        max_position: 100.0,
        max_notional: 10_000.0,
        max_orders_per_sec: 3,
        max_signal_age: Duration::from_millis(2_000),
        max_clock_skew: Duration::from_millis(500),
        ..RiskLimits::default()
    }
}

fn book() -> RiskBook {
    let mut b = RiskBook::new(limits());
    b.set_price("AAPL", 50.0, Instant::now());
    b
}

fn buy(qty: f64) -> Proposal<'static> {
    Proposal {
        symbol: "AAPL",
        side: Side::Buy,
        qty,
        timestamp_ms: NOW_MS,
        price_hint: None,
        signal_id: None,
    }
}

fn sell(qty: f64) -> Proposal<'static> {
    Proposal {
        side: Side::Sell,
        ..buy(qty)
    }
}

#[test]
fn accepts_within_limits_and_reserves_pending() {
    let mut b = book();
    let ok = b.check(&buy(10.0), NOW_MS, Instant::now()).unwrap();
    assert_eq!(
        ok,
        Approved {
            qty: 10.0,
            reference_price: 50.0,
            clipped: false
        }
    );
    assert_eq!(b.pending("AAPL"), 10.0);
    b.on_fill("AAPL", Side::Buy, 4.0);
    assert_eq!((b.position("AAPL"), b.pending("AAPL")), (4.0, 6.0));
    b.on_closed("AAPL", Side::Buy, 6.0);
    assert_eq!((b.position("AAPL"), b.pending("AAPL")), (4.0, 0.0));
    assert_eq!(b.refused_total(), 0);
}

#[test]
fn clips_to_position_room_then_refuses() {
    let mut b = RiskBook::new(RiskLimits {
        max_notional: 1e9,
        ..limits()
    });
    b.set_price("AAPL", 50.0, Instant::now());
    b.set_position("AAPL", 95.0);
    let ok = b.check(&buy(10.0), NOW_MS, Instant::now()).unwrap();
    assert_eq!((ok.qty, ok.clipped), (5.0, true));
    assert_eq!(
        b.check(&buy(1.0), NOW_MS, Instant::now()),
        Err(Refusal::MaxPosition)
    );
    assert_eq!(b.refusal_counts()[&Refusal::MaxPosition], 1);
}

#[test]
fn short_side_limits_are_symmetric() {
    let mut b = RiskBook::new(RiskLimits {
        max_notional: 1e9,
        ..limits()
    });
    b.set_price("AAPL", 50.0, Instant::now());
    b.set_position("AAPL", -100.0);
    assert_eq!(
        b.check(&sell(1.0), NOW_MS, Instant::now()),
        Err(Refusal::MaxPosition)
    );
}

#[test]
fn notional_limit_uses_reference_price() {
    let mut b = book(); // 10_000 / 50 = 200 shares, position limit 100
    b.set_price("AAPL", 400.0, Instant::now()); // 25 shares of room
    let ok = b.check(&buy(40.0), NOW_MS, Instant::now()).unwrap();
    assert_eq!((ok.qty, ok.reference_price), (25.0, 400.0));
    assert_eq!(
        b.check(&buy(1.0), NOW_MS, Instant::now()),
        Err(Refusal::MaxNotional)
    );
}

#[test]
fn reducing_orders_pass_limits_but_never_flip() {
    let mut b = book();
    b.set_position("AAPL", 100.0);
    let ok = b.check(&sell(250.0), NOW_MS, Instant::now()).unwrap();
    assert_eq!((ok.qty, ok.clipped), (100.0, true));
}

#[test]
fn opposite_open_order_is_refused() {
    let mut b = book();
    b.check(&buy(5.0), NOW_MS, Instant::now()).unwrap();
    assert_eq!(
        b.check(&sell(5.0), NOW_MS, Instant::now()),
        Err(Refusal::OppositeOrderOpen)
    );
}

#[test]
fn stale_and_future_signals_are_refused() {
    let mut b = book();
    let old = Proposal {
        timestamp_ms: NOW_MS - 2_001,
        ..buy(1.0)
    };
    assert_eq!(b.check(&old, NOW_MS, Instant::now()), Err(Refusal::Stale));
    let edge = Proposal {
        timestamp_ms: NOW_MS - 2_000,
        ..buy(1.0)
    };
    assert!(b.check(&edge, NOW_MS, Instant::now()).is_ok());
    let future = Proposal {
        timestamp_ms: NOW_MS + 501,
        ..buy(1.0)
    };
    assert_eq!(
        b.check(&future, NOW_MS, Instant::now()),
        Err(Refusal::FutureTimestamp)
    );
}

#[test]
fn zero_size_and_missing_price() {
    let mut b = book();
    assert_eq!(
        b.check(&buy(0.4), NOW_MS, Instant::now()),
        Err(Refusal::ZeroSize)
    );
    assert_eq!(
        b.check(&buy(f64::NAN), NOW_MS, Instant::now()),
        Err(Refusal::ZeroSize)
    );
    // A stated price alone is not trusted.
    let hinted = Proposal {
        symbol: "MSFT",
        price_hint: Some(10.0),
        ..buy(1.0)
    };
    assert_eq!(
        b.check(&hinted, NOW_MS, Instant::now()),
        Err(Refusal::NoPrice)
    );
    let mut lenient = RiskBook::new(RiskLimits {
        allow_signal_price: true,
        ..limits()
    });
    let ok = lenient.check(&hinted, NOW_MS, Instant::now()).unwrap();
    assert_eq!(ok.reference_price, 10.0);
    let unknown = Proposal {
        symbol: "MSFT",
        ..buy(1.0)
    };
    assert_eq!(
        lenient.check(&unknown, NOW_MS, Instant::now()),
        Err(Refusal::NoPrice)
    );
}

#[test]
fn a_stated_price_outside_the_band_is_refused_and_never_sets_the_notional() {
    let mut b = book(); // trusted 50, band 5%, notional 10_000
    let liar = Proposal {
        price_hint: Some(1.0),
        ..buy(10.0)
    };
    assert_eq!(
        b.check(&liar, NOW_MS, Instant::now()),
        Err(Refusal::PriceBand)
    );
    let edge = Proposal {
        price_hint: Some(52.5),
        ..buy(10.0)
    };
    let ok = b.check(&edge, NOW_MS, Instant::now()).unwrap();
    assert_eq!(ok.reference_price, 50.0);
    let above = Proposal {
        price_hint: Some(52.6),
        ..buy(1.0)
    };
    assert_eq!(
        b.check(&above, NOW_MS, Instant::now()),
        Err(Refusal::PriceBand)
    );
    assert_eq!(b.refusal_counts()[&Refusal::PriceBand], 2);
}

#[test]
fn an_old_trusted_price_is_not_used() {
    let mut b = RiskBook::new(RiskLimits {
        max_price_age: Duration::from_millis(100),
        ..limits()
    });
    let seen = Instant::now();
    b.set_price("AAPL", 50.0, seen);
    assert_eq!(
        b.trusted_price("AAPL", seen + Duration::from_millis(100)),
        Some(50.0)
    );
    assert_eq!(
        b.trusted_price("AAPL", seen + Duration::from_millis(101)),
        None
    );
    assert_eq!(
        b.check(&buy(1.0), NOW_MS, seen + Duration::from_millis(101)),
        Err(Refusal::NoPrice)
    );
}

#[test]
fn exposure_from_the_broker_replaces_the_book() {
    let mut b = book();
    b.check(&buy(10.0), NOW_MS, Instant::now()).unwrap();
    b.reset_exposure(
        [("AAPL".to_owned(), 20.0), ("MSFT".to_owned(), 0.0)],
        [("AAPL".to_owned(), 30.0), ("AAPL".to_owned(), 10.0)],
    );
    assert_eq!((b.position("AAPL"), b.pending("AAPL")), (20.0, 40.0));
    assert!(!b.positions().contains_key("MSFT"));
    let ok = b.check(&buy(100.0), NOW_MS, Instant::now()).unwrap();
    assert_eq!(ok.qty, 40.0); // 100 - (20 filled + 40 open)
}

#[test]
fn rate_limit_is_a_sliding_one_second_window() {
    let mut b = RiskBook::new(RiskLimits {
        max_position: 1e9,
        max_notional: 1e12,
        ..limits()
    });
    b.set_price("AAPL", 1.0, Instant::now());
    let t0 = Instant::now();
    for _ in 0..3 {
        b.check(&buy(1.0), NOW_MS, t0).unwrap();
    }
    assert_eq!(
        b.check(&buy(1.0), NOW_MS, t0 + Duration::from_millis(999)),
        Err(Refusal::RateLimited)
    );
    assert!(b
        .check(&buy(1.0), NOW_MS, t0 + Duration::from_millis(1_000))
        .is_ok());
}

#[test]
fn the_rate_window_holds_answer_instants() {
    let mut b = RiskBook::new(RiskLimits {
        max_position: 1e9,
        max_notional: 1e12,
        ..limits()
    });
    let t0 = Instant::now();
    b.set_price("AAPL", 1.0, t0);
    // A slow broker: each of three orders is answered 600 ms after it was checked.
    for n in 0..3 {
        let checked = t0 + Duration::from_millis(600 * n);
        b.check(&buy(1.0), NOW_MS, checked).unwrap();
        b.order_sent(checked + Duration::from_millis(600));
    }
    // The window holds 600, 1200 and 1800 ms: at 1900 ms there is one place left...
    let at = t0 + Duration::from_millis(1_900);
    b.set_price("AAPL", 1.0, at);
    assert!(b.check(&buy(1.0), NOW_MS, at).is_ok());
    b.order_sent(at);
    // ...and none after it, although only one order was *checked* in the last second.
    assert_eq!(b.check(&buy(1.0), NOW_MS, at), Err(Refusal::RateLimited));
    // An order that was never sent gives its place back.
    b.not_sent("AAPL", Side::Buy, 1.0);
    assert!(b.check(&buy(1.0), NOW_MS, at).is_ok());
}

#[test]
fn duplicates() {
    let mut b = book();
    let first = Proposal {
        signal_id: Some("s-1"),
        ..buy(1.0)
    };
    assert!(b.check(&first, NOW_MS, Instant::now()).is_ok());
    assert_eq!(
        b.check(&first, NOW_MS, Instant::now()),
        Err(Refusal::Duplicate)
    );
    assert_eq!(b.refused_total(), 1);
}

#[test]
fn every_refusal_has_a_distinct_name() {
    let names: HashSet<_> = Refusal::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(names.len(), Refusal::ALL.len());
}
