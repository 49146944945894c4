"""Helpers only the tests use: rows they insert, images they draw, a TCP proxy they cut (the
services, processes and polling the benchmark shares are in `harness/`)."""
