"""Celery workers of the platform: thin tasks over library code (`celery -A workers.app worker`, or `mokg worker`).

* :mod:`workers.app` — the Celery app, configured from the platform settings (Valkey/Redis broker, late acks,
  one message prefetched at a time, JSON only, the continuous-mode beat schedule);
* :mod:`workers.tasks` — ``mine_entity`` (PAIR mining of one source) and ``enqueue_batch`` (continuous mode).
"""
