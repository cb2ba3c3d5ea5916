"""Send a hot-path command on a connection the calling thread keeps, past redis-py's per-call pool work.

redis-py takes a connection from its pool for every command: a pid check, a lock, a non-blocking read
proving the socket is clean, and observability hooks, which add up to several system calls besides
the command's own send and receive. For a single ``enqueue`` that is as much time again as the round
trip. Here each thread keeps one connection of the client's pool and sends on it directly; it goes
back to the pool when the thread ends.

A closed socket (Redis restarted since the last call) shows up as a ConnectionError on the first use;
like redis-py's default retry, the command is sent once more on a fresh socket. Timeouts are not
retried: the command may still be running.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import weakref
from collections.abc import Sequence
from typing import Any, cast

import hiredis
import redis
from redis.connection import AbstractConnection, Connection, ConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError

_local = threading.local()
#: Bumped in a forked child: a connection held before the fork belongs to the parent.
_fork_generation = 0


def _after_fork() -> None:
    global _fork_generation
    _fork_generation += 1


os.register_at_fork(after_in_child=_after_fork)


class _Held:
    """One pooled connection kept by one thread; back to its pool when the thread ends.

    The pool is referenced weakly: a client dropped by its user takes its pool and this socket with it.
    """

    __slots__ = ("connection", "generation", "pool")

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = weakref.ref(pool)
        self.connection: Connection = pool.get_connection()
        self.generation = _fork_generation

    def __del__(self) -> None:
        pool = self.pool()
        if pool is not None and self.generation == _fork_generation:
            # At interpreter exit the pool may be half torn down; the socket is then left to the GC.
            with contextlib.suppress(Exception):
                pool.release(self.connection)


Arg = bytes | str | int | float


def execute(client: redis.Redis, *args: Arg) -> Any:
    """``client.execute_command(*args)`` on this thread's kept connection, with Redis's raw reply.

    No redis-py response callback runs: SET answers ``b"OK"``, not True. An error reply raises
    ResponseError (or its NoScriptError kind) like redis-py.
    """
    return _run(client, pack(args), 1)[0]


class Script:
    """A Lua script run by EVALSHA over the kept connection; loaded again when Redis has lost it."""

    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    def __call__(self, client: redis.Redis, keys: Sequence[Arg] = (), args: Sequence[Arg] = ()) -> Any:
        """The script's raw reply."""
        command = ("EVALSHA", self.sha, len(keys), *keys, *args)
        try:
            return execute(client, *command)
        except NoScriptError:
            # Nothing ran: Redis restarted or flushed its script cache since the last call.
            client.script_load(self.source)
            return execute(client, *command)


def send_unanswered(client: redis.Redis, *args: Arg) -> None:
    """Send one command on this thread's kept connection and tell Redis not to answer it.

    ``CLIENT REPLY SKIP`` goes first, so the command costs one send and no wait: the caller never
    learns whether it succeeded, and Redis runs it in order with the thread's later commands.
    """
    packed = _SKIP_NEXT_REPLY + pack(args)
    if client.connection is not None:
        with client.single_connection_lock:
            _send_only(client.connection, packed)
        return
    _send_only(_held(client.connection_pool).connection, packed)


def _send_only(connection: AbstractConnection, packed: bytes) -> None:
    try:
        # With no reply to read, a socket the server closed (a restart) would swallow the send without
        # an error: a zero-timeout poll finds its end-of-file first. Nothing else is ever unread on it.
        if connection.can_read(timeout=0):
            raise RedisConnectionError("unexpected data on a kept connection")
        connection.send_packed_command((packed,))
    except RedisConnectionError:
        connection.disconnect()
        connection.send_packed_command((packed,))


def execute_many(
    client: redis.Redis, commands: Sequence[Sequence[Arg]], *, raise_on_error: bool = True
) -> list[Any]:
    """Several commands in one round trip (a pipeline without MULTI); raw replies in order.

    Every reply is read before the first error reply is raised, so the connection stays in step.
    With ``raise_on_error=False`` an error reply comes back in its place as a ResponseError.
    """
    packed = b"".join(pack(command) for command in commands)
    return _run(client, packed, len(commands), raise_on_error)


def _run(client: redis.Redis, packed: bytes, count: int, raise_on_error: bool = True) -> list[Any]:
    if client.connection is not None:
        # A single-connection client already skips the pool; its lock keeps threads apart.
        with client.single_connection_lock:
            return _send(client.connection, packed, count, raise_on_error)
    return _send(_held(client.connection_pool).connection, packed, count, raise_on_error)


def _send(connection: AbstractConnection, packed: bytes, count: int, raise_on_error: bool) -> list[Any]:
    try:
        connection.send_packed_command((packed,))
        replies = _read(connection, count)
    except RedisConnectionError:
        connection.disconnect()
        connection.send_packed_command((packed,))
        try:
            replies = _read(connection, count)
        except BaseException:
            connection.disconnect()
            raise
    except BaseException:
        # A timeout or an interrupt can leave half a reply on the socket: never reuse it.
        connection.disconnect()
        raise
    if raise_on_error:
        for reply in replies:
            if isinstance(reply, redis.ResponseError):
                raise reply
    return replies


def _read(connection: AbstractConnection, count: int) -> list[Any]:
    replies: list[Any] = []
    for _ in range(count):
        try:
            replies.append(connection.read_response())
        except redis.ResponseError as error:  # an error reply leaves the connection clean
            replies.append(error)
    return replies


def pack(args: Sequence[Arg]) -> bytes:
    """The RESP array of ``args`` (bytes as they are, str as UTF-8, numbers as redis-py writes them).

    hiredis packs in C; redis-py's own packer runs every argument through its encoder's type checks,
    which costs more than the round trip for a command of a dozen arguments. Anything but bytes, str,
    int and float raises TypeError.
    """
    packed: bytes = hiredis.pack_command(cast(Any, args if type(args) is tuple else tuple(args)))
    return packed


def _held(pool: ConnectionPool) -> _Held:
    kept: weakref.WeakKeyDictionary[ConnectionPool, _Held] | None = getattr(_local, "kept", None)
    if kept is None:
        kept = _local.kept = weakref.WeakKeyDictionary()
    held = kept.get(pool)
    if held is None or held.generation != _fork_generation:
        held = kept[pool] = _Held(pool)
    return held


#: Sent before a command whose reply nobody will read (Redis >= 3.2).
_SKIP_NEXT_REPLY = pack(("CLIENT", "REPLY", "SKIP"))
