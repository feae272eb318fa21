//! The paper-only rule for broker origins, the same rule as Python's `tradebridge.alpaca` (proved by the
//! vectors in `conformance/vectors/broker_access/urls`, whose README states it in full).
//!
//! Accepted: `https://paper-api.alpaca.markets` (port none or 443), or `http(s)://` a loopback host: the
//! dotted-quad decimal literal of an address in 127.0.0.0/8, `[::1]` or `localhost`, any port. A path of
//! `/` or `/v2` is dropped; anything else is refused with a stable code. The check reads the raw text:
//! URL parsers normalise `127.1`, `0x7f.0.0.1` or `PAPER-API.alpaca.markets` into something that looks
//! harmless, and different resolvers disagree about those forms, so they never reach one.

use std::fmt;
use std::net::Ipv6Addr;

/// Alpaca's paper trading origin.
pub const ALPACA_PAPER_URL: &str = "https://paper-api.alpaca.markets";

const PAPER_HOST: &str = "paper-api.alpaca.markets";

/// A broker origin that passed the paper-only check (no trailing slash, no `/v2`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerUrl(String);

/// Why a broker URL was refused. [`UrlRefusal::code`] is the stable name both languages report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UrlRefusal {
    /// Not `scheme://authority[path]`, whitespace or control characters inside, an empty host, a broken
    /// IPv6 literal.
    MalformedUrl,
    /// Not http(s); or plain http to the paper host.
    BadScheme,
    /// `user[:password]@` in the authority.
    Userinfo,
    /// A path other than `/` or `/v2`, a query or a fragment.
    BadPath,
    /// A port that is not 1-65535 in plain decimal, or a port other than 443 on the paper host.
    BadPort,
    /// A numeric host that is not a dotted-quad decimal (`127.1`, `0x7f.0.0.1`, `2130706433`,
    /// `127.0.0.1.`), or `::1` spelled another way.
    NonCanonicalIp,
    /// Neither the paper host nor loopback (live Alpaca, look-alikes, other addresses).
    NotPaperHost,
}

impl UrlRefusal {
    pub const ALL: [UrlRefusal; 7] = [
        UrlRefusal::MalformedUrl,
        UrlRefusal::BadScheme,
        UrlRefusal::Userinfo,
        UrlRefusal::BadPath,
        UrlRefusal::BadPort,
        UrlRefusal::NonCanonicalIp,
        UrlRefusal::NotPaperHost,
    ];

    pub fn code(self) -> &'static str {
        match self {
            UrlRefusal::MalformedUrl => "malformed_url",
            UrlRefusal::BadScheme => "bad_scheme",
            UrlRefusal::Userinfo => "userinfo",
            UrlRefusal::BadPath => "bad_path",
            UrlRefusal::BadPort => "bad_port",
            UrlRefusal::NonCanonicalIp => "non_canonical_ip",
            UrlRefusal::NotPaperHost => "not_paper_host",
        }
    }

    fn explain(self) -> &'static str {
        match self {
            UrlRefusal::MalformedUrl => "not http(s)://host[:port]",
            UrlRefusal::BadScheme => "http or https only, and https for the paper host",
            UrlRefusal::Userinfo => "credentials in the URL are not accepted",
            UrlRefusal::BadPath => "an origin only (an optional / or /v2, no query or fragment)",
            UrlRefusal::BadPort => "port 1-65535 in decimal, and 443 for the paper host",
            UrlRefusal::NonCanonicalIp => {
                "IP literals must be dotted-quad decimal (IPv4) or exactly [::1]"
            }
            UrlRefusal::NotPaperHost => "paper trading only",
        }
    }
}

/// A refused broker URL. The text shows the URL without userinfo, query or fragment.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
#[error("refusing broker URL {shown:?} [{}]: {}; use {ALPACA_PAPER_URL} or a loopback address", .reason.code(), .reason.explain())]
pub struct UrlError {
    pub reason: UrlRefusal,
    shown: String,
}

impl UrlError {
    fn new(reason: UrlRefusal, input: &str) -> Self {
        UrlError {
            reason,
            shown: redacted(input),
        }
    }

    pub fn code(&self) -> &'static str {
        self.reason.code()
    }
}

