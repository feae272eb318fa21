"""``tradebridge conformance``: judge your own service against the tradebridge contracts.

Exit codes, for every subcommand: 0 conformant, 1 non-conformant, 2 could not run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import zmq

from tradebridge.conformance.bus import subscribe
from tradebridge.conformance.driver import HandshakeError, ProcessTestee
from tradebridge.conformance.feed import CannotFeed, feed
from tradebridge.conformance.health import Unreachable, check_health
from tradebridge.conformance.latency import measure
from tradebridge.conformance.openapi import KitExtraMissing
from tradebridge.conformance.report import (
    health_rows,
    latency_rows,
    write_health_html,
    write_html,
    write_json,
    write_junit,
    write_latency_html,
    write_rows_junit,
)
from tradebridge.conformance.runner import CodecRun, run_codec
from tradebridge.conformance.vectors import VECTORS_DIR, load_known_failures, load_vectors

CONFORMANT, NON_CONFORMANT, CANNOT_RUN = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tradebridge conformance", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    codec = commands.add_parser(
        "codec", help="every vector through a testee speaking conformance/PROTOCOL.md"
    )
    codec.add_argument("--testee", required=True, help='the testee command, e.g. "node testee.js"')
    codec.add_argument("--known-failures", type=Path, help="vector ids expected to fail (stale ones fail)")
    codec.add_argument(
        "--vectors", type=Path, default=VECTORS_DIR, help="a vector directory (default: shipped)"
    )
    codec.add_argument("--only", action="append", default=[], help="vector id prefix to run (repeatable)")
    codec.add_argument("--timeout", type=float, default=5.0, help="seconds per request (default 5)")
    codec.add_argument("--json", type=Path, help="write the JSON report here")
    codec.add_argument("--junit", type=Path, help="write JUnit XML here")
    codec.add_argument("--html", type=Path, help="write the one-page HTML report here")
    bus = commands.add_parser("bus", help="attach to a running publisher and judge what it emits")
    target = bus.add_mutually_exclusive_group(required=True)
    target.add_argument("--subscribe", metavar="ENDPOINT", help="judge what the publisher at ENDPOINT emits")
    target.add_argument(
        "--publish-to", metavar="ENDPOINT", help="feed the subscriber at ENDPOINT every vector"
    )
    bus.add_argument("--health", metavar="URL", help="with --publish-to: the service's health base URL")
    bus.add_argument(
        "--bind", action="store_true", help="with --publish-to: bind ENDPOINT (the service connects to it)"
    )
    bus.add_argument("--topics", default="", help="comma-separated topic prefixes (default: everything)")
    bus.add_argument("--duration", type=float, default=10.0, help="seconds to listen (default 10)")
    bus.add_argument(
        "--max-messages", type=int, default=0, help="stop after this many messages (0: no limit)"
    )
    bus.add_argument(
        "--heartbeat-interval", type=float, metavar="S", help="the service beats on system every S s"
    )
    bus.add_argument("--json", type=Path, help="write the JSON report here")
    latency = commands.add_parser("latency", help="signal -> order update latency of a running service")
    latency.add_argument(
        "--publish-to", required=True, metavar="ENDPOINT", help="where the service reads signals"
    )
    latency.add_argument(
        "--subscribe", required=True, metavar="ENDPOINT", help="where it publishes order updates"
    )
    latency.add_argument("--budget-p99", type=float, required=True, metavar="MS", help="the p99 budget in ms")
    latency.add_argument("--count", type=int, default=200, help="signals to send (default 200)")
    latency.add_argument("--rate", type=float, default=100.0, help="signals per second (default 100)")
    latency.add_argument("--symbol", default="AAPL", help="the signals' symbol (default AAPL)")
    latency.add_argument("--bind", action="store_true", help="bind the signal endpoint instead of connecting")
    latency.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for answers (default 5)")
    latency.add_argument("--json", type=Path, help="write the JSON report (with the histogram) here")
    latency.add_argument("--junit", type=Path, help="write JUnit XML here")
    latency.add_argument("--html", type=Path, help="write the one-page HTML report (histogram chart) here")
    health = commands.add_parser("health", help="the guide's health API against a running service")
    health.add_argument("url", help="the service's health base URL, e.g. http://127.0.0.1:8080")
    health.add_argument("--timeout", type=float, default=5.0, help="seconds per request (default 5)")
    health.add_argument(
        "--rules-only", action="store_true", help="skip schemathesis (the kit extra): hand-written rules only"
    )
    health.add_argument(
        "--max-examples", type=int, default=25, help="schemathesis examples per operation (default 25)"
    )
    health.add_argument("--json", type=Path, help="write the JSON report here")
    health.add_argument("--junit", type=Path, help="write JUnit XML here")
    health.add_argument("--html", type=Path, help="write the one-page HTML report here")
    return parser


def latency_main(args: argparse.Namespace) -> int:
    try:
        run = measure(args.publish_to, args.subscribe, args.budget_p99, args.count, args.rate, args.symbol,
                      args.timeout, args.bind)  # fmt: skip
    except (TimeoutError, zmq.ZMQError, KitExtraMissing) as exc:
        print(f"tradebridge conformance: cannot measure: {exc}", file=sys.stderr)
        return CANNOT_RUN
    figures = ", ".join(f"{name} {value:.3f} ms" for name, value in run.percentiles().items())
    for bound, count in run.buckets():
        bar = "#" * max(1, round(60 * count / max(1, run.answered))) if count else ""
        print(f"  <= {bound:>8g} ms  {count:>7}  {bar}")
    for problem in run.problems():
        print(f"  FAIL  {problem}")
    verdict_text = "within budget" if run.conformant else "NOT within budget"
    print(f"latency: {verdict_text} (p99 budget {args.budget_p99} ms; {run.answered}/{run.sent} answered; "
          f"{figures or 'no samples'})")  # fmt: skip
    if args.json is not None:
        args.json.write_text(json.dumps(run.to_json(), indent=2) + "\n", encoding="utf-8")
    if args.junit is not None:
        write_rows_junit(f"tradebridge conformance latency: {args.subscribe}", latency_rows(run), 0.0,
                         args.junit)  # fmt: skip
    if args.html is not None:
        write_latency_html(run, args.html, args.publish_to)
    return CONFORMANT if run.conformant else NON_CONFORMANT


def health_main(args: argparse.Namespace) -> int:
    try:
        run = check_health(args.url, args.timeout, not args.rules_only, args.max_examples)
    except Unreachable as exc:
        print(f"tradebridge conformance: {args.url} does not answer: {exc}", file=sys.stderr)
        return CANNOT_RUN
    except KitExtraMissing as exc:
        print(f"tradebridge conformance: {exc} (or --rules-only to skip schemathesis)", file=sys.stderr)
        return CANNOT_RUN
    for check, problem in run.checks.items():
        print(f"{'ok' if problem is None else 'FAIL':>6}  {check}{'' if problem is None else ': ' + problem}")
    if run.openapi is not None:
        for failure in run.openapi.failures:
            print(f"  FAIL  schemathesis {failure.check} on {failure.operation}: {failure.title} "
                  f"({failure.occurrences}x)\n        reproduce: {failure.reproduce}")  # fmt: skip
        for error in run.openapi.errors:
            print(f" ERROR  schemathesis: {error}")
        checks = sum(sum(counts.values()) for counts in run.openapi.checks.values())
        verdict = "ok" if run.openapi.conformant else "FAIL"
        print(f"{verdict:>6}  schemathesis: {len(run.openapi.checks)} checks, {checks} runs,"
              f" {len(run.openapi.failures)} distinct failures ({run.openapi.stop_reason}, "
              f"{run.openapi.seconds:.1f} s)")  # fmt: skip
    print(f"{args.url}: {'conformant' if run.conformant else 'NOT conformant'}")
    if args.json is not None:
        args.json.write_text(json.dumps(run.to_json(), indent=2) + "\n", encoding="utf-8")
    if args.junit is not None:
        seconds = run.openapi.seconds if run.openapi is not None else 0.0
        write_rows_junit(f"tradebridge conformance health: {args.url}", health_rows(run), seconds, args.junit)
    if args.html is not None:
        write_health_html(run, args.html)
    return CONFORMANT if run.conformant else NON_CONFORMANT


def feed_main(args: argparse.Namespace) -> int:
    if not args.health:
        print(
            "tradebridge conformance: --publish-to needs --health URL (where refusals are counted)",
            file=sys.stderr,
        )
        return CANNOT_RUN
    try:
        run = feed(args.publish_to, args.health, settle=min(args.duration, 10.0), bind=args.bind)
    except (CannotFeed, zmq.ZMQError) as exc:
        print(f"tradebridge conformance: cannot feed {args.publish_to}: {exc}", file=sys.stderr)
        return CANNOT_RUN
    for problem in run.problems:
        print(f"  FAIL  {problem}")
    print(f"{args.publish_to}: {'conformant' if run.conformant else 'NOT conformant'} (topics {run.topics}; "
          f"{run.valid_sent} valid and {run.hostile_sent} hostile frames sent, {run.refusals_counted:g} "
          f"refusals counted, {'alive' if run.alive else 'NOT alive'})")  # fmt: skip
    if args.json is not None:
        args.json.write_text(json.dumps(run.to_json(), indent=2) + "\n", encoding="utf-8")
    return CONFORMANT if run.conformant else NON_CONFORMANT


def bus_main(args: argparse.Namespace) -> int:
    if args.publish_to:
        return feed_main(args)
    topics = [topic for topic in args.topics.split(",") if topic]
    try:
        run = subscribe(args.subscribe, topics, args.duration, args.heartbeat_interval, args.max_messages)
    except zmq.ZMQError as exc:
        print(f"tradebridge conformance: cannot subscribe to {args.subscribe}: {exc}", file=sys.stderr)
        return CANNOT_RUN
    for kind, examples in run.examples.items():
        print(f"{kind.upper():>20}  {run.problems[kind]} times, e.g. {examples[0]}")
    rate = run.messages / run.seconds if run.seconds else 0.0
    verdict_text = "conformant" if run.conformant else "NOT conformant"
    if run.messages == 0:
        verdict_text += " (nothing received)"
    print(f"{args.subscribe}: {verdict_text} ({run.messages} messages in {run.seconds:.1f} s, {rate:.0f}/s; "
          f"{len(run.streams)} streams)")  # fmt: skip
    if args.json is not None:
        args.json.write_text(json.dumps(run.to_json(), indent=2) + "\n", encoding="utf-8")
    return CONFORMANT if run.conformant else NON_CONFORMANT


def print_run(run: CodecRun) -> None:
    for verdict in run.failing():
        print(f"{verdict.status.upper():>20}  {verdict.vector}: {verdict.problem}")
    counts = ", ".join(f"{status} {count}" for status, count in sorted(run.counts().items()))
    verdict_text = "conformant" if run.conformant else "NOT conformant"
    print(
        f"{run.implementation or run.testee}: {verdict_text} ({len(run.verdicts)} vectors, {counts}; "
        f"{run.seconds:.2f} s)"
    )


def codec_main(args: argparse.Namespace) -> int:
    try:
        vectors = load_vectors(args.vectors)
        if args.only:
            vectors = [v for v in vectors if any(v.id.startswith(prefix) for prefix in args.only)]
        known = load_known_failures(args.known_failures)
    except (OSError, ValueError, KeyError) as exc:
        print(f"tradebridge conformance: cannot read the vectors: {exc}", file=sys.stderr)
        return CANNOT_RUN
    if not vectors:
        print("tradebridge conformance: no vectors selected", file=sys.stderr)
        return CANNOT_RUN
    try:
        testee = ProcessTestee(args.testee, timeout=args.timeout)
    except HandshakeError as exc:
        print(f"tradebridge conformance: cannot run the testee: {exc}", file=sys.stderr)
        return CANNOT_RUN
    try:
        run = run_codec(testee, vectors, known, name=args.testee)
    except HandshakeError as exc:
        print(f"tradebridge conformance: the testee stopped answering for good: {exc}", file=sys.stderr)
        return CANNOT_RUN
    finally:
        testee.close()
    print_run(run)
    for path, write in ((args.json, write_json), (args.junit, write_junit), (args.html, write_html)):
        if path is not None:
            write(run, path)
    return CONFORMANT if run.conformant else NON_CONFORMANT


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "codec":
        return codec_main(args)
    if args.command == "bus":
        return bus_main(args)
    if args.command == "health":
        return health_main(args)
    if args.command == "latency":
        return latency_main(args)
    return CANNOT_RUN  # pragma: no cover - argparse refuses unknown commands


if __name__ == "__main__":
    sys.exit(main())
