"""Helpers the test tiers share: the services of a test run, an image server, processes, polling."""
