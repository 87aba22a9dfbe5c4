"""The company's policy as code: pure and deterministic (no I/O at import or call time), so
the workflow sandbox can import it. Statutory deadlines, retention dates, the planner."""
