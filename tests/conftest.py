"""Shared fixtures. The real-service fixtures live in tests/fixtures/services.py."""

pytest_plugins = ["tests.fixtures.services"]
