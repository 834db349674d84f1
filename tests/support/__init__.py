"""Helpers the tests import: shared data and fake endpoints (shared.py), cassettes (cassette.py)."""
