"""Worker start-up, abandoned-job recovery, progress and cancel helpers."""
