//! The v1 wire form: one ZeroMQ frame `b"<topic> <json>"`, and the envelope a publisher writes into it.
//!
//! A publisher owns the envelope (`seq`, `source`, `sent_at_us`): it encodes the message without it,
//! then splices its own fields in before the closing brace ([`splice_envelope`]), which costs a few
//! bytes of copying instead of a clone of the message.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::codec::{decode_noted, encode_into, peek_tag, Limits};
use crate::error::{ContractError, ErrorCode};
use crate::lenient::{Leniency, SIGNAL_ALIAS};
use crate::messages::{
    BarUpdate, BusMessage, Heartbeat, MarketMessage, Message, OrderUpdate, QuoteUpdate, Signal,
    Topic, TradeUpdate,
};

/// A frame split at its first space. The topic is ASCII and not empty; the payload is not yet decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    pub topic: &'a str,
    pub payload: &'a [u8],
}

/// Split `frame` into topic and payload (`bad_frame` without a space, with an empty or non-ASCII topic).
pub fn split_frame(frame: &[u8]) -> Result<Frame<'_>, ContractError> {
    let space = frame.iter().position(|&b| b == b' ').ok_or_else(|| {
        ContractError::at_root(ErrorCode::BadFrame, "no space between topic and payload")
    })?;
    let topic = &frame[..space];
    if topic.is_empty() {
        return Err(ContractError::at_root(ErrorCode::BadFrame, "empty topic"));
    }
    if !topic.is_ascii() {
        return Err(ContractError::at_root(
            ErrorCode::BadFrame,
            "topic is not ASCII",
        ));
    }
    let topic = std::str::from_utf8(topic).expect("ASCII is UTF-8");
    Ok(Frame {
        topic,
        payload: &frame[space + 1..],
    })
}

/// A message that knows its topic.
pub trait Framed: serde::Serialize {
    fn topic(&self) -> Topic;
}

impl<T: BusMessage> Framed for T {
    fn topic(&self) -> Topic {
        T::TOPIC
    }
}

impl Framed for Message {
    fn topic(&self) -> Topic {
        Message::topic(self)
    }
}

impl Framed for MarketMessage {
    fn topic(&self) -> Topic {
        Topic::Market
    }
}

/// `b"<topic> <json>"` for one bus message.
pub fn encode_frame<T: Framed + ?Sized>(message: &T) -> Vec<u8> {
    let topic = message.topic().as_str();
    let mut out = Vec::with_capacity(topic.len() + 192);
    out.extend_from_slice(topic.as_bytes());
    out.push(b' ');
    encode_into(message, &mut out);
    out
}

/// The wall clock in microseconds since the Unix epoch: the `sent_at_us` a publisher writes (0 if the
/// clock is set before 1970).
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX)
        })
}

/// `,"source":"<id>"}`: the constant tail [`splice_envelope`] ends every body with (build it once per
/// publisher; `source` is JSON-escaped).
pub fn source_suffix(source: &str) -> Vec<u8> {
    let mut suffix = b",\"source\":".to_vec();
    serde_json::to_writer(&mut suffix, source).expect("a string always serializes");
    suffix.push(b'}');
    suffix
}

/// Write the publisher's envelope into `frame`, which ends with the JSON object of a message encoded
/// without one: the closing brace becomes `,"seq":<seq>,"sent_at_us":<us>,"source":"<id>"}`
/// (`sent_at_us` left out when `None`; `source_suffix` from [`source_suffix`]).
///
/// ```
/// use tradebridge_contracts::{decode_frame, encode_frame, source_suffix, splice_envelope, Heartbeat, Message};
///
/// let beat = Heartbeat { component: "engine".into(), timestamp: 1, status: None,
///                        schema_version: Default::default(), seq: None, source: None, sent_at_us: None };
/// let mut frame = encode_frame(&beat);
/// splice_envelope(&mut frame, 7, Some(1_729_530_000_123_456), &source_suffix("rs-1"));
/// let (_, Message::Heartbeat(sent)) = decode_frame(&frame)? else { unreachable!() };
/// assert_eq!((sent.seq, sent.sent_at_us, sent.source.as_deref()), (Some(7), Some(1_729_530_000_123_456), Some("rs-1")));
/// # Ok::<(), tradebridge_contracts::ContractError>(())
/// ```
pub fn splice_envelope(
    frame: &mut Vec<u8>,
    seq: u64,
    sent_at_us: Option<u64>,
    source_suffix: &[u8],
) {
    debug_assert_eq!(
        frame.last(),
        Some(&b'}'),
        "a frame ends with its JSON object"
    );
    frame.pop();
    frame.extend_from_slice(b",\"seq\":");
    write_integer(frame, seq);
    if let Some(micros) = sent_at_us {
        frame.extend_from_slice(b",\"sent_at_us\":");
        write_integer(frame, micros);
    }
    frame.extend_from_slice(source_suffix);
}

