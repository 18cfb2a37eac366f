# libFuzzer targets for the parsers of untrusted input (tests/fuzz/README.md).
# Included by the top Makefile, whose variables it uses (LIB_SRCS, GEN_SRCS,
# PKG_CFLAGS, LDLIBS, CFLAGS_COMMON). Independent of SANITIZE: the fuzz build
# always uses clang with ASan and UBSan, in build/fuzz/.
#
#   make fuzz-build               the targets, build/fuzz/fuzz_<name>
#   make fuzz [FUZZ_SECONDS=60]   each target in turn on a copy of its corpus;
#                                 new inputs go to build/fuzz/corpus/<name>/
#   make fuzz-smoke               replay of the committed corpora, then a few
#                                 seconds of fuzzing each, as TAP (scripts/fuzz.sh)
#   make fuzz FUZZ_TARGETS="e164 utf8"   only some of them

FUZZ_CC ?= clang
FUZZ_DIR := build/fuzz
FUZZ_SECONDS ?= 60
# The liborch sources get coverage instrumentation and the sanitizers; the
# fuzz target files link the libFuzzer runtime (-fsanitize=fuzzer).
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS = $(CFLAGS_COMMON) -O1 $(FUZZ_SAN) $(PKG_CFLAGS)

FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES := $(patsubst tests/fuzz/fuzz_%.c,%,$(FUZZ_SRCS))
FUZZ_TARGETS ?= $(FUZZ_NAMES)
FUZZ_BINS := $(patsubst %,$(FUZZ_DIR)/fuzz_%,$(FUZZ_NAMES))
FUZZ_LIB_OBJS := $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(LIB_SRCS)) \
	$(patsubst $(GEN)/%.c,$(FUZZ_DIR)/obj/gen/%.o,$(GEN_SRCS))
FUZZ_LIB := $(FUZZ_DIR)/liborch.a
FUZZ_UTIL := $(FUZZ_DIR)/obj/tests/fuzz/util.o

.PHONY: fuzz fuzz-build fuzz-smoke

fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh run $(FUZZ_TARGETS)

fuzz-smoke: fuzz-build
	@scripts/fuzz.sh smoke $(FUZZ_TARGETS)

$(FUZZ_LIB_OBJS) $(FUZZ_UTIL): $(PROTO_GEN)

$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<

$(FUZZ_DIR)/obj/gen/%.o: $(GEN)/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_LIB): $(FUZZ_LIB_OBJS)
	ar rcs $@ $^

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_UTIL) $(FUZZ_LIB)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -MMD -MP -MF $(FUZZ_DIR)/obj/$(notdir $@).d -o $@ $< $(FUZZ_UTIL) \
		$(FUZZ_LIB) $(LDLIBS)

-include $(FUZZ_LIB_OBJS:.o=.d) $(FUZZ_UTIL:.o=.d) $(patsubst $(FUZZ_DIR)/%,$(FUZZ_DIR)/obj/%.d,$(FUZZ_BINS))
