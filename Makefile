# traind — one non-recursive Makefile.
#
#   make            deps, then build/libnn.a and ./traind
#   make run        deps, build, and start the server (traind serve)
#   make test       deps, every Check suite, the dashboard in headless Chromium
#                   (test-browser), then the Check suites under ASan + UBSan, then
#                   the core suites under ThreadSanitizer, then every fuzzing
#                   harness once over its corpus and regressions (test-fuzz);
#                   the release run also checks that schema/openapi.yaml lists
#                   every status the end-to-end suites saw a route answer
#   make fuzz       each libFuzzer harness of tests/fuzz for FUZZ_SECONDS (60)
#                   seconds, or those of FUZZ_TARGETS="csv idx"; prints the
#                   executions and coverage of each (docs/fuzzing.md)
#   make bench      the benchmarks in bench/ (prints figures, asserts nothing)
#   make lint       lints the OpenAPI document
#   make deps       installs the Debian packages the build and the tests use, and
#                   the browser test's npm packages (tests/browser, npm ci)
#   make clean
#
# Variants: build/ (release), build/f64 (the core in double, for gradient
# checks), build/asan (ASan + UBSan), build/asan-f64, build/tsan
# (ThreadSanitizer), build/fuzz (clang, libFuzzer + ASan + UBSan).

BUILD ?= build
CC ?= cc
V ?= 0
Q := $(if $(filter 1,$(V)),,@)

DEB_PKGS := gcc make pkg-config libopenblas-dev zlib1g-dev libjansson-dev \
            libmicrohttpd-dev libsqlite3-dev check libcurl4-openssl-dev curl python3 \
            python3-numpy python3-jsonschema python3-yaml python3-torch python3-sklearn jq dataset-fashion-mnist \
            chromium prometheus clang libclang-rt-14-dev \
            libprotobuf-c-dev protobuf-c-compiler libonnx-dev python3-onnx python3-opencv

PKGS := openblas jansson libmicrohttpd sqlite3 zlib check libcurl libprotobuf-c
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs openblas jansson libmicrohttpd sqlite3 zlib libprotobuf-c 2>/dev/null)
CHECK_LIBS = $(shell pkg-config --libs check libcurl 2>/dev/null)

WARN := -std=c11 -Wall -Wextra -Wshadow -Werror -Wno-format-truncation -D_GNU_SOURCE -fno-math-errno
OPT := -O3 -g
SAN := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
TSAN := -O1 -g -fsanitize=thread
DEPFLAGS = -MMD -MP

