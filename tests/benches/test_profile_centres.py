"""The cost centres of ``make profile`` (benches/profile/bus.py): perf's report read right, and each kind
of symbol filed where the closing notes say it is (a validation cost filed as parsing would hide it)."""

from __future__ import annotations

import pytest

from benches.profile.bus import ACCOUNTING, CHECKS, OTHER, centre, shares_of

MSGSPEC = "_core.cpython-311-x86_64-linux-gnu.so"
NATIVE = "_native.cpython-311-x86_64-linux-gnu.so"
PYTHON = "libpython3.11.so.1.0"


@pytest.mark.parametrize(
    ("dso", "symbol", "expected"),
    [
        (NATIVE, "_native::contract_guard::DECODE::entry", CHECKS),
        (NATIVE, "_native::contract_guard::CHECK::entry", CHECKS),
        (MSGSPEC, "ms_decode_constr_float", CHECKS),
        (NATIVE, "lru::LruCache<K,V,S>::get_mut", ACCOUNTING),
        (NATIVE, "_native::bus_recv::Receiver::handle_frame", ACCOUNTING),
        (MSGSPEC, "json_decode_struct_map_inner", "msgspec JSON parse / print"),
        (MSGSPEC, "_StrLookup_lookup", "msgspec JSON parse / print"),
        (MSGSPEC, "d2d", "msgspec JSON parse / print"),
        ("libzmq-2f02442c.so.5.2.5", "0x000000000003e681", "libzmq + kernel (the transfer itself)"),
        ("[kernel.kallsyms]", "_raw_spin_unlock_irqrestore", "libzmq + kernel (the transfer itself)"),
        (
            "_zmq.cpython-311-x86_64-linux-gnu.so",
            "__pyx_pw_3zmq_7backend_6cython_4_zmq_6Socket_37recv",
            "pyzmq's binding (Cython)",
        ),
        ("libc.so.6", "__memmove_avx_unaligned_erms", "copies (memcpy, memmove, memcmp)"),
        ("libc.so.6", "_int_malloc", "C library (malloc, free, locks)"),
        (PYTHON, "gc_collect_main", "Python GC"),
        (PYTHON, "PyObject_GC_UnTrack", "Python GC"),
        (PYTHON, "PyFloat_FromDouble", "Python objects (create, free)"),
        (PYTHON, "tupledealloc", "Python objects (create, free)"),
        (PYTHON, "_PyEval_EvalFrameDefault", "Python interpreter (loops, calls, generator)"),
        ("bus-peer", "main", OTHER),
    ],
)
def test_each_kind_of_symbol_has_its_centre(dso: str, symbol: str, expected: str) -> None:
    assert centre(dso, symbol) == expected


def test_perf_report_lines_become_shares_per_dso_and_symbol() -> None:
    report = (
        "# header\n"
        f"     9.38%\x1f{MSGSPEC}  \x1f[.] json_decode_struct_map_inner\n"
        f"     0.50%\x1f[kernel.kallsyms]\x1f[k] _raw_spin_unlock_irqrestore\n"
        f"     0.25%\x1f{MSGSPEC}  \x1f[.] json_decode_struct_map_inner\n"
        "\n"
    )
    shares = shares_of(report)
    assert shares == {
        (MSGSPEC, "json_decode_struct_map_inner"): pytest.approx(0.0963),
        ("[kernel.kallsyms]", "_raw_spin_unlock_irqrestore"): pytest.approx(0.005),
    }
