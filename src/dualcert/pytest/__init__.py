"""The pytest plugin: options, collection, the probe phase, fixtures and the hooks that feed the outputs."""
