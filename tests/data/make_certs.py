"""Regenerate the stored certificates the unit tests read (public certificates only; the
keys are thrown away). Run from the repository root: python tests/data/make_certs.py

Dates are fixed so that the tests, which judge them at a fixed 'now' (2027-01-01), give the
same answer on any day."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from dualcert.lab.pki import CA, KeySpec, self_signed

OUT = Path(__file__).parent / "certs"
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
HOST = "uccx-pub.example.test"


def pem(*certs) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    rsa_root = CA.root("Example RSA Root CA", KeySpec.rsa(2048), days=7300)
    rsa_issuing = rsa_root.sub_ca("Example RSA Issuing CA")
    ec_root = CA.root("Example EC Root CA", KeySpec.ec("secp384r1"), days=7300)
    ec_issuing = ec_root.sub_ca("Example EC Issuing CA")
    (OUT / "roots.pem").write_bytes(pem(rsa_root.cert, ec_root.cert))
    (OUT / "rsa_root.pem").write_bytes(pem(rsa_root.cert))
    (OUT / "ec_root.pem").write_bytes(pem(ec_root.cert))
    leaves = {
        "rsa_by_rsa_ca": rsa_issuing.issue([HOST], KeySpec.rsa(), days=3650, not_before=START),
        "ec_by_ec_ca": ec_issuing.issue([HOST], KeySpec.ec(), days=3650, not_before=START),
        "ec_by_rsa_ca": rsa_issuing.issue([HOST], KeySpec.ec(), days=3650, not_before=START),
        "ec_self": self_signed([HOST], KeySpec.ec(), days=3650, not_before=START),
        "rsa_self": self_signed([HOST], KeySpec.rsa(), days=3650, not_before=START),
        "rsa_1024": rsa_issuing.issue([HOST], KeySpec.rsa(1024), days=3650, not_before=START),
        "ec_other_host": ec_issuing.issue(["other.example.test"], KeySpec.ec(), days=3650, not_before=START),
        # Judged at 2027-01-01: 19 days left (warn), and expired a month before.
        "ec_expiring": ec_issuing.issue([HOST], KeySpec.ec(), days=384, not_before=START),
        "ec_expired": ec_issuing.issue([HOST], KeySpec.ec(), days=334, not_before=START),
        "ec_ip_san": ec_issuing.issue(["127.0.0.1"], KeySpec.ec(), days=3650, not_before=START),
    }
    for name, issued in leaves.items():
        (OUT / f"{name}.pem").write_bytes(issued.chain_pem())


if __name__ == "__main__":
    main()
