"""Headless Chromium from Debian, for tests that must see what a person's browser does
with a report: which scripts ran, what text rendered, what the first screen looks like.
Only file:// URLs are loaded, and the flags switch off every background fetch."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--disable-default-apps", "--mute-audio")


def _chromium(binary: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="dualcert-chromium-") as profile:
        return subprocess.run([binary, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                              text=True, timeout=timeout)


def dump_dom(binary: str, page: Path, query: str = "", timeout: float = 120) -> str:
    """The DOM after the page's scripts ran (serialized: text nodes come back escaped)."""
    url = page.resolve().as_uri() + (f"?{query}" if query else "")
    result = _chromium(binary, "--dump-dom", url, timeout=timeout)
    assert result.returncode == 0 and "<html" in result.stdout, result.stderr[-2000:]
    return result.stdout


def screenshot(binary: str, page: Path, out: Path, size: str = "1400,1000", timeout: float = 120) -> Path:
    result = _chromium(binary, f"--screenshot={out}", f"--window-size={size}", page.resolve().as_uri(),
                       timeout=timeout)
    assert result.returncode == 0 and out.exists(), result.stderr[-2000:]
    return out
