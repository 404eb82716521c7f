"""Stands in for the steps that add sections to a run (diagnosis, changes since baseline),
so the report's rendering of them is seen in a real run and a real browser. It fills
`run.sections` in pytest_sessionfinish before pytest-html (trylast) writes the report, as
those steps must. Loaded with `-p tests.sections_plugin` (PYTHONPATH = the checkout)."""

from __future__ import annotations

from typing import Any

import pytest

from dualcert.plugin import RUN_KEY

EXPERIENCE = {"S1": "asked to accept certificates in the Live Data and chat/email gadgets",
              "S2": "chat/email gadget and the SocialMiner page do not load (CSCvb58580)",
              "S3": "Finesse with Live Data and chat/email all work",
              "S4": "cannot accept the extra certificate in the Live Data gadget"}


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    run = session.config.stash.get(RUN_KEY, None)
    if run is None:
        return
    clusters: dict[str, dict[str, Any]] = {}
    for node in run.inventory.nodes:
        state = {"rsa-only": "rsa-only", "collab": "S3"}.get(node.cluster, node.cluster.upper())
        entry = clusters.setdefault(node.cluster, {
            "cluster": node.cluster, "state": state, "intended": "S3", "nodes": {},
            "differs": [] if state == "S3" else [f"{state} instead of S3"],
            "agent_experience": EXPERIENCE.get(state, "RSA only"), "remediation": ["sign tomcat-ECDSA by an EC CA"]})
        entry["nodes"][node.name] = state
    run.sections["diagnosis"] = list(clusters.values())