CORE_SRC := $(wildcard core/*.c)
SERVER_SRC := $(wildcard server/*.c)
SERVER_LIB_SRC := $(filter-out server/main.c,$(SERVER_SRC))
# The SQL migrations, embedded by schema/embed.sh into a generated C file under
# $(BUILD) (never in the tree) that each variant compiles like a source file.
MIGRATIONS := $(sort $(wildcard schema/[0-9][0-9][0-9]_*.sql))
MIGRATIONS_GEN := $(BUILD)/gen/migrations.c
# The dashboard's files as URL=FILE, embedded the same way by
# server/dashboard/embed.sh; the URLs are routes of server/routes.c.
DASHBOARD_FILES := /=server/dashboard/index.html \
                   /ui/app.js=server/dashboard/app.js \
                   /ui/app.css=server/dashboard/app.css \
                   /ui/favicon.svg=server/dashboard/favicon.svg \
                   /ui/uplot.js=vendor/uplot/uPlot.iife.min.js \
                   /ui/uplot.css=vendor/uplot/uPlot.min.css
DASHBOARD_GEN := $(BUILD)/gen/dashboard.c
# ONNX's protobuf schema (Debian's libonnx-dev) compiled by protoc-c into C
# structs and their packers under $(BUILD)/gen, for the exporter
# (server/onnx_export.c); the core never sees them.  Copied first under one
# name so that the generated files are onnx.pb-c.[ch] whichever file ships.
ONNX_PROTO ?= $(firstword $(wildcard /usr/include/onnx/onnx.proto /usr/include/onnx/onnx-ml.proto) \
                          /usr/include/onnx/onnx.proto)
ONNX_GEN := $(BUILD)/gen/onnx.pb-c.c
ONNX_GEN_H := $(BUILD)/gen/onnx.pb-c.h
SERVER_GEN := $(MIGRATIONS_GEN) $(DASHBOARD_GEN) $(ONNX_GEN)
TEST_COMMON := $(wildcard tests/common/*.c)
TEST_CORE_SRC := $(wildcard tests/core/test_*.c)
TEST_SERVER_SRC := $(wildcard tests/server/test_*.c)
TEST_F64_SRC := $(filter %_f64.c,$(TEST_CORE_SRC))
TEST_F32_SRC := $(filter-out %_f64.c,$(TEST_CORE_SRC))

.PHONY: all deps run test test-release test-browser test-asan test-tsan test-fuzz fuzz fuzz-build \
        bench lint clean FORCE
.DEFAULT_GOAL := all

all: deps traind

# ---------------------------------------------------------------------------
# Dependencies: install what is missing (as root), or say what to install.
deps:
	@missing=""; \
	for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "deps: installing$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else \
	    echo "deps: missing Debian packages:$$missing"; \
	    echo "deps: install them with: sudo apt-get install$$missing   (or run 'sudo make deps')"; \
	    exit 1; \
	  fi; \
	fi
	@$(MAKE) --no-print-directory deps-npm

# The browser test's packages (playwright-core), pinned by tests/browser's
# package-lock.json, and the ONNX tests' (below); only where the tests are
# (the container build has no tests/).  Node.js comes from Debian's npm
# package when it is missing.
BROWSER_NPM := tests/browser/node_modules/.package-lock.json
.PHONY: deps-npm
deps-npm:
	@if [ -f tests/browser/package-lock.json ]; then \
	  if ! command -v npm >/dev/null 2>&1; then \
	    if [ "$$(id -u)" = 0 ]; then \
	      echo "deps: installing npm"; \
	      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm; \
	    else \
	      echo "deps: npm is missing: sudo apt-get install npm (or run 'sudo make deps')"; exit 1; \
	    fi; \
	  fi; \
	  $(MAKE) -s --no-print-directory $(BROWSER_NPM); \
	fi
	@if [ -f tests/onnx/package-lock.json ]; then $(MAKE) -s --no-print-directory $(ONNX_NPM); fi

$(BROWSER_NPM): tests/browser/package-lock.json tests/browser/package.json
	cd tests/browser && npm ci --no-audit --no-fund --loglevel=error

# The ONNX tests' runtime (onnxruntime-node, pinned by tests/onnx's
# package-lock.json), installed with --ignore-scripts: its install script
# would download a GPU build, while the CPU library ships inside the package.
ONNX_NPM := tests/onnx/node_modules/.package-lock.json
$(ONNX_NPM): tests/onnx/package-lock.json tests/onnx/package.json
	cd tests/onnx && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error

# ---------------------------------------------------------------------------
# One set of rules per variant: $(1) = directory, $(2) = compile flags.
define variant
# rebuild everything when the flags change: .flags is rewritten only then
$(1)/.flags: FORCE
	@mkdir -p $(1)
	@echo '$(2)' | cmp -s - $$@ || echo '$(2)' > $$@

$(1)/obj/%.o: %.c $(1)/.flags | deps $(ONNX_GEN_H)
	@mkdir -p $$(dir $$@)
	@$(if $(Q),echo "  CC      $$@")
	$(Q)$$(CC) $(2) $$(DEPFLAGS) $$(PKG_CFLAGS) -Icore -Iserver -Itests/common -I$(BUILD)/gen -c $$< -o $$@

$(1)/libnn.a: $$(patsubst %.c,$(1)/obj/%.o,$$(CORE_SRC))
	@rm -f $$@
	@$(if $(Q),echo "  AR      $$@")
	$(Q)ar rcs $$@ $$^

-include $$(wildcard $(1)/obj/*/*.d $(1)/obj/*/*/*.d)
endef

$(eval $(call variant,$(BUILD),$(WARN) $(OPT)))
$(eval $(call variant,$(BUILD)/f64,$(WARN) $(OPT) -DNN_DOUBLE))
$(eval $(call variant,$(BUILD)/asan,$(WARN) $(SAN)))
$(eval $(call variant,$(BUILD)/asan-f64,$(WARN) $(SAN) -DNN_DOUBLE))
$(eval $(call variant,$(BUILD)/tsan,$(WARN) $(TSAN)))

# Test binaries of a variant: $(1) = directory, $(2) = link flags, $(3) = f64 directory.
define tests
$(1)/tests/core/%: $(1)/obj/tests/core/%.o $$(patsubst %.c,$(1)/obj/%.o,$$(TEST_COMMON)) $(1)/libnn.a
	@mkdir -p $$(dir $$@)
	@$(if $(Q),echo "  LD      $$@")
	$(Q)$$(CC) $(2) -o $$@ $$^ $$(CHECK_LIBS) $$(PKG_LIBS) -lpthread -lm

