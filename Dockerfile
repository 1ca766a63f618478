# tillroll: production image. Build:  docker build -t tillroll .
# Runs `tillroll serve` by default; the same image runs the projector and the worker.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY aggregates ./aggregates
COPY commands ./commands
COPY queries ./queries
COPY projections ./projections
COPY api ./api
COPY infra ./infra
COPY tillroll ./tillroll
RUN pip install --no-cache-dir build && python -m build --wheel --outdir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 TILLROLL_HOST=0.0.0.0
RUN useradd --create-home --uid 10001 tillroll
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER tillroll
WORKDIR /home/tillroll
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2).status != 200)"]
ENTRYPOINT ["tillroll"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
