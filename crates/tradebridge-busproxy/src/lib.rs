//! `bus-proxy`: one rendezvous point between many bus publishers and many bus subscribers.
//!
//! It is libzmq's own `zmq_proxy_steerable`, not a broker of ours: an XSUB socket (the *frontend*) that
//! publishers connect to, an XPUB socket (the *backend*) that subscribers connect to, both bound here.
//! Messages flow frontend to backend, subscriptions backend to frontend, and libzmq moves both.
//!
//! ```text
//!   publishers (connect)              bus-proxy (binds both)              subscribers (connect)
//!   market-data  XPUB ──┐        ┌──────────────────────────┐        ┌── SUB strategy 1
//!   strategy 1   XPUB ──┼──────► │ XSUB frontend  XPUB backend │ ──────┼── SUB strategy 2
//!   strategy N   XPUB ──┘        └────────────┬─────────────┘        └── SUB execution-engine
//!                                              │ capture (PUB, inproc) -> tap thread: per-topic counts,
//!                                              ▼ subscriptions, optional `--capture` PUB for recorders
//! ```
//!
//! What the proxy adds besides forwarding:
//! - a control socket (`PAUSE`, `RESUME`, `TERMINATE`, `STATISTICS`), wrapped by [`Proxy::pause`],
//!   [`Proxy::resume`], [`Proxy::terminate`] and [`Proxy::statistics`];
//! - a tap on libzmq's capture socket, which sees every frame in both directions: data frames are counted
//!   per topic (and re-published on `--capture` when given), (un)subscription frames (`0x01`/`0x00` +
//!   prefix, every one of them because the backend is `XPUB_VERBOSER`) give the subscriber count.
//!
//! The capture socket is a PUB, so a tap that falls behind loses capture copies, never slows the proxy:
//! the per-topic counts are then lower bounds, and [`TapCounts::captured`] against
//! [`ProxyStatistics::frontend_messages_in`] shows by how much.
#![warn(missing_docs)]

mod tap;

pub use tap::TapCounts;
use tap::{run_tap, Tap};

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use tradebridge_bus::security::{ContextSecurity, Curve, CurveError, CurveGuard, CurveStats};
use tradebridge_health::Telemetry;

/// At most this many topics are counted separately; the rest are summed under [`OTHER_TOPICS`], so a
/// publisher inventing topics cannot grow the proxy's memory or the `/metrics` page without bound.
pub const MAX_TOPICS: usize = 1024;

/// The topic label of everything beyond [`MAX_TOPICS`].
pub const OTHER_TOPICS: &str = "~other";

/// What can go wrong starting or steering the proxy; `code()` is stable for logs and tests.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// An endpoint could not be bound or connected to (in use, bad address, unknown transport).
    #[error("cannot bind {role} endpoint {endpoint:?}: {source}")]
    Bind {
        /// `frontend`, `backend`, `capture` or `frontend-connect`
        role: &'static str,
        /// the endpoint as given
        endpoint: String,
        /// libzmq's reason
        source: zmq::Error,
    },
    /// A libzmq call on an internal socket failed.
    #[error("proxy socket error: {0}")]
    Socket(#[from] zmq::Error),
    /// The proxy thread is gone (terminated, or its context failed); control commands have no taker.
    #[error("the proxy is not running")]
    NotRunning,
    /// `STATISTICS` got no (or a malformed) answer in time.
    #[error("the proxy did not answer STATISTICS: {0}")]
    Statistics(String),
    /// The CURVE keys cannot secure a socket (see `tradebridge_bus::security`).
    #[error(transparent)]
    Curve(#[from] CurveError),
}

impl ProxyError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Bind { .. } => "bind_failed",
            Self::Socket(_) => "socket_error",
            Self::NotRunning => "proxy_not_running",
            Self::Statistics(_) => "statistics_unavailable",
            Self::Curve(e) => e.code,
        }
    }
}

/// How to start the proxy.
#[derive(Clone, Debug)]
pub struct ProxyConfig {
    /// Where publishers connect (XSUB, bound), e.g. `tcp://0.0.0.0:5555`; `tcp://127.0.0.1:*` picks a port.
    pub frontend: String,
    /// Where subscribers connect (XPUB, bound).
    pub backend: String,
    /// Where a recorder may subscribe to a copy of every data frame (PUB, bound); `None`: no tap socket.
    pub capture: Option<String>,
    /// Publishers that bind (services that cannot connect) the frontend connects to, besides binding.
    pub frontend_connect: Vec<String>,
    /// Messages queued per peer on both sides before libzmq drops (the SDK's default, 100,000).
    pub hwm: i32,
    /// CURVE keys: both bound sides admit only the allow-list's clients, plaintext peers are refused;
    /// `frontend_connect` peers are reached as a client of the keys' server key. `None`: plaintext.
    pub curve: Option<Curve>,
}

