"""The local stack for `make up`, tests and benchmarks: the only place that knows the sandbox
systems and the service together (imports orchestrator and sandbox; nothing imports it)."""
