#!/usr/bin/env bash
# Build the API reference of `import matdiff as md` from its docstrings, with pdoc, as HTML:
#
#     bash scripts/make_api_docs.sh            # into build/api/; open build/api/matdiff.html
#     bash scripts/make_api_docs.sh OUTDIR     # elsewhere
#
# Only the public API is documented: the names in matdiff.__all__ (md.parse, md.diff, ..., md.numeric,
# md.views), not the private modules (matdiff._expr, ...) nor the command line and the web server.
# Any warning while importing or rendering (a broken docstring, a bad link) fails the build (-W error),
# so that CI (.ci/run) catches it. Needs the docs extra: pip install -e ".[docs]".
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-build/api}"
rm -rf "$out"
python -W error -m pdoc --docformat markdown --output-directory "$out" matdiff
test -s "$out/matdiff.html"
echo "wrote $out/matdiff.html"
