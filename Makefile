# Release builds and deployment (docs/deploy.md). The tests have their own entry point:
# scripts/test.

.PHONY: build build-x86 check-infra deploy startup-bench

# Tools for building and deploying (cargo-lambda with Zig, SAM CLI), in .venv-infra.
.venv-infra/bin/sam: scripts/infra-requirements.txt
	[ -x .venv-infra/bin/python ] || python3 -m venv .venv-infra
	.venv-infra/bin/pip install --quiet -r scripts/infra-requirements.txt
	touch $@

FUNCTIONS := -p ingest -p evaluate -p execute -p api
TOOLS := PATH="$(CURDIR)/.venv-infra/bin:$$PATH"

# Every bootstrap, zipped under target/lambda/<fn>/: arm64 (the template's architecture), or
# x86_64 where the aarch64 Rust target cannot be installed.
build:
	scripts/release

# x86_64 bootstraps on purpose (set Architectures: [x86_64] in infra/template.yaml before
# deploying them).
build-x86: .venv-infra/bin/sam
	$(TOOLS) cargo lambda build --release --x86-64 --output-format zip $(FUNCTIONS)

check-infra:
	scripts/check-infra

# Builds with SAM (which runs cargo lambda per function) and deploys, asking for the parameters
# the first time and saving them in infra/samconfig.toml.
deploy: .venv-infra/bin/sam
	cd infra && $(TOOLS) sam build --beta-features && $(TOOLS) sam deploy --guided

# The start-up budget (BENCHMARKS.md): release bootstraps for this machine, against a local
# Lambda Runtime API and the local AWS emulator.
startup-bench:
	cargo build --release $(FUNCTIONS)
	cargo build -p rulekit
	scripts/with-emulator scripts/startup-bench
