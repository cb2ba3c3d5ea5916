"""Peer frameworks live in their own virtualenvs under bench/.venvs/, never in rqstack's dependencies."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

VENVS_DIR = Path(__file__).resolve().parent / ".venvs"


@dataclass(frozen=True)
class VenvSpec:
    """A named virtualenv and the pip requirements it needs."""

    name: str
    requirements: tuple[str, ...]

    @property
    def path(self) -> Path:
        """bench/.venvs/<name>"""
        return VENVS_DIR / self.name

    @property
    def python(self) -> Path:
        """The venv's interpreter."""
        return self.path / "bin" / "python"

    @property
    def stamp(self) -> Path:
        """Marks a finished install of exactly these requirements (the cache key)."""
        digest = hashlib.sha256("\n".join(self.requirements).encode()).hexdigest()[:12]
        return self.path / f".installed-{digest}"


# Versions are pinned loosely: the bench compares against what a user would install today.
PEERS: dict[str, VenvSpec] = {
    "huey": VenvSpec("huey", ("huey>=2.5", "redis>=5")),
    "dramatiq": VenvSpec("dramatiq", ("dramatiq[redis]>=1.16",)),
    "celery": VenvSpec("celery", ("celery[redis]>=5.3,<6", "celery-redbeat>=2.2")),
    "arq": VenvSpec("arq", ("arq>=0.26",)),
}
PLOT = VenvSpec("plot", ("matplotlib>=3.8",))
TOOLS = VenvSpec("tools", ("py-spy>=0.3",))


def ensure(spec: VenvSpec, *, quiet: bool = True) -> Path:
    """Create the venv and install its requirements unless a matching install is cached; its python."""
    if spec.stamp.exists() and spec.python.exists():
        return spec.python
    if not spec.python.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(spec.path)], check=True)
    for old in spec.path.glob(".installed-*"):
        old.unlink()
    pip = [str(spec.python), "-m", "pip", "install", "--disable-pip-version-check"]
    if quiet:
        pip.append("-q")
    subprocess.run([*pip, *spec.requirements], check=True)
    spec.stamp.touch()
    return spec.python


def main(argv: list[str]) -> int:
    """`python -m bench.venvs [name...]`: build (or confirm) the named venvs, all peers by default."""
    names = argv or [*PEERS, PLOT.name]
    every = {**PEERS, PLOT.name: PLOT, TOOLS.name: TOOLS}
    for name in names:
        print(f"{name}: {ensure(every[name], quiet=False)}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
