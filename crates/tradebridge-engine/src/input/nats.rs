//! Signals from NATS JetStream: a durable pull consumer on the stream `tradebridge bridge nats in` fills
//! (`TRADEBRIDGE_SIGNAL`, subjects `tradebridge.signal.<symbol>`, the bus envelope stored byte for byte).
//!
//! The client runs on the engine's tokio runtime; deliveries reach the main loop through a channel and
//! acknowledgements go back through another, so the loop never awaits the network. JetStream holds at most
//! `max_ack_pending` unacknowledged deliveries, which bounds the channel. The consumer is durable: after a
//! restart JetStream delivers what was not acknowledged, and the engine's idempotency by `signal_id` (risk
//! book, journal, the broker's client order id) keeps a redelivery from ordering twice.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, AckPolicy, Consumer, DeliverPolicy};
use async_nats::jetstream::{self, Message};
use futures_util::StreamExt;
use tokio::runtime::Handle;
use tokio::sync::mpsc as async_mpsc;

/// Where the first delivery of a new durable consumer starts (an existing one resumes where it was).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deliver {
    /// Only signals stored after the consumer is created (no stale backlog on a first start).
    New,
    /// Everything the stream holds.
    All,
    /// From this stream sequence on.
    FromSequence(u64),
}

impl FromStr for Deliver {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "new" => Ok(Deliver::New),
            "all" => Ok(Deliver::All),
            _ => match text.parse::<u64>() {
                Ok(seq) if seq >= 1 => Ok(Deliver::FromSequence(seq)),
                _ => Err(format!(
                    "{text:?}: expected new, all, or a stream sequence (>= 1)"
                )),
            },
        }
    }
}

impl Deliver {
    fn policy(self) -> DeliverPolicy {
        match self {
            Deliver::New => DeliverPolicy::New,
            Deliver::All => DeliverPolicy::All,
            Deliver::FromSequence(start_sequence) => {
                DeliverPolicy::ByStartSequence { start_sequence }
            }
        }
    }
}

/// How the engine proves who it is to NATS. Shown only redacted.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    None,
    Token(String),
    UserPassword(String, String),
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Auth::None => "none",
            Auth::Token(_) => "token(***)",
            Auth::UserPassword(..) => "user/password(***)",
        })
    }
}

/// Typed errors of the NATS input's configuration.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NatsConfigError {
    #[error("NATS server URL {0:?}: expected nats://HOST:PORT or tls://HOST:PORT")]
    BadUrl(String),
    #[error("NATS servers disagree on their credentials: give them once (URL or environment)")]
    MixedCredentials,
    #[error("{0} is set without {1}")]
    HalfCredentials(&'static str, &'static str),
    #[error("invalid NATS input option: {0}")]
    Invalid(String),
}

impl NatsConfigError {
    pub fn code(&self) -> &'static str {
        match self {
            NatsConfigError::BadUrl(_) => "bad_nats_url",
            NatsConfigError::MixedCredentials | NatsConfigError::HalfCredentials(..) => {
                "bad_nats_credentials"
            }
            NatsConfigError::Invalid(_) => "invalid_option",
        }
    }
}

/// Environment variables read for credentials when the URLs carry none.
pub const TOKEN_ENV: &str = "TRADEBRIDGE_NATS_TOKEN";
pub const USER_ENV: &str = "TRADEBRIDGE_NATS_USER";
pub const PASSWORD_ENV: &str = "TRADEBRIDGE_NATS_PASSWORD";

/// Everything the NATS input needs, checked.
#[derive(Clone, Debug)]
pub struct NatsConfig {
    /// Server URLs without their user information (credentials live in `auth` only).
    pub servers: Vec<String>,
    pub auth: Auth,
    /// Extra root certificate (PEM) for `tls://` servers with a private CA.
    pub ca_file: Option<PathBuf>,
    pub stream: String,
    pub subjects: Vec<String>,
    pub durable: String,
    pub deliver: Deliver,
    pub ack_wait: Duration,
    pub max_ack_pending: i64,
}

