"""Ansible inventories (INI and YAML) as dualcert inventories, and `dualcert init`'s starter files."""

from __future__ import annotations

from pathlib import Path

import pytest

from dualcert.errors import UsageError
from dualcert.estate.inventory import load_inventory
from dualcert.policy.load import load_policy

from .conftest import run_cli

INI = """\
# the site's Ansible inventory: appliances and unrelated hosts
[all:vars]
dualcert_site=contact-center
dualcert_cluster=uccx

[uccx]
uccx-pub ansible_host=127.0.0.1 dualcert_host=uccx-pub.example.com
uccx-sub ansible_host=uccx-sub.example.com

[socialminer]
sm[1:2].example.com ansible_host=127.0.0.2   ; two SocialMiners

[webservers]
www1 ansible_host=127.0.0.9

[collab]
cucm01 ansible_host=127.0.0.3 dualcert_role=cucm

[contact:children]
uccx
socialminer

[contact:vars]
dualcert_cluster="contact center"
"""

YAML = """\
all:
  vars:
    dualcert_site: cc-yaml
    dualcert_trust: roots.pem
  children:
    uccx:
      hosts:
        uccx-pub:
          ansible_host: 127.0.0.1
          dualcert_host: uccx-pub.example.com
        uccx-sub:
          ansible_host: 127.0.0.2
      vars:
        dualcert_cluster: uccx
    appliances:
      hosts:
        cucm01: {ansible_host: 127.0.0.3, dualcert_role: cucm}
    webservers:
      hosts:
        www1:
          ansible_become_password: !vault |
            $ANSIBLE_VAULT;1.1;AES256
            62313365396662343061393464336163383764373764613633653634306231386433626436623361
"""


def nodes(path: Path, fmt: str = "auto") -> dict[str, tuple[str, str | None, str, str]]:
    inventory = load_inventory(path, fmt)
    return {n.name: (n.host, n.address, n.role, n.cluster) for n in inventory.nodes}


