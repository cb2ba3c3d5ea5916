"""Subcommands load lazily, and the lazy map names every command each CLI module defines."""

from __future__ import annotations

import importlib
import subprocess
import sys

from click.testing import CliRunner

from rqstack.cli import COMMAND_MODULES, main


def test_the_map_names_every_command_of_every_cli_module() -> None:
    found = {}
    for module_name in sorted(set(COMMAND_MODULES.values())):
        module = importlib.import_module(f"rqstack.cli.{module_name}")
        for command in module.COMMANDS:
            found[command.name] = module_name
    assert found == COMMAND_MODULES


def test_help_lists_every_command() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for name in COMMAND_MODULES:
        assert f"  {name} " in result.output


def test_the_worker_command_does_not_import_the_scheduler_or_dashboard() -> None:
    heavy = "('rqstack.sched', 'rqstack.dashboard', 'honcho')"
    code = (
        "import sys; from rqstack.cli import main; main.get_command(None, 'worker'); "
        f"print(sorted(m for m in sys.modules if m.startswith({heavy})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
