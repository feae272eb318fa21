"""CURVE keys for the bus: ``tradebridge keys generate`` and the loaders the services share.

The files are those of pyzmq's ``zmq.auth.create_certificates`` (and czmq's ``zcert``): ``NAME.key`` holds
the public key, ``NAME.key_secret`` both (mode 0600), so existing ZeroMQ tooling reads them. How a
service finds its keys (flags, then ``TRADEBRIDGE_CURVE_*`` variables) is :func:`resolve`; the sockets use
them through ``curve=`` (:class:`tradebridge.bus.Curve`). See docs/deploy.md, "Securing the bus".
"""

from __future__ import annotations

from tradebridge.bus._security import (
    ALLOW_ANY,
    ENV_ALLOW,
    ENV_PUBLIC,
    ENV_SECRET,
    ENV_SERVER,
    Curve,
    CurveConfigError,
    generate_keypair,
    is_z85_key,
    load_certificate,
    public_of,
    resolve,
    write_certificates,
)

__all__ = [
    "ALLOW_ANY",
    "ENV_ALLOW",
    "ENV_PUBLIC",
    "ENV_SECRET",
    "ENV_SERVER",
    "Curve",
    "CurveConfigError",
    "generate_keypair",
    "is_z85_key",
    "load_certificate",
    "public_of",
    "resolve",
    "write_certificates",
]
