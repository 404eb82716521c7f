"""Stage 2, the policy: what each (endpoint, offer, TLS version) should present, and which changes are expected."""
