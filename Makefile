# angelad — run `make` (or `make help`) to list the targets.

GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
BIN       := bin/angelad
# `make run` keeps its cluster and state here, inside the checkout (git ignores it).
STATE_DIR ?= $(CURDIR)/.state

.DEFAULT_GOAL := help
.PHONY: help build run test bench benchcapture benchdaily benchmemory benchrecall benchweb lint

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z]+:.*## / {printf "  %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# CGO_ENABLED=0: a static binary starts about 1 ms faster than one that loads
# libc, which every one-shot command pays (make bench).
build: ## Build bin/angelad
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/angelad

run: build ## Run the daemon in the foreground on the managed PostgreSQL in .state/
	ANGELA_STATE_DIR=$(STATE_DIR) ./$(BIN) run

test: ## Vet, then run every test with the race detector against a real PostgreSQL
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

.PHONY: benchassistant
benchassistant: ## Claude Code: hooks session-start and user-prompt-submit (1,000,000 conversations, and the database down), MCP round trips
	ANGELA_BENCH_ROWS=1000000 $(GO) test -run '^$$' -bench 'BenchmarkHookSessionStart$$|BenchmarkHookUserPromptSubmit$$' -benchtime 200x -timeout 60m ./cmd/angelad/
	$(GO) test -run '^$$' -bench 'BenchmarkHookSessionStartDatabaseDown|BenchmarkHookUserPromptSubmitDatabaseDown|BenchmarkMCP' -benchtime 200x ./cmd/angelad/

.PHONY: benchstatus
benchstatus: ## Around an outage and a backfill: how soon capture stores and status shows them (about 7 minutes)
	$(GO) test -run '^$$' -bench 'BenchmarkCaptureAfterOutage|BenchmarkStatusShowsTheEndOfTheBackfill' -benchtime 3x -timeout 30m ./cmd/angelad/
	$(GO) test -run '^$$' -bench BenchmarkStatusSeesAnOutage -benchtime 10x ./cmd/angelad/

bench: ## Print the performance report (a throwaway cluster, one run)
	$(GO) run ./cmd/angelad-bench

benchcapture: ## Conversation capture: read MB/s, rows/s stored (and per CPU second before and after the retrieval terms), live latency, spool, idle daemon (about 4 minutes)
	$(GO) test -run '^$$' -bench 'BenchmarkReadTranscript|BenchmarkStoreRows' -benchtime 3x ./internal/capture/
	$(GO) test -run '^$$' -bench 'BenchmarkSpooledSave|BenchmarkDrain10k' -benchtime 3x ./internal/spool/
	$(GO) test -run '^$$' -bench BenchmarkLiveLatency -benchtime 1x ./internal/capture/
	$(GO) test -run '^$$' -bench BenchmarkIdleDaemonWith1000Transcripts -benchtime 1x ./cmd/angelad/

benchdaily: ## Daily updates: the evening reflection on 1,000,000/100,000 rows, the idle worker's pass
	$(GO) test -run '^$$' -bench 'BenchmarkEveningReflection|BenchmarkIdlePass' -benchtime 50x -timeout 30m ./internal/dailyupdate/

benchmemory: ## Memory: recall, search, retrieval, consolidation and writers' wait on 1,000,000 conversations (up to 30 minutes)
	ANGELA_BENCH_CONVERSATIONS=1000000 ANGELA_BENCH_EMOTIONS=100000 $(GO) test ./internal/memory -run '^$$' -bench 'BenchmarkScale$$' -benchtime 3x -timeout 90m

benchweb: ## The viewer: each page's server time on 1,000,000 conversations and 100,000 emotions over three years (up to 30 minutes)
	ANGELA_BENCH_CONVERSATIONS=1000000 ANGELA_BENCH_EMOTIONS=100000 $(GO) test ./internal/web -run '^$$' -bench BenchmarkPages -benchtime 20x -timeout 60m

benchrecall: ## Retrieval quality: recall@1/5/10 and MRR per question type and language on the evaluation sets (lexical; hybrid with ANGELA_TEST_EMBED_URL)
	$(GO) test ./internal/memory -run '^$$' -bench 'BenchmarkRecall' -benchtime 1x -timeout 20m

lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

.PHONY: plugin
plugin: ## Write the Claude Code plugin's files (claude-plugin/, .claude-plugin/) from internal/claudecode
	$(GO) test ./internal/claudecode -run '^TestPluginFilesAreThoseTheGeneratorWrites$$' -count=1 -update
