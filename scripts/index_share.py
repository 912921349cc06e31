"""How often a first derivative prints in index notation (D[i,j,...] = ...) instead of matrix notation.

    python scripts/index_share.py --expressions 1000 --seed 0

Random well-typed expressions from tests/fuzzing.py's generator (the fuzzers' own), each differentiated by
each of its variables. The derivatives are grouped by rank (the result's number of axes: 0-2, 3 and 4) and
counted as matrix notation or index notation; of the index-notation ones, those with a Kronecker form are
counted too (the matrix of d vec(F)/d vec(X), `md.views.kronecker`, which the command line and the page
show beside them). Rank 0-2 should always print in matrix notation.
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
                index = str(derivative).startswith("D[")
                counts[(rank, "index" if index else "matrix")] += 1
                if index and derivative.ndim <= 4 and md.views.kronecker(derivative, out_ndim=expr.ndim) is not None:
                    counts[(rank, "kronecker")] += 1
        except md.MatdiffError:
            pass

    body()
    print("| rank | derivatives | index notation | share | of those, with a Kronecker form (md.views) |")
    print("|---|---|---|---|---|")
    for rank in ("0-2", "3", "4", "all"):
        ranks = ("0-2", "3", "4") if rank == "all" else (rank,)
        index = sum(counts[(r, "index")] for r in ranks)
        total = index + sum(counts[(r, "matrix")] for r in ranks)
        kron = sum(counts[(r, "kronecker")] for r in ranks)
        if total:
            print(f"| {rank} | {total} | {index} | {index / total:.1%} | {kron} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