/// `nats://user:password@host:4222` -> (`nats://host:4222`, credentials). A lone `token@` is a token.
pub fn split_credentials(url: &str) -> Result<(String, Auth), NatsConfigError> {
    let bad = || NatsConfigError::BadUrl(redact(url));
    let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
    if !matches!(scheme, "nats" | "tls") {
        return Err(bad());
    }
    let end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if !(path.is_empty() || path == "/") {
        return Err(bad());
    }
    let (userinfo, host) = match authority.rsplit_once('@') {
        Some((info, host)) => (Some(info), host),
        None => (None, authority),
    };
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(bad());
    }
    let auth = match userinfo {
        None => Auth::None,
        Some(info) => match info.split_once(':') {
            Some((user, password)) if !user.is_empty() => {
                Auth::UserPassword(user.to_owned(), password.to_owned())
            }
            None if !info.is_empty() => Auth::Token(info.to_owned()),
            _ => return Err(bad()),
        },
    };
    Ok((format!("{scheme}://{host}"), auth))
}

/// A URL fit for a log line: user information replaced by `***`.
pub fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let end = rest.find('/').unwrap_or(rest.len());
            match rest[..end].rsplit_once('@') {
                Some((_, host)) => format!("{scheme}://***@{host}{}", &rest[end..]),
                None => url.to_owned(),
            }
        }
        None => url.to_owned(),
    }
}

