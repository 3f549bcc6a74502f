# syntax=docker/dockerfile:1
# The MoKG application image: the `web`, `worker`, `beat` and `schema` services of compose.yaml, and any other
# `mokg` command (`docker compose run --rm worker mokg ingest ...`). No secret is baked in: passwords reach the
# containers at run time through compose.yaml's `environment`, which reads them from .env (kept out of the
# build context by .dockerignore). No HEALTHCHECK here: each service of compose.yaml has its own.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MOKG_HOME=/var/lib/mokg \
    MOKG_CYPHER_DIR=/opt/mokg/cypher

# a non-root user; MOKG_HOME (logs, generated secrets, model artifacts, the beat's schedule) is its volume
RUN groupadd --system --gid 10001 mokg \
    && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /home/mokg --shell /usr/sbin/nologin mokg \
    && install -d -o mokg -g mokg /var/lib/mokg

WORKDIR /opt/mokg

# torch first, the CPU build from the PyTorch CPU index, pinned like scripts/setup.sh and the `train` extra (which
# it then satisfies: 2.13.0+cpu matches ==2.13.0); plain `torch` from PyPI pulls a multi-GB CUDA build
RUN pip install --index-url https://download.pytorch.org/whl/cpu 'torch==2.13.0'

# the package from pyproject.toml with what the services run: training/embeddings, the Celery workers, the web
COPY pyproject.toml README.md ./
COPY platform ./platform
# (hadolint's DL3013 asks for pinned versions: this is the project itself, its dependencies as pyproject.toml says)
# hadolint ignore=DL3013
RUN pip install '.[train,workers,web]' && rm -rf build platform
# the named Cypher statements are read from MOKG_CYPHER_DIR at run time
COPY cypher ./cypher

# `mokg`, by number, so that a runtime can verify it is not root (Kubernetes' runAsNonRoot)
USER 10001:10001
EXPOSE 8080
# the web service (gunicorn); compose.yaml sets MOKG_WEB_HOST=0.0.0.0 so the published port reaches it
CMD ["mokg", "serve"]
