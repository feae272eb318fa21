//! The API keys for `auth`: the project's one credential rule (environment; `ALPACA_*` before `APCA_*`;
//! half pairs refused), compiled from the execution engine's source file so there is one implementation
//! of it, without depending on the engine crate. It moves to a shared crate when the lead says so; this
//! `#[path]` then becomes a `use`.

#[path = "../../tradebridge-engine/src/broker/credentials.rs"]
mod rule;

pub use rule::{Credentials, CredentialsError, CREDENTIAL_FAMILIES};
