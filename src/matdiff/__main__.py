"""`python -m matdiff EXPR --wrt X`: differentiate an expression and print the result."""

from __future__ import annotations

import argparse
import sys

import matdiff as md


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m matdiff",
        description="Differentiate a matrix expression (MatrixCalculus.org syntax).",
        epilog='example: python -m matdiff "a\'*inv(X)*b" --wrt X',
    )
    parser.add_argument("expression", help='the expression, e.g. "x\'*A*x"')
    parser.add_argument(
        "--wrt", action="append", default=[], help="variable to differentiate by (repeat for higher order)"
    )
    parser.add_argument(
        "--kind",
        action="append",
        default=[],
        metavar="NAME=KIND",
        help="declare a kind: scalar, vector, matrix, symmetric",
    )
    parser.add_argument("--latex", action="store_true", help="print LaTeX instead of the text syntax")
    args = parser.parse_args(argv)
    try:
        kinds = dict(item.split("=", 1) for part in args.kind for item in part.split(",") if item)
        expr = md.parse(args.expression, **kinds)
        result = md.diff(expr, *args.wrt) if args.wrt else expr
    except (md.MatdiffError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    variables = ", ".join(f"{name}: {kind}" for name, kind in expr.variables.items())
    print(f"expression: {expr}    ({variables})")
    label = "".join(f" d/d{w}" for w in args.wrt) or " value"
    print(f"{label.strip()}: {result.to_latex() if args.latex else result}")
    print(f"shape: ({', '.join(str(d) for d in result.dims)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
