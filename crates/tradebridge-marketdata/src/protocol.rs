//! Alpaca's market-data stream frames, decoded leniently: a frame is an array of maps keyed by `T`.
//!
//! Every element is read into a [`RawPoint`] whose fields remember *how* they arrived ([`Field`]): a
//! wrong type is consumed and marked, never an error, so one bad point costs only itself and is counted
//! with a reason by [`crate::map`]. Only undecodable bytes (truncated or invalid msgpack, broken JSON)
//! fail a frame, and then the points read before the damage are still kept.
//!
//! Times: msgpack frames carry the Timestamp extension (type -1, the 4-, 8- and 12-byte layouts of the
//! msgpack spec), read to nanoseconds; JSON frames (Alpaca's text mode) carry RFC 3339 strings.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

/// A field as it arrived: absent, nil/null, a usable value, or something of another type.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Field<T> {
    #[default]
    Absent,
    Null,
    Value(T),
    Wrong,
}

impl<T> Field<T> {
    pub fn value(&self) -> Option<&T> {
        match self {
            Field::Value(value) => Some(value),
            _ => None,
        }
    }
}

/// An instant as the stream wrote it.
#[derive(Debug, Clone, PartialEq)]
pub enum Stamp {
    /// Nanoseconds since the Unix epoch (a msgpack Timestamp extension).
    Nanos(i128),
    /// A string: RFC 3339 in JSON frames, a protocol error in msgpack frames.
    Text(String),
}

/// The `T` of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bar,
    UpdatedBar,
    DailyBar,
    Trade,
    Quote,
    Success,
    Error,
    Subscription,
    /// A type Alpaca sends that the bus has no contract for (statuses, LULDs, corrections, cancels,
    /// order books, news): skipped and counted, not an error.
    Unmapped,
    /// A `T` Alpaca does not define.
    Unknown,
}

impl Kind {
    fn parse(text: &str) -> Kind {
        match text {
            "b" => Kind::Bar,
            "u" => Kind::UpdatedBar,
            "d" => Kind::DailyBar,
            "t" => Kind::Trade,
            "q" => Kind::Quote,
            "success" => Kind::Success,
            "error" => Kind::Error,
            "subscription" => Kind::Subscription,
            "s" | "l" | "c" | "x" | "o" | "n" => Kind::Unmapped,
            _ => Kind::Unknown,
        }
    }
}

/// One element of a frame, every field Alpaca's stock messages use (`c` is a bar's close; a trade's
/// condition list arrives as [`Field::Wrong`] there and is not read).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawPoint {
    /// False when the element was not a map at all.
    pub is_map: bool,
    pub kind: Field<Kind>,
    pub symbol: Field<String>,
    pub open: Field<f64>,
    pub high: Field<f64>,
    pub low: Field<f64>,
    pub close: Field<f64>,
    pub volume: Field<f64>,
    pub timestamp: Field<Stamp>,
    pub trade_count: Field<f64>,
    pub vwap: Field<f64>,
    pub price: Field<f64>,
    pub size: Field<f64>,
    /// `i`: a number on Alpaca's wire, kept as its decimal text (the contract's `trade_id` is a string).
    pub trade_id: Field<String>,
    pub exchange: Field<String>,
    pub bid_price: Field<f64>,
    pub bid_size: Field<f64>,
    pub ask_price: Field<f64>,
    pub ask_size: Field<f64>,
    pub code: Field<f64>,
    pub msg: Field<String>,
}

/// Why a whole frame could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// Not decodable (invalid or truncated msgpack, broken JSON); the detail is the decoder's.
    Malformed(String),
    /// Decodable, but not an array of messages.
    NotAnArray,
}

/// Decode one binary (msgpack) frame, appending its elements to `out`.
pub fn decode_msgpack(bytes: &[u8], out: &mut Vec<RawPoint>) -> Result<(), FrameError> {
    let mut deserializer = rmp_serde::Deserializer::from_read_ref(bytes);
    finish(FrameSeed { out }.deserialize(&mut deserializer))
}

/// Decode one text (JSON) frame, appending its elements to `out`.
pub fn decode_json(text: &str, out: &mut Vec<RawPoint>) -> Result<(), FrameError> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    finish(FrameSeed { out }.deserialize(&mut deserializer))
}

fn finish<E: fmt::Display>(result: Result<bool, E>) -> Result<(), FrameError> {
    match result {
        Ok(true) => Ok(()),
        Ok(false) => Err(FrameError::NotAnArray),
        Err(error) => Err(FrameError::Malformed(error.to_string())),
    }
}

