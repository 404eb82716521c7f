"""The changes an upgrade explains: what a node presents on its baseline release and on its current one
(the catalog's release rules), turned into expected changes with their reason and source.

A node whose release differs between the baseline run and this one (results JSON `run.releases`,
or `--upgrade FROM:TO` for nodes the inventory does not version) gets one expected change per
(service, offer) whose expected presentation differs between the two releases, and one for TLS 1.3
where it appears or disappears. Anything else that changed is still unexpected.
"""

from __future__ import annotations

from dualcert.estate.catalog import Role, ServiceSpec, load_catalog
from dualcert.estate.release import parse_release
from dualcert.estate.releases import NodeRelease, resolve
from dualcert.policy.model import ExpectedChange

# What an offer's expected presentation allows, in expected_changes' from:/to: words.
_CLASSES = {"ecdsa": ("ecdsa",), "rsa": ("rsa",), "any": ("any",), "refused": ("refused",),
            "rsa-or-refused": ("rsa", "refused")}


def _resolved(role: Role, text: str) -> tuple[NodeRelease, dict[str, ServiceSpec]] | None:
    try:
        release = parse_release(text)
    except ValueError:
        return None
    parameters = {p.name: p.default for p in role.parameters.values()}
    return resolve(role.name, release, role.releases, dict(role.services), parameters)


def _expects(spec: ServiceSpec, view: NodeRelease, offer: str) -> tuple[str, ...]:
    release = view.services.get(spec.name)
    presents = release.presents.get(offer) if release is not None and release.presents else None
    if presents is None:
        presents = {"ecdsa": "ecdsa" if spec.ecdsa_unit else "rsa-or-refused", "rsa": "rsa",
                    "default": "preferred" if spec.ecdsa_unit else "rsa"}[offer]
    if presents == "preferred":
        presents = {"rsa": "rsa", "ecdsa": "ecdsa"}.get(spec.prefers, "any")
    return _CLASSES.get(presents, ("any",))


def release_changes(before: dict[str, str], after: dict[str, str], roles: dict[str, str],
                    upgrade: tuple[str, str] | None = None) -> tuple[ExpectedChange, ...]:
    """Expected changes for every node whose release differs between `before` and `after`
    (node -> release text); `upgrade` (FROM, TO) stands in for nodes neither run versions."""
    catalog = load_catalog()
    changes: list[ExpectedChange] = []
    for node, role_name in roles.items():
        old, new = before.get(node), after.get(node)
        if old is None and new is None and upgrade is not None:
            old, new = upgrade
        role = catalog.get(role_name)
        if old is None or new is None or old == new or role is None:
            continue
        was, now = _resolved(role, old), _resolved(role, new)
        if was is None or now is None:
            continue
        (old_view, old_specs), (new_view, new_specs) = was, now
        for name, spec in new_specs.items():
            if name not in old_specs:
                continue
            new_release = new_view.services.get(name)
            why = (new_release.design if new_release and new_release.design else None) or new_view.design
            sources = "; ".join(str(s) for s in (new_release.sources if new_release else new_view.sources)[:1])
            reason = f"{role_name} {old} -> {new}" + (f": {why}" if why else "") + (f" ({sources})" if sources else "")
            for offer in ("ecdsa", "rsa", "default"):
                then, later = _expects(old_specs[name], old_view, offer), _expects(spec, new_view, offer)
                if set(then) != set(later):
                    changes.append(_change(len(changes), node, name, (offer,), None, None, later, reason))
            old_tls13 = (old_view.services[name].tls13 if name in old_view.services else None) or "optional"
            new_tls13 = (new_release.tls13 if new_release else None) or "optional"
            if old_tls13 != new_tls13 and "absent" in (old_tls13, new_tls13):
                appears = old_tls13 == "absent"
                changes.append(_change(len(changes), node, name, None, ("tls1.3",),
                                       ("unsupported",) if appears else None, None if appears else ("unsupported",),
                                       f"{reason}: TLS 1.3 {old_tls13} on {old}, {new_tls13} on {new}"))
    return tuple(changes)


def _change(index: int, node: str, service: str, offers: tuple[str, ...] | None, versions: tuple[str, ...] | None,
            before: tuple[str, ...] | None, after: tuple[str, ...] | None, reason: str) -> ExpectedChange:
    return ExpectedChange(index=index, where="the catalog's releases", line=None, nodes=(node,), roles=None,
                          services=(service,), offers=offers, tls_versions=versions, before=before, after=after,
                          any_change=False, reason=reason, origin="release upgrade")
