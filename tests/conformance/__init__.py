"""Conformance of dualcert's trust and hostname verdicts, over real TLS, against the validators clients
run (OpenSSL, Go's crypto/x509, webpki): docs/checks.md, "Conformance"."""
