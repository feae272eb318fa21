"""The conformance kit: judge any implementation of the tradebridge contracts.

``tradebridge conformance codec --testee CMD`` drives a testee process through the testee protocol
(``conformance/PROTOCOL.md``) with every shipped vector; the pytest plugin (``--tradebridge-testee``)
runs the same checks inside a user's CI.
"""

from tradebridge.conformance.driver import HandshakeError, ProcessTestee, TesteeFailure
from tradebridge.conformance.runner import CodecRun, Verdict, run_codec
from tradebridge.conformance.vectors import VECTORS_DIR, Vector, load_known_failures, load_vectors, same

__all__ = [
    "VECTORS_DIR",
    "CodecRun",
    "HandshakeError",
    "ProcessTestee",
    "TesteeFailure",
    "Vector",
    "Verdict",
    "load_known_failures",
    "load_vectors",
    "run_codec",
    "same",
]
