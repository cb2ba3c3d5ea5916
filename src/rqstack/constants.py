"""Redis key names, limits and defaults of rqstack: the one place they are spelled out."""

from __future__ import annotations

import re

#: Every key rqstack owns starts with this; RQ's own keys keep their ``rq:`` prefix.
KEY_PREFIX = "rqstack:"

#: Hash per schedule: ``rqstack:schedule:<name>``.
SCHEDULE_KEY_PREFIX = KEY_PREFIX + "schedule:"
#: Set of every schedule name.
SCHEDULE_NAMES_KEY = KEY_PREFIX + "schedules"
#: Sorted set of schedule name -> next fire time (unix seconds, float).
SCHEDULE_DUE_KEY = KEY_PREFIX + "schedules:due"
#: List of run records per schedule (newest first), bounded by RUN_HISTORY_LIMIT.
SCHEDULE_RUNS_KEY_PREFIX = KEY_PREFIX + "runs:"
#: Leader lease of the scheduler processes (value: owner token).
SCHEDULER_LEADER_KEY = KEY_PREFIX + "scheduler:leader"
#: Monotonic fencing counter bumped by each new leader.
SCHEDULER_FENCE_KEY = KEY_PREFIX + "scheduler:fence"
#: Hash with the scheduler's last tick, lag and pause flag.
SCHEDULER_STATE_KEY = KEY_PREFIX + "scheduler:state"
#: Pub/sub channel and list used to wake the scheduler early when earlier work is added.
SCHEDULER_WAKE_CHANNEL = KEY_PREFIX + "scheduler:wake"
#: Unique-job lock per key: ``rqstack:unique:<key>`` -> job id.
UNIQUE_KEY_PREFIX = KEY_PREFIX + "unique:"
#: Progress of a running job lives in the job's meta under this name.
PROGRESS_META_KEY = "progress"

#: Sorted set that stock rq-scheduler writes (enqueue_at / enqueue_in / cron).
RQ_SCHEDULER_JOBS_KEY = "rq:scheduler:scheduled_jobs"

#: Job ids, schedule names and queue names: the same safe alphabet RQ accepts.
NAME_PATTERN = r"[A-Za-z0-9_-]{1,128}"
NAME_RE = re.compile(rf"^{NAME_PATTERN}$")

#: Largest JSON encoding of a job's args + kwargs accepted from CLI, API or schedule file.
MAX_ARGUMENTS_BYTES = 64 * 1024

DEFAULT_QUEUE = "default"
DEFAULT_TIMEZONE = "UTC"
DEFAULT_DATA_DIR = ".rqstack"
DEFAULT_DASHBOARD_HOST = "127.0.0.1"
DEFAULT_DASHBOARD_PORT = 9181
#: Job timeout when neither the caller nor the job's registration names one (RQ's default).
DEFAULT_JOB_TIMEOUT_SECONDS = 180
#: How long finished and failed job data is kept (seconds).
DEFAULT_RESULT_TTL_SECONDS = 7 * 24 * 3600
DEFAULT_FAILURE_TTL_SECONDS = 14 * 24 * 3600
RUN_HISTORY_LIMIT = 200

#: Embedded redis-server: files inside RQSTACK_DATA_DIR.
EMBEDDED_SOCKET_NAME = "redis.sock"
EMBEDDED_URL_FILE = "redis.url"
EMBEDDED_PID_FILE = "redis.pid"
EMBEDDED_LOCK_FILE = "redis.lock"
EMBEDDED_LOG_FILE = "redis.log"
EMBEDDED_CONF_FILE = "redis.conf"
#: Unix socket paths longer than this do not fit sockaddr_un; fall back to a loopback port.
UNIX_SOCKET_PATH_MAX = 100

