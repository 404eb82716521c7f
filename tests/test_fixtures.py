"""The example inventory and policy in fixtures/ load and agree with each other."""

from __future__ import annotations

import shutil
from pathlib import Path

from dualcert.estate.inventory import load_inventory
from dualcert.policy.load import load_policy

from .conftest import CERTS, REPO


def test_examples_load_and_fit_together(tmp_path: Path) -> None:
    inventory_file = tmp_path / "uccx-site.yaml"
    shutil.copy(REPO / "fixtures" / "uccx-site.example.yaml", inventory_file)
    shutil.copy(CERTS / "roots.pem", tmp_path / "tomcat-trust.pem")
    inventory = load_inventory(inventory_file)
    policy = load_policy(REPO / "fixtures" / "policy.example.yaml")
    policy.check_against(inventory)
    assert inventory.site == "contact-center"
    assert {f"{e.node}:{e.service.name}" for e in inventory.endpoints()} >= {"uccx-pub:socketio", "socialminer:xmpp"}
    assert policy.rules["expiry"] == {"warn_days": 45, "fail_days": 14}
