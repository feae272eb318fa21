//! What a decoder forgives peers that follow the guide without us: the original bridge's `type` tag
//! `SignalGenerated` (always read as `Signal`) and, when a subscriber opts in, the bare `NaN`,
//! `Infinity` and `-Infinity` tokens Python's `json.dumps` writes for warm-up features.
//!
//! Both are rewrites of the raw document into the canonical one, tried only after the normal decode
//! failed, so a conforming document never pays for them.

/// The `type` tag the original Python bridge writes on every signal; read as `Signal`.
pub const SIGNAL_ALIAS: &str = "SignalGenerated";

/// What a decode had to forgive, for a subscriber's stats (`legacy`, `nan_tokens` counters).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Leniency {
    /// The document was tagged `SignalGenerated` and was read as a `Signal`.
    pub legacy_type: bool,
    /// Bare `NaN`/`Infinity` tokens inside `features` were read as null (only with
    /// [`crate::Limits::allow_nan_tokens`]).
    pub nan_tokens: bool,
}

/// Walks a JSON text and reports, outside strings, where each top-level member's value starts and
/// each byte at the depth of the top-level `features` array. Malformed input is walked as far as it
/// goes; the decoder that runs on the rewrite reports it.
struct Walk<'a> {
    bytes: &'a [u8],
}

/// One place a rewrite may touch.
enum Spot<'a> {
    /// A top-level member's value starts at this offset; `key` is the raw key text (no quotes).
    Member { key: &'a [u8], at: usize },
    /// An offset directly inside the top-level `features` array (outside strings).
    InFeatures { at: usize },
}

impl<'a> Walk<'a> {
    fn each(&self, mut visit: impl FnMut(Spot<'a>)) {
        let bytes = self.bytes;
        let (mut depth, mut at) = (0usize, 0usize);
        let mut key: Option<&'a [u8]> = None;
        let mut current: &'a [u8] = b"";
        let mut expect_key = false;
        let mut features_depth = None;
        while at < bytes.len() {
            let byte = bytes[at];
            match byte {
                b'"' => {
                    let end = string_end(bytes, at);
                    if depth == 1 && expect_key {
                        key = Some(&bytes[at + 1..end.saturating_sub(1).max(at + 1)]);
                    }
                    at = end;
                    continue;
                }
                b':' if depth == 1 => {
                    if let Some(name) = key.take() {
                        current = name;
                        expect_key = false;
                        let value = skip_whitespace(bytes, at + 1);
                        visit(Spot::Member {
                            key: name,
                            at: value,
                        });
                    }
                }
                b'{' | b'[' => {
                    depth += 1;
                    if depth == 1 {
                        expect_key = byte == b'{';
                    } else if depth == 2 && byte == b'[' && current == b"features" {
                        features_depth = Some(2);
                    }
                }
                b'}' | b']' => {
                    if features_depth == Some(depth) {
                        features_depth = None;
                    }
                    depth = depth.saturating_sub(1);
                }
                b',' if depth == 1 => {
                    expect_key = true;
                    current = b"";
                }
                _ if features_depth == Some(depth) => visit(Spot::InFeatures { at }),
                _ => {}
            }
            at += 1;
        }
    }
}

/// The offset just past the string starting at `start` (or the end of the text).
fn string_end(bytes: &[u8], start: usize) -> usize {
    let mut at = start + 1;
    while at < bytes.len() {
        match bytes[at] {
            b'\\' => at += 2,
            b'"' => return at + 1,
            _ => at += 1,
        }
    }
    bytes.len()
}

fn skip_whitespace(bytes: &[u8], mut at: usize) -> usize {
    while matches!(bytes.get(at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        at += 1;
    }
    at
}

/// `json` with its top-level `"type": "SignalGenerated"` tag written as `"Signal"`; `None` if it has
/// no such tag.
pub(crate) fn retag_signal(json: &str) -> Option<String> {
    let bytes = json.as_bytes();
    let alias = format!("\"{SIGNAL_ALIAS}\"");
    let mut spans = Vec::new();
    Walk { bytes }.each(|spot| {
        if let Spot::Member { key: b"type", at } = spot {
            if bytes[at..].starts_with(alias.as_bytes()) {
                spans.push(at);
            }
        }
    });
    if spans.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(json.len());
    let mut from = 0;
    for at in spans {
        out.push_str(&json[from..at]);
        out.push_str("\"Signal\"");
        from = at + alias.len();
    }
    out.push_str(&json[from..]);
    Some(out)
}

/// `json` with the bare `NaN`, `Infinity` and `-Infinity` tokens directly inside its top-level
/// `features` array written as `null`; `None` if there is none (such tokens elsewhere stay, and
/// stay invalid JSON).
pub(crate) fn nan_tokens_as_null(json: &[u8]) -> Option<Vec<u8>> {
    let mut spans = Vec::new();
    Walk { bytes: json }.each(|spot| {
        if let Spot::InFeatures { at } = spot {
            let rest = &json[at..];
            let token: &[u8] = [b"NaN" as &[u8], b"Infinity", b"-Infinity"]
                .into_iter()
                .find(|token| rest.starts_with(token))
                .unwrap_or(b"");
            // `Infinity` inside `-Infinity` is visited too: the span that starts first wins.
            if !token.is_empty() && spans.last().is_none_or(|&(_, end)| at >= end) {
                spans.push((at, at + token.len()));
            }
        }
    });
    if spans.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(json.len() + spans.len());
    let mut from = 0;
    for (start, end) in spans {
        out.extend_from_slice(&json[from..start]);
        out.extend_from_slice(b"null");
        from = end;
    }
    out.extend_from_slice(&json[from..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retags_only_the_top_level_tag() {
        let json = r#"{"type": "SignalGenerated", "metadata": {"type": "SignalGenerated"}, "x": "\"type\""}"#;
        assert_eq!(
            retag_signal(json).as_deref(),
            Some(r#"{"type": "Signal", "metadata": {"type": "SignalGenerated"}, "x": "\"type\""}"#)
        );
        assert_eq!(retag_signal(r#"{"type":"Signal"}"#), None);
        assert_eq!(
            retag_signal(r#"{"metadata":{"type":"SignalGenerated"}}"#),
            None
        );
    }

    #[test]
    fn nan_tokens_only_inside_top_level_features() {
        let json = br#"{"features": [NaN, 1.0, Infinity, -Infinity], "metadata": {"features": [NaN]}, "s": "NaN"}"#;
        let out = nan_tokens_as_null(json).expect("three tokens");
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#"{"features": [null, 1.0, null, null], "metadata": {"features": [NaN]}, "s": "NaN"}"#
        );
        assert_eq!(nan_tokens_as_null(br#"{"strength": NaN}"#), None);
        assert_eq!(nan_tokens_as_null(br#"{"features": [[NaN]]}"#), None);
    }
}
