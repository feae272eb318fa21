//! Reading a frame's routing fields (the capture's columns) without decoding its message.
//!
//! A recorder keeps every frame, whatever it holds, and files it under its topic and envelope: `source`,
//! `seq`, `type`, `symbol` and the contract version. [`peek_frame`] reads those from the plain frames a
//! bus carries (an ASCII topic, a JSON object of ASCII text with no escapes), checking the whole document
//! against the JSON grammar and skipping every other field without building it. Anything else (no topic,
//! an escape, non-ASCII text, a field of an unexpected type, a `seq` outside int64, nesting deeper than
//! `MAX_DEPTH`, JSON that does not parse) is `None`: the caller reads that frame the general way. On the
//! plain subset a strict JSON reader has no choices to make, so a `Some` here is what the SDK's msgspec
//! reading makes of the frame (a repeated field included: the last one counts); the SDK's tests compare
//! the two on odd frames.

/// The contract version of an envelope that names none (`SchemaVersion::ABSENT`).
pub const PEEK_ABSENT_VERSION: &str = "1.0";

/// A plain frame's topic and envelope routing fields, borrowed from the frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Peeked<'a> {
    pub topic: &'a str,
    pub source: Option<&'a str>,
    pub seq: Option<i64>,
    pub r#type: Option<&'a str>,
    pub symbol: Option<&'a str>,
    /// `"1.0"` when absent, `None` when the envelope says `null`
    pub schema_version: Option<&'a str>,
}

/// Nesting deeper than this is left to the general reading (bus envelopes are one or two levels deep).
const MAX_DEPTH: usize = 64;

/// A JSON reader for plain text (ASCII, no escapes: checked before), strict as RFC 8259: it checks the whole
/// document and keeps the five routing fields; `None` is any departure from the grammar or the field types.
struct Scan<'a> {
    text: &'a [u8],
    /// `text` as a `str` (ASCII, checked once): every index is a character boundary, so strings are sliced
    /// from it with no UTF-8 check of their own
    doc: &'a str,
    at: usize,
}

impl<'a> Scan<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    fn string(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let rest = &self.text[self.at..];
        let end = rest.iter().position(|&b| b == b'"' || b < 0x20)?;
        if rest[end] != b'"' {
            return None; // a control character must be escaped
        }
        self.at += end + 1;
        Some(&rest[..end])
    }

    fn digits(&mut self) -> usize {
        let count = self.text[self.at..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        self.at += count;
        count
    }

    /// A number's text, and whether it is an integer (no fraction, no exponent).
    fn number(&mut self) -> Option<(&'a [u8], bool)> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.peek()? {
            b'0' => self.at += 1,
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            self.at += 1;
            integer = false;
            if self.digits() == 0 {
                return None;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            integer = false;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if self.digits() == 0 {
                return None;
            }
        }
        Some((&self.text[start..self.at], integer))
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.text[self.at..]
            .starts_with(word)
            .then(|| self.at += word.len())
    }

    /// A string or null.
    fn text_or_null(&mut self) -> Option<Option<&'a str>> {
        if self.peek()? == b'n' {
            self.literal(b"null").map(|()| None)
        } else {
            let end = self.at;
            let value = self.string()?;
            // the string's text between its quotes, from the document already known to be UTF-8
            self.doc.get(end + 1..end + 1 + value.len()).map(Some)
        }
    }

    /// An int64 or null.
    fn integer_or_null(&mut self) -> Option<Option<i64>> {
        if self.peek()? == b'n' {
            return self.literal(b"null").map(|()| None);
        }
        let (text, integer) = self.number()?;
        if !integer {
            return None;
        }
        let (negative, digits) = match text {
            [b'-', digits @ ..] => (true, digits),
            digits => (false, digits),
        };
        // accumulate towards negative: i64::MIN has no positive counterpart
        let mut value: i64 = 0;
        for &d in digits {
            value = value.checked_mul(10)?.checked_sub(i64::from(d - b'0'))?;
        }
        if negative {
            Some(Some(value))
        } else {
            value.checked_neg().map(Some)
        }
    }

    /// Any value, checked and dropped.
    fn skip(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' | b'[' if depth >= MAX_DEPTH => None,
            b'{' => {
                self.at += 1;
                self.members(|scan, _| scan.skip(depth + 1))
            }
            b'[' => {
                self.at += 1;
                self.space();
                if self.eat(b']').is_some() {
                    return Some(());
                }
                loop {
                    self.space();
                    self.skip(depth + 1)?;
                    self.space();
                    match self.peek()? {
                        b',' => self.at += 1,
                        b']' => return self.eat(b']'),
                        _ => return None,
                    }
                }
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.number().map(drop),
        }
    }

    /// An object's members after its `{`, through its `}`: `value` reads each member's value.
    fn members(&mut self, mut value: impl FnMut(&mut Self, &'a [u8]) -> Option<()>) -> Option<()> {
        self.space();
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            self.space();
            let key = self.string()?;
            self.space();
            self.eat(b':')?;
            self.space();
            value(self, key)?;
            self.space();
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => return self.eat(b'}'),
                _ => return None,
            }
        }
    }
}