/// The input cut to what is safe to print: no `user:password@`, no query or fragment (tokens live there).
fn redacted(input: &str) -> String {
    let text = input.trim();
    let (head, rest) = match text.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), text),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rfind('@') {
        Some(at) => format!("***@{}", &authority[at + 1..]),
        None => authority.to_owned(),
    };
    let path = tail.split(['?', '#']).next().unwrap_or_default();
    format!("{head}{authority}{path}")
        .chars()
        .take(120)
        .collect()
}

enum Host {
    Paper,
    Loopback(String),
}

impl BrokerUrl {
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        parse_origin(url).map_err(|reason| UrlError::new(reason, url))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_loopback(&self) -> bool {
        self.0 != ALPACA_PAPER_URL
    }
}

fn parse_origin(input: &str) -> Result<BrokerUrl, UrlRefusal> {
    use UrlRefusal::*;
    let text = input.trim_matches([' ', '\t', '\n', '\r', '\x0c']);
    if text.is_empty()
        || text
            .chars()
            .any(|c| c.is_ascii_control() || c == ' ' || c == '\\')
    {
        return Err(MalformedUrl);
    }
    let (scheme, rest) = text.split_once("://").ok_or(MalformedUrl)?;
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return Err(MalformedUrl);
    }
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(BadScheme);
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if authority.contains('@') {
        return Err(Userinfo);
    }
    if !matches!(tail, "" | "/" | "/v2" | "/v2/") {
        return Err(BadPath);
    }
    let (host, port, bracketed) = split_authority(authority)?;
    let port = port.map(parse_port).transpose()?;
    let host = classify(host, bracketed)?;
    let origin = match host {
        Host::Paper if scheme != "https" => return Err(BadScheme),
        Host::Paper if !matches!(port, None | Some(443)) => return Err(BadPort),
        Host::Paper => ALPACA_PAPER_URL.to_owned(),
        Host::Loopback(host) => match port {
            Some(port) => format!("{scheme}://{host}:{port}"),
            None => format!("{scheme}://{host}"),
        },
    };
    Ok(BrokerUrl(origin))
}

/// `(host, port text, bracketed)`; brackets are removed from an IPv6 literal.
fn split_authority(authority: &str) -> Result<(&str, Option<&str>, bool), UrlRefusal> {
    let (host, port, bracketed) = match authority.strip_prefix('[') {
        Some(inner) => {
            let (host, after) = inner.split_once(']').ok_or(UrlRefusal::MalformedUrl)?;
            let port = match after {
                "" => None,
                _ => Some(after.strip_prefix(':').ok_or(UrlRefusal::MalformedUrl)?),
            };
            (host, port, true)
        }
        None => match authority.split_once(':') {
            Some((host, port)) => (host, Some(port), false),
            None => (authority, None, false),
        },
    };
    if host.is_empty() || (!bracketed && host.contains(['[', ']'])) {
        return Err(UrlRefusal::MalformedUrl);
    }
    Ok((host, port, bracketed))
}

/// Plain decimal 1-65535, no sign, no leading zero (`:0443` is a different text for the same port).
fn parse_port(text: &str) -> Result<u16, UrlRefusal> {
    let plain = !text.is_empty()
        && text.len() <= 5
        && text.bytes().all(|b| b.is_ascii_digit())
        && !text.starts_with('0');
    plain
        .then(|| text.parse::<u16>().ok())
        .flatten()
        .ok_or(UrlRefusal::BadPort)
}

fn classify(host: &str, bracketed: bool) -> Result<Host, UrlRefusal> {
    if bracketed {
        if host == "::1" {
            return Ok(Host::Loopback("[::1]".to_owned()));
        }
        // `%` (a zone id) is refused here: the standard parser does not take one either.
        let address: Ipv6Addr = host.parse().map_err(|_| UrlRefusal::MalformedUrl)?;
        return Err(if address == Ipv6Addr::LOCALHOST {
            UrlRefusal::NonCanonicalIp
        } else {
            UrlRefusal::NotPaperHost
        });
    }
    let host = host.to_ascii_lowercase();
    if ends_in_a_number(&host) {
        return match dotted_quad(&host) {
            Some([127, ..]) => Ok(Host::Loopback(host)),
            Some(_) => Err(UrlRefusal::NotPaperHost),
            None => Err(UrlRefusal::NonCanonicalIp),
        };
    }
    match host.as_str() {
        "localhost" => Ok(Host::Loopback(host)),
        PAPER_HOST => Ok(Host::Paper),
        _ => Err(UrlRefusal::NotPaperHost),
    }
}

