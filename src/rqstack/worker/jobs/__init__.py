"""Job registry and the built-in jobs."""
