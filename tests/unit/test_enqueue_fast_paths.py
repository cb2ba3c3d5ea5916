"""The enqueue shortcuts (cached binding, reused JSON, cached meta) give what the general code gives."""

from __future__ import annotations

import uuid
import zlib
from datetime import UTC, datetime
from typing import Any

import pytest

from rqstack.errors import InvalidParams
from rqstack.serializer import JSONFirstSerializer
from rqstack.worker import job_hash
from rqstack.worker.enqueue import EnqueueRequest, prepare
from rqstack.worker.jobs import params
from rqstack.worker.jobs.registry import load_jobs


def plain(a: int, b: str = "x", c: list[int] | None = None) -> None:
    """Only positional-or-keyword parameters: takes the cached binding."""


def keyword_only(a: int, *, b: str) -> None:
    """A keyword-only parameter: always bound by inspect.Signature."""


CALLS: list[tuple[Any, list[Any], dict[str, Any]]] = [
    (plain, [1], {}),
    (plain, [1, "y"], {"c": [1, 2]}),
    (plain, [], {"a": 1, "c": None}),
    (plain, [], {}),  # missing a
    (plain, [1, "y", [1], 4], {}),  # too many
    (plain, [1], {"a": 2}),  # a given twice
    (plain, [1], {"zzz": 2}),  # unknown keyword
    (plain, ["1"], {}),  # wrong type
    (plain, [1], {"c": ["no"]}),  # wrong item type
    (plain, [1, 2], {"c": "no"}),  # two bad values: the first is named
    (keyword_only, [1], {"b": "ok"}),
    (keyword_only, [1], {"b": 2}),
    (keyword_only, [1, "b"], {}),
]


def _outcome(func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    try:
        return params.check_arguments("t", func, args, kwargs)
    except InvalidParams as exc:
        return ("error", str(exc), exc.field)


@pytest.mark.parametrize(("func", "args", "kwargs"), CALLS)
def test_cached_binding_agrees_with_signature_bind(
    func: Any, args: list[Any], kwargs: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = _outcome(func, args, kwargs)
    monkeypatch.setattr(params, "_plan", lambda _func: None)
    assert fast == _outcome(func, args, kwargs)


@pytest.mark.parametrize(
    "args",
    [
        [1, "é", None, True, 2.5, -0.0, [1, [2]], {"k": {"n": [1.5]}}],
        [{1: "int key"}],  # JSON would make the key a string: pickled
        [[1, (2, 3)]],  # a nested tuple comes back as a list, which JSON-first accepts
        [10**30],
    ],
)
def test_job_data_is_what_the_serializer_writes(args: list[Any]) -> None:
    load_jobs()
    prepared = prepare(EnqueueRequest("demo.echo", args=args, kwargs={"x": "y"}))
    expected = JSONFirstSerializer.dumps(
        (prepared.definition.import_path, None, tuple(prepared.args), prepared.kwargs)
    )
    assert job_hash.job_data(prepared) == expected
    # What RQ stores and reads back.
    assert zlib.decompress(zlib.compress(job_hash.job_data(prepared))) == expected


@pytest.mark.parametrize(
    "meta",
    [
        {"rqstack_job": "demo.echo"},
        {"rqstack_job": "other"},
        {"a": [1, {"b": None}], "rqstack_job": "demo.echo"},
        {"when": datetime(2030, 1, 1, tzinfo=UTC)},
        {"nan": float("nan")},
        {1: "int key"},
    ],
)
def test_meta_encoding_is_what_the_serializer_writes(meta: dict[Any, Any]) -> None:
    assert job_hash._encode_meta(meta, "demo.echo") == JSONFirstSerializer.dumps(meta)


def test_new_job_ids_are_uuid4_text_like_rqs() -> None:
    ids = {job_hash.new_job_id() for _ in range(2000)}
    assert len(ids) == 2000
    for job_id in ids:
        parsed = uuid.UUID(job_id)
        assert str(parsed) == job_id
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