fn write_integer(out: &mut Vec<u8>, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// Split a frame and decode its payload as the message type of its topic, with the default limits.
pub fn decode_frame(frame: &[u8]) -> Result<(Topic, Message), ContractError> {
    decode_frame_with(frame, &Limits::DEFAULT)
}

/// Split a frame and decode its payload as the message type of its topic.
///
/// A payload of another topic's type is `topic_mismatch`; a topic outside v1 is `unknown_topic`.
pub fn decode_frame_with(frame: &[u8], limits: &Limits) -> Result<(Topic, Message), ContractError> {
    decode_frame_noted(frame, limits).map(|(topic, message, _)| (topic, message))
}

/// [`decode_frame_with`], also saying what the decode had to forgive: a subscriber counts
/// `leniency.legacy_type` (the `SignalGenerated` alias) and `leniency.nan_tokens` in its stats, and reads
/// its transit time from the decoded envelope (`message.sent_at_us`, see [`now_us`]).
pub fn decode_frame_noted(
    frame: &[u8],
    limits: &Limits,
) -> Result<(Topic, Message, Leniency), ContractError> {
    let Frame { topic, payload } = split_frame(frame)?;
    let topic = Topic::parse(topic).ok_or_else(|| {
        ContractError::at_root(
            ErrorCode::UnknownTopic,
            format!("topic {topic:?} is not one of market, signal, order, system"),
        )
    })?;
    fn noted<T: crate::Decode + Into<Message>>(
        payload: &[u8],
        limits: &Limits,
    ) -> Result<(Message, Leniency), ContractError> {
        decode_noted::<T>(payload, limits).map(|(message, notes)| (message.into(), notes))
    }
    let decoded = match topic {
        Topic::Market => noted::<MarketMessage>(payload, limits),
        Topic::Signal => noted::<Signal>(payload, limits),
        Topic::Order => noted::<OrderUpdate>(payload, limits),
        Topic::System => noted::<Heartbeat>(payload, limits),
    };
    decoded
        .map(|(message, notes)| (topic, message, notes))
        .map_err(|error| mismatch_or(error, topic, payload))
}

fn topic_of_type(tag: &str) -> Option<Topic> {
    [
        (BarUpdate::TYPE, BarUpdate::TOPIC),
        (TradeUpdate::TYPE, TradeUpdate::TOPIC),
        (QuoteUpdate::TYPE, QuoteUpdate::TOPIC),
        (Signal::TYPE, Signal::TOPIC),
        (SIGNAL_ALIAS, Signal::TOPIC),
        (OrderUpdate::TYPE, OrderUpdate::TOPIC),
        (Heartbeat::TYPE, Heartbeat::TOPIC),
    ]
    .into_iter()
    .find_map(|(name, topic)| (name == tag).then_some(topic))
}

fn mismatch_or(error: ContractError, topic: Topic, payload: &[u8]) -> ContractError {
    if error.code != ErrorCode::UnknownType {
        return error;
    }
    let Some(tag) = std::str::from_utf8(payload)
        .ok()
        .and_then(|json| peek_tag(json).ok().flatten())
    else {
        return error;
    };
    match topic_of_type(&tag) {
        Some(home) if home != topic => ContractError::new(
            ErrorCode::TopicMismatch,
            "$.type",
            format!(
                "{tag} travels on {:?}, not {:?}",
                home.as_str(),
                topic.as_str()
            ),
        ),
        _ => error,
    }
}
