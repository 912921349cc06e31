"""`python -m matdiff`: the `matdiff` command line (matdiff.cli); `python -m matdiff EXPR --wrt X` differentiates."""

from matdiff.cli import main

if __name__ == "__main__":
    main(prog_name="python -m matdiff")
