"""A test that cannot run here for want of a capability (root, unshare, ports below 1024, a Debian
server) skips on a workstation and fails under CI, where .ci/run provides every one of them."""

from __future__ import annotations

import pytest

from .conftest import missing_capability


@pytest.mark.parametrize(("ci", "outcome"), [("1", pytest.fail.Exception), ("", pytest.skip.Exception)])
def test_a_missing_capability_fails_under_ci_and_skips_elsewhere(monkeypatch: pytest.MonkeyPatch, ci: str,
                                                                 outcome: type[BaseException]) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="needs root"):
        missing_capability("needs root")
