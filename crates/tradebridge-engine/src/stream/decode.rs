//! The frames of Alpaca's trade-updates stream (`/stream`), as the engine reads them: one JSON object per
//! frame (binary at Alpaca paper, text elsewhere), `{"stream": ..., "data": {...}}`.

use serde::Deserialize;

use crate::broker::BrokerOrder;

/// One order event: `new`, `partial_fill`, `fill`, `canceled`, ... with the order's REST snapshot taken
/// when it happened.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct TradeUpdate {
    pub event: String,
    pub order: BrokerOrder,
    /// The broker's own time of the event (RFC 3339).
    #[serde(default)]
    pub timestamp: Option<String>,
    #[serde(default)]
    pub execution_id: Option<String>,
}

/// What one frame says.
#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    /// The reply to `auth` (or to a `listen` sent before it).
    Authorization {
        authorized: bool,
    },
    /// The reply to `listen`: the streams now listened to.
    Listening {
        streams: Vec<String>,
    },
    Update(Box<TradeUpdate>),
    /// `{"stream":"error"}`: the server's complaint about the last request.
    Error {
        code: Option<u64>,
        message: String,
    },
    /// A stream the engine does not read (kept quiet: Alpaca may add some).
    Other(String),
}

/// Why a frame could not be read. The text never includes the frame itself (it could be anything).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DecodeError {
    #[error("not a JSON object with a `stream`: {0}")]
    NotJson(String),
    #[error("a trade_updates frame without a usable order: {0}")]
    BadUpdate(String),
}

impl DecodeError {
    /// The stable name counted in metrics.
    pub fn code(&self) -> &'static str {
        match self {
            DecodeError::NotJson(_) => "malformed_frame",
            DecodeError::BadUpdate(_) => "malformed_update",
        }
    }
}

#[derive(Deserialize)]
struct Envelope {
    stream: String,
    #[serde(default)]
    data: serde_json::Value,
}

pub fn decode(bytes: &[u8]) -> Result<Frame, DecodeError> {
    let envelope: Envelope =
        serde_json::from_slice(bytes).map_err(|e| DecodeError::NotJson(e.to_string()))?;
    let data = envelope.data;
    Ok(match envelope.stream.as_str() {
        "authorization" => Frame::Authorization {
            authorized: data.get("status").and_then(|s| s.as_str()) == Some("authorized"),
        },
        "listening" => Frame::Listening {
            streams: data
                .get("streams")
                .and_then(|s| s.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
        },
        "trade_updates" => Frame::Update(Box::new(
            serde_json::from_value(data).map_err(|e| DecodeError::BadUpdate(e.to_string()))?,
        )),
        "error" => Frame::Error {
            code: data.get("code").and_then(|c| c.as_u64()),
            message: data
                .get("error_message")
                .or_else(|| data.get("message"))
                .and_then(|m| m.as_str())
                .unwrap_or("")
                .to_owned(),
        },
        other => Frame::Other(other.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handshake_replies() {
        let ok =
            br#"{"stream":"authorization","data":{"status":"authorized","action":"authenticate"}}"#;
        assert_eq!(decode(ok), Ok(Frame::Authorization { authorized: true }));
        let no =
            br#"{"stream":"authorization","data":{"status":"unauthorized","action":"listen"}}"#;
        assert_eq!(decode(no), Ok(Frame::Authorization { authorized: false }));
        let listening = br#"{"stream":"listening","data":{"streams":["trade_updates"]}}"#;
        assert_eq!(
            decode(listening),
            Ok(Frame::Listening {
                streams: vec!["trade_updates".into()]
            })
        );
        let error = br#"{"stream":"error","data":{"code":400,"error_message":"invalid syntax"}}"#;
        assert_eq!(
            decode(error),
            Ok(Frame::Error {
                code: Some(400),
                message: "invalid syntax".into()
            })
        );
    }

    #[test]
    fn a_fill_as_alpaca_sends_it() {
        let frame = br#"{"stream":"trade_updates","data":{"event":"fill","execution_id":"2f63",
            "timestamp":"2022-04-19T17:45:05.024916716Z","price":"105.89","qty":"2","position_qty":"2",
            "order":{"id":"o-1","client_order_id":"tb-s1","symbol":"AAPL","side":"buy","qty":"2",
            "filled_qty":"2","filled_avg_price":"105.89","status":"filled","type":"market",
            "time_in_force":"day","submitted_at":"2022-04-19T17:45:05Z","extra":null}}}"#;
        let Ok(Frame::Update(update)) = decode(frame) else {
            panic!("not an update")
        };
        assert_eq!(update.event, "fill");
        assert_eq!(update.order.id, "o-1");
        assert_eq!(update.order.filled(), 2.0);
        assert!(update.order.is_final());
        assert_eq!(update.execution_id.as_deref(), Some("2f63"));
    }

    #[test]
    fn bad_frames_are_typed_errors() {
        assert_eq!(decode(b"not json").unwrap_err().code(), "malformed_frame");
        assert_eq!(decode(b"[1,2]").unwrap_err().code(), "malformed_frame");
        let no_order = br#"{"stream":"trade_updates","data":{"event":"fill"}}"#;
        assert_eq!(decode(no_order).unwrap_err().code(), "malformed_update");
        assert_eq!(
            decode(br#"{"stream":"news","data":{}}"#),
            Ok(Frame::Other("news".into()))
        );
    }
}
