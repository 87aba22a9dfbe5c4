"""Runnable reference copies of the company's internal systems, with realistic Swedish data.

- `sandbox.people`: a deterministic generator of fictitious customers (persons and companies).
- `sandbox.billing`: the billing system's schema and `seed_billing(...)`.
"""
