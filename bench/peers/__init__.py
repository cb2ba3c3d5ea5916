"""Peer frameworks, each measured by a script run with its own venv's python (see run_peers)."""
