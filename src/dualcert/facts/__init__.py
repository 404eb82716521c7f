"""Stage 4, chain facts: what a presented chain is, from its DER bytes alone (parsing, path validation, hostname)."""
