"""Changes since a baseline (`--baseline FILE`, an earlier run's results JSON), one test per
(node, service, offer, TLS version) of either run. Collected only when a baseline is given.

A test fails when the presented certificate, key family, issuer, self-signed flag, outcome
or port changed (or the expiry crossed a policy threshold) and the policy's
`expected_changes` do not allow it; an allowed change passes and is listed as expected."""


def test_unchanged(dualcert_change):
    """Nothing changed since the baseline, or only what the policy's expected_changes allow."""
    dualcert_change.require_expected()
