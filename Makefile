# sms-orchestrator. `make run` and `make test` do everything on a fresh
# Debian 12 machine (as root): install packages, build, start a local stack.

SANITIZE ?= 0
CC ?= gcc
BUILD := build/$(if $(filter 1,$(SANITIZE)),san,release)
GEN := build/gen
BIN := $(BUILD)/sms-orchestrator
STANDIN := $(BUILD)/routing-engine-standin
VERSION := $(shell cat VERSION)
PKGS := libpq libmicrohttpd json-c hiredis libnats grpc libprotobuf-c libcrypto

# Recursive (=) so pkg-config runs after `make deps` installed the packages.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS = $(shell pkg-config --libs $(PKGS))
CMOCKA_CFLAGS = $(shell pkg-config --cflags cmocka)
CMOCKA_LIBS = $(shell pkg-config --libs cmocka)

# The language, warnings and include paths every build shares (the fuzz
# targets of tests/fuzz/fuzz.mk too); CFLAGS_BASE adds optimization or the sanitizers.
CFLAGS_COMMON := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Wall -Wextra -Werror \
	-Wshadow -Wstrict-prototypes -Wno-missing-field-initializers -g -pthread \
	-DORCH_VERSION='"$(VERSION)"' -Isrc -I$(GEN)
CFLAGS_BASE := $(CFLAGS_COMMON)
ifeq ($(SANITIZE),1)
  CFLAGS_BASE += -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
  LDFLAGS_SAN := -fsanitize=address,undefined
else
  CFLAGS_BASE += -O2
endif
CFLAGS = $(CFLAGS_BASE) $(PKG_CFLAGS)
LDLIBS = $(PKG_LIBS) -pthread -lm

