"""Help texts of the options `dualcert run` and the pytest plugin both take, written once."""

BASELINE = ("results JSON of an earlier run: adds test_unchanged[...] per probe, failing on changes the "
            "policy's expected_changes do not allow")
UPGRADE = ("with --baseline: nodes without 'version:' went from release FROM to TO (e.g. 11.5:12.5); the "
           "changes the catalog's releases explain are expected")
CLIENT_PROFILES = "YAML of more client profiles, or overrides"
METRICS = ("write the run as Prometheus text format (also valid OpenMetrics) for node_exporter's textfile "
           "collector, e.g. its directory's dualcert.prom (docs/scheduled-runs.md)")
SELECT = ("check only the nodes with these labels (inventory `labels:`, Ansible `dualcert_labels`), e.g. "
          "site=dc1,zone=dmz: keys ANDed, a repeated key ORed (site=dc1,site=dc2); whole clusters only; "
          "combine runs with `dualcert merge` (docs/scale.md)")
SPLIT_CLUSTERS = ("with --select: accept clusters the selection takes part of; each part is judged on its own "
                  "(cluster rules and diagnosis see only its selected nodes, as cluster <name>@<selection>)")
