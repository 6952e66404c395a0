"""Sample workspaces for tests, benchmarks and screenshots, written straight into the store.

Nothing in the product imports this package: it builds a workspace of any size (models, cases,
sites, evaluations, overlays, a registry champion with its audit event) in seconds, without
training, so the dashboard and ranking can be tested and timed at 200 models x 2000 cases.
"""
