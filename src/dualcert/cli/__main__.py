"""`python -m dualcert.cli`: the `dualcert` command, as the tests and the benchmarks start it."""

from dualcert.cli import entry

if __name__ == "__main__":   # not when multiprocessing's spawn imports it as the parent's main module
    entry()