/// WHATWG's test for "this host is an IPv4 address": its last label (one trailing dot ignored) is
/// decimal digits or `0x` and hex digits. Such a host is never looked up as a name.
fn ends_in_a_number(host: &str) -> bool {
    let trimmed = host.strip_suffix('.').unwrap_or(host);
    let last = trimmed.rsplit('.').next().unwrap_or_default();
    let decimal = !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit());
    let hex = last
        .strip_prefix("0x")
        .is_some_and(|digits| digits.bytes().all(|b| b.is_ascii_hexdigit()));
    decimal || hex
}

/// Four decimal octets, no leading zeros, no trailing dot: the one spelling every resolver reads alike.
fn dotted_quad(host: &str) -> Option<[u8; 4]> {
    let mut octets = [0u8; 4];
    let mut labels = host.split('.');
    for octet in &mut octets {
        let label = labels.next()?;
        let canonical = (1..=3).contains(&label.len())
            && label.bytes().all(|b| b.is_ascii_digit())
            && (label == "0" || !label.starts_with('0'));
        if !canonical {
            return None;
        }
        *octet = label.parse().ok()?;
    }
    labels.next().is_none().then_some(octets)
}

impl fmt::Display for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(url: &str) -> &'static str {
        BrokerUrl::parse(url).map_or_else(|e| e.code(), |_| "accepted")
    }

    #[test]
    fn paper_and_loopback_urls_are_accepted() {
        for (input, origin) in [
            ("https://paper-api.alpaca.markets", ALPACA_PAPER_URL),
            ("https://paper-api.alpaca.markets/", ALPACA_PAPER_URL),
            ("https://paper-api.alpaca.markets/v2", ALPACA_PAPER_URL),
            ("HTTPS://Paper-API.alpaca.markets:443", ALPACA_PAPER_URL),
            ("http://127.0.0.1:8090", "http://127.0.0.1:8090"),
            ("http://127.0.0.1:9/", "http://127.0.0.1:9"),
            ("http://LOCALHOST:1234", "http://localhost:1234"),
            ("http://[::1]:99", "http://[::1]:99"),
        ] {
            assert_eq!(BrokerUrl::parse(input).unwrap().as_str(), origin, "{input}");
        }
        assert!(!BrokerUrl::parse(ALPACA_PAPER_URL).unwrap().is_loopback());
    }

    #[test]
    fn live_foreign_and_disguised_urls_are_refused_with_their_code() {
        for (input, expected) in [
            ("https://api.alpaca.markets", "not_paper_host"),
            ("http://paper-api.alpaca.markets", "bad_scheme"),
            (
                "https://paper-api.alpaca.markets.evil.example",
                "not_paper_host",
            ),
            ("https://evil.com/?x=paper-api.alpaca.markets", "bad_path"),
            ("http://127.0.0.1.example.com", "not_paper_host"),
            ("http://127.1:8090", "non_canonical_ip"),
            ("http://0x7f.0.0.1", "non_canonical_ip"),
            ("http://[::ffff:127.0.0.1]", "not_paper_host"),
            ("http://[0:0:0:0:0:0:0:1]", "non_canonical_ip"),
            ("http://user:pw@127.0.0.1", "userinfo"),
            ("ftp://127.0.0.1", "bad_scheme"),
            ("https://paper-api.alpaca.markets:8443", "bad_port"),
            ("api.alpaca.markets", "malformed_url"),
        ] {
            assert_eq!(code(input), expected, "{input}");
        }
    }

    #[test]
    fn refusals_never_print_userinfo_or_queries() {
        let error = BrokerUrl::parse("http://key:s3cr3t@127.0.0.1:1/x?token=t0k").unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("[userinfo]") && text.contains("***@127.0.0.1:1"),
            "{text}"
        );
        assert!(!text.contains("s3cr3t") && !text.contains("t0k"), "{text}");
    }
}
