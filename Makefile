# The two commands a newcomer needs: `make demo` and `make test`. Everything installs into gitignored
# folders of this clone (.venv for Python tools, infra/node_modules for the CDK app); the cargo target
# directory defaults to one shared outside the clone so the AWS SDK is built once per machine.
SHELL := /bin/bash
export CARGO_TARGET_DIR ?= $(HOME)/.cache/cloud-unmap/target
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: test demo venv build lint links fmt-check clippy fuzz-check rust-test hadolint cross-toolchain image infra-package ruff promtool infra-deps infra-test infra-cli cfn-lint checkov infra-e2e templates bench audit audit-advisories fuzz clean

test: venv lint rust-test infra-test
	@echo "make test: all passed"

venv: $(VENV)/.installed
$(VENV)/.installed: requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

build:
	cargo build --all-targets

lint: fmt-check clippy fuzz-check hadolint cross-toolchain ruff promtool links

# Every relative link and #anchor of README.md and docs/ resolves (the reference pages themselves are
# checked against the code by tests/docs_reference.rs).
links: venv
	$(PY) scripts/check_links.py

# Prometheus' own check of the shipped alerting rules, where promtool is installed (Debian: prometheus).
promtool:
	@if command -v promtool >/dev/null; then promtool check rules observability/prometheus-rules.yml; \
	else echo "promtool not installed: observability/prometheus-rules.yml checked by tests/observability.rs only"; fi

fmt-check:
	cargo fmt --check

clippy:
	cargo clippy --all-targets -- -D warnings

# The fuzz targets (fuzz/, their own cargo workspace) type-checked on stable, so an API they call
# cannot change unseen; `make fuzz` runs them. Same target directory: only libfuzzer-sys (its build
# script compiles libFuzzer's C++, so a C++ compiler is needed) and cloud-unmap itself are new.
fuzz-check:
	cargo check --manifest-path fuzz/Cargo.toml --bins

hadolint: venv
	$(VENV)/bin/hadolint Dockerfile

# The Dockerfile's arm64 cross toolchain resolves in Debian bookworm (simulated; on such a host only).
cross-toolchain:
	@scripts/cross-toolchain.sh

# The image for both Fargate architectures, cross-compiled without emulation (needs Docker with buildx):
#   make image IMAGE=111111111111.dkr.ecr.eu-west-1.amazonaws.com/cloud-unmap:0.1.0
PLATFORMS ?= linux/arm64,linux/amd64
image:
	@test -n "$(IMAGE)" || { echo "make image: set IMAGE=registry/repository:tag" >&2; exit 2; }
	docker buildx build --platform $(PLATFORMS) --build-arg REVISION=$$(git rev-parse HEAD) -t $(IMAGE) --push .

# The Python harnesses (benchmarks, test scripts, the infra end-to-end test): lint and format.
PY_SOURCES := bench scripts infra/test/e2e_moto.py
ruff: venv
	$(VENV)/bin/ruff check $(PY_SOURCES)
	$(VENV)/bin/ruff format --check $(PY_SOURCES)

rust-test: venv
	cargo test --all-targets

infra-deps: infra/node_modules/.installed
infra/node_modules/.installed: infra/package-lock.json
	cd infra && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# CDK assertions, cdk-nag, template staleness (node's test runner), the typecheck, cfn-lint on the
# published templates, checkov on those and on the CDK app's synthesized ones, and the home stack deployed
# into moto with the worker on its queue.
infra-test: infra-deps cfn-lint checkov infra-e2e infra-cli
	cd infra && npx tsc --noEmit -p .
	cd infra && npm test

# The CDK commands of docs/operations/deploy.md, with the real CLI and no credentials at all (the CLI and aws-cdk-lib must
# agree on the cloud-assembly schema; the VPC's availability zones come from cdk.context.json).
NO_AWS := env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN -u AWS_PROFILE \
	AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true CDK_DISABLE_VERSION_CHECK=1 CDK_DISABLE_CLI_TELEMETRY=true
infra-cli: infra-deps
	cd infra && $(NO_AWS) npx cdk ls --no-notices > cdk-ls.out && cat cdk-ls.out && grep -qx CloudUnmapHome cdk-ls.out && rm cdk-ls.out
	cd infra && $(NO_AWS) npx cdk synth --quiet --no-notices

TEMPLATES := infra/cloudformation/home.json infra/cloudformation/home-existing-vpc.json infra/cloudformation/forwarder.json \
	infra/cloudformation/member.json infra/cloudformation/organization-reader.json
cfn-lint: venv
	$(VENV)/bin/cfn-lint $(TEMPLATES)

# An independent scanner (pinned in requirements-dev.txt), offline: the published templates and the CDK
# app's (synthesized by infra-cli into infra/cdk.out). Findings are fixed or skipped in place, with the
# reason, in the resource's Metadata.checkov.skip.
checkov: venv infra-cli
	$(VENV)/bin/checkov --quiet --compact --skip-download --framework cloudformation \
	  $(addprefix -f ,$(TEMPLATES)) $$(for f in infra/cdk.out/*.template.json; do printf -- '-f %s ' $$f; done)

infra-e2e: venv build
	$(PY) -m infra.test.e2e_moto $(CARGO_TARGET_DIR)/debug/cloud-unmap

# Regenerates infra/cloudformation/ after a change to infra/lib.
templates: infra-deps
	cd infra && npm run synth && npm run docgen

demo: venv build
	CARGO_TARGET_DIR=$(CARGO_TARGET_DIR) scripts/demo.sh

bench: venv
	bench/run.sh

# Dependency policy (licenses, bans, sources): offline. Installs cargo-deny into ~/.cargo/bin if absent.
audit:
	command -v cargo-deny >/dev/null || cargo install cargo-deny --locked
	cargo deny check licenses bans sources

# Known vulnerabilities: needs the RustSec advisory database from GitHub (network access).
audit-advisories:
	command -v cargo-deny >/dev/null || cargo install cargo-deny --locked
	cargo deny check advisories

# Fuzzing (cargo-fuzz, libFuzzer): FUZZ_SECONDS per target, seeded from fuzz/seeds/. On a stable
# toolchain RUSTC_BOOTSTRAP=1 enables the flags cargo-fuzz needs; no sanitizer (-s none).
FUZZ_SECONDS ?= 300
fuzz:
	command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	cd fuzz && for t in event_parse config_parse; do \
	  mkdir -p corpus/$$t && cp -n seeds/$$t/* corpus/$$t/ ; \
	  RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR=target cargo fuzz run -s none $$t corpus/$$t -- -max_total_time=$(FUZZ_SECONDS) || exit 1; \
	done

clean:
	rm -rf $(VENV) bench/out infra/node_modules
