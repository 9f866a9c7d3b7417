"""Thin Prefect wrappers: each looks its result up in the database by a hash of its inputs,
computes it with the plain science functions when missing, and records it."""
