//! A single-pass reader for the common shape of a `BarUpdate` (a flat object of known keys, strings
//! without escapes, plain numbers), the hot message of the market topic.
//!
//! It only ever answers "here is the valid message" or "not sure": anything unusual (an unknown or
//! repeated key, an escape, `null`, a negative or zero number, a rule violation, trailing bytes) returns
//! `None` and the caller decodes with serde_json, so errors, their codes and paths are serde's alone.
//! Every accepted value passes the same [`Rule`] checks as the serde path. Numbers are correctly
//! rounded (Clinger's exact fast path for short ones, the standard library's parser otherwise), and a
//! correctly rounded result is unique, so the bits equal serde_json's `float_roundtrip` parse.
//!
//! It reads raw bytes, before the UTF-8 and depth checks: it accepts only ASCII outside strings and
//! checks every string it keeps, and a flat object has depth 1, so those checks could not fail.

use crate::messages::BarUpdate;
use crate::rules::{Name64, Price, Rule, SafeInteger, Size, Symbol};
use crate::version::SchemaVersion;

/// The message if `json` is a valid `BarUpdate` in the common shape; `None` means "ask serde_json".
pub(crate) fn bar_update(json: &[u8]) -> Option<BarUpdate> {
    let mut reader = Reader::new(json);
    let mut fields = BarFields::default();
    reader.skip_whitespace();
    reader.expect(b'{')?;
    reader.skip_whitespace();
    if reader.peek()? != b'}' {
        loop {
            let key = reader.plain_bytes()?;
            reader.skip_whitespace();
            reader.expect(b':')?;
            reader.skip_whitespace();
            fields.read(key, &mut reader)?;
            reader.skip_whitespace();
            match reader.next()? {
                b',' => reader.skip_whitespace(),
                b'}' => break,
                _ => return None,
            }
        }
    } else {
        reader.at += 1;
    }
    reader.skip_whitespace();
    if reader.at != reader.bytes.len() {
        return None;
    }
    fields.finish()
}

#[derive(Default)]
struct BarFields<'a> {
    tagged: bool,
    symbol: Option<&'a str>,
    open: Option<f64>,
    high: Option<f64>,
    low: Option<f64>,
    close: Option<f64>,
    volume: Option<f64>,
    timestamp: Option<u64>,
    vwap: Option<f64>,
    trade_count: Option<u64>,
    schema_version: Option<&'a str>,
    seq: Option<u64>,
    source: Option<&'a str>,
    sent_at_us: Option<u64>,
}

impl<'a> BarFields<'a> {
    /// Read the value of `key`; `None` for an unknown or repeated key or an unusual value.
    fn read(&mut self, key: &[u8], reader: &mut Reader<'a>) -> Option<()> {
        fn once<T>(slot: &mut Option<T>, value: Option<T>) -> Option<()> {
            if slot.is_some() {
                return None;
            }
            *slot = Some(value?);
            Some(())
        }
        match key {
            b"type" => {
                if self.tagged || reader.plain_bytes()? != b"BarUpdate" {
                    return None;
                }
                self.tagged = true;
                Some(())
            }
            b"symbol" => once(&mut self.symbol, reader.plain_string()),
            b"open" => once(&mut self.open, reader.price::<Price>()),
            b"high" => once(&mut self.high, reader.price::<Price>()),
            b"low" => once(&mut self.low, reader.price::<Price>()),
            b"close" => once(&mut self.close, reader.price::<Price>()),
            b"volume" => once(&mut self.volume, reader.price::<Size>()),
            b"timestamp" => once(&mut self.timestamp, reader.safe_integer()),
            b"vwap" => once(&mut self.vwap, reader.price::<Price>()),
            b"trade_count" => once(&mut self.trade_count, reader.safe_integer()),
            b"schema_version" => once(&mut self.schema_version, reader.plain_string()),
            b"seq" => once(&mut self.seq, reader.safe_integer()),
            b"source" => once(&mut self.source, reader.plain_string()),
            b"sent_at_us" => once(&mut self.sent_at_us, reader.safe_integer()),
            _ => None,
        }
    }

