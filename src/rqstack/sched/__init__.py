"""Schedules: the model, pure cron math, the Redis store, the scheduler loop and file sync."""
