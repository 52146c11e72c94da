# Aurora Hub. `make dev` runs the hub with the PagerDuty plugin on SQLite
# against a local PagerDuty simulator; `make test` runs every module's tests.
SHELL := /bin/bash
GO ?= go
# Every module listed in go.work, and every plugin binary under
# plugins/*/cmd/aurora-plugin-*: a new plugin needs no edit here.
MODULES := $(shell $(GO) work edit -json | sed -n 's/.*"DiskPath": "\.\/\(.*\)".*/\1/p')
PLUGINS := $(notdir $(wildcard plugins/*/cmd/aurora-plugin-*))
BIN := bin
PLUGIN_DIR := $(BIN)/plugins
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
# Static binaries, as the Docker image ships them (SQLite is pure Go): no
# libc mapped into the hub and each plugin (3 to 4 MB of a storm's RSS),
# and a plugin built here runs on any Linux of its architecture.
BUILD := CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)'
SIM_LISTEN ?= 127.0.0.1:5090
TEST_FLAGS ?= -count=1 -timeout 20m

.PHONY: all build sums dev down test test-short bench soak proto lint vulncheck fmt clean list

all: build

build: ## build the hub, the plugins and the PagerDuty simulator into bin/
	@rm -f $(PLUGIN_DIR)/SHA256SUMS # new binaries: `make sums` pins them again
	$(BUILD) -o $(BIN)/aurora-hub ./cmd/aurora-hub
	@set -e; for p in $(wildcard plugins/*/cmd/aurora-plugin-*); do \
	  echo "$(BUILD) -o $(PLUGIN_DIR)/$$(basename $$p) ./$$p"; \
	  $(BUILD) -o $(PLUGIN_DIR)/$$(basename $$p) ./$$p; done
	$(BUILD) -o $(BIN)/pagerduty-sim ./tools/pdsim/cmd/pagerduty-sim

sums: build ## pin the built plugins: bin/plugins/SHA256SUMS (HUB_PLUGIN_REQUIRE_CHECKSUM=true refuses anything else)
	cd $(PLUGIN_DIR) && sha256sum aurora-plugin-* > SHA256SUMS
	$(BIN)/aurora-hub plugins verify

dev: build ## run the hub on SQLite with the PagerDuty plugin, against the simulator
	@mkdir -p data
	@$(BIN)/pagerduty-sim -listen $(SIM_LISTEN) & echo $$! > data/pagerduty-sim.pid; \
	trap 'kill $$(cat data/pagerduty-sim.pid 2>/dev/null) 2>/dev/null; rm -f data/pagerduty-sim.pid data/aurora-hub.pid' EXIT INT TERM; \
	PAGERDUTY_API_URL=$${PAGERDUTY_API_URL:-http://$(SIM_LISTEN)} \
	PAGERDUTY_OAUTH_URL=$${PAGERDUTY_OAUTH_URL:-http://$(SIM_LISTEN)} \
	HUB_LOG_FORMAT=$${HUB_LOG_FORMAT:-text} \
	bash -c 'echo $$$$ > data/aurora-hub.pid; exec $(BIN)/aurora-hub serve'

# The hub writes no pid file of its own: `make dev`'s shell records its pid
# and becomes the hub (exec), so `make down` stops that process and no other.
down: ## stop what `make dev` left running
	-@for p in aurora-hub pagerduty-sim; do \
	  [ -f data/$$p.pid ] && kill $$(cat data/$$p.pid) 2>/dev/null; rm -f data/$$p.pid; done; true

test: ## run every module's tests (PostgreSQL ones need HUB_TEST_POSTGRES_URL)
	@set -e; for m in $(MODULES); do echo "== $$m"; (cd $$m && $(GO) test $(TEST_FLAGS) ./...); done

test-short:
	@set -e; for m in $(MODULES); do (cd $$m && $(GO) test -short -count=1 ./...); done

bench: build ## the webhook path's throughput and latency against two baselines, then Go micro-benchmarks
	$(GO) run ./cmd/hubbench -plugin-dir $(PLUGIN_DIR)
	@set -e; for m in $(MODULES); do (cd $$m && $(GO) test -run '^$$' -bench . -benchmem ./...); done

SOAK_DURATION ?= 10m
SOAK_RATE ?= 500
SOAK_FLAGS ?=
soak: build ## steady webhook load on a local hub (SQLite, PagerDuty plugin); CSV + PNG of throughput, p99, RSS, WAL, queue depth under out/soak/
	cd cmd && $(GO) run ./hubsoak -bin ../$(BIN) -out ../out/soak -duration $(SOAK_DURATION) -rate $(SOAK_RATE) $(SOAK_FLAGS)

proto: ## regenerate the plugin protocol's Go code
	protoc -I sdk/proto --go_out=sdk --go_opt=module=github.com/aurora-hub/aurora-hub/sdk \
	  --go-grpc_out=sdk --go-grpc_opt=module=github.com/aurora-hub/aurora-hub/sdk \
	  sdk/proto/provider/v1/provider.proto

lint: ## gofmt and go vet
	@test -z "$$(gofmt -l $(MODULES))" || (gofmt -l $(MODULES); exit 1)
	@set -e; for m in $(MODULES); do (cd $$m && $(GO) vet ./...); done

vulncheck: ## govulncheck on every module (skips with a note when its database is unreachable; GOVULNDB=file:///... for a local copy)
	bash .ci/vulncheck

fmt:
	gofmt -w $(MODULES)

list: ## the modules and plugins the other targets cover
	@echo "modules: $(MODULES)"; echo "plugins: $(PLUGINS)"

clean:
	rm -rf $(BIN)
