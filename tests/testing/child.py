"""A child process for the supervisor's tests: each mode behaves like one kind of service.

``health PORT N``  serves ``/ready`` (503 for the first N requests, then 200) until SIGTERM, exits 0
``line``           prints a few lines, then ``listening on port <n>``, then waits for SIGTERM
``die``            prints three lines to stderr and exits 3
``stubborn``       ignores SIGTERM (only SIGKILL ends it)
``parent``         starts ``line`` under a Service, prints the child's pid, then waits to be killed
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def health(port: int, not_ready_for: int) -> int:
    asked = 0

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            nonlocal asked
            asked += 1
            ok = self.path == "/ready" and asked > not_ready_for
            body = b'{"ready": true}' if ok else b'{"ready": false, "reason": "warming up"}'
            self.send_response(200 if ok else 503)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    # shutdown() waits for serve_forever, which runs in the thread below: safe from the handler
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"serving on {port}", flush=True)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    thread.join()
    server.server_close()
    return 0


def main(argv: list[str]) -> int:
    mode = argv[0]
    if mode == "health":
        return health(int(argv[1]), int(argv[2]))
    if mode == "line":
        for i in range(3):
            print(f"starting {i}", flush=True)
        print("listening on port 43210", flush=True)
        time.sleep(3600)  # SIGTERM's default action ends it
        return 0
    if mode == "die":
        for i in range(3):
            print(f"fatal detail {i}", file=sys.stderr, flush=True)
        return 3
    if mode == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("ignoring SIGTERM", flush=True)
        time.sleep(3600)
        return 0
    if mode == "parent":
        from tradebridge.testing import Service

        child = Service("line", [sys.executable, __file__, "line"], ready_line="listening").start()
        child.wait_ready(10)
        print(f"child {child.pid}", flush=True)
        time.sleep(3600)
        return 0
    raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
