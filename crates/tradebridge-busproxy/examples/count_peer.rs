//! A bare subscriber for the scale benchmarks' fan-out figure: `count_peer ENDPOINT COUNT` connects a SUB
//! socket, subscribes to `market `, prints `subscribed`, takes COUNT frames, and prints the JSON report
//! `benches/scale/peers.py sub` prints (`received`, `seconds` from the first frame to the last).
//!
//! Why it exists: Python subscribers spend microseconds of CPU per frame, so eight of them on a two-core
//! machine measure the interpreter, not the proxy's fan-out. This one spends a few hundred nanoseconds
//! (libzmq's receive and a count), which leaves the proxy and the publisher as what is measured.

use std::io::Write;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(endpoint), Some(count)) = (args.next(), args.next()) else {
        return Err("usage: count_peer ENDPOINT COUNT".into());
    };
    let count: u64 = count.parse()?;
    let context = zmq::Context::new();
    let socket = context.socket(zmq::SUB)?;
    socket.set_linger(0)?;
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
    let mut bytes = message.len() as u64;
    for _ in 1..count {
        socket.recv(&mut message, 0)?;
        bytes += message.len() as u64;
    }
    let seconds = started.elapsed().as_secs_f64();
    writeln!(
        out,
        "{{\"received\": {count}, \"seconds\": {seconds}, \"bytes\": {bytes}, \"latencies_ns\": []}}"
    )?;
    Ok(())
}
