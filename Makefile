# stagehand — two commands on a fresh Debian machine:
#   make synth   build the Lambdas and synthesize every stack (cdk-nag on), no AWS account needed
#   make test    vet, format check, every test (DynamoDB Local and the API Gateway emulator included)
#   make dev     the whole system locally (console, portal, OIDC issuer, blue/green data plane); make dev-deploy runs a deploy
# Both install what they need first (npm ci, go mod download; make test also Java 17 and
# shellcheck via apt when missing: synth needs neither).

SHELL        := /bin/bash
.SHELLFLAGS  := -euo pipefail -c
ENV          ?= dev
GOFLAGS      ?= -buildvcs=false
export GOFLAGS
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_VERSION_CHECK := 1

LAMBDA_DIRS  := $(wildcard lambdas/*/main.go eventhandlers/*/main.go)
SUDO         := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Fuzzing runs a fixed number of executions per target, not a duration: with
# a duration, Go 1.26's fuzz coordinator can report a spurious "context
# deadline exceeded" failure at the deadline, with no failing input
# (go.dev/issue/75804, fixed in Go 1.27).
FUZZTIME     ?= 60000x

.PHONY: all deps java chromium shellcheck node go-deps lambdas cli synth synth-all test vet staticcheck fmt-check actionlint unit fuzz bench scale clean dev dev-deploy

all: synth

## deps: everything the build and tests need; synth needs only node and go-deps
deps: java shellcheck node go-deps

java:
	@if ! command -v java >/dev/null 2>&1; then \
	  echo "installing openjdk-17-jre-headless (DynamoDB Local needs Java)"; \
	  $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless; \
	fi

# The browser tests (test/browser) drive Debian's chromium; they fail under
# CI=true without it.
chromium:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  echo "installing chromium (the console and portal browser tests need it)"; \
	  $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; \
	fi

# actionlint runs shellcheck on every workflow `run:` script only when it is
# installed: install it so the check is the same on every machine.
shellcheck:
	@if ! command -v shellcheck >/dev/null 2>&1; then \
	  echo "installing shellcheck (actionlint checks workflow scripts with it)"; \
	  $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends shellcheck; \
	fi

# The supported Node.js is .nvmrc's (CI uses it); an older one still works
# here (jsii's end-of-life banner is silenced above) but is untested.
node: node_modules/.stamp
	@v=$$(node -p 'process.versions.node.split(".")[0]'); want=$$(cat .nvmrc); \
	if [ "$$v" -lt "$$want" ]; then echo "note: Node.js $$v is older than the supported $$want (.nvmrc): it works, CI uses $$want"; fi
node_modules/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

go-deps:
	go mod download

## lambdas: one linux/arm64 bootstrap per entry point under lambdas/ and eventhandlers/
lambdas:
	@for main in $(LAMBDA_DIRS); do \
	  dir=$$(dirname $$main); name=$$(basename $$dir); \
	  echo "build $$dir -> build/lambda/$$name/bootstrap"; \
	  GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -tags lambda.norpc -trimpath -ldflags='-s -w' \
	    -o build/lambda/$$name/bootstrap ./$$dir; \
	done

## cli: bin/stagehand, with its version, commit and build date (stagehand --version)
VERSION      ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT       ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
BUILD_DATE   ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
CLI_PKG      := github.com/stagehand-dev/stagehand/internal/cli
cli:
	go build -trimpath -ldflags '-X $(CLI_PKG).Version=$(VERSION) -X $(CLI_PKG).Commit=$(COMMIT) -X $(CLI_PKG).BuildDate=$(BUILD_DATE)' \
	  -o bin/stagehand ./scripts/stagehand

## synth: build the Lambdas, synthesize every stack of ENV (default dev) into cdk.out/
synth: node go-deps lambdas cli
	rm -rf cdk.out
	npx --no-install cdk synth --quiet -c env=$(ENV)
	@echo "synthesized $$(ls cdk.out/*.template.json | wc -l) stacks for $(ENV) into cdk.out/"

## synth-all: every environment, each in its own output directory
synth-all: node go-deps lambdas
	@for e in dev staging prod; do npx --no-install cdk synth --quiet -c env=$$e -o cdk.out/$$e; done

## test: vet, gofmt, actionlint, all tests with -race against one DynamoDB Local, brief fuzzing
test: deps chromium vet staticcheck fmt-check actionlint unit fuzz

vet:
	go vet ./...

## staticcheck: pinned in go.mod's tool block; cdk/staticcheck.conf turns off
## the deprecation check there (jsii's cxapi types, no Go replacement yet)
staticcheck:
	go tool staticcheck ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

## actionlint: lint .github/workflows (actionlint pinned in go.mod's tool block,
## shellcheck on every run: script) and the CI shell wrappers in scripts/ci
actionlint: shellcheck
	shellcheck -x scripts/ci/*.sh
	go tool actionlint -shellcheck=shellcheck

# Dummy credentials, and every AWS endpoint a test does not set itself points
# at a closed loopback port: no test can reach AWS, even by mistake.
unit: export AWS_ACCESS_KEY_ID := local
unit: export AWS_SECRET_ACCESS_KEY := local
unit: export AWS_REGION := us-east-1
unit: export AWS_EC2_METADATA_DISABLED := true
unit: export AWS_ENDPOINT_URL := http://127.0.0.1:9
unit:
	go run ./test/ddblocal -- go test -race -count=1 -timeout 12m ./...

## fuzz: every fuzz target for FUZZTIME each (CI runs them briefly)
fuzz:
	@for pkg in $$(go list ./...); do \
	  dir=$$(go list -f '{{.Dir}}' $$pkg); \
	  for target in $$(grep -hoE '^func (Fuzz[A-Za-z0-9_]+)' $$dir/*_test.go 2>/dev/null | awk '{print $$2}'); do \
	    echo "fuzz $$pkg $$target ($(FUZZTIME))"; \
	    go test -run='^$$' -fuzz="^$$target$$" -fuzztime=$(FUZZTIME) $$pkg; \
	  done; \
	done

## bench: every benchmark with allocations
bench:
	go test -run='^$$' -bench=. -benchmem ./...

## dev: DynamoDB Local, API Gateway emulator, blue/green data plane, authorizer,
## console + portal and a local OpenID provider, seeded; Ctrl-C stops it all
dev: java node go-deps
	go run ./test/devstack/cmd/devstack

## dev-deploy: a blue/green deploy against the running make dev
dev-deploy:
	go run ./test/devstack/cmd/devstack deploy

## scale: the scale model on the full population; rewrites docs/scale.md's
## tables and docs/img/scale-*.svg with CPU figures from this run's
## authorizer benchmarks (under a minute on 2 cores)
SCALE_BENCH := ^Benchmark(AuthorizeAPIKeyCached|AuthorizeJWTCached|AuthorizeJWTRS256|RSAVerifyFloor)$$
scale:
	@mkdir -p build
	go test -run='^$$' -bench='$(SCALE_BENCH)' -benchmem -count=3 -benchtime=0.5s ./internal/auth | tee build/authbench.txt
	go run ./test/scalesim -bench build/authbench.txt -doc docs/scale.md -img docs/img

clean:
	rm -rf build bin cdk.out
