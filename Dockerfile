# syntax=docker/dockerfile:1
# The operator's image: `docker build -t ghcr.io/modelrollout/modelrollout:0.1.0 .`
# Two stages: the first installs the package and its dependencies into a virtualenv,
# the second copies only that virtualenv onto the same slim base (no pip cache, no
# compilers, no sources), and runs as an unprivileged numeric user (the chart's
# runAsUser), so `runAsNonRoot` can verify it.
ARG PYTHON_IMAGE=docker.io/library/python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/modelrollout
WORKDIR /src
COPY pyproject.toml LICENSE ./
COPY operator/ operator/
RUN /opt/modelrollout/bin/pip install --no-compile . \
 && /opt/modelrollout/bin/python -m modelrollout --help >/dev/null

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="modelrollout" \
      org.opencontainers.image.source="https://github.com/modelrollout/modelrollout" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /opt/modelrollout /opt/modelrollout
ENV PATH=/opt/modelrollout/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
# health (liveness/readiness) and Prometheus metrics; the chart passes both ports.
EXPOSE 8080 9090
ENTRYPOINT ["python", "-m", "modelrollout"]
