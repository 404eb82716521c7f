"""`python -m dualcert.cli`: the `dualcert` command, as the tests and the benchmarks start it."""

from dualcert.cli import entry

entry()
