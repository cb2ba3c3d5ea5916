"""Sizes of one bench run: the full run for the README, ``--quick`` for CI's proof that the bench works."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Config:
    """How much work each case does, and how often it is repeated (min and median are reported)."""

    quick: bool
    peers: bool
    repeats: int
    move_sizes: tuple[int, ...]
    cron_size: int
    idle_sizes: tuple[int, ...]
    idle_ticks: int
    delayed_samples: int
    delayed_spacing: float
    cli_samples: int
    fires: int
    worker_jobs: int
    fork_worker_jobs: int
    startup_repeats: int
    enqueue_jobs: int
    memory_jobs: int

    @classmethod
    def full(cls, *, peers: bool) -> Config:
        """Sizes named in the issue: 10k/100k due jobs, 10k cron schedules, 10k worker jobs."""
        return cls(
            quick=False,
            peers=peers,
            repeats=3,
            move_sizes=(10_000, 100_000),
            cron_size=10_000,
            idle_sizes=(1_000, 10_000, 100_000),
            idle_ticks=50,
            delayed_samples=40,
            delayed_spacing=0.2,
            cli_samples=10,
            fires=20,
            worker_jobs=10_000,
            fork_worker_jobs=1_000,
            startup_repeats=7,
            enqueue_jobs=10_000,
            memory_jobs=10_000,
        )

    @classmethod
    def quick_run(cls) -> Config:
        """Small sizes, rqstack and stock only: finishes well inside a minute."""
        return cls(
            quick=True,
            peers=False,
            repeats=2,
            move_sizes=(1_000,),
            cron_size=200,
            idle_sizes=(100, 1_000),
            idle_ticks=10,
            delayed_samples=5,
            delayed_spacing=0.1,
            cli_samples=2,
            fires=2,
            worker_jobs=300,
            fork_worker_jobs=50,
            startup_repeats=2,
            enqueue_jobs=500,
            memory_jobs=300,
        )
