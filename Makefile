# The few commands people type. `make demo` sets everything up and runs the main job against the local
# stand-in; `make test` runs every test. Both work on a fresh machine with the Rust toolchain, Python 3.11 and pip.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Never let the machine's PIP_* settings steer our own installs in surprising ways.
PIPENV := env -u PIP_FIND_LINKS -u PIP_INDEX_URL -u PIP_EXTRA_INDEX_URL -u PIP_CONFIG_FILE

.PHONY: setup dev system-deps demo test test-rust test-python lint fmt bench clean wheel

$(VENV)/.deps: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PIPENV) $(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# Tools the tests need (Debian): nftables for the namespace lab's "security group" rules, shellcheck for the
# lifecycle script, openssl for the stand-in's test CA, venv support for the test venvs, Chromium for the browser
# test of the notebooks' rendered outputs.
system-deps:
	@command -v nft >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nftables >/dev/null; }
	@command -v ip >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 >/dev/null; }
	@command -v shellcheck >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null; }
	@command -v openssl >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null; }
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@$(PYTHON) -c 'import ensurepip' 2>/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; }

# Build the extension (release) into the venv.
dev: $(VENV)/.deps
	$(PIPENV) $(VENV)/bin/maturin develop --release --quiet

setup: system-deps dev

# The wheel for SageMaker: manylinux2014 (glibc 2.17+, so Amazon Linux 2's 2.26 too), linked with zig from PyPI,
# checked with auditwheel. Output: dist/ca_login-VERSION-cp39-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl
wheel: $(VENV)/.deps
	rm -f dist/ca_login-*.whl
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PIPENV) $(VENV)/bin/maturin build --release --compatibility manylinux2014 --zig --out dist
	$(VENV)/bin/auditwheel show dist/ca_login-*.whl

demo: setup
	$(PY) scripts/demo.py

test-rust:
	cargo test --quiet

test-python: setup
	$(PY) -m pytest -q

test: lint test-rust test-python

# stubtest checks _core.pyi against the built extension (so lint builds it first); shellcheck comes from
# system-deps (lint runs before test-python's setup on a fresh machine).
lint: system-deps dev
	shellcheck --shell=bash python/ca_login/lifecycle/*.sh
	cargo fmt --check
	cargo clippy --all-targets --features python -- -D warnings
	$(VENV)/bin/ruff check python tests benchmarks scripts
	$(VENV)/bin/ruff format --check python tests scripts
	$(PY) -m mypy.stubtest ca_login._core --allowlist stubtest-allowlist.txt
	$(VENV)/bin/basedpyright -p tests/pyright-strict.json --pythonpath $(PY) python/ca_login/__init__.py python/ca_login/_core.pyi

# Benchmarks print figures (never asserted in tests). diagnose_vs_cli builds network namespaces (root) and
# waits up to 60 s for each AWS CLI run.
bench: setup
	$(PY) benchmarks/login_vs_cli.py
	$(PY) benchmarks/ensure_login_fastpath.py
	$(PY) benchmarks/standin_load.py
	$(PY) benchmarks/interrupt_latency.py
	$(PY) benchmarks/cli_cold.py
	$(PY) benchmarks/diagnose_vs_cli.py

fmt:
	cargo fmt
	$(VENV)/bin/ruff format python tests scripts

clean:
	rm -rf $(VENV) target
