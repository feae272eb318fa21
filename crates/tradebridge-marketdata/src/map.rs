//! From decoded stream points to contract messages: every rule of `contracts/v1/{bar,trade,quote}_update`
//! checked before a message reaches the bus, every refusal given a [`Reason`].

use std::collections::{HashMap, HashSet};

use tradebridge_contracts::{
    validate, BarUpdate, QuoteUpdate, SchemaVersion, TradeUpdate, FLOAT_MAX, MAX_SAFE_INTEGER,
};

use crate::metrics::{Channel, Reason};
use crate::protocol::{Field, Kind, RawPoint, Stamp};

/// Alpaca's bar period: one minute.
pub const BAR_PERIOD_MS: u64 = 60_000;

/// Symbols whose contract check is remembered; past it every new symbol is checked each time.
const MAX_KNOWN_SYMBOLS: usize = 65_536;

/// A message for the bus.
#[derive(Debug, Clone, PartialEq)]
pub enum Market {
    Bar(BarUpdate),
    Trade(TradeUpdate),
    Quote(QuoteUpdate),
}

/// One message to publish, with the stream's own event time for the latency histogram.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub channel: Channel,
    pub message: Market,
    pub event_ns: i128,
}

/// A control message of the protocol.
#[derive(Debug, Clone, PartialEq)]
pub enum Control {
    Success(String),
    Error { code: u16, msg: String },
    Subscription,
}

/// What one point becomes.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Publish(Item),
    Control(Control),
    /// A type without a contract, or a channel not asked for: skipped, not an error.
    Unmapped,
    /// A bar at or before the last one of its symbol: dropped so subscribers see each bar once.
    DuplicateBar,
    /// The first bar of a symbol after a reconnect is `missed` bar periods after the previous one.
    GapThenPublish {
        item: Item,
        missed: u64,
    },
    Reject(Reason),
}

/// How a frame arrived: msgpack times are extensions, JSON times are RFC 3339 text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Msgpack,
    Json,
}

/// The mapping state: channels wanted, symbols already checked, the last bar time per symbol.
#[derive(Debug)]
pub struct Mapper {
    wanted: [bool; 5],
    symbols: HashSet<String>,
    last_bar_ms: HashMap<String, u64>,
    /// Symbols whose next bar is the first after a reconnect (gap check).
    after_reconnect: HashSet<String>,
}

type Check<T> = Result<T, Reason>;

fn required<T: Clone>(field: &Field<T>) -> Check<T> {
    match field {
        Field::Value(v) => Ok(v.clone()),
        Field::Absent | Field::Null => Err(Reason::MissingField),
        Field::Wrong => Err(Reason::WrongType),
    }
}

fn optional<T: Clone>(field: &Field<T>) -> Check<Option<T>> {
    match field {
        Field::Value(v) => Ok(Some(v.clone())),
        Field::Absent | Field::Null => Ok(None),
        Field::Wrong => Err(Reason::WrongType),
    }
}

/// The contract's `price`: finite, > 0.
fn price(field: &Field<f64>) -> Check<f64> {
    let v = required(field)?;
    if v.is_finite() && v > 0.0 && v <= FLOAT_MAX {
        Ok(v)
    } else {
        Err(Reason::InvalidValue)
    }
}

/// The contract's `size`: finite, >= 0.
fn size(field: &Field<f64>) -> Check<f64> {
    let v = required(field)?;
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(Reason::InvalidValue)
    }
}

/// A whole count, 0..=2^53-1.
fn count(v: f64) -> Check<u64> {
    if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= MAX_SAFE_INTEGER as f64 {
        Ok(v as u64)
    } else {
        Err(Reason::InvalidValue)
    }
}

/// A name of `max` characters at most, at least one.
fn name(field: &Field<String>, max: usize) -> Check<Option<String>> {
    match optional(field)? {
        Some(text) if text.is_empty() || text.chars().count() > max => Err(Reason::InvalidValue),
        other => Ok(other),
    }
}

fn timestamp(field: &Field<Stamp>, encoding: Encoding) -> Check<(u64, i128)> {
    let nanos = match (required(field)?, encoding) {
        (Stamp::Nanos(nanos), _) => nanos,
        (Stamp::Text(text), Encoding::Json) => {
            crate::protocol::parse_rfc3339(&text).ok_or(Reason::BadTimestamp)?
        }
        // alpaca-py calls `to_datetime()` on it: a string here breaks every msgpack client
        (Stamp::Text(_), Encoding::Msgpack) => return Err(Reason::BadTimestamp),
    };
    let millis = nanos.div_euclid(1_000_000);
    if (0..=i128::from(MAX_SAFE_INTEGER)).contains(&millis) {
        Ok((millis as u64, nanos))
    } else {
        Err(Reason::BadTimestamp)
    }
}

impl Mapper {
    pub fn new(channels: &[Channel]) -> Mapper {
        let mut wanted = [false; 5];
        for channel in channels {
            wanted[channel.index()] = true;
        }
        Mapper {
            wanted,
            symbols: HashSet::new(),
            last_bar_ms: HashMap::new(),
            after_reconnect: HashSet::new(),
        }
    }

    /// A new connection: the next bar of every symbol is checked against the last one before it.
    pub fn reconnected(&mut self) {
        self.after_reconnect = self.last_bar_ms.keys().cloned().collect();
    }

