"""What a decoder forgives peers that follow the guide without us (the Python twin of the Rust crate's
``lenient.rs``): the original bridge's tag ``SignalGenerated`` (read as ``Signal``) and, opted in, the bare
``NaN``/``Infinity``/``-Infinity`` tokens ``json.dumps`` writes for warm-up features.

Both rewrite the raw document into the canonical one and run only after it failed to decode as sent, so a
conforming document never pays for them. The walk tokenizes outside strings only; malformed input is walked
as far as it goes and the decoder that reads the rewrite reports it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

__all__ = ["SIGNAL_ALIAS", "nan_tokens_as_null", "retag_signal"]

#: the ``type`` tag the original Python bridge writes on every signal
SIGNAL_ALIAS = "SignalGenerated"

_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"?|[\[\]{}:,]|-Infinity|Infinity|NaN')
_NAN_TOKENS = frozenset((b"NaN", b"Infinity", b"-Infinity"))
_ALIAS = b'"' + SIGNAL_ALIAS.encode() + b'"'


def _walk(data: bytes) -> Iterator[tuple[str, bytes, re.Match[bytes]]]:
    """``("member", key, value_token)`` for each top-level member whose value is one token, and
    ``("feature", b"", token)`` for each token directly inside the top-level ``features`` array."""
    depth = 0
    expect_key = False
    key: bytes | None = None
    current = b""
    features_depth = -1
    after_colon = False
    for match in _TOKENS.finditer(data):
        token = match.group()
        if after_colon and depth == 1:
            after_colon = False
            yield "member", current, match
        if token[:1] == b'"':
            if depth == 1 and expect_key:
                key = token[1:-1]
            continue
        if token == b":" and depth == 1 and key is not None:
            current, key, expect_key, after_colon = key, None, False, True
        elif token in (b"{", b"["):
            depth += 1
            if depth == 1:
                expect_key = token == b"{"
            elif depth == 2 and token == b"[" and current == b"features":
                features_depth = 2
        elif token in (b"}", b"]"):
            if depth == features_depth:
                features_depth = -1
            depth -= 1
        elif token == b"," and depth == 1:
            expect_key, current = True, b""
        elif depth == features_depth and token in _NAN_TOKENS:
            yield "feature", b"", match


def _replace(data: bytes, spans: list[tuple[int, int]], by: bytes) -> bytes:
    parts, start = [], 0
    for begin, end in spans:
        parts += [data[start:begin], by]
        start = end
    parts.append(data[start:])
    return b"".join(parts)


def retag_signal(data: bytes) -> bytes | None:
    """``data`` with its top-level ``"type": "SignalGenerated"`` written as ``"Signal"``; None without one."""
    spans = [
        m.span()
        for kind, key, m in _walk(data)
        if kind == "member" and key == b"type" and m.group() == _ALIAS
    ]
    return _replace(data, spans, b'"Signal"') if spans else None


def nan_tokens_as_null(data: bytes) -> bytes | None:
    """``data`` with the ``NaN``/``Infinity``/``-Infinity`` tokens directly inside its top-level ``features``
    array written as ``null``; None if there is none (elsewhere they stay, and stay invalid JSON)."""
    spans = [m.span() for kind, _, m in _walk(data) if kind == "feature"]
    return _replace(data, spans, b"null") if spans else None
