//! A scripted Alpaca data-stream server (tokio-tungstenite, msgpack) and helpers to run the real
//! `market-data` binary against it: each accepted connection plays the next [`Script`].

#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{TcpListener as StdListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use rmpv::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;
use tradebridge_marketdata::protocol::timestamp_ext;

pub const T0_NS: i128 = 1_700_000_040_000_000_000; // a whole minute

/// What a connection does after the handshake.
#[derive(Debug, Clone)]
pub enum Act {
    Binary(Vec<u8>),
    Text(String),
    /// The first fragment of a message (fin = 0) whose rest never comes.
    Fragment(Vec<u8>),
    /// Send a trade every 20 ms until the test opens the gate (so it knows its subscriber is in).
    TradesUntilGate,
    Close,
    /// Drop the TCP connection without a close frame.
    Cut,
}

#[derive(Debug, Clone, Default)]
pub struct Script {
    /// Answer `auth` with this error (then close) instead of `authenticated`.
    pub auth_error: Option<(u16, &'static str)>,
    pub acts: Vec<Act>,
}

/// What the server saw on one connection.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    pub auth: Option<Value>,
    pub subscribe: Option<Value>,
}

pub struct TestServer {
    pub port: u16,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    gate: watch::Sender<bool>,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

pub fn ts(nanos: i128) -> Value {
    Value::Ext(-1, timestamp_ext(nanos))
}

pub fn map(entries: Vec<(&str, Value)>) -> Value {
    Value::Map(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
}

pub fn pack(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, value).expect("writing to a Vec");
    out
}

pub fn frame(points: Vec<Value>) -> Vec<u8> {
    pack(&Value::Array(points))
}

pub fn bar(symbol: &str, minute: i64) -> Value {
    let close = 100.0 + minute as f64;
    map(vec![
        ("T", "b".into()),
        ("S", symbol.into()),
        ("o", close.into()),
        ("h", (close + 1.0).into()),
        ("l", (close - 1.0).into()),
        ("c", close.into()),
        ("v", 1000.into()),
        ("t", ts(T0_NS + i128::from(minute) * 60_000_000_000)),
        ("n", 10.into()),
        ("vw", close.into()),
    ])
}

pub fn trade(symbol: &str, id: u64) -> Value {
    map(vec![
        ("T", "t".into()),
        ("S", symbol.into()),
        ("i", id.into()),
        ("x", "V".into()),
        ("p", 100.5.into()),
        ("s", 10.into()),
        ("c", Value::Array(vec!["@".into()])),
        ("z", "C".into()),
        ("t", ts(T0_NS)),
    ])
}

fn control(entries: Vec<(&str, Value)>) -> Message {
    Message::Binary(frame(vec![map(entries)]).into())
}

impl TestServer {
    pub fn start(scripts: Vec<Script>) -> TestServer {
        let std_listener = StdListener::bind("127.0.0.1:0").expect("bind");
        std_listener.set_nonblocking(true).expect("nonblocking");
        let port = std_listener.local_addr().expect("addr").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (gate, gate_rx) = watch::channel(false);
        let (stop, stop_rx) = watch::channel(false);
        let seen_in = seen.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(serve(std_listener, scripts, seen_in, gate_rx, stop_rx));
        });
        TestServer {
            port,
            seen,
            gate,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/v2/iex", self.port)
    }

    pub fn open_gate(&self) {
        let _ = self.gate.send(true);
    }

    pub fn connections(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(
    listener: StdListener,
    scripts: Vec<Script>,
    seen: Arc<Mutex<Vec<Seen>>>,
    gate: watch::Receiver<bool>,
    mut stop: watch::Receiver<bool>,
) {
    let listener = TcpListener::from_std(listener).expect("tokio listener");
    let mut scripts: VecDeque<Script> = scripts.into();
    let mut tasks = Vec::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|s| *s) => break,
        };
        let Ok((socket, _)) = accepted else { continue };
        let script = scripts.pop_front().unwrap_or_default();
        let index = {
            let mut seen = seen.lock().unwrap();
            seen.push(Seen::default());
            seen.len() - 1
        };
        let seen = seen.clone();
        let gate = gate.clone();
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let _ = connection(socket, script, seen, index, gate, stop).await;
        }));
    }
    for task in tasks {
        task.abort();
    }
}

