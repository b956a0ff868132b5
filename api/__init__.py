"""Interfaces to the registry: the `provenance` command line and the HTTP API."""
