//! A bare subscriber for the scale benchmarks' fan-out figure: `count_peer ENDPOINT COUNT` connects a SUB
//! socket, subscribes to `market `, prints `subscribed`, takes COUNT frames (or stops when none comes for
//! two seconds after the first), and prints one JSON line:
//!
//! `{"received", "seconds", "bytes", "gaps", "out_of_order", "first_seq", "timed_out", "cpu_seconds", "latencies_ns": []}`
//!
//! `seconds` runs from the first frame to the last; `gaps` counts the sequence numbers (`market
//! {"seq":N,...`, as `benches/scale/peers.py pub` sends them) skipped after the first frame and
//! `first_seq` the ones missed before it, so "every subscriber got every message once, in order" is
//! checked, not assumed; `cpu_seconds` is this process's CPU (both its threads), read once at the end.
//!
//! Why it exists: Python subscribers spend microseconds of CPU per frame, so eight of them on a two-core
//! machine measure the interpreter, not the proxy's fan-out. This one spends well under a microsecond
//! (libzmq's receive, reading a few digits and a count), which leaves the proxy and the publisher as what
//! is measured. Nothing per frame reads a clock or allocates: the one `zmq::Message` is reused.

use std::io::Write;
use std::time::Instant;

/// The bench frames' fixed prefix, after which the sequence number's digits start.
const SEQ_PREFIX: &[u8] = b"market {\"seq\":";

/// How long a subscriber that has started receiving waits for the next frame before it reports a loss.
const STALL_MS: i32 = 2_000;

fn seq_of(frame: &[u8]) -> Option<u64> {
    let digits = frame.strip_prefix(SEQ_PREFIX)?;
    let end = digits.iter().position(|b| !b.is_ascii_digit())?;
    digits[..end].iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

fn cpu_seconds() -> f64 {
    // SAFETY: an all-zero rusage is a valid value of this plain C struct, which getrusage overwrites.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a rusage that outlives the call; RUSAGE_SELF covers every thread.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return 0.0;
    }
    let seconds = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(endpoint), Some(count)) = (args.next(), args.next()) else {
        return Err("usage: count_peer ENDPOINT COUNT".into());
    };
    let count: u64 = count.parse()?;
    let context = zmq::Context::new();
    let socket = context.socket(zmq::SUB)?;
    socket.set_linger(0)?;
    // no high-water mark: a subscriber that falls behind queues, it never drops
    socket.set_rcvhwm(0)?;
    socket.set_rcvtimeo(20_000)?;
    socket.set_subscribe(b"market ")?;
    socket.connect(&endpoint)?;
    let mut out = std::io::stdout();
    writeln!(out, "subscribed")?;
    out.flush()?;

    let mut message = zmq::Message::new();
    socket.recv(&mut message, 0)?;
    let started = Instant::now();
    socket.set_rcvtimeo(STALL_MS)?;
    let first_seq = seq_of(&message).ok_or("a frame without a sequence number")?;
    let (mut last, mut received, mut bytes) = (first_seq, 1u64, message.len() as u64);
    let (mut gaps, mut out_of_order, mut timed_out) = (0u64, 0u64, false);
    while received < count {
        match socket.recv(&mut message, 0) {
            Ok(()) => {}
            Err(zmq::Error::EAGAIN) => {
                timed_out = true;
                break;
            }
            Err(e) => return Err(e.into()),
        }
        received += 1;
        bytes += message.len() as u64;
        match seq_of(&message) {
            Some(seq) if seq > last => {
                gaps += seq - last - 1;
                last = seq;
            }
            _ => out_of_order += 1,
        }
    }
    // after a stall the last frame came STALL_MS ago: the span ends there, not at the timeout
    let stalled = if timed_out {
        f64::from(STALL_MS) / 1e3
    } else {
        0.0
    };
    let seconds = (started.elapsed().as_secs_f64() - stalled).max(0.0);
    writeln!(
        out,
        "{{\"received\": {received}, \"seconds\": {seconds}, \"bytes\": {bytes}, \"gaps\": {gaps}, \
         \"out_of_order\": {out_of_order}, \"first_seq\": {first_seq}, \"timed_out\": {timed_out}, \
         \"cpu_seconds\": {}, \"latencies_ns\": []}}",
        cpu_seconds()
    )?;
    Ok(())
}
