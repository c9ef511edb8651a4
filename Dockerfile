# Podscale's image: `autoscaler run` (the control loop and the external-metrics
# adapter) on Python 3.11. Built as ghcr.io/podscale/podscale:<version>.
# It holds the podscale wheel and its runtime dependencies only: no extras (no
# matplotlib), no dev tools, and no test tooling (setup.py leaves `sim run` and the
# fault proxy out of the wheel).
#   docker build -t ghcr.io/podscale/podscale:0.1.0 .
# Runs as an unprivileged user (65532) with a read-only root filesystem (deploy/).

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/podscale
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY autoscaler ./autoscaler
RUN /opt/podscale/bin/pip install . && /opt/podscale/bin/autoscaler --version

FROM python:3.11-slim-bookworm
COPY --from=build /opt/podscale /opt/podscale
# One BLAS thread: the forecaster's matrices are small, and a multithreaded BLAS on a
# busy node took 50x longer per fit (loadtest/bench_forecast.py, docs/forecasting.md).
ENV PATH=/opt/podscale/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    OPENBLAS_NUM_THREADS=1
USER 65532:65532
# 8080: /metrics, /healthz, /readyz (--listen); 6443: the external metrics API.
EXPOSE 8080 6443
CMD ["autoscaler", "run"]