async fn connection(
    socket: tokio::net::TcpStream,
    script: Script,
    seen: Arc<Mutex<Vec<Seen>>>,
    index: usize,
    mut gate: watch::Receiver<bool>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut ws = tokio_tungstenite::accept_async(socket).await?;
    ws.send(control(vec![
        ("T", "success".into()),
        ("msg", "connected".into()),
    ]))
    .await?;
    let auth = read_value(&mut ws).await?;
    seen.lock().unwrap()[index].auth = Some(auth);
    if let Some((code, msg)) = script.auth_error {
        ws.send(control(vec![
            ("T", "error".into()),
            ("code", code.into()),
            ("msg", msg.into()),
        ]))
        .await?;
        ws.close(None).await?;
        return Ok(());
    }
    ws.send(control(vec![
        ("T", "success".into()),
        ("msg", "authenticated".into()),
    ]))
    .await?;
    let subscribe = read_value(&mut ws).await?;
    seen.lock().unwrap()[index].subscribe = Some(subscribe);
    ws.send(control(vec![
        ("T", "subscription".into()),
        ("bars", Value::Array(vec!["AAPL".into()])),
    ]))
    .await?;
    for act in script.acts {
        match act {
            Act::Binary(bytes) => ws.send(Message::Binary(bytes.into())).await?,
            Act::Text(text) => ws.send(Message::Text(text.into())).await?,
            Act::Fragment(bytes) => {
                let fragment = Frame::message(bytes, OpCode::Data(Data::Binary), false);
                ws.send(Message::Frame(fragment)).await?;
                return Ok(()); // dropping the socket cuts the message short
            }
            Act::TradesUntilGate => {
                let mut id = 0;
                while !*gate.borrow() {
                    id += 1;
                    ws.send(Message::Binary(frame(vec![trade("AAPL", id)]).into()))
                        .await?;
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(20)) => {}
                        _ = gate.changed() => {}
                    }
                }
            }
            Act::Close => {
                ws.close(None).await?;
                return Ok(());
            }
            Act::Cut => return Ok(()),
        }
    }
    // hold the connection (silent) until the client leaves or the server stops
    loop {
        tokio::select! {
            next = ws.next() => match next {
                Some(Ok(_)) => continue,
                _ => return Ok(()),
            },
            _ = stop.wait_for(|s| *s) => return Ok(()),
        }
    }
}

async fn read_value<S>(ws: &mut S) -> Result<Value, Box<dyn std::error::Error + Send + Sync>>
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match ws.next().await {
            Some(Ok(Message::Binary(bytes))) => {
                return Ok(rmpv::decode::read_value(&mut &bytes[..])?);
            }
            Some(Ok(_)) => continue,
            Some(Err(error)) => return Err(error.into()),
            None => return Err("client left".into()),
        }
    }
}

// ------------------------------------------------------------------------------ the process side

pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The `market-data` binary, killed when dropped.
pub struct Service {
    pub child: Child,
    pub health_port: u16,
    pub endpoint: String,
    /// Everything it logged so far (drained continuously: a full pipe would block the service).
    pub log: Arc<Mutex<String>>,
    reader: Option<JoinHandle<()>>,
}

impl Service {
    pub fn start(url: &str, extra: &[&str], env: &[(&str, &str)]) -> Service {
        let health_port = free_port();
        let endpoint = format!("tcp://127.0.0.1:{}", free_port());
        let mut command = Command::new(env!("CARGO_BIN_EXE_market-data"));
        command
            .args(["--stream-url", url, "--endpoint", &endpoint])
            .args(["--health-port", &health_port.to_string()])
            .args(["--symbols", "AAPL", "--channels", "bars,trades,quotes"])
            .args(["--reconnect-min-ms", "20", "--reconnect-max-ms", "100"])
            .args(extra)
            .env_remove("ALPACA_API_KEY")
            .env_remove("ALPACA_SECRET_KEY")
            .env_remove("APCA_API_KEY_ID")
            .env_remove("APCA_API_SECRET_KEY")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("market-data starts");
        let log = Arc::new(Mutex::new(String::new()));
        let reader = child.stderr.take().map(|mut stderr| {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut chunk = [0u8; 4096];
                while let Ok(n) = stderr.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    log.lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&chunk[..n]));
                }
            })
        });
        Service {
            child,
            health_port,
            endpoint,
            log,
            reader,
        }
    }

    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        http_get(self.health_port, path)
    }

    /// The value of one metric line (`name{labels}`), if the service answers and has it.
    pub fn metric(&self, series: &str) -> Option<f64> {
        let (_, body) = self.get("/metrics")?;
        body.lines().find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == series).then(|| value.parse().ok())?
        })
    }

    pub fn wait_for(&self, what: &str, timeout: Duration, mut ok: impl FnMut(&Service) -> bool) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if ok(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("timed out waiting for {what}");
    }

    /// SIGTERM, then the exit status and everything it logged.
    pub fn stop(mut self) -> (Option<i32>, String) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                break status.code();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // the reader sees end-of-file once the process is gone
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        let log = self.log.lock().unwrap().clone();
        (status, log)
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n")?.1.to_owned();
    Some((status, body))
}
