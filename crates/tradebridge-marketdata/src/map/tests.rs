use tradebridge_contracts::validate;

use super::*;

const NS: i128 = 1_700_000_000_000_000_000;

fn bar_point(symbol: &str, minute: i128) -> RawPoint {
    RawPoint {
        is_map: true,
        kind: Field::Value(Kind::Bar),
        symbol: Field::Value(symbol.into()),
        open: Field::Value(10.0),
        high: Field::Value(11.0),
        low: Field::Value(9.5),
        close: Field::Value(10.5),
        volume: Field::Value(1000.0),
        timestamp: Field::Value(Stamp::Nanos(NS + minute * 60_000_000_000)),
        trade_count: Field::Value(12.0),
        vwap: Field::Value(10.2),
        ..RawPoint::default()
    }
}

fn trade_point() -> RawPoint {
    RawPoint {
        is_map: true,
        kind: Field::Value(Kind::Trade),
        symbol: Field::Value("BRK.B".into()),
        price: Field::Value(177.79),
        size: Field::Value(90.0),
        trade_id: Field::Value("6142".into()),
        exchange: Field::Value("V".into()),
        close: Field::Wrong,
        timestamp: Field::Value(Stamp::Nanos(NS + 123_456_789)),
        ..RawPoint::default()
    }
}

fn quote_point() -> RawPoint {
    RawPoint {
        is_map: true,
        kind: Field::Value(Kind::Quote),
        symbol: Field::Value("SPIP".into()),
        bid_price: Field::Value(25.41),
        bid_size: Field::Value(35.0),
        ask_price: Field::Value(0.0),
        ask_size: Field::Value(0.0),
        timestamp: Field::Value(Stamp::Nanos(NS)),
        ..RawPoint::default()
    }
}

fn all() -> Mapper {
    Mapper::new(&Channel::ALL)
}

fn published(outcome: Outcome) -> Item {
    match outcome {
        Outcome::Publish(item) => item,
        other => panic!("not published: {other:?}"),
    }
}

fn assert_valid(item: &Item) {
    match &item.message {
        Market::Bar(m) => assert_eq!(&validate(m).unwrap(), m),
        Market::Trade(m) => assert_eq!(&validate(m).unwrap(), m),
        Market::Quote(m) => assert_eq!(&validate(m).unwrap(), m),
    }
}

#[test]
fn every_kind_maps_to_a_valid_contract_message() {
    let mut mapper = all();
    let bar = published(mapper.map(bar_point("AAPL", 0), Encoding::Msgpack));
    assert_eq!(bar.channel, Channel::Bars);
    let Market::Bar(m) = &bar.message else {
        panic!()
    };
    assert_eq!(m.timestamp, 1_700_000_000_000);
    assert_eq!((m.vwap, m.trade_count), (Some(10.2), Some(12)));
    assert_valid(&bar);
    let trade = published(mapper.map(trade_point(), Encoding::Msgpack));
    let Market::Trade(m) = &trade.message else {
        panic!()
    };
    assert_eq!(m.timestamp, 1_700_000_000_123);
    assert_eq!(trade.event_ns, NS + 123_456_789);
    assert_eq!(m.trade_id.as_deref(), Some("6142"));
    assert_valid(&trade);
    let quote = published(mapper.map(quote_point(), Encoding::Msgpack));
    assert_valid(&quote);
    for kind in [Kind::UpdatedBar, Kind::DailyBar] {
        let mut point = bar_point("AAPL", 0);
        point.kind = Field::Value(kind);
        let item = published(mapper.map(point, Encoding::Msgpack));
        assert_valid(&item);
    }
}

#[test]
fn optional_fields_may_be_nil() {
    let mut point = bar_point("AAPL", 0);
    point.vwap = Field::Null;
    point.trade_count = Field::Absent;
    let item = published(all().map(point, Encoding::Msgpack));
    let Market::Bar(m) = item.message else {
        panic!()
    };
    assert_eq!((m.vwap, m.trade_count), (None, None));
}

