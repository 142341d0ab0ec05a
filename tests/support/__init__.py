"""Shared test helpers: real servers on loopback, real Redis, polling waits."""
