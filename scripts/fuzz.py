"""Long fuzz runs of matdiff, with counts of every outcome.

    python scripts/fuzz.py --expressions 5000 --differential 1000 --parser 30000

Three fuzzers, from tests/fuzzing.py (the same generator and checks as tests/test_fuzz.py):

- expressions: random well-typed expressions; values against NumPy, first derivatives against finite
  differences, second derivatives of scalar expressions along random directions against second
  differences, printed forms parsed back;
- differential: the same expressions against JAX autodiff (values, every first derivative, Hessian blocks of
  scalar expressions), skipped when jax is not installed;
- parser: bytes, junk, token soup, syntactically valid text and long or deep input at md.parse, which must
  raise nothing but MatdiffError, within the time limit, and print what it parses as text that parses back.

Prints the inputs generated, the outcomes (passed; rejected, by MatdiffError class; discarded, where the
reference leaves the range of a meaningful comparison; failed), the comparisons made and, for each distinct
failure, how often it occurred and its shortest reproducer. Exits 1 if anything failed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402
from tests import fuzzing  # noqa: E402


def signature(detail: str) -> str:
    """A failure's kind: its first line with numbers and quoted text blanked, so repeats group together."""
    line = detail.strip().splitlines()[0] if detail.strip() else ""
    line = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", line)
    return re.sub(r"[-+]?\d[\d.]*(e[-+]?\d+)?", "#", line)[:120]


class Tally:
    def __init__(self, name: str) -> None:
        self.name = name
        self.outcomes: Counter = Counter()
        self.failures: dict[str, dict[str, Any]] = {}
        self.start = time.perf_counter()

    def add(self, outcome: fuzzing.Outcome, reproducer: str, extra: str = "") -> None:
        label = outcome.status if outcome.status in ("passed", "failed") else outcome.label
        self.outcomes[label] += 1
        if outcome.status == "failed":
            key = signature(outcome.detail)
            seen = self.failures.setdefault(key, {"count": 0, "input": None})
            seen["count"] += 1
            if seen["input"] is None or len(reproducer) < len(seen["input"]):
                seen.update(input=reproducer, extra=extra, detail=outcome.detail[:1500])

    @property
    def total(self) -> int:
        return sum(self.outcomes.values())

    def progress(self, every: int) -> None:
        if self.total % every == 0:
            print(f"  {self.name}: {self.total} inputs, {dict(self.outcomes)}", flush=True)

    def report(self) -> None:
        seconds = time.perf_counter() - self.start
        print(f"\n== {self.name}: {self.total} inputs in {seconds:.0f} s")
        for label, count in sorted(self.outcomes.items()):
            print(f"   {label:60s} {count}")
        for key, seen in sorted(self.failures.items(), key=lambda kv: -kv[1]["count"]):
            print(f"\n   FAILED x{seen['count']}: {key}\n     input: {seen['input'][:500]!r} {seen['extra']}")
            print("     " + seen["detail"].replace("\n", "\n     ")[:1200])


def run_expressions(tally: Tally, count: int, jax: Any, stats: fuzzing.Stats, depth: int, seed_: int) -> None:
    fd = jax is None

    @seed(seed_)
    @settings(max_examples=count, phases=[Phase.generate], database=None, deadline=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(fuzzing.cases(depth=depth))
    def body(case: fuzzing.Case) -> None:
        outcome = fuzzing.check_case(case, jax=jax, stats=stats, fd=fd)
        tally.add(outcome, case.text, f"sizes={case.sizes} seed={case.seed}")
        tally.progress(max(count // 10, 1))

    body()


def run_parser(tally: Tally, count: int, limit: float, seed_: int) -> None:
    @seed(seed_)
    @settings(max_examples=count, phases=[Phase.generate], database=None, deadline=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(fuzzing.parser_inputs())
    def body(text: str) -> None:
        tally.add(fuzzing.check_text(text, limit=limit), text)
        tally.progress(max(count // 10, 1))

    body()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--expressions", type=int, default=2000, help="expressions against finite differences")
    parser.add_argument("--differential", type=int, default=300, help="expressions against JAX (needs jax)")
    parser.add_argument("--parser", type=int, default=10000, help="inputs at the parser")
    parser.add_argument("--depth", type=int, default=4, help="nesting depth of generated expressions")
    parser.add_argument("--limit", type=float, default=5.0, help="seconds allowed per parser input")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the counts and failures here")
    args = parser.parse_args(argv)
    warnings.simplefilter("error")  # as under pytest (pyproject: filterwarnings = error)
    tallies, stats = [], {}
    if args.expressions:
        tally, stats["fd"] = Tally("expressions (finite differences)"), fuzzing.Stats()
        run_expressions(tally, args.expressions, None, stats["fd"], args.depth, args.seed)
        tallies.append(tally)
    if args.differential:
        jax = fuzzing.load_jax()
        if jax is None:
            print("jax is not installed: no differential run (pip install -e '.[differential]')")
        else:
            tally, stats["jax"] = Tally("expressions (JAX autodiff)"), fuzzing.Stats()
            run_expressions(tally, args.differential, jax, stats["jax"], args.depth, args.seed + 1)
            tallies.append(tally)
    if args.parser:
        tally = Tally("parser")
        run_parser(tally, args.parser, args.limit, args.seed)
        tallies.append(tally)
    for tally in tallies:
        tally.report()
    for name, stat in stats.items():
        print(f"\n== comparisons ({name} run): reference/what -> compared, mismatches")
        for key in sorted(stat.compared):
            print(f"   {'/'.join(key):20s} {stat.compared[key]:8d} {stat.mismatches[key]:6d}")
        print(f"   expressions fully checked: {stat.expressions['passed']}")
    if args.json:
        args.json.write_text(json.dumps({
            t.name: {"outcomes": dict(t.outcomes), "failures": t.failures} for t in tallies
        } | {f"comparisons ({k})": {"/".join(key): [v.compared[key], v.mismatches[key]] for key in v.compared}
             for k, v in stats.items()}, indent=1))  # fmt: skip
    return 1 if any(t.failures for t in tallies) else 0


if __name__ == "__main__":
    sys.exit(main())
