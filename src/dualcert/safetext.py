"""Text from certificates and servers is hostile until escaped: no control characters
reach a terminal, a log or a pytest message (a certificate must not rewrite the screen)."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def safe(text: str) -> str:
    """Replace control characters (keeping newline and tab) with visible \\xNN escapes."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
