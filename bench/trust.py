"""How long path validation takes per distinct chain (pure: no network).

    python bench/trust.py [chains]

Validates `chains` distinct leaves under one RSA root and intermediate against the site's bundle
(trusted), against Mozilla's roots (untrusted: every root is a candidate), and one hostile chain of
200 look-alike intermediates (bounded by facts.path.MAX_SIGNATURE_CHECKS); prints the times."""

from __future__ import annotations

import datetime as dt
import sys
import time

from cryptography.hazmat.primitives import serialization

from dualcert.facts.trust import TrustStore
from dualcert.lab.pki import CA, KeySpec


def main(count: int) -> None:
    root = CA.root("Bench Root", KeySpec.rsa())
    issuing = root.sub_ca("Bench Issuing")
    leaves = [issuing.issue([f"h{i}.bench.test"], KeySpec.ec()) for i in range(count)]
    chains = [tuple(c.public_bytes(serialization.Encoding.DER) for c in [leaf.cert, *leaf.chain]) for leaf in leaves]
    now = dt.datetime.now(dt.UTC)
    site = TrustStore((root.cert,), "bench")
    mozilla = TrustStore.mozilla()
    for name, store in (("site bundle (trusted)", site), (f"mozilla, {len(mozilla.certs)} roots (untrusted)",
                                                          mozilla)):
        store.anchors  # noqa: B018  (index the bundle once, as a run does)
        started = time.perf_counter()
        verdicts = {store.validate(chain, now).trusted for chain in chains}
        spent = time.perf_counter() - started
        print(f"{name}: {spent / count * 1000:.2f} ms per chain ({count} chains, verdicts {verdicts})")
    fakes = [root.sub_ca("Bench Issuing").cert for _ in range(200)]   # same name, other keys
    padded = (chains[0][0], *(f.public_bytes(serialization.Encoding.DER) for f in fakes), chains[0][1])
    for name, chain in (("without", padded[:-1]), ("then", padded)):
        started = time.perf_counter()
        found = site.validate(chain, now)
        print(f"200 look-alike intermediates {name} the real one: {(time.perf_counter() - started) * 1000:.0f} ms, "
              f"trusted={found.trusted}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
