"""A testee that misbehaves on purpose, on the vectors whose id is named on its command line.

``misbehaving.py MODE ID...``: MODE ``crash`` exits, ``hang`` never answers, ``junk`` prints a non-JSON
line, ``out_of_order`` answers with another request's id; every other vector is answered by the SDK's
codec. ``refuse_hello`` refuses protocol 1 outright. The vector is recognised by its payload, which the
test passes as hex after the mode.
"""

from __future__ import annotations

import json
import sys
import time

from tradebridge.conformance.python_testee import Server


def main() -> None:
    mode, payloads = sys.argv[1], set(sys.argv[2:])
    server = Server()
    for line in sys.stdin.buffer:
        request = json.loads(line)
        if request["op"] == "hello" and mode == "refuse_hello":
            answer = {"ok": False, "code": "unsupported_protocol", "path": "$.protocol", "message": "2 only"}
        elif request.get("payload_hex") in payloads and mode == "crash":
            sys.exit(3)
        elif request.get("payload_hex") in payloads and mode == "hang":
            time.sleep(60)
            continue
        elif request.get("payload_hex") in payloads and mode == "junk":
            sys.stdout.write("Traceback (most recent call last): oops\n")
            sys.stdout.flush()
            continue
        else:
            answer = server.serve(request)
        answer["id"] = request["id"]
        if request.get("payload_hex") in payloads and mode == "out_of_order":
            answer["id"] = request["id"] + 1000
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
