"""Stage 6, comparison with a baseline: what changed since an earlier run, and whether the policy expected it."""
