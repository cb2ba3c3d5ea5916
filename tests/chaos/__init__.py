"""Chaos tier: real processes, real signals, a real redis-server that is stopped and restarted."""