#[test]
fn every_hostile_point_is_refused_with_its_reason() {
    let with = |edit: &dyn Fn(&mut RawPoint)| {
        let mut point = bar_point("AAPL", 0);
        edit(&mut point);
        all().map(point, Encoding::Msgpack)
    };
    let reject = Outcome::Reject;
    assert_eq!(with(&|p| p.is_map = false), reject(Reason::NotAMap));
    assert_eq!(
        with(&|p| p.kind = Field::Absent),
        reject(Reason::MissingType)
    );
    assert_eq!(
        with(&|p| p.kind = Field::Wrong),
        reject(Reason::MissingType)
    );
    assert_eq!(
        with(&|p| p.kind = Field::Value(Kind::Unknown)),
        reject(Reason::UnknownType)
    );
    assert_eq!(
        with(&|p| p.close = Field::Absent),
        reject(Reason::MissingField)
    );
    assert_eq!(
        with(&|p| p.open = Field::Null),
        reject(Reason::MissingField)
    );
    assert_eq!(with(&|p| p.open = Field::Wrong), reject(Reason::WrongType));
    assert_eq!(
        with(&|p| p.symbol = Field::Wrong),
        reject(Reason::WrongType)
    );
    assert_eq!(with(&|p| p.vwap = Field::Wrong), reject(Reason::WrongType));
    assert_eq!(
        with(&|p| p.timestamp = Field::Value(Stamp::Text("2024-01-02T03:04:05Z".into()))),
        reject(Reason::BadTimestamp)
    );
    assert_eq!(
        with(&|p| p.timestamp = Field::Value(Stamp::Nanos(-1_000_000))),
        reject(Reason::BadTimestamp)
    );
    assert_eq!(
        with(&|p| p.timestamp = Field::Value(Stamp::Nanos(1i128 << 100))),
        reject(Reason::BadTimestamp)
    );
    assert_eq!(
        with(&|p| p.timestamp = Field::Wrong),
        reject(Reason::WrongType)
    );
    assert_eq!(
        with(&|p| p.low = Field::Value(0.0)),
        reject(Reason::InvalidValue)
    );
    assert_eq!(
        with(&|p| p.volume = Field::Value(f64::INFINITY)),
        reject(Reason::InvalidValue)
    );
    assert_eq!(
        with(&|p| p.trade_count = Field::Value(1.5)),
        reject(Reason::InvalidValue)
    );
    assert_eq!(
        with(&|p| p.symbol = Field::Value("aapl".into())),
        reject(Reason::InvalidSymbol)
    );
    assert_eq!(
        with(&|p| p.symbol = Field::Value("A".repeat(33))),
        reject(Reason::InvalidSymbol)
    );
    let mut trade = trade_point();
    trade.size = Field::Value(0.0);
    assert_eq!(
        all().map(trade, Encoding::Msgpack),
        reject(Reason::InvalidValue)
    );
    let mut trade = trade_point();
    trade.exchange = Field::Value("X".repeat(17));
    assert_eq!(
        all().map(trade, Encoding::Msgpack),
        reject(Reason::InvalidValue)
    );
    let mut quote = quote_point();
    quote.bid_price = Field::Value(-1.0);
    assert_eq!(
        all().map(quote, Encoding::Msgpack),
        reject(Reason::InvalidValue)
    );
}

#[test]
fn json_times_are_rfc3339() {
    let mut point = bar_point("AAPL", 0);
    point.timestamp = Field::Value(Stamp::Text("2024-01-02T03:04:05.5Z".into()));
    let item = published(all().map(point, Encoding::Json));
    let Market::Bar(m) = item.message else {
        panic!()
    };
    assert_eq!(m.timestamp, 1_704_164_645_500);
    let mut point = bar_point("AAPL", 0);
    point.timestamp = Field::Value(Stamp::Text("1704164645".into()));
    assert_eq!(
        all().map(point, Encoding::Json),
        Outcome::Reject(Reason::BadTimestamp)
    );
}

#[test]
fn controls_and_unwanted_channels_are_not_data() {
    let mut mapper = Mapper::new(&[Channel::Bars]);
    assert_eq!(
        mapper.map(trade_point(), Encoding::Msgpack),
        Outcome::Unmapped
    );
    let error = RawPoint {
        is_map: true,
        kind: Field::Value(Kind::Error),
        code: Field::Value(402.0),
        msg: Field::Value("auth failed".into()),
        ..RawPoint::default()
    };
    assert_eq!(
        mapper.map(error, Encoding::Msgpack),
        Outcome::Control(Control::Error {
            code: 402,
            msg: "auth failed".into()
        })
    );
    let status = RawPoint {
        is_map: true,
        kind: Field::Value(Kind::Unmapped),
        ..RawPoint::default()
    };
    assert_eq!(mapper.map(status, Encoding::Msgpack), Outcome::Unmapped);
}

#[test]
fn bars_go_out_once_in_order_and_gaps_across_reconnects_are_measured() {
    let mut mapper = all();
    published(mapper.map(bar_point("AAPL", 0), Encoding::Msgpack));
    published(mapper.map(bar_point("AAPL", 1), Encoding::Msgpack));
    assert_eq!(
        mapper.map(bar_point("AAPL", 1), Encoding::Msgpack),
        Outcome::DuplicateBar
    );
    assert_eq!(
        mapper.map(bar_point("AAPL", 0), Encoding::Msgpack),
        Outcome::DuplicateBar
    );
    // IEX skips minutes without trades: inside a connection a jump is no gap
    published(mapper.map(bar_point("AAPL", 5), Encoding::Msgpack));
    mapper.reconnected();
    match mapper.map(bar_point("AAPL", 9), Encoding::Msgpack) {
        Outcome::GapThenPublish { missed, .. } => assert_eq!(missed, 3),
        other => panic!("{other:?}"),
    }
    published(mapper.map(bar_point("AAPL", 11), Encoding::Msgpack));
    mapper.reconnected();
    published(mapper.map(bar_point("AAPL", 12), Encoding::Msgpack));
    // a symbol first seen after the reconnect has nothing to compare with
    published(mapper.map(bar_point("MSFT", 30), Encoding::Msgpack));
}
