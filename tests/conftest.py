"""Fixtures shared by several test modules (one instance per session)."""

from deployed import deployed_campaign  # noqa: F401 (a fixture)
