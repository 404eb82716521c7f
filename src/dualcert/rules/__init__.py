"""Stage 5, the rules: pure functions from observations and facts to verdicts, the diagnosis and remediation text."""
