//! The API keys for `auth`: the project's one credential rule (environment; `ALPACA_*` before `APCA_*`;
//! half pairs refused), from `tradebridge-access`, as the execution engine uses it.

pub use tradebridge_access::credentials::{Credentials, CredentialsError, CREDENTIAL_FAMILIES};
