"""dualcert's compliance suites, shipped inside the package as `dualcert.suites`, so that
`pytest --pyargs dualcert.suites --inventory site.yaml` finds them from any directory."""
