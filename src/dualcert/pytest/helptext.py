"""Help texts of the options `dualcert run` and the pytest plugin both take, written once."""

BASELINE = ("results JSON of an earlier run: adds test_unchanged[...] per probe, failing on changes the "
            "policy's expected_changes do not allow")
UPGRADE = ("with --baseline: nodes without 'version:' went from release FROM to TO (e.g. 11.5:12.5); the "
           "changes the catalog's releases explain are expected")
CLIENT_PROFILES = "YAML of more client profiles, or overrides"
METRICS = ("write the run as Prometheus text format (also valid OpenMetrics) for node_exporter's textfile "
           "collector, e.g. its directory's dualcert.prom (docs/scheduled-runs.md)")
