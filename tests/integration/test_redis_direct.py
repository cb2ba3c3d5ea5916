"""The kept-connection command path: same replies as redis-py, survives restarts, forks and thread ends."""

from __future__ import annotations

import gc
import os
import signal
import threading

import pytest
import redis

from rqstack import redis_direct
from servers import RedisServer


def _client_ids(client: redis.Redis) -> set[int]:
    return {int(entry["id"]) for entry in client.client_list()}


def test_replies_match_redis_py(connection: redis.Redis) -> None:
    assert redis_direct.execute(connection, "SET", "k", b"v\r\n\x00") == b"OK"  # no response callback
    assert connection.get("k") == b"v\r\n\x00"
    assert redis_direct.execute(connection, "RPUSH", "list", "é", 7) == 2
    assert connection.lrange("list", 0, -1) == ["é".encode(), b"7"]
    assert redis_direct.execute(connection, "LRANGE", "list", 0, -1) == ["é".encode(), b"7"]


def test_pack_is_redis_pys_wire_format(connection: redis.Redis) -> None:
    reference = connection.connection_pool.make_connection()
    for args in (
        ("SET", "k", b"v\r\n", 12),
        ("EVALSHA", "abc", 0, "é", b""),
        ("ZADD", "z", 1796297530.000091, "m", 0.1, "n", 1e-07, "o", -3, "p", 2**70, "q"),
    ):
        assert redis_direct.pack(args) == b"".join(reference.pack_command(*args))
    assert redis_direct.pack(["SET", "k", 1.5]) == b"".join(reference.pack_command("SET", "k", 1.5))
    for wrong in (None, True, ["list"]):
        with pytest.raises(TypeError, match="str, int, float or bytes"):
            redis_direct.pack(("SET", "k", wrong))  # type: ignore[arg-type]


def test_many_commands_in_one_round_trip_and_errors_after_every_reply(connection: redis.Redis) -> None:
    assert redis_direct.execute_many(connection, [("SET", "a", 1), ("INCR", "a"), ("GET", "a")]) == [
        b"OK",
        2,
        b"2",
    ]
    connection.set("text", "x")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        redis_direct.execute_many(connection, [("INCR", "a"), ("RPUSH", "text", "y"), ("INCR", "a")])
    # The replies after the error were read too: the next call gets its own reply.
    assert connection.get("a") == b"4"
    assert redis_direct.execute(connection, "GET", "a") == b"4"


def test_an_error_reply_raises_and_the_connection_stays_usable(connection: redis.Redis) -> None:
    connection.set("text", "a")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        redis_direct.execute(connection, "RPUSH", "text", "x")
    assert redis_direct.execute(connection, "GET", "text") == b"a"


def test_one_kept_connection_per_thread_not_one_per_call(connection: redis.Redis) -> None:
    connection.ping()
    before = _client_ids(connection)
    for i in range(50):
        redis_direct.execute(connection, "SET", f"k{i}", i)
    assert len(_client_ids(connection) - before) == 1


def test_an_unanswered_command_runs_in_order_and_leaves_no_reply_behind(connection: redis.Redis) -> None:
    connection.set("text", "a")
    redis_direct.send_unanswered(connection, "HSET", "h", "f", "1")
    redis_direct.send_unanswered(connection, "RPUSH", "text", "x")  # its WRONGTYPE error is skipped too
    redis_direct.send_unanswered(connection, "HSET", "h", "f", "2")
    # The next answered call on the same socket gets its own reply, after the unanswered ones ran.
    assert redis_direct.execute(connection, "HGET", "h", "f") == b"2"
    assert redis_direct.execute(connection, "GET", "text") == b"a"


def test_an_unanswered_command_after_a_restart_is_not_lost(own_redis: RedisServer) -> None:
    client = own_redis.client()
    redis_direct.execute(client, "PING")
    own_redis.stop()
    own_redis.start()
    # The kept socket was closed by the old server; a send on it could vanish without an error.
    redis_direct.send_unanswered(client, "SET", "after", "1")
    assert client.get("after") == b"1"
    client.close()


def test_a_restarted_redis_is_reconnected_without_an_error(own_redis: RedisServer) -> None:
    client = own_redis.client()
    assert redis_direct.execute(client, "SET", "k", "before") == b"OK"
    own_redis.stop()
    own_redis.start()
    # The kept socket was closed by the old server: the call reconnects and goes through once.
    assert redis_direct.execute(client, "RPUSH", "after", "x") == 1
    assert client.lrange("after", 0, -1) == [b"x"]
    client.close()


def test_a_dead_redis_raises_connection_error(own_redis: RedisServer) -> None:
    client = redis.Redis(port=own_redis.port, socket_connect_timeout=0.5)
    redis_direct.execute(client, "PING")
    own_redis.stop(signal.SIGKILL)
    try:
        with pytest.raises(redis.ConnectionError):
            redis_direct.execute(client, "PING")
    finally:
        own_redis.start()
    assert redis_direct.execute(client, "PING") == b"PONG"
    client.close()


def test_a_timeout_drops_the_socket_so_no_late_reply_is_read_later(own_redis: RedisServer) -> None:
    client = redis.Redis(port=own_redis.port, socket_timeout=0.2)
    redis_direct.execute(client, "SET", "k", "v")
    with pytest.raises(redis.TimeoutError):
        redis_direct.execute(client, "BLPOP", "never", 2)
    # A reused socket would hand this call the BLPOP's late nil reply.
    assert redis_direct.execute(client, "GET", "k") == b"v"
    client.close()


def test_a_thread_gives_its_connection_back_when_it_ends(connection: redis.Redis) -> None:
    pool = connection.connection_pool

    def work() -> None:
        redis_direct.execute(connection, "INCR", "n")

    threads = [threading.Thread(target=work) for _ in range(5)]
    for thread in threads:
        thread.start()
        thread.join()
    gc.collect()
    assert connection.get("n") == b"5"
    # Each ended thread's connection is back in the pool, and reused by the next thread.
    assert len(pool._in_use_connections) == 0  # type: ignore[attr-defined]
    assert len(pool._available_connections) == 1  # type: ignore[attr-defined]


def test_a_dropped_client_closes_its_kept_socket(redis_server: RedisServer) -> None:
    watcher = redis_server.client()
    watcher.ping()
    before = _client_ids(watcher)
    for _ in range(5):
        client = redis_server.client()
        redis_direct.execute(client, "PING")
        del client
        gc.collect()
    assert len(_client_ids(watcher) - before) == 0
    watcher.close()


def test_a_forked_child_uses_its_own_socket(connection: redis.Redis) -> None:
    redis_direct.execute(connection, "PING")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        try:
            ok = redis_direct.execute(connection, "INCR", "child") == 1
            os.write(write_end, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read_end, 1) == b"1"
    # The parent's kept socket was not disturbed by the child's traffic.
    assert redis_direct.execute(connection, "INCR", "child") == 2
    os.close(read_end)
    os.close(write_end)


def test_a_single_connection_client_goes_through_redis_py(redis_server: RedisServer) -> None:
    client = redis.Redis(port=redis_server.port, single_connection_client=True)
    assert redis_direct.execute(client, "SET", "single", "1") == b"OK"
    assert client.get("single") == b"1"
    client.close()
