//! The ZAP handler and socket monitors of a context: who a binding socket admits, and what CURVE
//! refused on each socket.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::config::{Allow, Curve};
use super::keys::err;
use crate::error::BusError;

const ZAP_ENDPOINT: &str = "inproc://zeromq.zap.01";
const POLL_MS: i64 = 50;
const EVENT_HANDSHAKE_FAILED_AUTH: u16 = 0x4000;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CurveStats {
    /// clients the allow-list does not hold (ZAP said 400); on a client: the server refused us
    pub denied: u64,
    /// handshakes libzmq refused before ZAP: plaintext peers, wrong server keys, garbage
    pub handshake_failed: u64,
    /// clients the allow-list admitted
    pub allowed: u64,
}

impl CurveStats {
    /// The `(key, value)` pairs every service tracks on `/metrics`:
    /// `tradebridge_curve_denied_total{source=...}`, `..._handshake_failed_total`, `..._allowed_total`.
    pub fn metrics(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("curve_denied", self.denied),
            ("curve_handshake_failed", self.handshake_failed),
            ("curve_allowed", self.allowed),
        ]
    }
}

#[derive(Debug, Default)]
struct Counters {
    denied: AtomicU64,
    handshake_failed: AtomicU64,
    allowed: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> CurveStats {
        CurveStats {
            denied: self.denied.load(Ordering::Relaxed),
            handshake_failed: self.handshake_failed.load(Ordering::Relaxed),
            allowed: self.allowed.load(Ordering::Relaxed),
        }
    }
}

enum Added {
    Zap(zmq::Socket),
    Monitor {
        pair: zmq::Socket,
        counters: Arc<Counters>,
        server: bool,
    },
}

#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    added: Mutex<Vec<Added>>,
    domains: Mutex<HashMap<String, (Allow, Arc<Counters>)>>,
}

struct Inner {
    context: zmq::Context,
    shared: Arc<Shared>,
    state: Mutex<InnerState>,
}

#[derive(Default)]
struct InnerState {
    thread: Option<JoinHandle<()>>,
    zap_bound: bool,
    next: u64,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        let thread = self
            .state
            .get_mut()
            .map(|s| s.thread.take())
            .unwrap_or(None);
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

/// The ZAP handler and socket monitors of one context (see the module documentation).
#[derive(Clone)]
pub struct ContextSecurity {
    inner: Arc<Inner>,
}

/// One secured socket's hold on its context's handler: drop it after the socket (a struct field
/// declared after the socket's).
pub struct CurveGuard {
    counters: Arc<Counters>,
    domain: Option<String>,
    inner: Arc<Inner>,
}

impl fmt::Debug for CurveGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CurveGuard")
            .field("domain", &self.domain)
            .field("stats", &self.stats())
            .finish()
    }
}

impl CurveGuard {
    pub fn stats(&self) -> CurveStats {
        self.counters.snapshot()
    }

    /// A handle on the counters that any thread may read (a `/metrics` scrape), while the socket
    /// stays with its own thread.
    pub fn handle(&self) -> CurveStatsHandle {
        CurveStatsHandle(Arc::clone(&self.counters))
    }
}

/// The counters of one secured socket, readable from any thread.
#[derive(Debug, Clone)]
pub struct CurveStatsHandle(Arc<Counters>);

impl CurveStatsHandle {
    pub fn stats(&self) -> CurveStats {
        self.0.snapshot()
    }
}

impl Drop for CurveGuard {
    fn drop(&mut self) {
        if let Some(domain) = &self.domain {
            if let Ok(mut domains) = self.inner.shared.domains.lock() {
                domains.remove(domain);
            }
        }
    }
}

impl ContextSecurity {
    pub fn new(context: &zmq::Context) -> Self {
        ContextSecurity {
            inner: Arc::new(Inner {
                context: context.clone(),
                shared: Arc::new(Shared::default()),
                state: Mutex::new(InnerState::default()),
            }),
        }
    }

    /// Apply `curve` to a fresh socket of this context, before its bind or connect: a binding socket
    /// becomes a CURVE server behind the allow-list, a connecting one a client of the server key.
    pub fn secure(
        &self,
        curve: &Curve,
        socket: &zmq::Socket,
        bind: bool,
    ) -> Result<CurveGuard, BusError> {
        let allow = match (bind, &curve.allow, &curve.server_public) {
            (true, None, _) => {
                return Err(err(
                    "curve_role_missing",
                    "this socket binds: its CURVE keys need an allow-list",
                )
                .into())
            }
            (false, _, None) => {
                return Err(err(
                    "curve_role_missing",
                    "this socket connects: its CURVE keys need the server key",
                )
                .into())
            }
            (true, Some(allow), _) => Some(allow.clone()),
            (false, _, Some(_)) => None,
        };
        let inner = &self.inner;
        let mut state = inner.state.lock().expect("curve state lock");
        state.next += 1;
        let number = state.next;
        let instance = Arc::as_ptr(inner) as usize;
        socket.set_curve_secretkey(curve.secret.as_bytes())?;
        socket.set_curve_publickey(curve.public.as_bytes())?;
        let counters = Arc::new(Counters::default());
        let mut domain = None;
        if let Some(allow) = allow {
            if !state.zap_bound {
                let zap = inner.context.socket(zmq::REP)?;
                zap.set_linger(0)?;
                zap.bind(ZAP_ENDPOINT).map_err(|e| {
                    err(
                        "curve_zap_in_use",
                        format!(
                            "another ZAP handler already serves this zmq context ({e}): give CURVE \
                             server sockets their own context, or one ContextSecurity"
                        ),
                    )
                })?;
                self.push(Added::Zap(zap));
                state.zap_bound = true;
            }
            let name = format!("tradebridge.{}.{instance:x}.{number}", std::process::id());
            socket.set_curve_server(true)?;
            socket.set_zap_domain(&name)?;
            inner
                .shared
                .domains
                .lock()
                .expect("curve domains lock")
                .insert(name.clone(), (allow, Arc::clone(&counters)));
            domain = Some(name);
        } else if let Some(server) = &curve.server_public {
            socket.set_curve_serverkey(server.as_bytes())?;
        }
        let endpoint = format!("inproc://tradebridge.curve.monitor.{instance:x}.{number}");
        socket.monitor(
            &endpoint,
            (zmq::SocketEvent::HANDSHAKE_FAILED_NO_DETAIL as i32)
                | (zmq::SocketEvent::HANDSHAKE_FAILED_PROTOCOL as i32)
                | (zmq::SocketEvent::HANDSHAKE_FAILED_AUTH as i32),
        )?;
        let pair = inner.context.socket(zmq::PAIR)?;
        pair.set_linger(0)?;
        pair.connect(&endpoint)?; // before bind/connect: no event is missed
        self.push(Added::Monitor {
            pair,
            counters: Arc::clone(&counters),
            server: bind,
        });
        if state.thread.is_none() {
            let shared = Arc::clone(&inner.shared);
            state.thread = Some(
                std::thread::Builder::new()
                    .name("tradebridge-curve".into())
                    .spawn(move || run(&shared))
                    .map_err(|e| {
                        err("curve_thread", format!("cannot start the ZAP thread: {e}"))
                    })?,
            );
        }
        Ok(CurveGuard {
            counters,
            domain,
            inner: Arc::clone(inner),
        })
    }

