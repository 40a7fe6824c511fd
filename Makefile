# harbor-gate developer targets. Everything runs on one machine with Go
# and no Docker engine.

GO        ?= go
BIN       := bin
PKGS      := ./...
GOFLAGS_T ?= -race
TEST_TIMEOUT ?= 30m

.PHONY: all build test lint demo sandbox clean

all: build

## build: compile harbor-gate into bin/
build:
	$(GO) build -trimpath -ldflags='-s -w' -o $(BIN)/harbor-gate ./cmd/harbor-gate

## test: vet and run every test with the race detector
test:
	$(GO) vet $(PKGS)
	$(GO) test $(GOFLAGS_T) -timeout $(TEST_TIMEOUT) -count=1 $(PKGS)

## lint: formatting, vet, and golangci-lint where it is installed
lint:
	@out="$$(gofmt -l $$(git ls-files '*.go'))"; \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	@if command -v golangci-lint >/dev/null; then golangci-lint run --enable errorlint; \
	else echo "golangci-lint not installed; skipped"; fi

## demo: publish one clean and one vulnerable image to the Harbor double
demo: build
	bash hack/demo.sh

## policy-demo: apply config/harbor/project.yaml to the Harbor double and
## show each policy at work (about a minute)
.PHONY: policy-demo
policy-demo:
	bash hack/policy-demo.sh

## sandbox: run the Harbor double in the foreground
sandbox: build
	$(BIN)/harbor-gate sandbox

## itest-bins: build etcd, kube-apiserver and the Tekton controller for the
## integration tier into a cache folder outside the checkout (about 6 minutes
## the first time on 2 cores; a no-op once built)
ITEST_BUILD   := hack/itest/build.sh
ITEST_TIMEOUT ?= 20m
ITEST_FLAGS   ?= -v

.PHONY: itest-bins integration

itest-bins:
	bash $(ITEST_BUILD)

## integration: run the integration tier: etcd, kube-apiserver, the Tekton
## controller and the harbor-gate controller against the Harbor double
integration: itest-bins
	$(GO) vet -tags integration ./test/integration/...
	$(GO) test -tags integration -count=1 $(ITEST_FLAGS) -timeout $(ITEST_TIMEOUT) ./test/integration/...

clean:
	rm -rf $(BIN)

## bench: run every benchmark and print Markdown tables (gate latency about
## 1 minute; push about 5 minutes, plus about 10 minutes the first time for
## apt-get, debootstrap and the crane and cosign builds; controller scale
## about 10 minutes on the integration tier). BENCHMARKS.md records the
## numbers, the commands and the machine. Not part of CI.
BENCH_RUNS        ?= 200
PUSH_BENCH_ROUNDS ?= 5

SCALE_RUNS        ?= 1000

.PHONY: bench bench-gatelatency bench-push bench-scale

bench: bench-gatelatency bench-push bench-scale

bench-gatelatency:
	$(GO) run ./test/bench/gatelatency -runs $(BENCH_RUNS)

bench-push:
	bash hack/bench/push.sh -rounds $(PUSH_BENCH_ROUNDS) -publish-rounds $(PUSH_BENCH_ROUNDS)

## bench-scale: SCALE_RUNS CustomRuns waiting on scans at once on the
## integration tier; appends its tables to test/bench/scale/RESULTS.md
bench-scale: itest-bins
	HARBOR_GATE_SCALE_RUNS=$(SCALE_RUNS) $(GO) test -tags 'integration scale' \
		-run 'TestScale$$' -v -count=1 -timeout 40m ./test/integration/

## fuzz: run each Go fuzz target for FUZZTIME and list the targets that
## failed; go test writes each failing input under the package's
## testdata/fuzz. -fuzz takes one package at a time, so the targets are
## listed as PACKAGE:NAME. FUZZMINIMIZETIME caps how many runs the fuzzer
## spends shrinking each input, so large inputs do not eat a short run.
FUZZTIME         ?= 10s
FUZZMINIMIZETIME ?= 1000x
FUZZ_TARGETS     := ./pkg/gate:FuzzParseTarget ./pkg/registry:FuzzParseSource \
	./pkg/events:FuzzReceiver ./pkg/harbor:FuzzScanOverview \
	./pkg/reconciler/imagegate:FuzzParams

.PHONY: fuzz

fuzz:
	@failed=""; \
	for target in $(FUZZ_TARGETS); do \
		pkg=$${target%%:*}; name=$${target##*:}; \
		echo "fuzzing $$name in $$pkg for $(FUZZTIME)"; \
		$(GO) test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) \
			-fuzzminimizetime=$(FUZZMINIMIZETIME) $$pkg || failed="$$failed $$name"; \
	done; \
	if [ -n "$$failed" ]; then echo "failed fuzz targets:$$failed"; exit 1; fi