/// The frame: `true` for an array (its elements pushed as they are read), `false` for anything else.
struct FrameSeed<'o> {
    out: &'o mut Vec<RawPoint>,
}

impl<'de> DeserializeSeed<'de> for FrameSeed<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(self)
    }
}

/// The arms of a visitor for everything but a map: consume the value, answer `$other`.
macro_rules! consume_non_maps {
    ($other:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            IgnoredAny::deserialize(d)?;
            Ok($other)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok($other)
        }
    };
}

/// [`consume_non_maps`] without the string and nil arms (the visitor has its own).
macro_rules! consume_non_maps_except_str_unit {
    ($other:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            IgnoredAny::deserialize(d)?;
            Ok($other)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok($other)
        }
    };
}

impl<'de> Visitor<'de> for FrameSeed<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of stream messages")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        // no preallocation from the declared length: a hostile header may claim billions of elements
        while let Some(point) = seq.next_element::<RawPoint>()? {
            self.out.push(point);
        }
        Ok(true)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        IgnoredAny::deserialize(d)?;
        Ok(false)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(false)
    }
}

/// The keys this service reads; every other key's value is skipped.
enum Key {
    T,
    S,
    O,
    H,
    L,
    C,
    V,
    Time,
    N,
    Vw,
    P,
    Size,
    I,
    X,
    Bp,
    Bs,
    Ap,
    As,
    Code,
    Msg,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Key, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map key")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
                Ok(match key {
                    "T" => Key::T,
                    "S" => Key::S,
                    "o" => Key::O,
                    "h" => Key::H,
                    "l" => Key::L,
                    "c" => Key::C,
                    "v" => Key::V,
                    "t" => Key::Time,
                    "n" => Key::N,
                    "vw" => Key::Vw,
                    "p" => Key::P,
                    "s" => Key::Size,
                    "i" => Key::I,
                    "x" => Key::X,
                    "bp" => Key::Bp,
                    "bs" => Key::Bs,
                    "ap" => Key::Ap,
                    "as" => Key::As,
                    "code" => Key::Code,
                    "msg" => Key::Msg,
                    _ => Key::Other,
                })
            }
            fn visit_bytes<E: de::Error>(self, key: &[u8]) -> Result<Key, E> {
                match std::str::from_utf8(key) {
                    Ok(text) => self.visit_str(text),
                    Err(_) => Ok(Key::Other),
                }
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Key, E> {
                Ok(Key::Other)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Key, E> {
                Ok(Key::Other)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Key, E> {
                Ok(Key::Other)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Key, E> {
                Ok(Key::Other)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Key, E> {
                Ok(Key::Other)
            }
            fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
                IgnoredAny::deserialize(d)?;
                Ok(Key::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Key, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Key::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Key, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Key::Other)
            }
        }
        deserializer.deserialize_any(KeyVisitor)
    }
}

/// The `T` field, matched without allocating (it is read for every point).
struct TypeTag(Field<Kind>);

impl<'de> Deserialize<'de> for TypeTag {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<TypeTag, D::Error> {
        struct TagVisitor;
        impl<'de> Visitor<'de> for TagVisitor {
            type Value = Field<Kind>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a message type")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Field<Kind>, E> {
                Ok(Field::Value(Kind::parse(v)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Field<Kind>, E> {
                Ok(Field::Null)
            }
            consume_non_maps_except_str_unit!(Field::Wrong);
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Field<Kind>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Field::Wrong)
            }
        }
        deserializer.deserialize_any(TagVisitor).map(TypeTag)
    }
}

/// A number (msgpack int or float, JSON number).
struct Num(Field<f64>);

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Num, D::Error> {
        struct NumVisitor;
        impl<'de> Visitor<'de> for NumVisitor {
            type Value = Field<f64>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Field<f64>, E> {
                Ok(Field::Value(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Field<f64>, E> {
                Ok(Field::Value(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Field<f64>, E> {
                Ok(Field::Value(v))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Field<f64>, E> {
                Ok(Field::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Field<f64>, E> {
                Ok(Field::Null)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Field<f64>, E> {
                Ok(Field::Wrong)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Field<f64>, E> {
                Ok(Field::Wrong)
            }
            fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Field<f64>, E> {
                Ok(Field::Wrong)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Field<f64>, D::Error> {
                d.deserialize_any(self)
            }
            fn visit_newtype_struct<D: Deserializer<'de>>(
                self,
                d: D,
            ) -> Result<Field<f64>, D::Error> {
                IgnoredAny::deserialize(d)?;
                Ok(Field::Wrong)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Field<f64>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Field::Wrong)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Field<f64>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Field::Wrong)
            }
        }
        deserializer.deserialize_any(NumVisitor).map(Num)
    }
}

/// A string; with `numbers`, an integer too, as its decimal text (trade ids).
struct Text<const NUMBERS: bool>(Field<String>);

impl<'de, const NUMBERS: bool> Deserialize<'de> for Text<NUMBERS> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor<const NUMBERS: bool>;
        impl<'de, const NUMBERS: bool> Visitor<'de> for TextVisitor<NUMBERS> {
            type Value = Field<String>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Field<String>, E> {
                Ok(Field::Value(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Field<String>, E> {
                Ok(Field::Value(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Field<String>, E> {
                Ok(if NUMBERS {
                    Field::Value(v.to_string())
                } else {
                    Field::Wrong
                })
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Field<String>, E> {
                Ok(if NUMBERS {
                    Field::Value(v.to_string())
                } else {
                    Field::Wrong
                })
            }
            fn visit_unit<E: de::Error>(self) -> Result<Field<String>, E> {
                Ok(Field::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Field<String>, E> {
                Ok(Field::Null)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Field<String>, E> {
                Ok(Field::Wrong)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Field<String>, E> {
                Ok(Field::Wrong)
            }
            fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Field<String>, E> {
                Ok(Field::Wrong)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Field<String>, D::Error> {
                d.deserialize_any(self)
            }
            fn visit_newtype_struct<D: Deserializer<'de>>(
                self,
                d: D,
            ) -> Result<Field<String>, D::Error> {
                IgnoredAny::deserialize(d)?;
                Ok(Field::Wrong)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Field<String>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Field::Wrong)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Field<String>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Field::Wrong)
            }
        }
        deserializer
            .deserialize_any(TextVisitor::<NUMBERS>)
            .map(Text)
    }
}

/// The `t` field: a msgpack Timestamp extension, or a string.
struct Time(Field<Stamp>);

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Time, D::Error> {
        struct TimeVisitor;
        impl<'de> Visitor<'de> for TimeVisitor {
            type Value = Field<Stamp>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a timestamp")
            }
            fn visit_newtype_struct<D: Deserializer<'de>>(
                self,
                d: D,
            ) -> Result<Field<Stamp>, D::Error> {
                // rmp-serde hands an extension over as the sequence (type: i8, data: bytes)
                d.deserialize_any(ExtVisitor)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Field<Stamp>, E> {
                Ok(Field::Value(Stamp::Text(v.to_owned())))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Field<Stamp>, E> {
                Ok(Field::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Field<Stamp>, E> {
                Ok(Field::Null)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Field<Stamp>, E> {
                Ok(Field::Wrong)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Field<Stamp>, E> {
                Ok(Field::Wrong)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Field<Stamp>, E> {
                Ok(Field::Wrong)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Field<Stamp>, E> {
                Ok(Field::Wrong)
            }
            fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Field<Stamp>, E> {
                Ok(Field::Wrong)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Field<Stamp>, D::Error> {
                d.deserialize_any(self)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Field<Stamp>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Field::Wrong)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Field<Stamp>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Field::Wrong)
            }
        }
        deserializer.deserialize_any(TimeVisitor).map(Time)
    }
}

struct ExtVisitor;

impl<'de> Visitor<'de> for ExtVisitor {
    type Value = Field<Stamp>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a msgpack extension")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Field<Stamp>, A::Error> {
        let tag = seq.next_element::<i8>()?;
        let data = seq.next_element::<ExtData>()?;
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(match (tag, data) {
            (Some(-1), Some(ExtData(bytes))) => match timestamp_nanos(&bytes) {
                Some(nanos) => Field::Value(Stamp::Nanos(nanos)),
                None => Field::Wrong,
            },
            _ => Field::Wrong,
        })
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Field<Stamp>, E> {
        Ok(Field::Wrong)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Field<Stamp>, E> {
        Ok(Field::Wrong)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Field<Stamp>, E> {
        Ok(Field::Wrong)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Field<Stamp>, E> {
        Ok(Field::Wrong)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Field<Stamp>, E> {
        Ok(Field::Wrong)
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Field<Stamp>, E> {
        Ok(Field::Wrong)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Field<Stamp>, E> {
        Ok(Field::Wrong)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Field<Stamp>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Field::Wrong)
    }
}

/// The data bytes of an extension (a tiny buffer: timestamps are at most 12 bytes).
struct ExtData(Vec<u8>);

impl<'de> Deserialize<'de> for ExtData {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ExtData, D::Error> {
        struct DataVisitor;
        impl<'de> Visitor<'de> for DataVisitor {
            type Value = ExtData;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("extension bytes")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<ExtData, E> {
                Ok(ExtData(v.to_vec()))
            }
        }
        deserializer.deserialize_bytes(DataVisitor)
    }
}

/// The msgpack Timestamp extension's three layouts, to nanoseconds since the epoch; `None` for another
/// length or a nanosecond field of a second or more.
pub fn timestamp_nanos(data: &[u8]) -> Option<i128> {
    let (seconds, nanos): (i128, u32) = match data.len() {
        4 => (i128::from(u32::from_be_bytes(data.try_into().ok()?)), 0),
        8 => {
            let word = u64::from_be_bytes(data.try_into().ok()?);
            (i128::from(word & 0x3_ffff_ffff), (word >> 34) as u32)
        }
        12 => (
            i128::from(i64::from_be_bytes(data[4..12].try_into().ok()?)),
            u32::from_be_bytes(data[0..4].try_into().ok()?),
        ),
        _ => return None,
    };
    if nanos >= 1_000_000_000 {
        return None;
    }
    Some(seconds * 1_000_000_000 + i128::from(nanos))
}

/// The msgpack Timestamp extension data for `nanos` since the epoch (the 12-byte layout when it does not
/// fit the 8-byte one); tests and benches build frames with it.
pub fn timestamp_ext(nanos: i128) -> Vec<u8> {
    let seconds = nanos.div_euclid(1_000_000_000);
    let sub = nanos.rem_euclid(1_000_000_000) as u64;
    if (0..(1i128 << 34)).contains(&seconds) {
        ((sub << 34) | seconds as u64).to_be_bytes().to_vec()
    } else {
        let mut out = (sub as u32).to_be_bytes().to_vec();
        out.extend_from_slice(&(seconds as i64).to_be_bytes());
        out
    }
}

/// Nanoseconds since the epoch of an RFC 3339 text, if it is one.
pub fn parse_rfc3339(text: &str) -> Option<i128> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(time::OffsetDateTime::unix_timestamp_nanos)
}

impl<'de> Deserialize<'de> for RawPoint {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<RawPoint, D::Error> {
        deserializer.deserialize_any(PointVisitor)
    }
}

struct PointVisitor;

impl<'de> Visitor<'de> for PointVisitor {
    type Value = RawPoint;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a stream message (a map)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawPoint, A::Error> {
        let mut p = RawPoint {
            is_map: true,
            ..RawPoint::default()
        };
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::T => p.kind = map.next_value::<TypeTag>()?.0,
                Key::S => p.symbol = map.next_value::<Text<false>>()?.0,
                Key::O => p.open = map.next_value::<Num>()?.0,
                Key::H => p.high = map.next_value::<Num>()?.0,
                Key::L => p.low = map.next_value::<Num>()?.0,
                Key::C => p.close = map.next_value::<Num>()?.0,
                Key::V => p.volume = map.next_value::<Num>()?.0,
                Key::Time => p.timestamp = map.next_value::<Time>()?.0,
                Key::N => p.trade_count = map.next_value::<Num>()?.0,
                Key::Vw => p.vwap = map.next_value::<Num>()?.0,
                Key::P => p.price = map.next_value::<Num>()?.0,
                Key::Size => p.size = map.next_value::<Num>()?.0,
                Key::I => p.trade_id = map.next_value::<Text<true>>()?.0,
                Key::X => p.exchange = map.next_value::<Text<false>>()?.0,
                Key::Bp => p.bid_price = map.next_value::<Num>()?.0,
                Key::Bs => p.bid_size = map.next_value::<Num>()?.0,
                Key::Ap => p.ask_price = map.next_value::<Num>()?.0,
                Key::As => p.ask_size = map.next_value::<Num>()?.0,
                Key::Code => p.code = map.next_value::<Num>()?.0,
                Key::Msg => p.msg = map.next_value::<Text<false>>()?.0,
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(p)
    }

    consume_non_maps!(RawPoint::default());
}

#[cfg(test)]
mod tests;
