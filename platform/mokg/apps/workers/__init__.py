"""Celery workers of the platform: thin tasks over library code (`celery -A mokg.apps.workers.app worker`, or `mokg worker`).

* :mod:`mokg.apps.workers.app` — the Celery app, configured from the platform settings (Valkey/Redis broker, late acks,
  one message prefetched at a time, JSON only, the continuous-mode beat schedule);
* :mod:`mokg.apps.workers.tasks` — ``mine_entity`` (PAIR mining of one source) and ``enqueue_batch`` (continuous mode)
  on the ``pair`` queue, ``train_glom`` (a GLoM retrain) on the ``train`` queue.
"""