    fn push(&self, added: Added) {
        self.inner
            .shared
            .added
            .lock()
            .expect("curve queue lock")
            .push(added);
    }
}

/// Secure `socket` of `context` with its own [`ContextSecurity`] (`None`: plaintext, no guard).
pub fn secure(
    curve: Option<&Curve>,
    context: &zmq::Context,
    socket: &zmq::Socket,
    bind: bool,
) -> Result<Option<CurveGuard>, BusError> {
    curve
        .map(|curve| ContextSecurity::new(context).secure(curve, socket, bind))
        .transpose()
}

struct Watched {
    pair: zmq::Socket,
    counters: Arc<Counters>,
    server: bool,
}

/// The handler thread: answers ZAP requests and counts handshake failures until told to stop.
fn run(shared: &Shared) {
    let mut zap: Option<zmq::Socket> = None;
    let mut watched: Vec<Watched> = Vec::new();
    while !shared.stop.load(Ordering::Relaxed) {
        for added in shared
            .added
            .lock()
            .map(|mut a| std::mem::take(&mut *a))
            .unwrap_or_default()
        {
            match added {
                Added::Zap(socket) => zap = Some(socket),
                Added::Monitor {
                    pair,
                    counters,
                    server,
                } => watched.push(Watched {
                    pair,
                    counters,
                    server,
                }),
            }
        }
        let mut items: Vec<zmq::PollItem<'_>> = Vec::with_capacity(watched.len() + 1);
        if let Some(zap) = &zap {
            items.push(zap.as_poll_item(zmq::POLLIN));
        }
        items.extend(watched.iter().map(|w| w.pair.as_poll_item(zmq::POLLIN)));
        if zmq::poll(&mut items, POLL_MS).is_err() {
            continue;
        }
        drop(items);
        if let Some(zap) = &zap {
            while let Ok(request) = zap.recv_multipart(zmq::DONTWAIT) {
                answer(zap, &request, shared);
            }
        }
        for w in &watched {
            count(w);
        }
    }
}

fn count(w: &Watched) {
    while let Ok(frames) = w.pair.recv_multipart(zmq::DONTWAIT) {
        let event = frames
            .first()
            .filter(|f| f.len() >= 2)
            .map(|f| u16::from_le_bytes([f[0], f[1]]));
        match event {
            Some(EVENT_HANDSHAKE_FAILED_AUTH) if !w.server => {
                // the server's allow-list refused us; on a server the ZAP answer counted it already
                w.counters.denied.fetch_add(1, Ordering::Relaxed);
            }
            Some(EVENT_HANDSHAKE_FAILED_AUTH) => {}
            Some(_) => {
                w.counters.handshake_failed.fetch_add(1, Ordering::Relaxed);
            }
            None => {}
        }
    }
}

/// One ZAP request (RFC 27): `version, request id, domain, address, identity, mechanism, credentials`.
fn answer(zap: &zmq::Socket, request: &[Vec<u8>], shared: &Shared) {
    let request_id = request.get(1).cloned().unwrap_or_default();
    let (status, text, user): (&[u8], &[u8], Vec<u8>) =
        if request.len() < 7 || request[0] != b"1.0" || request[5] != b"CURVE" {
            (b"400", b"Not a CURVE request", Vec::new())
        } else {
            let domain = String::from_utf8_lossy(&request[2]).into_owned();
            let client = zmq::z85_encode(&request[6]).unwrap_or_default();
            let domains = shared.domains.lock().expect("curve domains lock");
            match domains.get(&domain) {
                Some((allow, counters)) if allow.admits(&client) => {
                    counters.allowed.fetch_add(1, Ordering::Relaxed);
                    (b"200", b"OK", client.into_bytes())
                }
                Some((_, counters)) => {
                    counters.denied.fetch_add(1, Ordering::Relaxed);
                    (b"400", b"Unknown key", Vec::new())
                }
                None => (b"400", b"Unknown domain", Vec::new()),
            }
        };
    let reply: [&[u8]; 6] = [b"1.0", &request_id, status, text, &user, b""];
    let _ = zap.send_multipart(reply, 0);
}