impl ProxyConfig {
    /// Frontend and backend with the SDK's high-water mark and no capture socket.
    pub fn new(frontend: impl Into<String>, backend: impl Into<String>) -> Self {
        Self {
            frontend: frontend.into(),
            backend: backend.into(),
            capture: None,
            frontend_connect: Vec::new(),
            hwm: 100_000,
            curve: None,
        }
    }
}

/// libzmq's `STATISTICS` reply: a multipart message counts once, bytes are payload bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProxyStatistics {
    /// data messages received from publishers
    pub frontend_messages_in: u64,
    /// their bytes
    pub frontend_bytes_in: u64,
    /// subscription messages sent on to publishers
    pub frontend_messages_out: u64,
    /// their bytes
    pub frontend_bytes_out: u64,
    /// subscription messages received from subscribers
    pub backend_messages_in: u64,
    /// their bytes
    pub backend_bytes_in: u64,
    /// data messages handed to the backend (XPUB then fans each out to every matching subscriber)
    pub backend_messages_out: u64,
    /// their bytes
    pub backend_bytes_out: u64,
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not stop the counting or the control of the proxy.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A running proxy; [`Proxy::terminate`] (or drop) stops it and joins its threads.
pub struct Proxy {
    control: Mutex<zmq::Socket>,
    proxy_thread: Mutex<Option<JoinHandle<Result<(), zmq::Error>>>>,
    tap_thread: Mutex<Option<JoinHandle<()>>>,
    tap_stop: Arc<AtomicBool>,
    tap: Arc<Tap>,
    frontend: String,
    backend: String,
    capture: Option<String>,
    /// CURVE's holds of the frontend and the backend (ZAP handler, monitors), when secured
    curve: Option<[CurveGuard; 2]>,
    // Dropped last: terminating a context waits for every socket of it to be closed.
    _context: zmq::Context,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("frontend", &self.frontend)
            .field("backend", &self.backend)
            .field("capture", &self.capture)
            .finish()
    }
}

static INSTANCE: AtomicU64 = AtomicU64::new(0);

fn bind(socket: &zmq::Socket, role: &'static str, endpoint: &str) -> Result<String, ProxyError> {
    socket.bind(endpoint).map_err(|source| ProxyError::Bind {
        role,
        endpoint: endpoint.to_owned(),
        source,
    })?;
    // the endpoint actually bound (a `*` port resolved), for the ready line and for tests
    Ok(socket
        .get_last_endpoint()?
        .unwrap_or_else(|_| endpoint.to_owned()))
}

fn bus_error(error: tradebridge_bus::BusError) -> ProxyError {
    match error {
        tradebridge_bus::BusError::Curve(e) => ProxyError::Curve(e),
        tradebridge_bus::BusError::Socket(e) => ProxyError::Socket(e),
        other => ProxyError::Curve(CurveError {
            code: "curve_error",
            message: other.to_string(),
        }),
    }
}