def test_ini_groups_become_roles_and_vars_map(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    path.write_text(INI)
    assert load_inventory(path).site == "contact-center"
    assert nodes(path) == {
        # ansible_host as IP -> address; dualcert_host -> the certificate's name.
        "uccx-pub": ("uccx-pub.example.com", "127.0.0.1", "uccx", "contact center"),
        # ansible_host as a name -> host, resolved (inside a namespace in tests; never here).
        "uccx-sub": ("uccx-sub.example.com", None, "uccx", "contact center"),
        "sm1.example.com": ("sm1.example.com", "127.0.0.2", "socialminer", "contact center"),
        "sm2.example.com": ("sm2.example.com", "127.0.0.2", "socialminer", "contact center"),
        # dualcert_role where the group is not a role; all:vars cluster where no group overrides it.
        "cucm01": ("cucm01", "127.0.0.3", "cucm", "uccx"),
    }  # www1 is in no role group: left out
    services = {s.name for s in load_inventory(path).node("uccx-pub").services}
    assert {"tomcat", "socketio"} <= services


def test_yaml_inventory_with_trust_and_explicit_format(tmp_path: Path) -> None:
    from .conftest import CERTS

    (tmp_path / "roots.pem").write_bytes((CERTS / "roots.pem").read_bytes())
    path = tmp_path / "hosts.yml"
    path.write_text(YAML)
    inventory = load_inventory(path, "ansible-yaml")
    assert inventory.site == "cc-yaml" and inventory.trust == (tmp_path / "roots.pem").resolve()
    assert nodes(path) == {
        "uccx-pub": ("uccx-pub.example.com", "127.0.0.1", "uccx", "uccx"),
        "uccx-sub": ("uccx-sub", "127.0.0.2", "uccx", "uccx"),
        "cucm01": ("cucm01", "127.0.0.3", "cucm", "cc-yaml"),
    }


def test_dualcert_format_is_still_detected(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text("nodes:\n  - {name: a, host: a.lab.test, address: 127.0.0.1, role: uccx}\n")
    assert nodes(path) == {"a": ("a.lab.test", "127.0.0.1", "uccx", "site")}


@pytest.mark.parametrize(("name", "text", "line", "message"), [
    ("hosts.ini", "[uccx]\nok ansible_host=127.0.0.1\nbad_host! ansible_host=127.0.0.1\n", 3,
     "characters that cannot be used in test ids"),
    ("hosts.ini", "[uccx]\na ansible_host=127.0.0.1\n[socialminer]\na\n", 2, "several roles (socialminer, uccx)"),
    ("hosts.ini", "[uccx]\na ansible_host=127.0.0.1\n[uccx:nonsense]\n", 3, "unknown section"),
    ("hosts.ini", "[uccx]\na ansible_host='127.0.0.1\n", 2, "cannot split this line"),
    ("hosts.ini", "[uccx]\na dualcert_role=nope\n", 2, "unknown role 'nope'"),
    ("hosts.ini", "[uccx]\nweb[1-3] ansible_host=127.0.0.1\n", 2, "host pattern 'web[1-3]' is not supported"),
    ("hosts.yml", "all:\n  children:\n    uccx:\n      hosts:\n        a:\n          ansible_host: 127.0.0.1\n"
                  "      colour: blue\n", 7, "unknown key 'colour' in group 'uccx'"),
    ("hosts.yml", "all:\n  children:\n    uccx:\n      hosts:\n        a:\n          ansible_host: [1\n", 7,
     "not valid YAML"),
    # Host ranges past estate/ansible.py's MAX_HOSTS, refused before anything is expanded.
    # One pattern: 1,000 x 1,000 hosts.
    ("hosts.ini", "[all:vars]\ndualcert_site=x\n[uccx]\nweb[000:999]-[000:999] ansible_host=127.0.0.1\n", 4,
     "host pattern 'web[000:999]-[000:999]' expands to more than 100,000 hosts"),
    ("hosts.ini", "[uccx]\nweb[0:99999999999999999999][a:z] ansible_host=127.0.0.1\n", 2,
     "expands to more than 100,000 hosts"),
    # In all: two nested groups of 60,000 each; the second pattern is the one past the limit.
    ("hosts.yml", "all:\n  children:\n    uccx:\n      children:\n        east:\n          hosts:\n"
                  "            e[0:59999]:\n        west:\n          hosts:\n            w[0:5][0:9999]:\n", 10,
     "host pattern 'w[0:5][0:9999]' brings the file past 100,000 hosts (60,000 before it, 60,000 from it)"),
    ("hosts.ini", "[uccx]\nweb[9:1] ansible_host=127.0.0.1\n", 2, "host range [9:1] is empty"),
])
def test_errors_name_the_ansible_file_and_line(tmp_path: Path, name: str, text: str, line: int,
                                               message: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(UsageError) as caught:
        load_inventory(path)
    assert caught.value.line == line and message in str(caught.value), str(caught.value)
    assert Path(caught.value.file) == path and caught.value.fix


def test_inventory_without_role_hosts_says_how_to_map_them(tmp_path: Path) -> None:
    path = tmp_path / "hosts.ini"
    path.write_text("[webservers]\nwww1\n")
    with pytest.raises(UsageError, match="no host of this Ansible inventory has a dualcert role") as caught:
        load_inventory(path)
    assert "dualcert_role" in (caught.value.fix or "")


def test_cli_runs_an_ansible_inventory_with_a_usage_error_at_its_line(tmp_path: Path) -> None:
    (tmp_path / "hosts").write_text("[uccx]\nuccx-pub ansible_host=not-an-ip-or-name!\n")
    result = run_cli("run", "--inventory", "hosts", "--inventory-format", "ansible-ini", cwd=tmp_path, timeout=120)
    assert result.returncode == 4, result.stderr
    assert "hosts:2:" in result.stderr and "Traceback" not in result.stderr


def test_init_writes_a_starter_that_loads_and_never_overwrites(tmp_path: Path) -> None:
    result = run_cli("init", "site", cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    inventory_path, policy_path = tmp_path / "site" / "inventory.yaml", tmp_path / "site" / "policy.yaml"
    inventory, policy = load_inventory(inventory_path), load_policy(policy_path)
    policy.check_against(inventory)  # the starter policy names only what the starter inventory has
    assert {n.role for n in inventory.nodes} == {"uccx", "socialminer"}
    assert policy.intended_state == "S3" and inventory.site == "contact-center"
    assert inventory_path.read_text().count("\n#") >= 5  # commented for the person editing it
    inventory_path.write_text(inventory_path.read_text() + "# my edit\n")
    again = run_cli("init", "site", cwd=tmp_path, timeout=120)
    assert again.returncode == 4 and "--force" in again.stderr
    assert inventory_path.read_text().endswith("# my edit\n")
    forced = run_cli("init", "site", "--force", cwd=tmp_path, timeout=120)
    assert forced.returncode == 0 and not inventory_path.read_text().endswith("# my edit\n")


def test_the_docs_ini_example_reads_as_documented(tmp_path: Path) -> None:
    from .conftest import CERTS, REPO

    page = (REPO / "docs" / "inventory.md").read_text()
    example = page.split("## Ansible inventories", 1)[1].split("```ini\n", 1)[1].split("```", 1)[0]
    (tmp_path / "tomcat-trust.pem").write_bytes((CERTS / "roots.pem").read_bytes())
    path = tmp_path / "hosts"
    path.write_text(example)
    inventory = load_inventory(path)
    assert inventory.site == "contact-center" and inventory.trust == (tmp_path / "tomcat-trust.pem").resolve()
    assert nodes(path) == {
        "uccx-pub": ("uccx-pub.example.com", "10.0.0.11", "uccx", "uccx"),
        "uccx-sub": ("uccx-sub.example.com", None, "uccx", "uccx"),
        "cucm01": ("cucm01", "10.0.0.21", "cucm", "uccx"),
    }


# --- host ranges, nested ones bounded (estate/ansible.py MAX_HOSTS) --------------------------

def test_nested_alphabetic_and_strided_ranges_expand(tmp_path: Path) -> None:
    path = tmp_path / "hosts.ini"
    path.write_text("[uccx]\nweb[01:03:2]-[a:b].example.com ansible_host=127.0.0.1\n")
    assert set(nodes(path)) == {"web01-a.example.com", "web01-b.example.com", "web03-a.example.com",
                                "web03-b.example.com"}


def test_deeply_nested_groups_sharing_parents_load(tmp_path: Path) -> None:
    """40 levels of two groups, each the child of both groups above: 2^40 paths from the host to `all`.
    Variable precedence orders groups by depth; walking every path never finished."""
    levels = 40
    lines = ["[all:vars]", "dualcert_site=deep"]
    for level in range(levels):
        for side in "ab":
            lines += [f"[g{level}{side}:children]", f"g{level + 1}a", f"g{level + 1}b"]
    lines += [f"[g{levels}a]", "node1 ansible_host=127.0.0.1 dualcert_role=uccx", "[g0a:vars]",
              "dualcert_cluster=from-the-top-group"]
    path = tmp_path / "hosts.ini"
    path.write_text("\n".join(lines) + "\n")
    inventory = load_inventory(path)
    assert [(n.name, n.role, n.cluster) for n in inventory.nodes] == [("node1", "uccx", "from-the-top-group")]