$(3)/tests/core/%_f64: $(3)/obj/tests/core/%_f64.o $$(patsubst %.c,$(3)/obj/%.o,$$(TEST_COMMON)) $(3)/libnn.a
	@mkdir -p $$(dir $$@)
	@$(if $(Q),echo "  LD      $$@")
	$(Q)$$(CC) $(2) -o $$@ $$^ $$(CHECK_LIBS) $$(PKG_LIBS) -lpthread -lm

$(1)/tests/server/%: $(1)/obj/tests/server/%.o $$(patsubst %.c,$(1)/obj/%.o,$$(TEST_COMMON) $$(SERVER_LIB_SRC) $$(SERVER_GEN)) $(1)/libnn.a
	@mkdir -p $$(dir $$@)
	@$(if $(Q),echo "  LD      $$@")
	$(Q)$$(CC) $(2) -o $$@ $$^ $$(CHECK_LIBS) $$(PKG_LIBS) -lpthread -lm

$(1)/traind: $$(patsubst %.c,$(1)/obj/%.o,$$(SERVER_SRC) $$(SERVER_GEN)) $(1)/libnn.a
	@$(if $(Q),echo "  LD      $$@")
	$(Q)$$(CC) $(2) -o $$@ $$^ $$(PKG_LIBS) -lpthread -lm

$(1)_TESTS := $$(patsubst tests/%.c,$(1)/tests/%,$$(TEST_F32_SRC) $$(TEST_SERVER_SRC)) \
              $$(patsubst tests/%.c,$(3)/tests/%,$$(TEST_F64_SRC))
endef

comma := ,
$(eval $(call tests,$(BUILD),,$(BUILD)/f64))
$(eval $(call tests,$(BUILD)/asan,-fsanitize=address$(comma)undefined,$(BUILD)/asan-f64))
$(eval $(call tests,$(BUILD)/tsan,-fsanitize=thread,$(BUILD)/tsan))
# ThreadSanitizer: the core suites, whose training runs on the thread pool,
# and the server suites that drive a TSan daemon's connection handling (its
# event loop, handler threads and suspended event streams) against its
# workers; a report stops the daemon (halt_on_error), which fails its test
TSAN_TESTS := $(patsubst tests/%.c,$(BUILD)/tsan/tests/%,$(TEST_F32_SRC))
TSAN_SERVER_TESTS := $(BUILD)/tsan/tests/server/test_conns $(BUILD)/tsan/tests/server/test_e2e

# ---------------------------------------------------------------------------
# The program.
traind: $(patsubst %.c,$(BUILD)/obj/%.o,$(SERVER_SRC) $(SERVER_GEN)) $(BUILD)/libnn.a
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -o $@ $^ $(PKG_LIBS) -lpthread -lm

# The embedded migrations and dashboard: regenerated every run, but replaced
# only when the text changes (like .flags), so that nothing recompiles
# needlessly.
$(MIGRATIONS_GEN): FORCE
	@mkdir -p $(dir $@)
	$(Q)sh schema/embed.sh $(MIGRATIONS) > $@.tmp && \
	  if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; $(if $(Q),echo "  GEN     $@";) fi

$(ONNX_GEN): | deps
	@mkdir -p $(dir $@)
	$(Q)cp $(ONNX_PROTO) $(BUILD)/gen/onnx.proto
	$(Q)protoc-c --c_out=$(BUILD)/gen -I$(BUILD)/gen $(BUILD)/gen/onnx.proto
	@$(if $(Q),echo "  PROTOC  $@")

$(ONNX_GEN_H): $(ONNX_GEN)
	@:

$(DASHBOARD_GEN): FORCE
	@mkdir -p $(dir $@)
	$(Q)sh server/dashboard/embed.sh $(DASHBOARD_FILES) > $@.tmp && \
	  if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; $(if $(Q),echo "  GEN     $@";) fi

# `make run` starts the server on 127.0.0.1:8080 with ./traind.db (Ctrl-C stops it).
run: all
	./traind serve

# ---------------------------------------------------------------------------
# Tests: the release build first, then the sanitizer build.
test: deps
	@$(MAKE) --no-print-directory test-release
	@$(MAKE) --no-print-directory test-browser
	@$(MAKE) --no-print-directory test-asan
	@$(MAKE) --no-print-directory test-tsan
	@$(MAKE) --no-print-directory test-fuzz

# The end-to-end suites append what each daemon answered, by route and
# status, to $(E2E_STATUSES) (tests/common/e2e.h); tests/openapi_statuses.py
# then fails on any status the OpenAPI document does not list for its route.
E2E_STATUSES := $(BUILD)/e2e-statuses.txt
test-release: traind $($(BUILD)_TESTS)
	@rm -f $(E2E_STATUSES)
	@st=0; TRAIND_E2E_STATUSES=$(abspath $(E2E_STATUSES)) tests/run.sh release $($(BUILD)_TESTS) || st=1; \
	  python3 tests/openapi_statuses.py $(E2E_STATUSES) || st=1; exit $$st

