# The single entry point. `make test` works on a fresh Debian 12 machine as root.
.DEFAULT_GOAL := help
SHELL := /bin/bash

VENV      ?= .venv
PY        := $(VENV)/bin/python
# The distribution's interpreter when there is one: Debian's is statically linked and
# PGO-built and starts about 2 ms sooner than a shared-library build (pyenv's, say), which
# every plugin exec pays (benches/test_startup.py).
PYTHON    ?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || echo python3)
# Debian packages, pinned to the versions tested (Debian 12); apt falls back to the
# candidate version when a point release has replaced one.
APT_PKGS  := iproute2=6.1.0-3 iptables=1.8.9-2 nftables=1.0.6-2+deb12u2 \
             containernetworking-plugins=1.1.1+ds1-3+b5 golang-go=2:1.19~1 \
             golang-github-appc-cni-dev=1.1.2-1 hyperfine=1.15.0-2 \
             iputils-ping=3:20221126-1+deb12u1 strace=6.1-0.1 \
             podman=4.3.1+ds1-8+deb12u1+b3 busybox-static=1:1.35.0-4+deb12u1+b1 \
             dnsmasq-base=2.90-4~deb12u2 etcd-server=3.4.23-4+b4
STAMP     := $(VENV)/.installed

.PHONY: help
help: ## list targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: system-deps
system-deps: ## install the Debian packages the tests use (root)
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		missing=""; for p in $(APT_PKGS); do dpkg -s "$${p%%=*}" >/dev/null 2>&1 || missing="$$missing $$p"; done; \
		if [ -n "$$missing" ]; then \
			export DEBIAN_FRONTEND=noninteractive; apt-get update -q; \
			apt-get install -y -q --no-install-recommends $$missing || \
			apt-get install -y -q --no-install-recommends $$(for p in $$missing; do echo "$${p%%=*}"; done); \
		fi; \
		$(PYTHON) -m venv --help >/dev/null 2>&1 || apt-get install -y -q python3-venv; \
	fi

$(STAMP): pyproject.toml Cargo.toml Cargo.lock requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	@touch $@

.PHONY: venv
venv: $(STAMP)

.PHONY: build
build: venv ## build the shim and the extension (release); install the package into .venv, editable
	$(PY) packaging/backend.py
	$(VENV)/bin/maturin develop --release -q
	@# An editable install writes no bytecode, and where PYTHONDONTWRITEBYTECODE is set
	@# nothing does: every plugin start and agent worker would compile its modules again.
	$(PY) -m compileall -q python/cni

.PHONY: demo
demo: system-deps build ## three pods on a bridge in throwaway namespaces (root); leaves nothing behind
	$(VENV)/bin/cni demo

.PHONY: test
test: system-deps build ## everything: Rust unit tests, then the whole pytest suite
	cargo test --quiet -p cni-core
	$(PY) -m pytest

.PHONY: test-rust
test-rust: ## Rust unit tests only (no Python)
	cargo test -p cni-core

.PHONY: bench-run
bench-run: build ## run the benchmarks in benches/ into .benchmarks/latest.json
	mkdir -p .benchmarks
	$(PY) -m pytest benches --benchmark-enable -p no:cacheprovider --benchmark-json=.benchmarks/latest.json

.PHONY: bench
bench: bench-run ## run the benchmarks; fail on a regression against benches/baseline.json
	$(PY) benches/compare.py --recheck

.PHONY: bench-save
bench-save: bench-run ## run the benchmarks and record them as the new baseline
	$(PY) benches/compare.py --save

.PHONY: lint
lint: build ## ruff, mypy, stubtest of cni._native, rustfmt --check, clippy -D warnings
	$(VENV)/bin/ruff check python tests benches packaging
	$(VENV)/bin/ruff format --check python tests benches packaging
	$(VENV)/bin/mypy
	$(PY) -m mypy.stubtest cni._native
	cargo fmt --check
	cargo clippy --workspace --all-targets -- -D warnings

.PHONY: format
format: venv ## apply ruff format and rustfmt
	$(VENV)/bin/ruff format python tests benches packaging
	$(VENV)/bin/ruff check --fix python tests benches packaging
	cargo fmt

.PHONY: clean
clean: ## remove build outputs and the venv
	rm -rf target $(VENV) .pytest_cache .mypy_cache .ruff_cache
