# Makefile: builds the Kore module, runs the server and every test layer.
#
#   make run     local PostgreSQL under .data/, migrate, serve on :8000
#   make test    the whole suite from nothing (own PostgreSQL, own servers)
#   make check   static checks (layers, pure modules, cppcheck, gcc and
#                clang -Werror builds), then the whole suite
#
# Knobs: DEBUG=1 builds -O0.  build/san/app.so is the module built with
# ASan + UBSan, which the HTTP tests serve.  Everything lands in build/.

SHELL		:= /bin/bash
BUILD		:= build
CC		?= cc
CSTD		:= -std=c11 -D_GNU_SOURCE
WARN		:= -Wall -Wextra -Werror -Wstrict-prototypes \
		   -Wmissing-prototypes -Wmissing-declarations -Wshadow \
		   -Wpointer-arith -Wcast-qual -Wsign-compare -Wvla \
		   -Wwrite-strings -pedantic
SAN		:= -fsanitize=address,undefined -fno-sanitize-recover=all \
		   -fno-omit-frame-pointer
OPT		:= -O2 -g
# V=1 prints every compiler command.
Q		:= $(if $(filter 1,$(V)),,@)
ifeq ($(DEBUG),1)
OPT		:= -O0 -g
endif

# The feature flags must match the kore binary, or struct layouts differ.
KORE_FEATURES	:= $(shell cat /usr/share/kore/features 2>/dev/null)
PG_INCLUDE	:= -I$(shell pg_config --includedir 2>/dev/null || \
		   echo /usr/include/postgresql)

MODULE_CFLAGS	:= $(CSTD) $(WARN) -fPIC $(KORE_FEATURES) $(PG_INCLUDE) -Isrc
MODULE_LIBS	:= -ljansson -lcurl -lpq -lcrypto -lm

# Debian packages: what building and running needs (make run), and what
# the test suite needs on top (make test).
PACKAGES	:= kore libjansson-dev libcurl4-openssl-dev libpq-dev libssl-dev \
		   postgresql-15 python3 curl ca-certificates
# npm builds the docs page (make docs; the tests load it in Chromium):
# Debian's only when there is none, so a Node.js from elsewhere is kept.
NPM		:= $(shell command -v npm 2>/dev/null)
NODE_PACKAGES	:= $(if $(NPM),,nodejs npm)
# wrk: tests/http/test_partitions.py drives /predict with it.
TEST_PACKAGES	:= postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl \
		   docker-compose prometheus pgbouncer haproxy wrk \
		   python3-jsonschema chromium $(NODE_PACKAGES)
# make test-containers (part of make test): Podman as the Docker engine,
# runc (crun refuses hybrid cgroups), netavark and aardvark-dns (service
# names resolve on compose networks) with iptables (its NAT and published
# ports), debootstrap (the base image).
CONTAINER_PACKAGES := podman runc netavark aardvark-dns iptables debootstrap

