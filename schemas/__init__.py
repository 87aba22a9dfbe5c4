"""Pydantic v2 models at every boundary: events in and out, subject, results, records."""
