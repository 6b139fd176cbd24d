"""Validation of produced artifacts: accuracy, parity, and latency (measured here, estimated for Jetsons)."""
