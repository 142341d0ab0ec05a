"""Integration tests of margin_gate.audit: real Redis, real processes."""
