"""Stage 1, the estate: which nodes and TLS services to probe (inventory, Ansible inventories, product catalog)."""
