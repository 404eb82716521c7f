"""Stage 5, the rules: pure functions from observations and facts to findings, the diagnosis and remediation text."""
