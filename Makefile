# Everything a person repeats. `make run` starts Trellis; `make test` runs every test.
PY := .venv/bin/python
export OMP_NUM_THREADS ?= 1

.PHONY: system-deps setup build run test lint typecheck imports format schema schema-check test-py test-e2e test-multihost test-js bench clean

setup:
	@bash scripts/bootstrap.sh
	@.venv/bin/python manage.py prepare_question_embedder
	@.venv/bin/python manage.py prepare_query_embedder
	@if [ "$${TRELLIS_LOCAL_MODEL_ENGINE:-vllm}" = "vllm" ]; then bash scripts/vllm_cpu.sh; fi

system-deps:
	@bash scripts/system_deps.sh

build: setup
	@bash scripts/build_frontend.sh

run: build
	$(PY) manage.py serve

lint: setup
	.venv/bin/ruff check apps flows tests
	.venv/bin/ruff format --check apps flows tests

typecheck: setup
	.venv/bin/mypy apps flows

imports: setup
	.venv/bin/lint-imports

schema: setup
	$(PY) manage.py spectacular --file frontend/openapi.yaml --validate
	cd frontend && npm run --silent gen:api

schema-check: setup
	$(PY) manage.py spectacular --file /tmp/trellis-openapi.yaml --validate
	@diff -q /tmp/trellis-openapi.yaml frontend/openapi.yaml || (echo "frontend/openapi.yaml is stale: run make schema" && exit 1)
	cd frontend && npm run --silent check:api

test-py: build
	.venv/bin/pytest -m "not e2e"

test-e2e: system-deps build
	.venv/bin/pytest -m e2e

# Production shape without containers: external PostgreSQL, Redis, two hosts, haproxy (~3 min).
test-multihost: system-deps setup
	.venv/bin/pytest -m multihost

test-js: setup
	cd frontend && npm test --silent && npm run --silent typecheck

# The one command that runs every test: lint, types, import contract, API schema drift,
# backend (real PostgreSQL + pgvector), frontend units, browser (real Chromium).
test: system-deps build lint typecheck imports schema-check test-js
	.venv/bin/pytest

bench: build
	$(PY) tests/bench/bench_foundation.py

format: setup
	.venv/bin/ruff check --fix apps flows tests
	.venv/bin/ruff format apps flows tests

clean:
	rm -rf frontend/dist frontend/dist-widget .pytest_cache .mypy_cache .ruff_cache
