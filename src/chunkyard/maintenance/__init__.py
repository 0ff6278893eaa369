"""Scheduled maintenance of the database and the data directory: analyze, skew, cleanup, reindex.

`schedule.py` says when each task is due (the one schedule the in-process scheduler and Celery
beat both read), `tasks.py` what each does on each backend, `lock.py` keeps a task to one run
at a time across processes, `record.py` keeps each run's outcome in `maintenance_runs`,
`scheduler.py` runs due tasks in the embedded mode and `metrics.py` turns the record into
/metrics series. See docs/maintenance.md.
"""