fn set_xpub_verboser(socket: &mut zmq::Socket) -> Result<(), ProxyError> {
    let on: libc::c_int = 1;
    // SAFETY: a live socket, an option libzmq 4.3 knows, and a pointer/length to a c_int that outlives
    // the call, as zmq_setsockopt requires.
    let rc = unsafe {
        zmq_sys::zmq_setsockopt(
            socket.as_mut_ptr(),
            zmq_sys::ZMQ_XPUB_VERBOSER as libc::c_int,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        // SAFETY: reads libzmq's thread-local errno right after the failed call.
        Err(zmq::Error::from_raw(unsafe { zmq_sys::zmq_errno() }).into())
    }
}

impl Proxy {
    /// Binds the frontend, the backend and the capture socket, and starts forwarding. When it returns,
    /// publishers and subscribers can connect. `telemetry`, when given, gets one tracked source per topic
    /// (`tradebridge_messages_total{source="topic:<topic>"}` and `..._bytes_total`).
    ///
    /// # Errors
    /// [`ProxyError::Bind`] when an endpoint cannot be bound, [`ProxyError::Socket`] otherwise.
    pub fn start(
        config: &ProxyConfig,
        telemetry: Option<Arc<Telemetry>>,
    ) -> Result<Self, ProxyError> {
        let context = zmq::Context::new();
        let id = INSTANCE.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();

        let security = ContextSecurity::new(&context);
        let frontend = context.socket(zmq::XSUB)?;
        frontend.set_rcvhwm(config.hwm)?;
        frontend.set_sndhwm(config.hwm)?;
        frontend.set_linger(0)?;
        let frontend_guard = match &config.curve {
            Some(curve) => Some(security.secure(curve, &frontend, true).map_err(bus_error)?),
            None => None,
        };
        let frontend_endpoint = bind(&frontend, "frontend", &config.frontend)?;
        if let (Some(curve), false) = (&config.curve, config.frontend_connect.is_empty()) {
            // libzmq takes the mechanism at connect time: the bound side stays a server
            let server = curve.server_public().ok_or_else(|| CurveError {
                code: "curve_role_missing",
                message: "--frontend-connect with CURVE needs the server key".into(),
            })?;
            frontend.set_curve_server(false)?;
            frontend.set_curve_serverkey(server.as_bytes())?;
        }
        for endpoint in &config.frontend_connect {
            frontend
                .connect(endpoint)
                .map_err(|source| ProxyError::Bind {
                    role: "frontend-connect",
                    endpoint: endpoint.clone(),
                    source,
                })?;
        }

        let mut backend = context.socket(zmq::XPUB)?;
        backend.set_sndhwm(config.hwm)?;
        backend.set_rcvhwm(config.hwm)?;
        backend.set_linger(0)?;
        // every subscriber's (un)subscription reaches the publishers and the tap, not only the first
        set_xpub_verboser(&mut backend)?;
        let backend_guard = match &config.curve {
            Some(curve) => Some(security.secure(curve, &backend, true).map_err(bus_error)?),
            None => None,
        };
        let backend_endpoint = bind(&backend, "backend", &config.backend)?;

        let capture_inproc = format!("inproc://bus-proxy-capture-{pid}-{id}");
        let capture = context.socket(zmq::PUB)?;
        capture.set_sndhwm(config.hwm)?;
        capture.set_linger(0)?;
        capture.bind(&capture_inproc)?;
        let tap_in = context.socket(zmq::SUB)?;
        tap_in.set_rcvhwm(config.hwm)?;
        tap_in.set_linger(0)?;
        tap_in.set_rcvtimeo(100)?;
        tap_in.set_subscribe(b"")?;
        tap_in.connect(&capture_inproc)?;
        let (tap_out, capture_endpoint) = match &config.capture {
            Some(endpoint) => {
                let socket = context.socket(zmq::PUB)?;
                socket.set_sndhwm(config.hwm)?;
                socket.set_linger(0)?;
                let bound = bind(&socket, "capture", endpoint)?;
                (Some(socket), Some(bound))
            }
            None => (None, None),
        };

        let control_inproc = format!("inproc://bus-proxy-control-{pid}-{id}");
        let control_proxy = context.socket(zmq::PAIR)?;
        control_proxy.bind(&control_inproc)?;
        let control = context.socket(zmq::PAIR)?;
        control.set_linger(0)?;
        control.set_rcvtimeo(1_000)?;
        control.set_sndtimeo(1_000)?;
        control.connect(&control_inproc)?;

        let tap = Arc::new(Tap::default());
        let tap_stop = Arc::new(AtomicBool::new(false));
        let tap_thread = {
            let tap = tap.clone();
            let stop = tap_stop.clone();
            std::thread::Builder::new()
                .name("bus-proxy-tap".into())
                .spawn(move || {
                    run_tap(&tap_in, tap_out.as_ref(), &tap, &stop, telemetry.as_deref())
                })
                .map_err(|_| ProxyError::NotRunning)?
        };
        let proxy_thread = std::thread::Builder::new()
            .name("bus-proxy".into())
            .spawn(move || {
                let (mut frontend, mut backend, mut capture, mut control) =
                    (frontend, backend, capture, control_proxy);
                // SAFETY: four live sockets owned by this thread for the whole call; libzmq returns once
                // TERMINATE arrives on the control socket or the context is terminated.
                let rc = unsafe {
                    zmq_sys::zmq_proxy_steerable(
                        frontend.as_mut_ptr(),
                        backend.as_mut_ptr(),
                        capture.as_mut_ptr(),
                        control.as_mut_ptr(),
                    )
                };
                if rc == 0 {
                    Ok(())
                } else {
                    // SAFETY: libzmq's thread-local errno right after the failed call.
                    Err(zmq::Error::from_raw(unsafe { zmq_sys::zmq_errno() }))
                }
            })
            .map_err(|_| ProxyError::NotRunning)?;

        Ok(Self {
            control: Mutex::new(control),
            proxy_thread: Mutex::new(Some(proxy_thread)),
            tap_thread: Mutex::new(Some(tap_thread)),
            tap_stop,
            tap,
            frontend: frontend_endpoint,
            backend: backend_endpoint,
            capture: capture_endpoint,
            curve: frontend_guard.zip(backend_guard).map(|(f, b)| [f, b]),
            _context: context,
        })
    }

    /// What CURVE refused on the frontend (publishers' side) and the backend (subscribers' side);
    /// zeros without CURVE.
    pub fn curve_stats(&self) -> (CurveStats, CurveStats) {
        self.curve
            .as_ref()
            .map(|[f, b]| (f.stats(), b.stats()))
            .unwrap_or_default()
    }

    /// The frontend endpoint actually bound (publishers connect here).
    pub fn frontend(&self) -> &str {
        &self.frontend
    }

    /// The backend endpoint actually bound (subscribers connect here).
    pub fn backend(&self) -> &str {
        &self.backend
    }

    /// The capture endpoint actually bound, if any.
    pub fn capture(&self) -> Option<&str> {
        self.capture.as_deref()
    }

    /// Whether the proxy thread is still forwarding.
    pub fn is_running(&self) -> bool {
        lock(&self.proxy_thread)
            .as_ref()
            .is_some_and(|thread| !thread.is_finished())
    }

    fn command(&self, command: &str) -> Result<(), ProxyError> {
        if !self.is_running() {
            return Err(ProxyError::NotRunning);
        }
        lock(&self.control).send(command, 0)?;
        Ok(())
    }

    /// Stops reading from both sides: messages wait in the sockets' queues (up to the high-water mark,
    /// then publishers drop and subscribers see the gap) until [`Proxy::resume`].
    ///
    /// # Errors
    /// [`ProxyError::NotRunning`] after termination.
    pub fn pause(&self) -> Result<(), ProxyError> {
        self.command("PAUSE")
    }

    /// Forwards again after [`Proxy::pause`].
    ///
    /// # Errors
    /// [`ProxyError::NotRunning`] after termination.
    pub fn resume(&self) -> Result<(), ProxyError> {
        self.command("RESUME")
    }

    /// libzmq's counters of both sides.
    ///
    /// # Errors
    /// [`ProxyError::NotRunning`] after termination, [`ProxyError::Statistics`] when no answer comes
    /// within a second.
    pub fn statistics(&self) -> Result<ProxyStatistics, ProxyError> {
        if !self.is_running() {
            return Err(ProxyError::NotRunning);
        }
        let control = lock(&self.control);
        control.send("STATISTICS", 0)?;
        let frames = control
            .recv_multipart(0)
            .map_err(|e| ProxyError::Statistics(e.to_string()))?;
        let values: Vec<u64> = frames
            .iter()
            .filter_map(|frame| <[u8; 8]>::try_from(frame.as_slice()).ok())
            .map(u64::from_ne_bytes)
            .collect();
        let [fmi, fbi, fmo, fbo, bmi, bbi, bmo, bbo] = values[..] else {
            return Err(ProxyError::Statistics(format!(
                "expected 8 frames of 8 bytes, got {} frames",
                frames.len()
            )));
        };
        Ok(ProxyStatistics {
            frontend_messages_in: fmi,
            frontend_bytes_in: fbi,
            frontend_messages_out: fmo,
            frontend_bytes_out: fbo,
            backend_messages_in: bmi,
            backend_bytes_in: bbi,
            backend_messages_out: bmo,
            backend_bytes_out: bbo,
        })
    }

    /// What the capture tap counted so far.
    pub fn tap_counts(&self) -> TapCounts {
        TapCounts {
            captured: self.tap.captured.load(Ordering::Relaxed),
            subscribes: self.tap.subscribes.load(Ordering::Relaxed),
            unsubscribes: self.tap.unsubscribes.load(Ordering::Relaxed),
            topics: lock(&self.tap.topics)
                .iter()
                .map(|(topic, (messages, bytes))| (topic.clone(), (messages.get(), bytes.get())))
                .collect(),
            subscriptions: lock(&self.tap.subscriptions).clone(),
        }
    }

    /// Stops forwarding and joins both threads; idempotent. Queued messages are discarded (linger 0):
    /// the SDK's sequence numbers make that loss visible to subscribers as a gap.
    ///
    /// # Errors
    /// The proxy thread's libzmq error, when it had ended with one.
    pub fn terminate(&self) -> Result<(), ProxyError> {
        let thread = lock(&self.proxy_thread).take();
        let mut outcome = Ok(());
        if let Some(thread) = thread {
            if !thread.is_finished() {
                // If the send fails the thread is ending anyway; join below waits for it.
                let _ = lock(&self.control).send("TERMINATE", 0);
            }
            outcome = match thread.join() {
                Ok(result) => result.map_err(ProxyError::Socket),
                Err(_) => Err(ProxyError::NotRunning),
            };
        }
        self.tap_stop.store(true, Ordering::Relaxed);
        if let Some(thread) = lock(&self.tap_thread).take() {
            let _ = thread.join();
        }
        outcome
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.terminate();
    }
}