/// Whether `bytes` is text every JSON reader reads alike: ASCII with no escapes.
fn plain(bytes: &[u8]) -> bool {
    // one pass with no branch per byte (the compiler vectorises each chunk): this runs on every frame
    bytes.chunks(64).all(|chunk| {
        chunk
            .iter()
            .fold(true, |ok, &b| ok & b.is_ascii() & (b != b'\\'))
    })
}

/// The topic and routing fields of a plain frame `b"<topic> <json object>"`, or `None` when the frame is
/// not plain (see the module documentation: the caller reads it the general way).
pub fn peek_frame(frame: &[u8]) -> Option<Peeked<'_>> {
    let space = frame.iter().position(|&b| b == b' ')?;
    if space == 0 || !plain(frame) {
        return None;
    }
    let topic = std::str::from_utf8(&frame[..space]).ok()?;
    let mut peeked = Peeked {
        topic,
        schema_version: Some(PEEK_ABSENT_VERSION),
        ..Peeked::default()
    };
    let body = &frame[space + 1..];
    let mut scan = Scan {
        text: body,
        doc: std::str::from_utf8(body).ok()?,
        at: 0,
    };
    scan.space();
    scan.eat(b'{')?;
    // a repeated field: the last one counts, as in msgspec (the SDK's reading)
    scan.members(|scan, key| {
        match key {
            b"type" => peeked.r#type = scan.text_or_null()?,
            b"symbol" => peeked.symbol = scan.text_or_null()?,
            b"source" => peeked.source = scan.text_or_null()?,
            b"schema_version" => peeked.schema_version = scan.text_or_null()?,
            b"seq" => peeked.seq = scan.integer_or_null()?,
            _ => scan.skip(1)?,
        }
        Some(())
    })?;
    scan.space();
    (scan.at == scan.text.len()).then_some(peeked)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BAR: &[u8] = br#"market {"type":"BarUpdate","symbol":"AAPL","open":23.0,"high":23.01,"low":22.99,"close":23.0,"volume":35442.0,"timestamp":1735828200000,"schema_version":"1.1","seq":7,"sent_at_us":1796230944703845,"source":"py-1"}"#;

    #[test]
    fn a_bar_reads_its_routing_fields() {
        let peeked = peek_frame(BAR).unwrap();
        assert_eq!(
            peeked,
            Peeked {
                topic: "market",
                source: Some("py-1"),
                seq: Some(7),
                r#type: Some("BarUpdate"),
                symbol: Some("AAPL"),
                schema_version: Some("1.1"),
            }
        );
    }

    #[test]
    fn absent_and_null_fields() {
        let peeked = peek_frame(b"system {}").unwrap();
        assert_eq!(peeked.schema_version, Some("1.0"));
        assert_eq!(
            (peeked.seq, peeked.source, peeked.r#type),
            (None, None, None)
        );
        let peeked =
            peek_frame(br#"system {"schema_version":null,"seq":null,"a":[1,{"b":2e9}]}"#).unwrap();
        assert_eq!((peeked.schema_version, peeked.seq), (None, None));
        assert_eq!(peek_frame(b" \t{\"seq\":-0} \r\n".as_slice()), None); // empty topic
        assert_eq!(peek_frame(br#"t {"seq":-0}"#).unwrap().seq, Some(0));
        assert_eq!(peek_frame(br#"t {"seq":1,"seq":2}"#).unwrap().seq, Some(2));
        let min = peek_frame(br#"t {"seq":-9223372036854775808}"#).unwrap();
        assert_eq!(min.seq, Some(i64::MIN));
        let max = peek_frame(br#"t {"seq":9223372036854775807}"#).unwrap();
        assert_eq!(max.seq, Some(i64::MAX));
        let nested = br#"t {"a":[[],{},{"b":[true,false,null,-1.5e+3,"x"]}],"seq":4}"#;
        assert_eq!(peek_frame(nested).unwrap().seq, Some(4));
        assert_eq!(peek_frame(b"t \t{\"seq\":-7} \r\n").unwrap().seq, Some(-7));
    }

    #[test]
    fn anything_not_plain_is_left_to_the_general_reading() {
        for frame in [
            &b"market"[..],
            b" {}",
            b"market ",
            b"market []",
            b"market {} x",
            br#"market {"seq":1.0}"#,
            br#"market {"seq":01}"#,
            br#"market {"a":1.}"#,
            br#"market {"a":-}"#,
            br#"market {"a":tru}"#,
            br#"market {"a":[1 2]}"#,
            br#"market {"a" 1}"#,
            br#"market {"a":1,}"#,
            br#"market {"seq":9223372036854775808}"#,
            br#"market {"seq":-9223372036854775809}"#,
            br#"market {"type":3}"#,
            br#"market {"ty\u0070e":"X"}"#,
            "market {\"symbol\":\"\u{e9}\"}".as_bytes(),
            b"market {\"a\":\"\x01\"}",
            br#"market {"a":[1,]}"#,
        ] {
            assert_eq!(
                peek_frame(frame),
                None,
                "{}",
                String::from_utf8_lossy(frame)
            );
        }
    }
}
