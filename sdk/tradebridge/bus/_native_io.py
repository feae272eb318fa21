"""The bus's hot socket calls in the extension module (``tradebridge._native.SocketIO``), where available.

pyzmq's ``send``/``recv`` spend about 1 us in Python and Cython around a libzmq call of about 0.2 us,
and an empty non-blocking ``recv`` raises an exception. ``SocketIO`` makes the same libzmq calls on the
same socket (its ``underlying`` handle, through the libzmq pyzmq itself loaded): a publisher's message is
encoded, enveloped, stamped and sent in one call (``PublishIO``, from ``_LIBRARY`` here), and a
subscriber's ``Receiver`` takes, decodes and counts a batch of frames per call (the GIL released while
it waits). Everything else about the socket (options, CURVE, bind, close) stays pyzmq's.

Where the extension cannot serve a socket (another pyzmq backend, another OS), :func:`socket_io`
returns None and the cores use pyzmq as before; ``TRADEBRIDGE_NATIVE_BUS=0`` forces that (to compare,
or to rule the native path out).
"""

from __future__ import annotations

import os
from typing import Any

import zmq

from tradebridge._native import Receiver, SocketIO

__all__ = ["SocketIO", "attach_receiver", "raise_for", "socket_io"]

_ENABLED = os.environ.get("TRADEBRIDGE_NATIVE_BUS", "1") != "0"


def _pyzmq_library() -> str | None:
    """The file of pyzmq's compiled backend: the object that links the libzmq its sockets live in."""
    try:
        from zmq.backend.cython import _zmq
    except ImportError:  # the CFFI backend (PyPy): no extension to find libzmq through
        return None
    path = getattr(_zmq, "__file__", None)
    return path if isinstance(path, str) else None


_LIBRARY = _pyzmq_library() if _ENABLED else None


def socket_io(socket: zmq.Socket[Any]) -> SocketIO | None:
    """A ``SocketIO`` on ``socket``'s handle, or None where the native path is off or unavailable."""
    if _LIBRARY is None:
        return None
    kind = socket.getsockopt(zmq.TYPE)
    if not isinstance(kind, int):
        return None
    try:
        return SocketIO(_LIBRARY, socket.underlying, kind)
    except OSError:  # the library or the socket's type did not check out: pyzmq serves this socket
        return None


def attach_receiver(receiver: Receiver, socket: zmq.Socket[Any]) -> bool:
    """Let ``receiver`` take frames off ``socket``'s handle itself; False where the native path is off or
    unavailable (pyzmq receives, and hands each frame to ``receiver.handle``)."""
    if _LIBRARY is None:
        return False
    kind = socket.getsockopt(zmq.TYPE)
    if not isinstance(kind, int):
        return False
    try:
        receiver.attach(_LIBRARY, socket.underlying, kind)
    except OSError:  # the library or the socket's type did not check out
        return False
    return True


def raise_for(errno: int) -> None:
    """Raise what pyzmq raises for ``errno`` (``zmq.Again``, ``zmq.ContextTerminated``, ...)."""
    if errno == zmq.EAGAIN:
        raise zmq.Again(errno)
    if errno == zmq.ETERM:
        raise zmq.ContextTerminated(errno)
    raise zmq.ZMQError(errno)
