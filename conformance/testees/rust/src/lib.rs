//! What every Rust testee shares: the line protocol's loop (`conformance/PROTOCOL.md`). One JSON request
//! per stdin line, one JSON response per stdout line, in order, with the request's `id` echoed; a line
//! that is not JSON is `bad_request`, and a panic is reported as `panic` while the process keeps serving.

use std::io::{self, BufRead, BufWriter, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};

use serde_json::{Map, Value};

/// Serve stdin until it ends. `serve` answers one request; `failure(code, message)` shapes a refusal of
/// the testee's own (for a bad line or a panic).
pub fn serve_lines(
    serve: impl Fn(&Value) -> Map<String, Value>,
    failure: impl Fn(&str, &str) -> Map<String, Value>,
) {
    let stdin = io::stdin();
    let mut out = BufWriter::new(io::stdout().lock());
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        let response = match serde_json::from_str::<Value>(&line) {
            Ok(request) => {
                let id = request.get("id").cloned().unwrap_or(Value::Null);
                let mut body =
                    catch_unwind(AssertUnwindSafe(|| serve(&request))).unwrap_or_else(|panic| {
                        let text = panic
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                            .unwrap_or_default();
                        failure("panic", &text)
                    });
                body.insert("id".into(), id);
                Value::Object(body)
            }
            Err(error) => Value::Object(failure("bad_request", &error.to_string())),
        };
        if writeln!(out, "{response}")
            .and_then(|()| out.flush())
            .is_err()
        {
            break;
        }
    }
}
