"""Unit tests of margin_gate.audit."""