# --- scheduler (sched/) ---------------------------------------------------------------------
#: RQ's own keys the scheduler reads and writes, spelled as RQ spells them.
RQ_QUEUES_KEY = "rq:queues"
RQ_QUEUE_KEY_PREFIX = "rq:queue:"
RQ_JOB_KEY_PREFIX = "rq:job:"
RQ_SCHEDULED_REGISTRY_PREFIX = "rq:scheduled:"
#: Leader lease: a killed leader is replaced within lease + follower poll (< 2 s).
SCHEDULER_LEASE_SECONDS = 1.2
SCHEDULER_FOLLOWER_POLL_SECONDS = 0.25
#: Longest sleep between ticks, so CLI/API/file changes are seen within a second.
SCHEDULER_MAX_SLEEP_SECONDS = 1.0
#: Due schedules or delayed jobs handled per Lua call.
SCHEDULER_BATCH_SIZE = 1000
#: Within this many seconds after its time, a fire is on time whatever the misfire policy.
DEFAULT_MISFIRE_GRACE_SECONDS = 60.0
#: Misfire policy ``all`` replays at most this many missed fires per schedule and tick.
MISFIRE_ALL_LIMIT = 1000
DEFAULT_MISFIRE_POLICY = "once"
DEFAULT_OVERLAP_POLICY = "allow"
#: Hash per schedule holding the RQ job fields each fire copies (written with the schedule).
SCHEDULE_JOB_TEMPLATE_KEY_PREFIX = KEY_PREFIX + "schedule-job:"
#: Hash of schedule name -> "<unix fire time> <job id> <fire time ISO>" of its last fire, written in
#: bulk by each FIRE; the fire time is a high-water mark no later fire of the schedule may reach.
SCHEDULE_LAST_FIRE_KEY = KEY_PREFIX + "schedules:last"
#: Counter bumped by every schedule write, so the scheduler rereads definitions only after a change.
SCHEDULE_VERSION_KEY = KEY_PREFIX + "schedules:version"

# --- worker (worker/) -----------------------------------------------------------------------
#: RQ's registries and records the fast worker writes directly, spelled as RQ 3 spells them.
RQ_STARTED_REGISTRY_PREFIX = "rq:wip:"
RQ_FINISHED_REGISTRY_PREFIX = "rq:finished:"
RQ_FAILED_REGISTRY_PREFIX = "rq:failed:"
RQ_CANCELED_REGISTRY_PREFIX = "rq:canceled:"
RQ_RESULTS_KEY_PREFIX = "rq:results:"
RQ_EXECUTION_KEY_PREFIX = "rq:execution:"
RQ_EXECUTIONS_KEY_PREFIX = "rq:executions:"
RQ_WORKER_KEY_PREFIX = "rq:worker:"
RQ_WORKERS_KEY = "rq:workers"
RQ_WORKERS_BY_QUEUE_PREFIX = "rq:workers:"
RQ_PUBSUB_CHANNEL_PREFIX = "rq:pubsub:"
#: Only one worker per interval scans for abandoned jobs; the lock's value is the worker's name.
REAPER_LOCK_KEY = KEY_PREFIX + "reaper:lock"
#: Per started entry a reaper is settling (``<queue>:<job>:<execution>``); lapses if the reaper dies.
REAPING_KEY_PREFIX = KEY_PREFIX + "reaping:"
#: Marker that turns RQ's stop-job command into a cancellation (status canceled).
CANCEL_KEY_PREFIX = KEY_PREFIX + "cancel:"
CANCEL_MARKER_TTL_SECONDS = 3600
#: Workers refresh their key and their jobs' started entries this often; a job whose entry is not
#: refreshed within the TTL is abandoned and gets retried or failed by the reaper.
WORKER_HEARTBEAT_SECONDS = 5.0
WORKER_HEARTBEAT_TTL_SECONDS = 20.0
REAPER_INTERVAL_SECONDS = 5.0
#: On SIGTERM the running job gets this long to finish before it is put back on its queue.
DEFAULT_SHUTDOWN_GRACE_SECONDS = 25.0
#: Jobs claimed per round trip when the queue is deep (fewer while jobs are slow). A SIGKILLed
#: worker's journal tells the reaper which of them it had not begun (see worker/journal.py).
WORKER_MAX_BATCH = 8
#: Hash per worker, execution id -> held / begun / succeeded: what a SIGKILL left undone.
WORKER_JOURNAL_KEY_PREFIX = KEY_PREFIX + "journal:"
#: An isolated worker's horse process is replaced after this many jobs.
HORSE_MAX_JOBS = 1000

# --- production jobs and alerts (worker/jobs/, worker/alerts/) ------------------------------
#: Job meta flag (truthy) that asks for an alert when the job succeeds.
ALERT_ON_SUCCESS_META_KEY = "rqstack_alert_on_success"
#: Per-queue marker with a TTL so a deep queue alerts once per cooldown, not on every check.
ALERT_BACKLOG_KEY_PREFIX = KEY_PREFIX + "alerts:backlog:"
DEFAULT_BACKLOG_ALERT_COOLDOWN_SECONDS = 15 * 60
#: List of the latest alert deliveries (newest first), bounded by ALERT_LOG_LIMIT.
ALERT_LOG_KEY = KEY_PREFIX + "alerts:log"
ALERT_LOG_LIMIT = 200

#: A fire this late or less is on time whatever its misfire grace: a grace of 0 means "no catch-up",
#: not "never", since a tick always wakes a little after the due instant.
MISFIRE_TOLERANCE_SECONDS = 1.0
