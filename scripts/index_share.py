"""How often a first derivative prints in index notation (D[i,j,...] = ...) instead of matrix notation.

    python scripts/index_share.py --expressions 1000 --seed 0

Random well-typed expressions from tests/fuzzing.py's generator (the fuzzers' own), each differentiated by
each of its variables; the derivatives are grouped by rank (the result's number of axes: 0-2, 3 and 4) and
counted as matrix notation or index notation. Derivatives of rank 3 or 4 have a matrix form only in the
special cases the printer knows (a Kronecker product, diag, an outer product with eye); rank 0-2 should
nearly always print in matrix notation.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402
from tests import fuzzing  # noqa: E402

import matdiff as md  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--expressions", type=int, default=1000)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    counts: Counter[tuple[str, str]] = Counter()

    @seed(args.seed)
    @settings(max_examples=args.expressions, phases=[Phase.generate], database=None, deadline=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(fuzzing.cases(depth=args.depth))
    def body(case: fuzzing.Case) -> None:
        try:
            expr = md.parse(case.text, **fuzzing.KINDS)
            for name in expr.variables:
                derivative = md.diff(expr, name)
                rank = "0-2" if derivative.ndim <= 2 else str(derivative.ndim)
                counts[(rank, "index" if str(derivative).startswith("D[") else "matrix")] += 1
        except md.MatdiffError:
            pass

    body()
    print("| rank | derivatives | index notation | share |\n|---|---|---|---|")
    for rank in ("0-2", "3", "4"):
        total = counts[(rank, "index")] + counts[(rank, "matrix")]
        if total:
            share = counts[(rank, "index")] / total
            print(f"| {rank} | {total} | {counts[(rank, 'index')]} | {share:.1%} |")
    total = sum(counts.values())
    print(f"| all | {total} | {sum(v for (r, k), v in counts.items() if k == 'index')} | "
          f"{sum(v for (r, k), v in counts.items() if k == 'index') / max(total, 1):.1%} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
