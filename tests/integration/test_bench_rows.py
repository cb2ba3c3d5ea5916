"""The bench measures the rows of one case taking turns, each sample on its own redis-server."""

from __future__ import annotations

from bench.core import Row, Sample, measure, row
from bench.server import BenchRedis


def _recording(order: list[tuple[str, int]], name: str, *, fail_on: int | None = None) -> Row:
    def sample(server: BenchRedis) -> Sample:
        assert server.client().dbsize() == 0  # a fresh server: nothing left by the row before
        server.client().set("left-behind", name)
        order.append((name, server.port))
        if fail_on is not None and len([n for n, _ in order if n == name]) == fail_on:
            raise RuntimeError(f"{name} broke")
        return Sample(float(len(order)), True, "counted")

    return row("case A" if name.startswith("a") else "case B", name, "rqstack", "jobs/s", "higher", sample)


def test_rows_of_a_case_take_turns_and_the_first_rotates() -> None:
    order: list[tuple[str, int]] = []
    rows = [_recording(order, name) for name in ("a1", "a2", "a3", "b1")]
    results = measure(rows, repeats=3)
    names = [name for name, _ in order]
    assert names == ["a1", "a2", "a3", "a2", "a3", "a1", "a3", "a1", "a2", "b1", "b1", "b1"]
    assert len({port for _, port in order}) >= 2  # every sample started its own server
    assert [m.impl for m in results] == ["a1", "a2", "a3", "b1"]
    assert all(len(m.samples) == 3 and m.status == "ok" for m in results)


def test_a_row_that_fails_keeps_no_samples_and_is_not_run_again() -> None:
    order: list[tuple[str, int]] = []
    rows = [_recording(order, "a1"), _recording(order, "a2", fail_on=2)]
    first, second = measure(rows, repeats=3)
    assert [name for name, _ in order] == ["a1", "a2", "a2", "a1", "a1"]
    assert first.status == "ok" and len(first.samples) == 3
    assert second.status == "failed" and not second.samples
    assert "a2 broke" in second.note
