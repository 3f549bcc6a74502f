"""gunicorn settings for ``mokg serve`` (``--config python:mokg.apps.web.gunicorn_conf``); command-line flags override.

Threaded workers (gthread): a request spends most of its time waiting on the graph, so threads overlap those
waits while the worker processes use the cores.
"""

from __future__ import annotations

import gc
import os
from typing import Any

from mokg.config import get_settings, usable_cores

_s = get_settings()
bind = f"{_s.web_host}:{_s.web_port}"
workers = max(2, usable_cores())
worker_class = "gthread"
threads = _s.web_threads  # many: a paced analyst refusal holds one, asleep (see MOKG_ANALYST_REFUSAL_DELAY_S)
timeout = 60
graceful_timeout = 20
keepalive = 5
accesslog = "-"
# the heartbeat touches a file on every loop of a worker's main thread; on a disk-backed /tmp that costs
# ~0.5 ms a request (gunicorn's docs advise tmpfs)
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
wsgi_app = "mokg.apps.web.app:create_app()"


def child_exit(server: Any, worker: Any) -> None:
    # drop a dead worker's live gauges from the summed Prometheus samples
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker: Any) -> None:
    # pace analyst refusals on half of the threads this worker really has (a --threads flag overrides the
    # setting above)
    from mokg.apps.web.services import set_threads

    set_threads(worker.wsgi, worker.cfg.threads)
    # the loaded app's objects never die: keep them out of every later collection, whose pauses otherwise
    # land in the latency tail
    gc.collect()
    gc.freeze()
