"""The keys a process runs with (:class:`Curve`), and the one rule that reads them from flags and the
environment (:func:`resolve`)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from tradebridge.bus._security.keys import (
    CurveConfigError,
    _key,
    generate_keypair,
    is_z85_key,
    load_certificate,
    public_of,
)

#: an allow-list that admits every CURVE client (encrypted, not authorised): ``TRADEBRIDGE_CURVE_ALLOW=*``
ALLOW_ANY: Final = "*"

ENV_SECRET: Final = "TRADEBRIDGE_CURVE_SECRET_KEY"
ENV_PUBLIC: Final = "TRADEBRIDGE_CURVE_PUBLIC_KEY"
ENV_SERVER: Final = "TRADEBRIDGE_CURVE_SERVER_KEY"
ENV_ALLOW: Final = "TRADEBRIDGE_CURVE_ALLOW"


@dataclass(frozen=True, slots=True)
class Curve:
    """CURVE keys of one process, for every socket it makes.

    - ``secret`` / ``public``: this process's keypair (Z85).
    - ``server_public``: the public key of the server that connecting sockets talk to (None: this process
      cannot connect securely).
    - ``allow``: client public keys a binding socket admits, or :data:`ALLOW_ANY` (None: this process
      cannot bind securely).
    """

    secret: str
    public: str
    server_public: str | None = None
    allow: frozenset[str] | str | None = None

    def __post_init__(self) -> None:
        _key(self.secret, "secret key")
        _key(self.public, "public key")
        if public_of(self.secret) != self.public:
            raise CurveConfigError("curve_key_mismatch", "the public key is not the secret key's")
        if self.server_public is not None:
            _key(self.server_public, "server key")
        if isinstance(self.allow, frozenset):
            for key in self.allow:
                _key(key, "allowed key")
        elif self.allow is not None and self.allow != ALLOW_ANY:
            raise CurveConfigError("curve_bad_key", "allow must be a set of keys or ALLOW_ANY")

    @classmethod
    def server(cls, secret: str, allow: Iterable[str] | str, *, server_public: str | None = None) -> Curve:
        """Keys for a process whose sockets bind: ``allow`` lists the client public keys (or ALLOW_ANY)."""
        allowed = allow if allow == ALLOW_ANY else frozenset(allow)
        return cls(secret, public_of(secret), server_public=server_public, allow=allowed)

    @classmethod
    def client(cls, server_public: str, secret: str | None = None) -> Curve:
        """Keys for a process whose sockets connect to the server ``server_public``; without ``secret``
        a fresh keypair (which only a server that allows any client admits)."""
        secret = secret if secret is not None else generate_keypair()[1]
        return cls(secret, public_of(secret), server_public=server_public)

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        secret_key_file: str | None = None,
        server_key_file: str | None = None,
        allow: str | None = None,
    ) -> Curve | None:
        """:func:`resolve` with ``os.environ``: the keys a command's flags and the environment give, or
        None when neither configures any (plaintext)."""
        flags = {"secret_key_file": secret_key_file, "server_key_file": server_key_file, "allow": allow}
        return resolve(flags, os.environ if env is None else env)

    def __repr__(self) -> str:  # the secret key never reaches a log line
        allow = self.allow if isinstance(self.allow, str | None) else f"{len(self.allow)} key(s)"
        return f"Curve(public={self.public!r}, server_public={self.server_public!r}, allow={allow!r})"


def _text_or_file(value: str, what: str, want_secret: bool) -> str:
    """An environment value: a Z85 key itself, or else the path of a key file."""
    if is_z85_key(value):
        return value
    return _from_file(value, what, want_secret)


def _from_file(path: str, what: str, want_secret: bool) -> str:
    public, secret = load_certificate(path)
    found = secret if want_secret else public
    if not found:
        kind = "secret-key" if want_secret else "public-key"
        raise CurveConfigError("curve_file_no_key", f"{what} file {path} has no {kind} line")
    _key(found, f"the key in {path}")
    if want_secret and public:
        _key(public, f"the public key in {path}")
        if public_of(found) != public:
            raise CurveConfigError("curve_key_mismatch", f"the public key in {path} is not its secret key's")
    return found


def _allow_list(value: str) -> frozenset[str] | str:
    value = value.strip()
    if value == ALLOW_ANY:
        return ALLOW_ANY
    if os.path.isdir(value):
        keys = set()
        for path in sorted(Path(value).glob("*.key")):
            public, _ = load_certificate(path)
            if not public:
                raise CurveConfigError("curve_file_no_key", f"allowed key file {path} has no public-key line")
            keys.add(_key(public, f"the key in {path}"))
    else:
        keys = {_key(item.strip(), "allowed key") for item in value.split(",") if item.strip()}
    if not keys:
        raise CurveConfigError("curve_allow_empty", "the allow-list holds no key (use * to allow any client)")
    return frozenset(keys)


def resolve(flags: Mapping[str, str | None], env: Mapping[str, str]) -> Curve | None:
    """The CURVE keys a process runs with, from its flags and environment (the rule of
    ``conformance/vectors/curve/README.md``, shared with Rust); None: no security configured.

    ``flags`` may hold ``secret_key_file``, ``server_key_file`` (paths of certificate files) and ``allow``
    (a directory of ``*.key`` files, a comma list of keys, or ``*``); each one, when given and not empty,
    wins over its environment variable. Environment values of keys are a Z85 key or the path of a key file.
    """

    def pick(flag: str, variable: str) -> tuple[str | None, bool]:
        value = flags.get(flag)
        if value:
            return value, True
        value = env.get(variable)
        return (value, False) if value else (None, False)

    secret_value, secret_is_flag = pick("secret_key_file", ENV_SECRET)
    server_value, server_is_flag = pick("server_key_file", ENV_SERVER)
    allow_value, _ = pick("allow", ENV_ALLOW)
    if secret_value is None:
        if server_value is not None or allow_value is not None:
            # half a configuration must not quietly run in plaintext
            raise CurveConfigError(
                "curve_secret_missing", f"a server key or allow-list is set but no secret key ({ENV_SECRET})"
            )
        return None
    if secret_is_flag:
        secret = _from_file(secret_value, "secret key", want_secret=True)
    else:
        secret = _text_or_file(secret_value, "secret key", want_secret=True)
    public = public_of(secret)
    declared = env.get(ENV_PUBLIC)
    if declared and _key(declared, ENV_PUBLIC) != public:
        raise CurveConfigError("curve_key_mismatch", f"{ENV_PUBLIC} is not the secret key's public key")
    server_public = None
    if server_value is not None:
        if server_is_flag:
            server_public = _from_file(server_value, "server key", want_secret=False)
        else:
            server_public = _text_or_file(server_value, "server key", want_secret=False)
    allow = _allow_list(allow_value) if allow_value is not None else None
    if server_public is None and allow is None:
        raise CurveConfigError(
            "curve_role_missing",
            f"a secret key alone secures nothing: set an allow-list ({ENV_ALLOW}) to bind, "
            f"a server key ({ENV_SERVER}) to connect",
        )
    return Curve(secret, public, server_public=server_public, allow=allow)
