"""Benchmarks: measure the parser in-process and the server over HTTP, as a client would."""
