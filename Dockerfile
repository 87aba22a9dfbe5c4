# syntax=docker/dockerfile:1.7
# The dsr-orchestrator image the Helm chart (deploy/helm/dsr-orchestrator) runs by default:
#   docker build -t <registry>/dsr-orchestrator:0.1.0 .
# Exactly what uv.lock says (--frozen never re-resolves), no dev tools, bytecode compiled at
# build time (the root filesystem is read-only at run time, and Temporal's workflow sandbox
# re-imports workflow modules per run), and a non-root user.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ── build: resolve nothing, install the locked environment into /app/.venv ─────────────────
FROM ${PYTHON_IMAGE} AS build
COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /uvx /bin/
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
# Dependencies first, from the lock file alone: this layer is reused until uv.lock changes.
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    uv sync --frozen --no-dev --no-install-project
COPY pyproject.toml uv.lock README.md ./
COPY schemas ./schemas
COPY policy ./policy
COPY connectors ./connectors
COPY workflows ./workflows
COPY orchestrator ./orchestrator
COPY sandbox ./sandbox
COPY devstack ./devstack
# The project itself as a wheel (not editable): the runtime stage needs only /app/.venv.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable

# ── runtime: the environment and a user, nothing else ──────────────────────────────────────
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="dsr-orchestrator" \
      org.opencontainers.image.description="GDPR data-subject request orchestrator" \
      org.opencontainers.image.version="0.1.0"
RUN groupadd --system --gid 10001 dsr \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin dsr
COPY --from=build --chown=root:root /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DSR_ENV_FILE=/nonexistent/dsr.env
WORKDIR /tmp
USER 10001:10001
EXPOSE 8400 8401 9464
ENTRYPOINT ["dsr"]
CMD ["--help"]
