"""Check JSON arguments against a job function's signature and type hints before anything is queued."""

from __future__ import annotations

import functools
import inspect
import json
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from rqstack.constants import MAX_ARGUMENTS_BYTES
from rqstack.errors import InvalidParams

#: Compact JSON that refuses NaN and infinity, made once: json.dumps with options builds an encoder per call.
_ENCODER = json.JSONEncoder(allow_nan=False, separators=(",", ":"))


@dataclass(frozen=True)
class Parameter:
    """One parameter of a registered job, as `rqstack jobs` and the API describe it."""

    name: str
    type: str
    required: bool
    default: Any = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe description."""
        out: dict[str, Any] = {"name": self.name, "type": self.type, "required": self.required}
        if not self.required:
            out["default"] = self.default if _is_json(self.default) else repr(self.default)
        return out


def describe_parameters(func: Callable[..., Any]) -> list[Parameter]:
    """The parameters of ``func`` with readable type names."""
    hints = _hints(func)
    out = []
    for param in _signature(func).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        annotation = hints.get(param.name, Any)
        required = param.default is inspect.Parameter.empty
        out.append(
            Parameter(param.name, type_name(annotation), required, None if required else param.default)
        )
    return out


def validate_arguments(
    job_name: str, func: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any]
) -> tuple[list[Any], dict[str, Any]]:
    """JSON-checked copies of ``args`` and ``kwargs`` that bind to ``func``; InvalidParams otherwise."""
    args, kwargs, _ = check_arguments(job_name, func, args, kwargs)
    return args, kwargs


def check_arguments(
    job_name: str, func: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any]
) -> tuple[list[Any], dict[str, Any], str]:
    """``validate_arguments`` plus the compact JSON of ``[args, kwargs]`` it checked, for reuse."""
    if not isinstance(args, list | tuple):
        raise InvalidParams(
            f"args of {job_name} must be a JSON array, got {type(args).__name__}", field="args"
        )
    if not isinstance(kwargs, Mapping):
        raise InvalidParams(
            f"kwargs of {job_name} must be a JSON object, got {type(kwargs).__name__}", field="kwargs"
        )
    args, kwargs = list(args), dict(kwargs)
    try:
        encoded = _ENCODER.encode([args, kwargs])
    except (TypeError, ValueError) as exc:
        raise InvalidParams(
            f"arguments of {job_name} are not plain JSON ({exc}); nothing was queued; "
            "pass strings, numbers, booleans, null, arrays and objects only",
            field="args",
        ) from None
    # The encoder escapes non-ASCII, so the text's length is its size in bytes.
    if len(encoded) > MAX_ARGUMENTS_BYTES:
        raise InvalidParams(
            f"arguments of {job_name} take {len(encoded)} bytes, above the limit of "
            f"{MAX_ARGUMENTS_BYTES}; nothing was queued; "
            "pass a reference (a path, URL or id) instead of the data",
            field="args",
        )
    plan = _plan(func)
    if plan is not None and _binds(plan, args, kwargs):
        names, annotations, _, checks = plan
        for name, annotation, check, value in zip(names, annotations, checks, args, strict=False):
            if not check(value):
                _refuse(job_name, name, value, annotation)
        if kwargs:
            for name, annotation, check in zip(
                names[len(args) :], annotations[len(args) :], checks[len(args) :], strict=True
            ):
                if name in kwargs and not check(kwargs[name]):
                    _refuse(job_name, name, kwargs[name], annotation)
        return args, kwargs, encoded
    signature = _signature(func)
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as exc:
        usage = ", ".join(p.name + ("" if p.required else "=…") for p in describe_parameters(func))
        raise InvalidParams(
            f"{job_name}: {exc}; nothing was queued; it takes ({usage}) — see `rqstack jobs`",
            field="kwargs",
        ) from None
    hints = _hints(func)
    for name, value in bound.arguments.items():
        param = signature.parameters[name]
        annotation = hints.get(name, Any)
        if param.kind is param.VAR_POSITIONAL:
            for index, item in enumerate(value):
                _check(job_name, f"{name}[{index}]", item, annotation)
        elif param.kind is param.VAR_KEYWORD:
            for key, item in value.items():
                _check(job_name, key, item, annotation)
        else:
            _check(job_name, name, value, annotation)
    return args, kwargs, encoded


def type_name(annotation: Any) -> str:
    """A short readable name for a type hint (``list[str]``, ``int | None``)."""
    if annotation is Any or annotation is inspect.Parameter.empty:
        return "any"
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _check(job_name: str, name: str, value: Any, annotation: Any) -> None:
    if not _matches(value, annotation):
        _refuse(job_name, name, value, annotation)


def _refuse(job_name: str, name: str, value: Any, annotation: Any) -> NoReturn:
    raise InvalidParams(
        f"{job_name}: parameter {name!r} must be {type_name(annotation)}, got {json.dumps(value)[:80]}; "
        "nothing was queued; fix the value (see `rqstack jobs`)",
        field=name,
    )


def _matches(value: Any, annotation: Any) -> bool:
    if annotation is Any or annotation is inspect.Parameter.empty or annotation is object:
        return True
    if annotation is None or annotation is type(None):
        return value is None
    origin = typing.get_origin(annotation)
    arguments = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, option) for option in arguments)
    if origin is typing.Literal:
        return value in arguments and all(type(value) is type(a) for a in arguments if a == value)
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    if origin in (list, Sequence, tuple) or annotation in (list, tuple):
        if not isinstance(value, list):
            return False
        item = arguments[0] if arguments and origin is not tuple else Any
        return all(_matches(v, item) for v in value)
    if origin in (dict, Mapping) or annotation is dict:
        if not isinstance(value, dict):
            return False
        item = arguments[1] if len(arguments) == 2 else Any
        return all(isinstance(k, str) and _matches(v, item) for k, v in value.items())
    if typing.is_typeddict(annotation):
        return isinstance(value, dict)
    # An annotation we cannot check from JSON (a class of the user's): let the job decide at run time.
    return True


# Names, type hints, required names and one check per parameter of a function whose parameters are
# all plain positional-or-keyword (most jobs); None for any other shape, which goes through
# Signature.bind.
_Plan = tuple[tuple[str, ...], tuple[Any, ...], int, tuple[Callable[[Any], bool], ...]]


# Cached per function: Signature.bind costs more per call than the checks it feeds.
@functools.lru_cache(maxsize=1024)
def _plan(func: Callable[..., Any]) -> _Plan | None:
    parameters = list(_signature(func).parameters.values())
    if any(p.kind is not p.POSITIONAL_OR_KEYWORD for p in parameters):
        return None
    hints = _hints(func)
    annotations = tuple(hints.get(p.name, Any) for p in parameters)
    return (
        tuple(p.name for p in parameters),
        annotations,
        # Parameters with defaults follow the ones without, so the required ones are a prefix.
        sum(1 for p in parameters if p.default is inspect.Parameter.empty),
        tuple(_compiled(annotation) for annotation in annotations),
    )


def _binds(plan: _Plan, args: list[Any], kwargs: dict[str, Any]) -> bool:
    # True only when Signature.bind would succeed; on False the caller binds for the exact TypeError.
    names, _, required, _ = plan
    given = len(args)
    if given > len(names):
        return False
    if not kwargs:
        return given >= required
    rest = names[given:]
    return all(k in rest for k in kwargs) and all(n in kwargs for n in names[given:required])


def _compiled(annotation: Any) -> Callable[[Any], bool]:
    """``_matches`` for one annotation, with the common plain types checked without walking typing."""
    if annotation is Any or annotation is inspect.Parameter.empty or annotation is object:
        return _anything
    plain = _PLAIN_CHECKS.get(annotation) if isinstance(annotation, type) else None
    if plain is not None:
        return plain
    return functools.partial(_matches_value, annotation)


def _anything(value: Any) -> bool:
    return True


def _matches_value(annotation: Any, value: Any) -> bool:
    return _matches(value, annotation)


# JSON gives exactly these types, so the `type(...) is` test settles almost every call; subclasses
# (an IntEnum from a Python caller) still get _matches' own answer.
_PLAIN_CHECKS: dict[type, Callable[[Any], bool]] = {
    int: lambda value: type(value) is int or _matches(value, int),
    str: lambda value: type(value) is str or _matches(value, str),
    bool: lambda value: type(value) is bool,
    float: lambda value: type(value) is float or type(value) is int or _matches(value, float),
}


@functools.lru_cache(maxsize=1024)
def _signature(func: Callable[..., Any]) -> inspect.Signature:
    return inspect.signature(func)


# Cached: enqueue checks every call against these, and resolving hints costs more than the write itself.
@functools.lru_cache(maxsize=1024)
def _hints(func: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(func)
    except (NameError, TypeError):
        return {}


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True