    pub fn map(&mut self, point: RawPoint, encoding: Encoding) -> Outcome {
        match self.classify(point, encoding) {
            Ok(outcome) => outcome,
            Err(reason) => Outcome::Reject(reason),
        }
    }

    fn classify(&mut self, p: RawPoint, encoding: Encoding) -> Check<Outcome> {
        if !p.is_map {
            return Err(Reason::NotAMap);
        }
        let kind = match p.kind {
            Field::Value(kind) => kind,
            _ => return Err(Reason::MissingType),
        };
        let channel = match kind {
            Kind::Bar => Channel::Bars,
            Kind::UpdatedBar => Channel::UpdatedBars,
            Kind::DailyBar => Channel::DailyBars,
            Kind::Trade => Channel::Trades,
            Kind::Quote => Channel::Quotes,
            Kind::Success => {
                return Ok(Outcome::Control(Control::Success(
                    optional(&p.msg)?.unwrap_or_default(),
                )))
            }
            Kind::Error => {
                let code = optional(&p.code)?.map_or(0, |c| count(c).unwrap_or(0));
                return Ok(Outcome::Control(Control::Error {
                    code: u16::try_from(code).unwrap_or(0),
                    msg: optional(&p.msg)?.unwrap_or_default(),
                }));
            }
            Kind::Subscription => return Ok(Outcome::Control(Control::Subscription)),
            Kind::Unmapped => return Ok(Outcome::Unmapped),
            Kind::Unknown => return Err(Reason::UnknownType),
        };
        if !self.wanted[channel.index()] {
            return Ok(Outcome::Unmapped);
        }
        let symbol = required(&p.symbol)?;
        let (millis, event_ns) = timestamp(&p.timestamp, encoding)?;
        let message = match kind {
            Kind::Trade => Market::Trade(TradeUpdate {
                price: price(&p.price)?,
                size: match required(&p.size)? {
                    s if s.is_finite() && s > 0.0 => s,
                    _ => return Err(Reason::InvalidValue),
                },
                timestamp: millis,
                trade_id: name(&p.trade_id, 64)?,
                exchange: name(&p.exchange, 16)?,
                symbol,
                schema_version: SchemaVersion::default(),
                seq: None,
                source: None,
                sent_at_us: None,
            }),
            Kind::Quote => Market::Quote(QuoteUpdate {
                bid_price: size(&p.bid_price)?,
                bid_size: size(&p.bid_size)?,
                ask_price: size(&p.ask_price)?,
                ask_size: size(&p.ask_size)?,
                timestamp: millis,
                symbol,
                schema_version: SchemaVersion::default(),
                seq: None,
                source: None,
                sent_at_us: None,
            }),
            _ => Market::Bar(BarUpdate {
                open: price(&p.open)?,
                high: price(&p.high)?,
                low: price(&p.low)?,
                close: price(&p.close)?,
                volume: size(&p.volume)?,
                timestamp: millis,
                vwap: match optional(&p.vwap)? {
                    Some(v) => Some(price(&Field::Value(v))?),
                    None => None,
                },
                trade_count: optional(&p.trade_count)?.map(count).transpose()?,
                symbol,
                schema_version: SchemaVersion::default(),
                seq: None,
                source: None,
                sent_at_us: None,
            }),
        };
        self.check_symbol(&message)?;
        let item = Item {
            channel,
            message,
            event_ns,
        };
        if kind != Kind::Bar {
            return Ok(Outcome::Publish(item));
        }
        Ok(self.sequence_bar(item, millis))
    }

    /// Keeps bars once and in order per symbol, and measures the gap across a reconnect.
    fn sequence_bar(&mut self, item: Item, millis: u64) -> Outcome {
        let Market::Bar(bar) = &item.message else {
            return Outcome::Publish(item);
        };
        let after_reconnect = self.after_reconnect.remove(&bar.symbol);
        let previous = self.last_bar_ms.get(&bar.symbol).copied();
        if previous.is_some_and(|last| millis <= last) {
            return Outcome::DuplicateBar;
        }
        self.last_bar_ms.insert(bar.symbol.clone(), millis);
        match previous {
            Some(last) if after_reconnect && millis - last > BAR_PERIOD_MS => {
                let missed = (millis - last).div_ceil(BAR_PERIOD_MS) - 1;
                Outcome::GapThenPublish { item, missed }
            }
            _ => Outcome::Publish(item),
        }
    }

    /// The contract's symbol rule, through the contract crate itself, once per distinct symbol.
    fn check_symbol(&mut self, message: &Market) -> Check<()> {
        let symbol = match message {
            Market::Bar(m) => &m.symbol,
            Market::Trade(m) => &m.symbol,
            Market::Quote(m) => &m.symbol,
        };
        if self.symbols.contains(symbol) {
            return Ok(());
        }
        let probe = TradeUpdate {
            symbol: symbol.clone(),
            price: 1.0,
            size: 1.0,
            timestamp: 0,
            trade_id: None,
            exchange: None,
            schema_version: SchemaVersion::default(),
            seq: None,
            source: None,
            sent_at_us: None,
        };
        validate(&probe).map_err(|_| Reason::InvalidSymbol)?;
        if self.symbols.len() < MAX_KNOWN_SYMBOLS {
            self.symbols.insert(symbol.clone());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
