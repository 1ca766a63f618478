# tillroll: production image. Build:  docker build -t tillroll .
# Runs `tillroll serve` by default; the same image runs `migrate`, `projections run` and
# `worker` (docker-compose.yml). It holds no embedded PostgreSQL or valkey: a process
# started without TILLROLL_DATABASE_URL / TILLROLL_REDIS_URL stops with the reason.
#
# BASE_IMAGE: any Debian-like image with python3 (3.11+) and its venv module. The default is
# the official Python image; on a machine without a registry, build one from Debian
# packages (scripts/local-images, docs/DEPLOYMENT.md) and pass
#   --build-arg BASE_IMAGE=debian-local:bookworm
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/tillroll PATH=/opt/tillroll/bin:$PATH TILLROLL_HOST=0.0.0.0
RUN python3 -m venv /opt/tillroll && useradd --create-home --uid 10001 tillroll

# The pinned dependencies first, in a layer of their own: a code change rebuilds only the
# small layer below.
COPY requirements/prod.txt /tmp/requirements.txt
RUN pip install --no-cache-dir -r /tmp/requirements.txt && rm /tmp/requirements.txt

COPY pyproject.toml README.md /src/
COPY aggregates /src/aggregates
COPY commands /src/commands
COPY queries /src/queries
COPY projections /src/projections
COPY api /src/api
COPY infra /src/infra
COPY tillroll /src/tillroll
# --no-deps: the pins above are the dependencies (pyproject's own list would also pull in
# the embedded servers).
RUN pip install --no-cache-dir --no-deps /src && rm -rf /src

USER tillroll
WORKDIR /home/tillroll
EXPOSE 8000
# The API's probe; compose gives the projector and the worker their own.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python3", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2).status != 200)"]
ENTRYPOINT ["tillroll"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
