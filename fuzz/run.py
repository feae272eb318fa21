"""``make fuzz``: seed, then fuzz each Rust target with cargo-fuzz (nightly) for ``--runs`` inputs, keep
every crash input as a regression vector, minimise the corpora, and print executions and coverage.

A crash does not stop the other targets; the exit status is 1 if any target crashed. libFuzzer's own
output goes to ``reports/fuzz/<target>.log``; only its final figures are printed here.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

FUZZ = Path(__file__).resolve().parent
REPORTS = FUZZ.parent / "reports" / "fuzz"
TARGETS = ("contracts_decode", "bar_update_fast_vs_serde", "frame_parse", "market_stream_decode")
#: a corpus kept in git stays reviewable: libFuzzer's minimised set, capped by size
MAX_CORPUS_FILES = 400
TRIPLE = "x86_64-unknown-linux-gnu"

_DONE = re.compile(r"^#(\d+)\s+DONE\s+cov: (\d+) ft: (\d+) corp: (\d+)/")
_STATUS = re.compile(r"^#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)/")
_EXECUTED = re.compile(r"stat::number_of_executed_units: (\d+)")
_SECONDS = re.compile(r"Done \d+ runs in (\d+) second")


@dataclass
class Result:
    target: str
    runs: int = 0
    seconds: float = 0.0
    cov: int = 0
    ft: int = 0
    corpus: int = 0
    crashes: tuple[str, ...] = ()

    def line(self) -> str:
        rate = self.runs / self.seconds if self.seconds else 0.0
        verdict = f"CRASH {', '.join(self.crashes)}" if self.crashes else "no crash"
        return (
            f"{self.target:<26} {self.runs:>12,} execs {self.seconds:>7.0f} s {rate:>8,.0f}/s "
            f"cov: {self.cov:<6} ft: {self.ft:<7} corpus: {self.corpus:<5} {verdict}"
        )


def cargo_fuzz(*args: str, log: Path | None = None) -> int:
    command = ["cargo", "+nightly", "fuzz", *args]
    if log is None:
        return subprocess.run(command, cwd=FUZZ, check=False).returncode
    with log.open("w") as out:
        return subprocess.run(command, cwd=FUZZ, stdout=out, stderr=subprocess.STDOUT, check=False).returncode


def parse(target: str, text: str, elapsed: float) -> Result:
    result = Result(target, seconds=elapsed)
    for line in text.splitlines():
        # The last status line holds the final figures; DONE is it when the run ended normally.
        if match := _DONE.match(line) or _STATUS.match(line):
            result.runs, result.cov, result.ft, result.corpus = map(int, match.groups())
        if match := _EXECUTED.search(line):
            result.runs = int(match.group(1))
        if match := _SECONDS.search(line):
            result.seconds = max(float(match.group(1)), 1.0)
    return result


def keep_crashes(target: str, before: set[Path]) -> tuple[str, ...]:
    """Crash inputs become regression vectors: `make test` replays `regressions/<target>/` on stable."""
    artifacts = FUZZ / "artifacts" / target
    found = sorted(set(artifacts.glob("*")) - before) if artifacts.is_dir() else []
    kept = FUZZ / "regressions" / target
    kept.mkdir(parents=True, exist_ok=True)
    for path in found:
        shutil.copy2(path, kept / path.name)
    return tuple(path.name for path in found)


def minimise(target: str) -> None:
    """Keep a set of inputs that covers every feature the corpus reaches (libFuzzer's set-cover merge,
    smaller than `cargo fuzz cmin`'s), thinned evenly across sizes if it is still above the cap."""
    corpus = FUZZ / "corpus" / target
    binary = FUZZ / "target" / TRIPLE / "release" / target
    log = REPORTS / f"{target}.cmin.log"
    with tempfile.TemporaryDirectory(dir=FUZZ) as kept, log.open("w") as out:
        merged = subprocess.run(
            [str(binary), "-set_cover_merge=1", kept, str(corpus)],
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
        if merged.returncode != 0 or not any(Path(kept).iterdir()):
            print(f"fuzz: {target}: corpus left as it is (merge failed, see {log})")
            return
        for path in corpus.iterdir():
            path.unlink()
        for path in Path(kept).iterdir():
            shutil.move(path, corpus / path.name)
    files = sorted(corpus.iterdir(), key=lambda path: (path.stat().st_size, path.name))
    if len(files) > MAX_CORPUS_FILES:
        step = len(files) / MAX_CORPUS_FILES
        keep = {files[int(i * step)] for i in range(MAX_CORPUS_FILES)}
        for path in files:
            if path not in keep:
                path.unlink()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("targets", nargs="*", default=list(TARGETS))
    parser.add_argument("--runs", type=int, default=10_000_000)
    parser.add_argument("--max-time", type=int, default=3600, help="seconds per target at most")
    parser.add_argument(
        "--sanitizer", default="none", help="cargo fuzz -s: safe Rust needs none, and runs 2x faster"
    )
    parser.add_argument("--no-cmin", action="store_true", help="keep the corpora as fuzzing left them")
    options = parser.parse_args()
    REPORTS.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, str(FUZZ / "seed.py")], check=True)
    results: list[Result] = []
    for target in options.targets:
        regressions = FUZZ / "regressions" / target
        regressions.mkdir(parents=True, exist_ok=True)
        artifacts = FUZZ / "artifacts" / target
        before = set(artifacts.glob("*")) if artifacts.is_dir() else set()
        log = REPORTS / f"{target}.log"
        print(
            f"fuzz: {target}: {options.runs:,} inputs at most {options.max_time} s (log: {log})", flush=True
        )
        started = time.monotonic()
        code = cargo_fuzz(
            "run", "-s", options.sanitizer, target, f"corpus/{target}", f"regressions/{target}", "--",
            f"-runs={options.runs}", f"-max_total_time={options.max_time}", "-print_final_stats=1",
            "-max_len=4096", "-timeout=10", log=log,
        )  # fmt: skip
        result = parse(target, log.read_text(errors="replace"), time.monotonic() - started)
        result.crashes = keep_crashes(target, before)
        if code != 0 and not result.crashes:
            result.crashes = (f"exit status {code}, see {log}",)
        results.append(result)
        print(result.line(), flush=True)
        if not options.no_cmin:
            minimise(target)
    summary = "\n".join(result.line() for result in results)
    (REPORTS / "summary.txt").write_text(summary + "\n")
    print("\nfuzz summary\n" + summary)
    return 1 if any(result.crashes for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
