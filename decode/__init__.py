"""Syntax-constrained decoding: incremental parsing and logits processing."""
