"""`python -m rqstack` runs the CLI, so child processes need no console script on PATH."""

from rqstack.cli import main

main(prog_name="rqstack")
