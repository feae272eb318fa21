//! The v1 wire form: one ZeroMQ frame `b"<topic> <json>"`.

use crate::codec::{decode_with, encode_into, peek_tag, Limits};
use crate::error::{ContractError, ErrorCode};
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

/// Split a frame and decode its payload as the message type of its topic, with the default limits.
pub fn decode_frame(frame: &[u8]) -> Result<(Topic, Message), ContractError> {
    decode_frame_with(frame, &Limits::DEFAULT)
}

/// Split a frame and decode its payload as the message type of its topic.
///
/// A payload of another topic's type is `topic_mismatch`; a topic outside v1 is `unknown_topic`.
pub fn decode_frame_with(frame: &[u8], limits: &Limits) -> Result<(Topic, Message), ContractError> {
    let Frame { topic, payload } = split_frame(frame)?;
    let topic = Topic::parse(topic).ok_or_else(|| {
        ContractError::at_root(
            ErrorCode::UnknownTopic,
            format!("topic {topic:?} is not one of market, signal, order, system"),
        )
    })?;
    let decoded = match topic {
        Topic::Market => decode_with::<MarketMessage>(payload, limits).map(Message::from),
        Topic::Signal => decode_with::<Signal>(payload, limits).map(Message::from),
        Topic::Order => decode_with::<OrderUpdate>(payload, limits).map(Message::from),
        Topic::System => decode_with::<Heartbeat>(payload, limits).map(Message::from),
    };
    decoded
        .map(|message| (topic, message))
        .map_err(|error| mismatch_or(error, topic, payload))
}

fn topic_of_type(tag: &str) -> Option<Topic> {
    [
        (BarUpdate::TYPE, BarUpdate::TOPIC),
        (TradeUpdate::TYPE, TradeUpdate::TOPIC),
        (QuoteUpdate::TYPE, QuoteUpdate::TOPIC),
        (Signal::TYPE, Signal::TOPIC),
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
