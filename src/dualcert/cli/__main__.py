"""`python -m dualcert.cli`: the `dualcert` command, as the tests and the benchmarks start it."""

import sys

from dualcert.cli import main

sys.exit(main())