# The dashboard in headless Chromium against the release daemon with a job
# training (tests/browser/run.sh); screenshots go to $(BUILD)/browser.
test-browser: $(BUILD)/traind deps-npm
	@TRAIND_BIN=$(BUILD)/traind BROWSER_OUT=$(BUILD)/browser tests/browser/run.sh

# the end-to-end suites drive the sanitized program too
test-asan: $(BUILD)/asan/traind $($(BUILD)/asan_TESTS)
	@CK_FORK=no TRAIND_BIN=$(BUILD)/asan/traind \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  tests/run.sh asan $($(BUILD)/asan_TESTS)

test-tsan: $(TSAN_TESTS) $(BUILD)/tsan/traind $(TSAN_SERVER_TESTS)
	@CK_FORK=no TSAN_OPTIONS=halt_on_error=1 TRAIND_BIN=$(BUILD)/tsan/traind \
	  tests/run.sh tsan $(TSAN_TESTS) $(TSAN_SERVER_TESTS)

# ---------------------------------------------------------------------------
# Fuzzing (docs/fuzzing.md): the libFuzzer harnesses tests/fuzz/fuzz_NAME.c,
# linked with the core and the server compiled by clang with the same
# sanitizers (instrumented for libFuzzer, without its main) into $(FUZZ_DIR).
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_DIR := $(BUILD)/fuzz
FUZZ_SAN := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS := $(WARN) -Wno-unknown-warning-option $(FUZZ_SAN) -fsanitize=fuzzer-no-link
FUZZ_ALL := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_TARGETS ?= $(FUZZ_ALL)
FUZZ_BINS := $(patsubst %,$(FUZZ_DIR)/fuzz_%,$(FUZZ_ALL))

$(FUZZ_DIR)/.flags: FORCE
	@mkdir -p $(FUZZ_DIR)
	@echo '$(FUZZ_CC) $(FUZZ_CFLAGS)' | cmp -s - $@ || echo '$(FUZZ_CC) $(FUZZ_CFLAGS)' > $@

$(FUZZ_DIR)/obj/%.o: %.c $(FUZZ_DIR)/.flags | deps $(ONNX_GEN_H)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) $(DEPFLAGS) $(PKG_CFLAGS) -Icore -Iserver -Itests/fuzz -I$(BUILD)/gen -c $< -o $@

$(FUZZ_DIR)/libnn.a: $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(CORE_SRC))
	@rm -f $@
	@$(if $(Q),echo "  AR      $@")
	$(Q)ar rcs $@ $^

$(FUZZ_DIR)/libtraind.a: $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(SERVER_LIB_SRC) $(SERVER_GEN))
	@rm -f $@
	@$(if $(Q),echo "  AR      $@")
	$(Q)ar rcs $@ $^

$(FUZZ_DIR)/fuzz_%: $(FUZZ_DIR)/obj/tests/fuzz/fuzz_%.o $(FUZZ_DIR)/obj/tests/fuzz/fuzz.o \
                    $(FUZZ_DIR)/libtraind.a $(FUZZ_DIR)/libnn.a
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(FUZZ_CC) -fsanitize=fuzzer,address,undefined -o $@ $^ $(PKG_LIBS) -lpthread -lm

.PRECIOUS: $(FUZZ_DIR)/obj/tests/fuzz/%.o
-include $(wildcard $(FUZZ_DIR)/obj/*/*.d $(FUZZ_DIR)/obj/*/*/*.d)

fuzz-build: $(FUZZ_BINS)

fuzz: $(patsubst %,$(FUZZ_DIR)/fuzz_%,$(FUZZ_TARGETS))
	@FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh fuzz $(FUZZ_DIR) $(FUZZ_TARGETS)

# every harness once over its seeds and its regression inputs (seconds)
test-fuzz: $(FUZZ_BINS)
	@tests/fuzz/run.sh regress $(FUZZ_DIR) $(FUZZ_ALL)

bench: all
	bench/run.sh

# Lints schema/openapi.yaml with Redocly's CLI (installed from npm into build/npm once).
lint:
	schema/lint-openapi.sh

clean:
	rm -rf $(BUILD) traind

FORCE:

# ---------------------------------------------------------------------------
# docker-test: build docker/Dockerfile with podman (a local debootstrap base
# image, no registry) and drive the container over HTTP; see docker/test.sh.
.PHONY: docker-test
docker-test:
	@bash docker/test.sh
