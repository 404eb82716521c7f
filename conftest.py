"""Runs from the checkout: make `src/` importable and wire the plugin when it is not
installed (an installed dualcert registers it through the `pytest11` entry point)."""

import sys
from importlib import metadata
from pathlib import Path

_SRC = Path(__file__).parent / "src"
if str(_SRC) not in sys.path:
    sys.path.insert(0, str(_SRC))

if not any(ep.name == "dualcert" for ep in metadata.entry_points(group="pytest11")):
    pytest_plugins = ["dualcert.pytest.plugin"]