# The module: every src/*.c except the command-line tools, plus the model.
include src/model/model.mk
TOOL_SRCS	:= src/conftool.c
SRCS		:= $(filter-out $(TOOL_SRCS),$(wildcard src/*.c)) $(MODEL_SRCS)
OBJS		:= $(SRCS:src/%.c=$(BUILD)/obj/%.o)
SAN_OBJS	:= $(SRCS:src/%.c=$(BUILD)/obj-san/%.o)
HEADERS		:= $(wildcard src/*.h src/model/*.h)

# Pure modules the unit tests link (libc + jansson only, no kore).
CONFIG_SRCS	:= src/config.c
UNIT_CFLAGS	:= $(CSTD) $(WARN) -O1 -g $(SAN) -Isrc -Itests/unit

# Local state for `make run` (kept between runs, ignored by git).
DATA_DIR	?= .data
LOCAL_PGPORT	?= 5433

.PHONY: all deps run serve migrate test test-unit test-sql test-http \
	clean db-reset

all: $(BUILD)/app.so $(BUILD)/conftool $(BUILD)/vader-cli \
    $(if $(NPM),docs dashboard)
	@[ -n "$(NPM)" ] || echo "note: no npm, so no docs page: GET /docs" \
	    "and /dashboard answer 503 until 'make docs dashboard'" \
	    "(make test-deps installs npm)"
	@echo "built $(BUILD)/app.so; now run 'make run' or 'make test'"

$(BUILD)/app.so: $(OBJS)
	$(CC) -shared -o $@ $(OBJS) $(MODULE_LIBS)

# MODEL_CFLAGS (model.mk) keeps the model's floating point bit-exact.
$(BUILD)/obj/%.o: src/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(MODULE_CFLAGS) $(MODEL_CFLAGS) $(OPT) -c -o $@ $<

# The same module under AddressSanitizer + UBSan, for the HTTP tests.
$(BUILD)/san/app.so: $(SAN_OBJS)
	@mkdir -p $(dir $@)
	$(CC) -shared $(SAN) -o $@ $(SAN_OBJS) $(MODULE_LIBS)

$(BUILD)/obj-san/%.o: src/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	@echo "  CC san  $<"
	$(Q)$(CC) $(MODULE_CFLAGS) $(MODEL_CFLAGS) $(SAN) -O1 -g -c -o $@ $<

$(BUILD)/conftool: src/conftool.c $(CONFIG_SRCS) src/config.h
	@mkdir -p $(BUILD)
	$(CC) $(CSTD) $(WARN) $(OPT) -Isrc -o $@ src/conftool.c $(CONFIG_SRCS)

# The docs page (GET /docs, api_docs.c): swagger-ui-dist at the version
# pinned in src/docs/package.json and package-lock.json, installed by npm
# under build/npm/; the files the page loads are copied into build/docs/,
# which the server reads at start.  src/docs/openapi.json, index.html and
# swagger-init.js are served from src/docs/ as they are.
DOCS_ASSETS	:= swagger-ui.css swagger-ui-bundle.js favicon-32x32.png
DOCS_NPM	:= $(BUILD)/npm

docs: $(DOCS_ASSETS:%=$(BUILD)/docs/%)
.PHONY: docs

$(DOCS_NPM)/installed: src/docs/package.json src/docs/package-lock.json \
    src/docs/.npmrc
	@mkdir -p $(DOCS_NPM)
	cp src/docs/package.json src/docs/package-lock.json src/docs/.npmrc \
	    $(DOCS_NPM)/
	cd $(DOCS_NPM) && npm ci --loglevel=error
	@touch $@

$(BUILD)/docs/%: $(DOCS_NPM)/installed
	@mkdir -p $(dir $@)
	cp $(DOCS_NPM)/node_modules/swagger-ui-dist/$* $@

# The dashboard (GET /dashboard, api_docs.c, docs/dashboard.md): uPlot
# pinned in src/dashboard/package.json and package-lock.json, the same
# way; its two files go to build/dashboard/, the page's own stay in src/.
DASH_ASSETS	:= uPlot.iife.min.js uPlot.min.css
DASH_NPM	:= $(BUILD)/npm-dashboard

dashboard: $(DASH_ASSETS:%=$(BUILD)/dashboard/%)
.PHONY: dashboard

$(DASH_NPM)/installed: src/dashboard/package.json \
    src/dashboard/package-lock.json src/dashboard/.npmrc
	@mkdir -p $(DASH_NPM)
	cp $^ $(DASH_NPM)/
	cd $(DASH_NPM) && npm ci --loglevel=error
	@touch $@

$(BUILD)/dashboard/%: $(DASH_NPM)/installed
	@mkdir -p $(dir $@)
	cp $(DASH_NPM)/node_modules/uplot/dist/$* $@

# Installs the Debian packages that are missing (as root), or says how.
# KORE_FEATURES is empty until kore is installed: refuse to build then.
ifeq ($(KORE_FEATURES),)
$(OBJS) $(SAN_OBJS): kore-missing
kore-missing:
	@echo "kore is not installed: run 'make deps' (as root) first"; exit 1
.PHONY: kore-missing
endif

deps:
	@missing=""; for p in $(PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | \
		    grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing:$$missing"; \
			export DEBIAN_FRONTEND=noninteractive; \
			apt-get update -qq && \
			apt-get install -y -qq --no-install-recommends \
			    $$missing >/dev/null || exit 1; \
		else \
			echo "missing packages; run as root:"; \
			echo "  apt-get install -y$$missing"; exit 1; \
		fi; \
	fi

test-deps:
	@$(MAKE) --no-print-directory deps \
	    PACKAGES="$(TEST_PACKAGES) $(CONTAINER_PACKAGES)"
.PHONY: test-deps

# ---------------------------------------------------------------- running

# The local cluster, .env and the server in the foreground.  Ctrl-C stops
# the server and the cluster; the data stays in $(DATA_DIR).
run: deps
	@$(MAKE) --no-print-directory all
	@tests/lib/envfile.sh .env.example .env
	@tests/lib/pgcluster.sh start $(DATA_DIR)/postgres $(LOCAL_PGPORT)
	@DB_STATEMENT_TIMEOUT_MS=$$($(BUILD)/conftool get \
	    DB_STATEMENT_TIMEOUT_MS) tests/lib/pgcluster.sh bootstrap \
	    $(DATA_DIR)/postgres $(LOCAL_PGPORT)
	@url=$$(tests/lib/pgcluster.sh url $(DATA_DIR)/postgres \
	    $(LOCAL_PGPORT) app); \
	owner=$$(tests/lib/pgcluster.sh url $(DATA_DIR)/postgres \
	    $(LOCAL_PGPORT) owner); \
	trap 'tests/lib/pgcluster.sh stop $(DATA_DIR)/postgres' EXIT; \
	MIGRATE_DATABASE_URL="$$owner" migrations/migrate.sh && \
	DATABASE_URL="$$url" $(MAKE) --no-print-directory serve

# The server alone against $$DATABASE_URL (and .env), in the foreground.
# Started as root with RUN_AS set, the workers drop to that user; without
# it (tests, make run) kore keeps the current user (-r).
serve: all
	@mkdir -p $(BUILD)/run
	@conf=$$($(BUILD)/conftool render kore.conf $(BUILD)/run) || exit 1; \
	flags="-f -n"; \
	if [ -z "$$($(BUILD)/conftool get RUN_AS)" ]; then \
		flags="$$flags -r"; \
		[ "$$(id -u)" = 0 ] && echo "note: workers run as root;" \
		    "set RUN_AS to an unprivileged user in production"; \
	fi; \
	echo "serving with $$conf"; \
	exec kore -c "$$conf" $$flags

# Pending migrations, then sql/, against $$MIGRATE_DATABASE_URL or
# $$DATABASE_URL.
migrate:
	@migrations/migrate.sh

# PostgreSQL, pgAdmin and the server in containers (docker/).  The first
# time, .env comes from .env.example; empty passwords get random values.
compose-up:
	@tests/lib/envfile.sh .env.example .env
	@docker/envsecrets.sh .env
	@if docker compose version >/dev/null 2>&1; then c="docker compose"; \
	else c=docker-compose; fi; \
	exec $$c --env-file .env -f docker/docker-compose.yml up --build
.PHONY: compose-up

# ---------------------------------------------------------------- tests

# deps first, then a new make: the build flags read files (kore's feature
# list) that the packages install.
test: deps test-deps
	@$(MAKE) --no-print-directory all san unit-tests
	@tests/run.sh

test-unit:
	@tests/run.sh unit

test-sql: deps test-deps
	@tests/run.sh sql

test-http: deps test-deps
	@$(MAKE) --no-print-directory all san
	@tests/run.sh http

# The image and docker-compose.yml built and run with Podman
# (tests/containers/; docs/containers.md).  Skipped, saying why, where
# Podman cannot run.  Kept for the next run: the base rootfs under
# build/containers/, its image and Podman's layer cache; the -clean
# target removes them.
test-containers: deps test-deps
	@tests/run.sh containers

test-containers-clean:
	rm -rf $(BUILD)/containers
	-podman image prune -f --filter label=org.modelserver.test=containers
	-podman rmi localhost/debian:bookworm-slim
.PHONY: test-containers test-containers-clean

# The HTTP suite's server build.
san: $(BUILD)/san/app.so
.PHONY: san

# Unit tests: tests/unit/test_<name>.c is linked with tests/unit/tap.c and
# the sources listed in UNIT_SRCS_<name> (and UNIT_LIBS_<name>); always
# under ASan + UBSan.  To add one: list the name in UNIT_NAMES and its
# sources below.  (The model's tests come from src/model/model.mk.)
UNIT_NAMES	:= config schema cidr uuid schema_metrics gemini analyzer lease \
		   fixed json_out balance pgarray compat registry partial
UNIT_SRCS_config := src/config.c
UNIT_SRCS_schema := src/schema.c
UNIT_LIBS_schema := -ljansson
UNIT_SRCS_cidr	:= src/cidr.c
UNIT_SRCS_uuid	:= src/uuid.c
UNIT_SRCS_lease	:= src/lease.c
UNIT_SRCS_fixed	:= src/fixed.c
UNIT_SRCS_balance := src/balance.c
UNIT_SRCS_registry := src/registry.c $(MODEL_SRCS)
UNIT_LIBS_registry := $(MODEL_LIBS)
$(BUILD)/tests/test_registry: UNIT_CFLAGS += $(MODEL_CFLAGS) -Isrc
UNIT_SRCS_compat := src/compat.c
UNIT_LIBS_compat := -ljansson
UNIT_SRCS_json_out := src/json_out.c src/fixed.c
UNIT_SRCS_pgarray := src/pgarray.c src/fixed.c
UNIT_SRCS_partial := src/partial.c
UNIT_LIBS_json_out := -ljansson
UNIT_SRCS_schema_metrics := src/schema_metrics.c src/schema.c
UNIT_LIBS_schema_metrics := -ljansson
UNIT_SRCS_gemini := src/gemini.c
UNIT_LIBS_gemini := -ljansson -lcurl
UNIT_SRCS_analyzer := src/analyzer.c src/schema.c
UNIT_LIBS_analyzer := -ljansson

UNIT_TESTS	:= $(UNIT_NAMES:%=$(BUILD)/tests/test_%) $(MODEL_UNIT_TESTS)

.SECONDEXPANSION:
$(BUILD)/tests/test_%: tests/unit/test_%.c tests/unit/tap.c tests/unit/tap.h \
    $$(UNIT_SRCS_$$*) $(wildcard src/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(UNIT_CFLAGS) -o $@ $< tests/unit/tap.c $(UNIT_SRCS_$*) \
	    $(UNIT_LIBS_$*) -lm

unit-tests: $(UNIT_TESTS)
.PHONY: unit-tests

# ---------------------------------------------------------------- checks
# make check: what a reviewer runs.  The static checks first (seconds),
# then the whole suite as make test runs it.

CHECK_PACKAGES	:= cppcheck universal-ctags clang-14

check: deps test-deps
	@$(MAKE) --no-print-directory deps PACKAGES="$(CHECK_PACKAGES)"
	@$(MAKE) --no-print-directory check-static
	@$(MAKE) --no-print-directory all san unit-tests
	@tests/run.sh

check-static: check-layers check-pure cppcheck check-build
.PHONY: check check-static

# The call graph between src/ files has no cycle (tests/lint/layers.py,
# over universal-ctags' definitions; --graph prints every edge).
check-layers:
	@tests/lint/layers.py
.PHONY: check-layers

# Pure modules (what the unit tests and fuzzers link alone, the model, the
# clock and the shared counters) include neither app.h nor Kore.
PURE_SRCS	= $(sort $(foreach n,$(UNIT_NAMES),$(UNIT_SRCS_$(n))) \
		  $(foreach n,$(FUZZ_NAMES),$(FUZZ_SRCS_$(n))) $(MODEL_SRCS) \
		  src/clock.c src/stats.c src/conftool.c)

check-pure:
	@files="$(PURE_SRCS) $(wildcard $(PURE_SRCS:.c=.h))"; \
	bad=$$(grep -lE '^#include[[:space:]]*("app\.h"|<kore/)' $$files); \
	if [ -n "$$bad" ]; then \
		echo "pure modules that include app.h or Kore:" $$bad; exit 1; \
	fi; \
	echo "pure: $(words $(PURE_SRCS)) modules, none includes app.h or Kore"
.PHONY: check-pure

# cppcheck over every C file, with Kore's and the libraries' headers.
cppcheck:
	@tests/lint/cppcheck.sh && echo "cppcheck: no findings"
.PHONY: cppcheck

# Every target built with -Werror by gcc (build/) and clang (build/clang/).
check-build:
	@$(MAKE) --no-print-directory -s CC=gcc all unit-tests
	@$(MAKE) --no-print-directory -s BUILD=$(BUILD)/clang CC=clang \
	    $(BUILD)/clang/app.so $(BUILD)/clang/conftool \
	    $(BUILD)/clang/vader-cli unit-tests
	@echo "gcc and clang: -Werror builds clean"
.PHONY: check-build

# ---------------------------------------------------------------- benchmarks
# Scripts that print figures (with the machine); they start their own
# PostgreSQL and server and never fail on a slow machine.

BENCH_PACKAGES	:= wrk

bench-deps:
	@$(MAKE) --no-print-directory deps PACKAGES="$(BENCH_PACKAGES)"

bench: deps bench-deps
	@$(MAKE) --no-print-directory all
	@tests/bench/bench.sh
	@tests/bench/bench_rollups.sh

soak: deps bench-deps
	@$(MAKE) --no-print-directory all
	@tests/bench/bench.sh --soak $${SOAK_SECONDS:-600}

bench-flood: deps bench-deps
	@$(MAKE) --no-print-directory all
	@tests/bench/flood.sh

bench-limits: deps bench-deps
	@$(MAKE) --no-print-directory all
	@tests/bench/limits.sh

# 1, 2 and 3 instances behind HAProxy, direct and through PgBouncer.
bench-scale: deps bench-deps
	@$(MAKE) --no-print-directory deps PACKAGES="pgbouncer haproxy"
	@$(MAKE) --no-print-directory all
	@tests/bench/scale.sh

bench-partitions: deps bench-deps
	@$(MAKE) --no-print-directory all
	@tests/bench/partitions.sh

bench-rollups: deps bench-deps
	@$(MAKE) --no-print-directory all
	@tests/bench/bench_rollups.sh

# The /metrics/* queries at 1M, 100M and 1.7B predictions a day
# (docs/rollups.md).
bench-metrics: deps
	@$(MAKE) --no-print-directory all
	@tests/bench/bench_metrics.sh

.PHONY: bench soak bench-flood bench-limits bench-partitions bench-deps \
    bench-rollups bench-metrics bench-scale

clean:
	rm -rf $(BUILD)

# ---------------------------------------------------------------- fuzzing
# libFuzzer targets in tests/fuzz/ (clang -fsanitize=fuzzer with ASan +
# UBSan).  make fuzz [FUZZ_SECONDS=N] [FUZZ_JOBS=2] runs each target for
# N seconds (default 60) from the committed corpus tests/fuzz/corpus/;
# tests/fuzz/run.sh says more (replaying a crash, merging the corpus).

FUZZ_CC		:= clang
FUZZ_PACKAGES	:= clang-14 libclang-rt-14-dev
FUZZ_CFLAGS	:= $(CSTD) $(WARN) -O1 -g -fno-omit-frame-pointer \
		   -fsanitize=fuzzer,address,undefined \
		   -fno-sanitize-recover=all -Isrc
FUZZ_NAMES	:= fuzz_request fuzz_model fuzz_gemini fuzz_pgarray
FUZZ_SRCS_fuzz_request := src/schema.c src/schema_metrics.c
FUZZ_LIBS_fuzz_request := -ljansson
FUZZ_SRCS_fuzz_model := src/schema.c $(MODEL_SRCS)
FUZZ_LIBS_fuzz_model := -ljansson -lcrypto
FUZZ_SRCS_fuzz_gemini := src/gemini.c src/analyzer.c src/schema.c
FUZZ_LIBS_fuzz_gemini := -ljansson -lcurl
FUZZ_SRCS_fuzz_pgarray := src/pgarray.c src/fixed.c
FUZZ_BINS	:= $(FUZZ_NAMES:%=$(BUILD)/fuzz/%)

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $$(FUZZ_SRCS_fuzz_$$*) \
    $(wildcard src/*.h src/model/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(MODEL_CFLAGS) -o $@ $< \
	    $(FUZZ_SRCS_fuzz_$*) $(FUZZ_LIBS_fuzz_$*) -lm

fuzz-build: $(FUZZ_BINS)

fuzz:
	@$(MAKE) --no-print-directory deps PACKAGES="$(FUZZ_PACKAGES)"
	@tests/fuzz/run.sh run

.PHONY: fuzz fuzz-build

# ---------------------------------------------------------------- valgrind
# The HTTP suite with every server process under memcheck, against the
# plain build: make test-valgrind [VALGRIND_TESTS="tests/http/test_X.py"].
# tests/valgrind/run.sh says how (the seccomp shim, the suppressions).

VALGRIND_PACKAGES := valgrind

$(BUILD)/valgrind/shim.so: tests/valgrind/shim.c
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) -O2 -fPIC -shared -o $@ $<

test-valgrind: deps
	@$(MAKE) --no-print-directory deps PACKAGES="$(VALGRIND_PACKAGES)"
	@$(MAKE) --no-print-directory all $(BUILD)/valgrind/shim.so
	@tests/valgrind/run.sh $(VALGRIND_TESTS)

.PHONY: test-valgrind
