"""What an operator sees of the cloud's processes: Prometheus metrics, liveness and
readiness, and the small HTTP endpoint the ingest and the jobs runner serve them on
(the API serves them through its own app). See docs/operations.md."""