SRCS := $(wildcard src/*.c src/lib/*.c)
LIB_SRCS := $(filter-out src/main.c,$(SRCS))
PROTO_GEN := $(GEN)/ghasi/routing/v1/routing.pb-c.c
GEN_SRCS := $(GEN)/embedded_sql.c $(GEN)/country_codes.c $(GEN)/smart_encoding_table.c $(PROTO_GEN)
OBJS := $(patsubst %.c,$(BUILD)/%.o,$(LIB_SRCS)) $(patsubst $(GEN)/%.c,$(BUILD)/gen/%.o,$(GEN_SRCS))
LIBORCH := $(BUILD)/liborch.a
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
TOOL_SRCS := $(wildcard tests/tools/*.c)
TOOL_BINS := $(patsubst tests/tools/%.c,$(BUILD)/tools/%,$(TOOL_SRCS))

.PHONY: all deps run stop test test-unit bench bench-soak bench-reconcile bench-retention bench-scale clean format
.DEFAULT_GOAL := all

# A plain `make` (build only) on a machine without the packages stops at once with one line
# naming them and `make deps`, instead of failing later on a missing protoc-c or header.
# The targets that install them (deps, run, test, bench) check after installing.
NO_CHECK_GOALS := deps run test bench bench-soak bench-reconcile bench-retention bench-scale clean format stop
ifeq ($(filter $(NO_CHECK_GOALS),$(or $(MAKECMDGOALS),all)),)
ifneq ($(ORCH_DEPS_CHECKED),1)
DEPS_MISSING := $(shell scripts/deps.sh --check 2>&1)
$(if $(DEPS_MISSING),$(error $(DEPS_MISSING)))
export ORCH_DEPS_CHECKED := 1
endif
endif

all: $(BIN) $(STANDIN) $(UNIT_BINS) $(TOOL_BINS)

deps:
	@scripts/deps.sh

$(GEN)/embedded_sql.c: scripts/embed_sql.sh $(wildcard migrations/*.sql sql/*.sql)
	@mkdir -p $(GEN)
	scripts/embed_sql.sh > $@.tmp && mv $@.tmp $@

$(GEN)/country_codes.c: scripts/gen_country_codes.sh data/country_calling_codes.txt
	@mkdir -p $(GEN)
	sh scripts/gen_country_codes.sh data/country_calling_codes.txt > $@.tmp && mv $@.tmp $@

$(GEN)/smart_encoding_table.c: scripts/gen_smart_encoding.sh data/smart_encoding.txt
	@mkdir -p $(GEN)
	sh scripts/gen_smart_encoding.sh data/smart_encoding.txt > $@.tmp && mv $@.tmp $@

# protoc-c makes the protobuf (de)serializers; the gRPC calls are made by name (stack-notes trap 9).
$(PROTO_GEN): proto/ghasi/routing/v1/routing.proto
	@mkdir -p $(GEN)
	protoc-c --proto_path=proto --c_out=$(GEN) $<

$(OBJS) $(BUILD)/src/main.o $(BUILD)/src/standin/routing_engine.o: $(PROTO_GEN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/gen/%.o: $(GEN)/%.c $(PROTO_GEN)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(LIBORCH): $(OBJS)
	ar rcs $@ $^

$(BIN): $(BUILD)/src/main.o $(LIBORCH)
	$(CC) $(LDFLAGS_SAN) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(LIBORCH)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CMOCKA_CFLAGS) $(LDFLAGS_SAN) -o $@ $< $(LIBORCH) $(LDLIBS) $(CMOCKA_LIBS)

$(STANDIN): $(BUILD)/src/standin/routing_engine.o $(LIBORCH)
	$(CC) $(LDFLAGS_SAN) -o $@ $^ $(LDLIBS)

$(BUILD)/tools/%: tests/tools/%.c $(LIBORCH)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS_SAN) -o $@ $< $(LIBORCH) $(LDLIBS)

-include $(OBJS:.o=.d) $(BUILD)/src/main.d $(BUILD)/src/standin/routing_engine.d

# libFuzzer targets (clang): make fuzz-build, make fuzz, make fuzz-smoke. Optional,
# so that a tree without tests/ (the Dockerfile's build stage) still builds.
-include tests/fuzz/fuzz.mk

# The local stack (PostgreSQL, Redis, NATS with JetStream) under .run/, then
# serve in the foreground. Ctrl-C stops serve and the stack.
run:
	@scripts/deps.sh
	@$(MAKE) --no-print-directory all
	@scripts/run.sh $(BIN)

stop:
	@scripts/stack.sh stop run

test:
	@scripts/deps.sh
	@$(MAKE) --no-print-directory all
	@scripts/test.sh $(BIN) $(BUILD)

test-unit: all
	@for t in $(UNIT_BINS); do $$t || exit 1; done

bench:
	@scripts/deps.sh
	@$(MAKE) --no-print-directory all
	@scripts/bench.sh $(BIN)

# The soak: a short phase b for the rate, then BENCH_SOAK_SECONDS (600) of paced sends at b/3 (scripts/bench/soak.sh).
bench-soak:
	@scripts/deps.sh
	@$(MAKE) --no-print-directory all
	@BENCH_PHASES=$${BENCH_PHASES:-bs} scripts/bench.sh $(BIN)

bench-reconcile:
	@scripts/deps.sh
	@$(MAKE) --no-print-directory all
	@scripts/bench/reconcile.sh $(BIN)

# Removing a day: dropping its partitions vs the old batched DELETE, on 5,000,000 messages over 10 days (scripts/bench/retention.sh).
bench-retention:
	@scripts/deps.sh
	@$(MAKE) --no-print-directory all
	@scripts/bench/retention.sh $(BIN)

# How many instances of serve one PostgreSQL carries: 1, 2 and 4 against the local stack (scripts/bench/scale.sh, docs/scaling.md).
bench-scale:
	@scripts/deps.sh
	@$(MAKE) --no-print-directory all
	@scripts/bench/scale.sh $(BIN)

format:
	clang-format -i $(SRCS) $(wildcard src/*.h src/lib/*.h tests/unit/*.c tests/fuzz/*.c tests/fuzz/*.h)

clean:
	rm -rf build