    fn finish(self) -> Option<BarUpdate> {
        if !self.tagged {
            return None;
        }
        let symbol = self.symbol?.to_owned();
        Symbol::check(&symbol).ok()?;
        let source = match self.source {
            Some(text) => {
                let text = text.to_owned();
                Name64::check(&text).ok()?;
                Some(text)
            }
            None => None,
        };
        let schema_version = match self.schema_version {
            Some(text) => SchemaVersion::parse(text).ok()?,
            None => SchemaVersion::ABSENT,
        };
        Some(BarUpdate {
            symbol,
            open: self.open?,
            high: self.high?,
            low: self.low?,
            close: self.close?,
            volume: self.volume?,
            timestamp: self.timestamp?,
            vwap: self.vwap,
            trade_count: self.trade_count,
            schema_version,
            seq: self.seq,
            source,
            sent_at_us: self.sent_at_us,
        })
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

/// Powers of ten that are exact in an f64.
const EXACT_POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// A JSON number token, non-negative, read in one pass.
struct Number<'a> {
    token: &'a [u8],
    /// The digits without the dot, if there are at most 19 of them (so they fit a u64).
    mantissa: Option<u64>,
    /// How many digits the mantissa has (leading zeros included).
    digits: usize,
    /// The power of ten to scale the mantissa by, if the exponent is small.
    exponent: Option<i32>,
    is_integer: bool,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, at: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.next()? == byte).then_some(())
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// A string without escapes or control characters (those are left to serde_json).
    fn plain_string(&mut self) -> Option<&'a str> {
        // The document is not UTF-8 checked yet; outside strings only ASCII is accepted, so checking
        // every string that is kept makes the whole document valid UTF-8.
        std::str::from_utf8(self.plain_bytes()?).ok()
    }

    /// The body of a plain string, for comparing with ASCII names (no match unless it is valid).
    fn plain_bytes(&mut self) -> Option<&'a [u8]> {
        self.expect(b'"')?;
        let start = self.at;
        let length = self.bytes[start..]
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        let end = start + length;
        if self.bytes[end] != b'"' {
            return None;
        }
        self.at = end + 1;
        Some(&self.bytes[start..end])
    }

    /// Digits from here on, folded into `mantissa` (wrapping; callers bound the count).
    fn digits(&mut self, mantissa: &mut u64) -> usize {
        let from = self.at;
        while let Some(&byte @ b'0'..=b'9') = self.bytes.get(self.at) {
            *mantissa = mantissa
                .wrapping_mul(10)
                .wrapping_add(u64::from(byte - b'0'));
            self.at += 1;
        }
        self.at - from
    }

    /// A non-negative JSON number: `0` or no leading zero, then an optional fraction and exponent.
    fn number(&mut self) -> Option<Number<'a>> {
        let start = self.at;
        let mut mantissa = 0u64;
        let integer = self.digits(&mut mantissa);
        if integer == 0 || (integer > 1 && self.bytes[start] == b'0') {
            return None;
        }
        let mut fraction = 0;
        if self.peek() == Some(b'.') {
            self.at += 1;
            fraction = self.digits(&mut mantissa);
            if fraction == 0 {
                return None;
            }
        }
        let mut explicit: Option<i32> = Some(0);
        let mut has_exponent = false;
        if matches!(self.peek(), Some(b'e' | b'E')) {
            has_exponent = true;
            self.at += 1;
            let negative = match self.peek() {
                Some(b'-') => {
                    self.at += 1;
                    true
                }
                Some(b'+') => {
                    self.at += 1;
                    false
                }
                _ => false,
            };
            let mut value = 0u64;
            let count = self.digits(&mut value);
            if count == 0 {
                return None;
            }
            explicit = (count <= 4).then(|| {
                let value = value as i32;
                if negative {
                    -value
                } else {
                    value
                }
            });
        }
        let digits = integer + fraction;
        Some(Number {
            token: &self.bytes[start..self.at],
            mantissa: (digits <= 19).then_some(mantissa),
            digits,
            exponent: explicit.map(|e| e - fraction as i32),
            is_integer: fraction == 0 && !has_exponent,
        })
    }

    /// A finite number > 0 that passes rule `R`. Zero (and so underflow) and negatives go to serde.
    fn price<R: Rule<Value = f64>>(&mut self) -> Option<f64> {
        let number = self.number()?;
        let value = match (number.mantissa, number.exponent) {
            // Clinger's fast path: an exact mantissa times or over an exact power of ten is one
            // correctly rounded operation, so it equals every correct parser's answer.
            (Some(mantissa), Some(exponent))
                if number.digits <= 15 && (-22..=22).contains(&exponent) =>
            {
                let mantissa = mantissa as f64;
                let power = EXACT_POWERS_OF_TEN[exponent.unsigned_abs() as usize];
                if exponent < 0 {
                    mantissa / power
                } else {
                    mantissa * power
                }
            }
            _ => std::str::from_utf8(number.token).ok()?.parse().ok()?,
        };
        if !(value.is_finite() && value > 0.0) {
            return None;
        }
        R::check(&value).ok()?;
        Some(value)
    }

    /// An integer token of at most 16 digits within the safe-integer rule.
    fn safe_integer(&mut self) -> Option<u64> {
        let number = self.number()?;
        if !number.is_integer || number.digits > 16 {
            return None;
        }
        let value = number.mantissa?;
        SafeInteger::check(&value).ok()?;
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::bar_update;

    const BAR: &str = r#"{"type":"BarUpdate","symbol":"AAPL","open":150.0,"high":152.5,"low":149.5,"close":151.0,"volume":1000000.0,"timestamp":1729530000123,"schema_version":"1.0"}"#;

    #[test]
    fn reads_the_common_shape() {
        let bar = bar_update(BAR.as_bytes()).expect("the encoder's own output is the common shape");
        assert_eq!(
            (bar.symbol.as_str(), bar.high, bar.timestamp),
            ("AAPL", 152.5, 1729530000123)
        );
        let spaced = r#" { "symbol" : "BRK.B", "type": "BarUpdate", "open": 1, "high": 2e0, "low": 0.5,
            "close": 1.5, "volume": 0.25, "timestamp": 0, "vwap": 1.25, "trade_count": 3, "seq": 9,
            "source": "feed-é", "schema_version": "1.3", "sent_at_us": 1729530000123456 } "#;
        let bar = bar_update(spaced.as_bytes()).expect("whitespace and key order are ordinary");
        assert_eq!(
            (
                bar.open,
                bar.seq,
                bar.schema_version.as_str(),
                bar.sent_at_us
            ),
            (1.0, Some(9), "1.3", Some(1729530000123456))
        );
    }

    #[test]
    fn leaves_anything_unusual_to_serde() {
        for unusual in [
            BAR.replace("\"AAPL\"", "\"AA\\u0050L\""),
            BAR.replace("\"open\"", "\"extra\":1,\"open\""),
            BAR.replace("\"high\":152.5", "\"high\":152.5,\"high\":1"),
            BAR.replace("1000000.0", "0"),
            BAR.replace("1000000.0", "-0"),
            BAR.replace("150.0", "1e400"),
            BAR.replace("150.0", "0150"),
            BAR.replace("1729530000123", "9007199254740992"),
            BAR.replace("1729530000123", "1.0"),
            BAR.replace("\"1.0\"", "\"2.0\""),
            BAR.replace("\"type\":\"BarUpdate\",", ""),
            format!("{BAR} x"),
        ] {
            assert!(bar_update(unusual.as_bytes()).is_none(), "{unusual}");
        }
    }
}