/// The credentials of `urls` (all alike, or only some carrying them), else from `lookup` (the environment).
pub fn resolve_auth(
    urls: &[String],
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<(Vec<String>, Auth), NatsConfigError> {
    let mut servers = Vec::new();
    let mut auth = Auth::None;
    for url in urls {
        let (server, found) = split_credentials(url.trim())?;
        servers.push(server);
        match (&auth, found) {
            (_, Auth::None) => {}
            (Auth::None, found) => auth = found,
            (known, found) if *known == found => {}
            _ => return Err(NatsConfigError::MixedCredentials),
        }
    }
    if auth != Auth::None {
        return Ok((servers, auth));
    }
    let get = |name: &str| lookup(name).filter(|v| !v.is_empty());
    let auth = match (get(TOKEN_ENV), get(USER_ENV), get(PASSWORD_ENV)) {
        (Some(token), None, None) => Auth::Token(token),
        (None, Some(user), Some(password)) => Auth::UserPassword(user, password),
        (None, None, None) => Auth::None,
        (Some(_), ..) => return Err(NatsConfigError::MixedCredentials),
        (None, Some(_), None) => {
            return Err(NatsConfigError::HalfCredentials(USER_ENV, PASSWORD_ENV))
        }
        (None, None, Some(_)) => {
            return Err(NatsConfigError::HalfCredentials(PASSWORD_ENV, USER_ENV))
        }
    };
    Ok((servers, auth))
}

/// Counters of the NATS input, read by the metrics.
#[derive(Debug, Default)]
pub struct NatsCounters {
    /// Deliveries taken from JetStream (redeliveries included).
    pub delivered: AtomicU64,
    /// Deliveries JetStream marked as sent before (`delivered > 1`): a restart or an ack that came late.
    pub redelivered: AtomicU64,
    /// Acknowledgements sent.
    pub acked: AtomicU64,
    /// Acknowledgements that could not be sent (the delivery comes again: handled as a duplicate).
    pub ack_failed: AtomicU64,
    /// 1 while the consumer is attached.
    pub attached: AtomicU64,
    /// Times the client (re)connected.
    pub connects: AtomicU64,
}

/// The running input: deliveries in, acknowledgements out.
pub struct NatsInput {
    pub(crate) deliveries: mpsc::Receiver<Message>,
    acks: async_mpsc::UnboundedSender<Message>,
    pub(crate) counters: Arc<NatsCounters>,
    task: tokio::task::JoinHandle<()>,
    acker: tokio::task::JoinHandle<()>,
}

impl NatsInput {
    /// Starts the consumer on `runtime`; it (re)connects and re-attaches by itself until closed.
    pub fn spawn(runtime: &Handle, config: NatsConfig) -> Self {
        let (deliveries_tx, deliveries) = mpsc::channel();
        let (acks, mut acks_rx) = async_mpsc::unbounded_channel::<Message>();
        let counters = Arc::new(NatsCounters::default());
        let task = runtime.spawn(consume(config, deliveries_tx, counters.clone()));
        let acker = runtime.spawn({
            let counters = counters.clone();
            async move {
                while let Some(message) = acks_rx.recv().await {
                    match message.ack().await {
                        Ok(()) => counters.acked.fetch_add(1, Ordering::Relaxed),
                        Err(error) => {
                            tracing::warn!(%error, "cannot acknowledge a JetStream delivery; it comes again");
                            counters.ack_failed.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
            }
        });
        NatsInput {
            deliveries,
            acks,
            counters,
            task,
            acker,
        }
    }

    /// Acknowledge one delivery (sent by the runtime; the main loop does not wait).
    pub fn ack(&self, message: Message) {
        let _ = self.acks.send(message);
    }

    /// Stops consuming; the acknowledgements queued so far are sent first (within `grace`).
    pub fn close(self, runtime: &Handle, grace: Duration) {
        self.task.abort();
        let NatsInput { acks, acker, .. } = self;
        drop(acks);
        let _ = runtime.block_on(async { tokio::time::timeout(grace, acker).await });
    }
}

async fn consume(config: NatsConfig, out: mpsc::Sender<Message>, counters: Arc<NatsCounters>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match attach(&config, &out, &counters).await {
            Ok(()) => return, // the engine stopped listening
            Err(error) => {
                counters.attached.store(0, Ordering::Relaxed);
                tracing::warn!(%error, retry_ms = backoff.as_millis() as u64,
                    stream = %config.stream, durable = %config.durable,
                    "JetStream signal input not attached; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const PULL_BATCH: usize = 200;
const PULL_EXPIRES: Duration = Duration::from_secs(5);
const PULL_HEARTBEAT: Duration = Duration::from_secs(1);

/// One life of the consumer: connect, find the stream, create or resume the durable, forward deliveries.
/// `Ok` when the main loop is gone; an error to be retried otherwise.
async fn attach(
    config: &NatsConfig,
    out: &mpsc::Sender<Message>,
    counters: &Arc<NatsCounters>,
) -> Result<(), BoxError> {
    let mut options = async_nats::ConnectOptions::new()
        .name("execution-engine")
        .connection_timeout(Duration::from_secs(2))
        .event_callback({
            let counters = counters.clone();
            move |event| {
                let counters = counters.clone();
                async move {
                    match event {
                        async_nats::Event::Connected => {
                            counters.connects.fetch_add(1, Ordering::Relaxed);
                            tracing::info!("NATS connected");
                        }
                        async_nats::Event::Disconnected => tracing::warn!("NATS disconnected"),
                        other => tracing::debug!(event = %other, "NATS event"),
                    }
                }
            }
        });
    options = match &config.auth {
        Auth::None => options,
        Auth::Token(token) => options.token(token.clone()),
        Auth::UserPassword(user, password) => {
            options.user_and_password(user.clone(), password.clone())
        }
    };
    if let Some(ca) = &config.ca_file {
        options = options.add_root_certificates(ca.clone());
    }
    if config.servers.iter().any(|s| s.starts_with("tls://")) {
        options = options.require_tls(true);
    }
    let servers: Vec<async_nats::ServerAddr> = config
        .servers
        .iter()
        .map(|s| s.parse())
        .collect::<Result<_, _>>()?;
    let client = options.connect(servers).await?;
    let js = jetstream::new(client);
    let stream = js.get_stream(&config.stream).await?;
    let mut consumer_config = pull::Config {
        durable_name: Some(config.durable.clone()),
        deliver_policy: config.deliver.policy(),
        ack_policy: AckPolicy::Explicit,
        ack_wait: config.ack_wait,
        max_ack_pending: config.max_ack_pending,
        ..Default::default()
    };
    match config.subjects.as_slice() {
        [one] => consumer_config.filter_subject = one.clone(),
        many => consumer_config.filter_subjects = many.to_vec(),
    }
    let consumer: Consumer<pull::Config> = stream
        .get_or_create_consumer(&config.durable, consumer_config)
        .await?;
    // Short pulls with heartbeats: the client's defaults (30 s pulls, 15 s heartbeats) let a pull the
    // server no longer holds, or a dead connection, stop the order input for up to 30 s unnoticed; here
    // a missed heartbeat ends this life within 2 s and the consumer is attached again.
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(PULL_BATCH)
        .expires(PULL_EXPIRES)
        .heartbeat(PULL_HEARTBEAT)
        .messages()
        .await?;
    counters.attached.store(1, Ordering::Relaxed);
    tracing::info!(stream = %config.stream, durable = %config.durable, "JetStream signal input attached");
    while let Some(message) = messages.next().await {
        let message = message?;
        counters.delivered.fetch_add(1, Ordering::Relaxed);
        if message.info().is_ok_and(|info| info.delivered > 1) {
            counters.redelivered.fetch_add(1, Ordering::Relaxed);
        }
        if out.send(message).is_err() {
            return Ok(());
        }
    }
    Err("the JetStream message stream ended".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_leave_the_url() {
        assert_eq!(
            split_credentials("nats://alice:s3cret@10.0.0.1:4222").unwrap(),
            (
                "nats://10.0.0.1:4222".to_owned(),
                Auth::UserPassword("alice".into(), "s3cret".into())
            )
        );
        assert_eq!(
            split_credentials("tls://tok@nats.example:4222/").unwrap(),
            (
                "tls://nats.example:4222".to_owned(),
                Auth::Token("tok".into())
            )
        );
        assert_eq!(
            split_credentials("nats://127.0.0.1:4222").unwrap().1,
            Auth::None
        );
        for bad in [
            "127.0.0.1:4222",
            "http://h:1",
            "nats://",
            "nats://:pw@h:1",
            "nats://h:1/x",
        ] {
            assert!(split_credentials(bad).is_err(), "{bad}");
        }
        let error = split_credentials("http://alice:s3cret@h:1").unwrap_err();
        assert!(!error.to_string().contains("s3cret"), "{error}");
        assert_eq!(error.code(), "bad_nats_url");
    }

    #[test]
    fn credentials_never_show() {
        let auth = Auth::UserPassword("alice".into(), "s3cret".into());
        assert!(!format!("{auth:?}").contains("s3cret"));
        assert_eq!(redact("nats://alice:s3cret@h:4222"), "nats://***@h:4222");
        assert_eq!(redact("nats://h:4222"), "nats://h:4222");
    }

    #[test]
    fn the_environment_gives_credentials_when_urls_do_not() {
        let urls = vec!["nats://a:1".to_owned(), "nats://b:2".to_owned()];
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(name, _)| *name == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let (servers, auth) = resolve_auth(&urls, env(&[(TOKEN_ENV, "t")])).unwrap();
        assert_eq!((servers.len(), auth), (2, Auth::Token("t".into())));
        let (_, auth) = resolve_auth(&urls, env(&[(USER_ENV, "u"), (PASSWORD_ENV, "p")])).unwrap();
        assert_eq!(auth, Auth::UserPassword("u".into(), "p".into()));
        assert_eq!(
            resolve_auth(&urls, env(&[(USER_ENV, "u")])).unwrap_err(),
            NatsConfigError::HalfCredentials(USER_ENV, PASSWORD_ENV)
        );
        // The URL's own credentials win; two different ones are refused.
        let with = vec!["nats://x:y@a:1".to_owned(), "nats://b:2".to_owned()];
        let (servers, auth) = resolve_auth(&with, env(&[(TOKEN_ENV, "t")])).unwrap();
        assert_eq!(servers, vec!["nats://a:1", "nats://b:2"]);
        assert_eq!(auth, Auth::UserPassword("x".into(), "y".into()));
        let mixed = vec!["nats://x:y@a:1".to_owned(), "nats://z@b:2".to_owned()];
        assert_eq!(
            resolve_auth(&mixed, |_| None).unwrap_err(),
            NatsConfigError::MixedCredentials
        );
    }

    #[test]
    fn deliver_policies_parse() {
        assert_eq!("new".parse::<Deliver>().unwrap(), Deliver::New);
        assert_eq!("all".parse::<Deliver>().unwrap(), Deliver::All);
        assert_eq!("42".parse::<Deliver>().unwrap(), Deliver::FromSequence(42));
        for bad in ["0", "-1", "last", ""] {
            assert!(bad.parse::<Deliver>().is_err(), "{bad}");
        }
    }
}
