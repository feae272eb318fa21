//! A blocking client for the subset of Alpaca's trading REST API the engine needs, by concern:
//! `wire` Alpaca's bodies, `errors` what can fail, `client` the HTTP client. The access rules it applies
//! (`url` the paper-only rule, `credentials` where keys come from) live in `tradebridge-access`, shared
//! with `market-data`.
//!
//! Paper only, forced: [`BrokerUrl::parse`] accepts Alpaca's paper endpoint or a loopback address (our
//! mock broker) and refuses everything else with a stable code before any request is made. The rule,
//! the credential precedence and the retry schedule (`crate::retry`) are the Python adapter's too,
//! proved by `conformance/vectors/broker_access`. Secrets live in [`Credentials`], whose `Debug` never
//! shows them.

mod client;
mod errors;
mod wire;

use tradebridge_access::{credentials, url};

pub use client::{BrokerClient, BrokerStats};
pub use credentials::{Credentials, CredentialsError, CREDENTIAL_FAMILIES};
pub use errors::BrokerError;
pub use url::{BrokerUrl, UrlError, UrlRefusal, ALPACA_PAPER_URL};
pub use wire::{is_final_status, BrokerOrder, BrokerPosition, OrderRequest};

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn credentials_never_print() {
        let env = |k: &str| match k {
            "ALPACA_API_KEY" => Some("PKTESTKEY".to_owned()),
            "ALPACA_SECRET_KEY" => Some("s3cr3t".to_owned()),
            _ => None,
        };
        let creds = Credentials::from_lookup(env).unwrap();
        let shown = format!("{creds:?}");
        assert!(!shown.contains("PKTESTKEY") && !shown.contains("s3cr3t"));
        let client = BrokerClient::new(
            BrokerUrl::parse("http://127.0.0.1:1").unwrap(),
            creds,
            Duration::from_secs(1),
        );
        assert!(!format!("{client:?}").contains("s3cr3t"));
        assert!(Credentials::from_lookup(|_| None).is_err());
        // The guide's names win when both sets are present.
        let both = |k: &str| Some(format!("{k}-value"));
        let creds = Credentials::from_lookup(both).unwrap();
        assert_eq!(creds.key_id(), "ALPACA_API_KEY-value");
    }
}
