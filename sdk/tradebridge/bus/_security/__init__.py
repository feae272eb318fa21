"""CURVE security for the bus: keys, the one key-loading rule, and ZAP allow-lists on binding sockets.

libzmq's CURVE (RFC 26) encrypts and authenticates every connection; who may connect is decided by a ZAP
handler (RFC 27) that the binding side's context runs. Here:

- :class:`Curve` holds a keypair, the server's public key (for sockets that connect) and the allow-list of
  client public keys (for sockets that bind). Every publisher and subscriber takes one (``curve=``): a
  socket that binds is the CURVE *server* and enforces the allow-list, one that connects is a *client* of
  the server whose public key it was given. With a key configured, a plaintext peer is refused by libzmq
  itself (mechanism mismatch), before a single message frame.
- :func:`resolve` is the rule set for reading keys from files and the environment, the same in Rust
  (``tradebridge_bus::security``); ``conformance/vectors/curve/`` pins it for both.
- Refusals are counted per socket (:class:`CurveStats`): ``denied`` are clients whose key the allow-list
  does not hold (the ZAP handler said 400), ``handshake_failed`` the handshakes libzmq itself refused
  (a plaintext peer, a client that has a wrong server key). ``health.track("curve", sub.curve_stats)``
  puts them on ``/metrics``.

One ZAP handler serves a context (libzmq looks for it at ``inproc://zeromq.zap.01`` in that context):
pyzmq's :class:`zmq.auth.thread.ThreadAuthenticator`, started with the first CURVE server socket of a
context and stopped with the last. Each server socket gets its own ZAP domain, so sockets of one context
can have different allow-lists. A second thread per context reads the sockets' monitor events (libzmq
reports a failed handshake there, and nowhere else).
"""

from tradebridge.bus._security.config import (
    ALLOW_ANY,
    ENV_ALLOW,
    ENV_PUBLIC,
    ENV_SECRET,
    ENV_SERVER,
    Curve,
    resolve,
)
from tradebridge.bus._security.keys import (
    CurveConfigError,
    generate_keypair,
    is_z85_key,
    load_certificate,
    public_of,
    write_certificates,
)
from tradebridge.bus._security.zap import CurveLease, CurveStats, curve_stats_of, secure

__all__ = [
    "ALLOW_ANY",
    "ENV_ALLOW",
    "ENV_PUBLIC",
    "ENV_SECRET",
    "ENV_SERVER",
    "Curve",
    "CurveConfigError",
    "CurveLease",
    "CurveStats",
    "curve_stats_of",
    "generate_keypair",
    "is_z85_key",
    "load_certificate",
    "public_of",
    "resolve",
    "secure",
    "write_certificates",
]
