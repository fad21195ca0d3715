# syntax=docker/dockerfile:1
# The operator's image. `make image` builds it without a Docker engine (buildah), from a
# wheelhouse it fills first: every runtime package from requirements-runtime.lock,
# checked against the lock's hashes, and the operator's own wheel. The build installs
# from the wheelhouse alone (no index: nothing unpinned, and no TLS from inside the
# build). Two stages: the second copies only the virtualenv onto the same base, and runs
# as an unprivileged numeric user (the chart's runAsUser), so runAsNonRoot can verify it.
# The base is pinned by digest; `make image` swaps in a Debian base it builds with
# mmdebstrap where the registry cannot be reached (BASE).
ARG BASE=docker.io/library/python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d

FROM ${BASE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INDEX=1
COPY requirements-runtime.lock /src/
COPY build/wheelhouse/ /wheels/
RUN python3 -m venv /opt/modelrollout \
 && /opt/modelrollout/bin/pip install --no-compile --no-deps --require-hashes \
      --find-links /wheels -r /src/requirements-runtime.lock \
 && /opt/modelrollout/bin/pip install --no-compile --no-deps /wheels/modelrollout-*.whl \
 && /opt/modelrollout/bin/python -m modelrollout --help >/dev/null

FROM ${BASE}
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
