//! Broker credentials: where they come from (the same precedence as Python's
//! `tradebridge.alpaca.resolve_credentials`, proved by `conformance/vectors/broker_access/credentials`),
//! and never printed.
//!
//! Sources in order: the process environment, then a `.env` file. Within a source, the guide's names
//! (`ALPACA_API_KEY`/`ALPACA_SECRET_KEY`) before Alpaca's (`APCA_API_KEY_ID`/`APCA_API_SECRET_KEY`). The
//! first source holding any of these variables decides, and in it the first family holding any: a
//! complete pair is used, a half pair is refused, never completed from another family or source.

use std::fmt;

/// The two variable families, in precedence order: `(key variable, secret variable)`.
pub const CREDENTIAL_FAMILIES: [(&str, &str); 2] = [
    ("ALPACA_API_KEY", "ALPACA_SECRET_KEY"),
    ("APCA_API_KEY_ID", "APCA_API_SECRET_KEY"),
];

/// A variable lookup (the environment, a parsed `.env` file).
type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Why no credentials were resolved. The texts name variables, never values.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum CredentialsError {
    #[error("no broker credentials [no_credentials]: set ALPACA_API_KEY and ALPACA_SECRET_KEY (or APCA_API_KEY_ID and APCA_API_SECRET_KEY)")]
    Missing,
    #[error("half a credential pair in the {place} [incomplete_pair]: {present} is set but {missing} is not")]
    Incomplete {
        place: &'static str,
        present: &'static str,
        missing: &'static str,
    },
    #[error("credential variables of two families in the {place} [mixed_pair]: {key} with {secret}; a key and its secret must come as one pair")]
    Mixed {
        place: &'static str,
        key: &'static str,
        secret: &'static str,
    },
}

impl CredentialsError {
    /// Every code [`CredentialsError::code`] can return.
    pub const CODES: [&'static str; 3] = ["no_credentials", "incomplete_pair", "mixed_pair"];

    pub fn code(&self) -> &'static str {
        match self {
            CredentialsError::Missing => "no_credentials",
            CredentialsError::Incomplete { .. } => "incomplete_pair",
            CredentialsError::Mixed { .. } => "mixed_pair",
        }
    }
}

/// API key id and secret. `Debug` redacts both: they must never reach a log line.
#[derive(Clone)]
pub struct Credentials {
    pub(super) key_id: String,
    pub(super) secret: String,
}

impl Credentials {
    pub fn new(key_id: impl Into<String>, secret: impl Into<String>) -> Self {
        Credentials {
            key_id: key_id.into(),
            secret: secret.into(),
        }
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The secret, for the request header that carries it (and nothing else).
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// The credentials from `environment`, else from `env_file` (each a lookup by variable name; an empty
    /// value counts as unset).
    pub fn resolve(
        environment: impl Fn(&str) -> Option<String>,
        env_file: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, CredentialsError> {
        let sources: [(&'static str, Lookup<'_>); 2] =
            [("environment", &environment), (".env file", &env_file)];
        for (source, lookup) in sources {
            let get = |name: &str| lookup(name).filter(|v| !v.is_empty());
            for (i, (key_var, secret_var)) in CREDENTIAL_FAMILIES.iter().enumerate() {
                match (get(key_var), get(secret_var)) {
                    (Some(key), Some(secret)) => return Ok(Credentials::new(key, secret)),
                    (None, None) => continue,
                    (key, _) => {
                        return Err(half_pair(source, i, key.is_some(), &get));
                    }
                }
            }
        }
        Err(CredentialsError::Missing)
    }

    /// Only the process environment (the engine reads no `.env` file: its launcher sets the environment).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, CredentialsError> {
        Credentials::resolve(lookup, |_| None)
    }
}

/// The error for family `i` holding only its key (`has_key`) or only its secret: "mixed" when another
/// family of the same source holds exactly the missing half.
fn half_pair(source: &'static str, i: usize, has_key: bool, get: Lookup<'_>) -> CredentialsError {
    let (key_var, secret_var) = CREDENTIAL_FAMILIES[i];
    let other = CREDENTIAL_FAMILIES
        .iter()
        .enumerate()
        .find_map(|(j, (k, s))| {
            let wanted = if has_key { s } else { k };
            (j != i && get(wanted).is_some()).then_some(*wanted)
        });
    match (other, has_key) {
        (Some(secret), true) => CredentialsError::Mixed {
            place: source,
            key: key_var,
            secret,
        },
        (Some(key), false) => CredentialsError::Mixed {
            place: source,
            key,
            secret: secret_var,
        },
        (None, true) => CredentialsError::Incomplete {
            place: source,
            present: key_var,
            missing: secret_var,
        },
        (None, false) => CredentialsError::Incomplete {
            place: source,
            present: secret_var,
            missing: key_var,
        },
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credentials { key_id: \"***\", secret: \"***\" }")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn the_environment_wins_and_the_guides_names_come_first() {
        let file = lookup(&[("APCA_API_KEY_ID", "fk"), ("APCA_API_SECRET_KEY", "fs")]);
        let env = lookup(&[
            ("APCA_API_KEY_ID", "ak"),
            ("APCA_API_SECRET_KEY", "as"),
            ("ALPACA_API_KEY", "k"),
            ("ALPACA_SECRET_KEY", "s"),
        ]);
        let chosen = Credentials::resolve(&env, &file).unwrap();
        assert_eq!((chosen.key_id.as_str(), chosen.secret.as_str()), ("k", "s"));
        let chosen = Credentials::resolve(lookup(&[]), &file).unwrap();
        assert_eq!(chosen.key_id, "fk");
    }

    #[test]
    fn half_pairs_are_refused_never_completed() {
        let mixed = lookup(&[("ALPACA_API_KEY", "k"), ("APCA_API_SECRET_KEY", "s")]);
        assert_eq!(
            Credentials::from_lookup(mixed).unwrap_err().code(),
            "mixed_pair"
        );
        let half = lookup(&[("ALPACA_SECRET_KEY", "s")]);
        let file = lookup(&[("ALPACA_API_KEY", "k")]);
        let error = Credentials::resolve(half, file).unwrap_err();
        assert_eq!(error.code(), "incomplete_pair");
        assert!(error.to_string().contains("ALPACA_API_KEY"), "{error}");
        assert_eq!(
            Credentials::from_lookup(|_| Some(String::new()))
                .unwrap_err()
                .code(),
            "no_credentials"
        );
    }
}
