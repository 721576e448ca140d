# The two commands a newcomer needs: `make demo` and `make test`. Everything installs into gitignored
# folders of this clone (.venv for Python tools); the cargo target directory defaults to one shared
# outside the clone so the AWS SDK is built once per machine.
SHELL := /bin/bash
export CARGO_TARGET_DIR ?= $(HOME)/.cache/cloud-unmap/target
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: test demo venv build lint fmt-check clippy rust-test hadolint bench clean

test: venv lint rust-test
	@echo "make test: all passed"

venv: $(VENV)/.installed
$(VENV)/.installed: requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

build:
	cargo build --all-targets

lint: fmt-check clippy

fmt-check:
	cargo fmt --check

clippy:
	cargo clippy --all-targets -- -D warnings

rust-test: venv
	cargo test --all-targets

demo: venv build
	CARGO_TARGET_DIR=$(CARGO_TARGET_DIR) scripts/demo.sh

bench: venv
	bench/run.sh

clean:
	rm -rf $(VENV) bench/out
