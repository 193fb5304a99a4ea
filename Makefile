# saker: build in the style of libbpf-bootstrap. vmlinux.h comes from the
# running kernel's BTF, the BPF object is compiled with clang and embedded in
# the one `saker` binary through a bpftool skeleton.
#
#   make run    install missing packages, build, run with the embedded config
#   make test   install missing packages, build, run every test
#   make bench  benchmarks (figures as ratios against a same-run baseline)

BUILD   ?= build
CC      ?= gcc
CLANG   ?= clang
BPFTOOL ?= bpftool
PYTEST  ?= /usr/bin/python3 -m pytest
ARCH    := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

WARN     := -Wall -Wextra -Werror
CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 $(WARN) -Iinclude -Isrc -I$(BUILD) -D_GNU_SOURCE -fno-strict-aliasing -MMD -MP
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LIBS     := -lbpf -lelf -lz -lyaml -lcurl -lmicrohttpd -lpthread -lm
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) $(WARN) -Iinclude -I$(BUILD) \
	-idirafter /usr/include/$(shell uname -m)-linux-gnu \
	-Wno-unused-parameter

# Layers, left to right: a module includes headers of its own folder or of
# folders to its left only (scripts/check_layers.sh, run by `make lint`).
LAYERS   := lib config capture event state drops rules outputs web app
SRCS     := $(foreach l,$(LAYERS),$(wildcard src/$(l)/*.c))
LIB_SRCS := $(filter-out src/app/main.c,$(SRCS))
GEN_SRCS := $(BUILD)/syscall_names.c
OBJS      = $(patsubst src/%.c,$(BUILD)/obj/%.o,$(LIB_SRCS)) $(BUILD)/obj/syscall_names.o \
	    $(BUILD)/obj/default_config.o
ASAN_OBJS = $(patsubst $(BUILD)/obj/%,$(BUILD)/asan/obj/%,$(OBJS))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
ASAN_UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/asan/tests/%,$(UNIT_SRCS))
# Header dependencies come from -MMD -MP; only the generated skeleton is named.
GEN_HDRS := $(BUILD)/saker.skel.h

.PHONY: all deps run test unit e2e bench asan format lint clean rules-bench fuzz
.DELETE_ON_ERROR:

all: $(BUILD)/saker

deps:
	@bash scripts/deps.sh

run: deps
	@$(MAKE) --no-print-directory all
	./$(BUILD)/saker $(ARGS)

test: deps
	@$(MAKE) --no-print-directory lint
	@$(MAKE) --no-print-directory all asan $(UNIT_BINS) $(ASAN_UNIT_BINS) tests-helpers
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory e2e

asan: $(BUILD)/asan/saker

$(BUILD):
	@mkdir -p $(BUILD)

$(BUILD)/vmlinux.h: | $(BUILD)
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@

$(BUILD)/saker.bpf.o: bpf/saker.bpf.c $(BUILD)/vmlinux.h | $(BUILD)
	$(CLANG) $(BPF_CFLAGS) -MMD -MP -MF $(BUILD)/saker.bpf.d -c $< -o $@

$(BUILD)/saker.skel.h: $(BUILD)/saker.bpf.o
	$(BPFTOOL) gen skeleton $< name saker_bpf > $@

# Syscall names for x86_64 from the kernel's uapi header.
$(BUILD)/syscall_names.c: scripts/gen_syscall_names.sh | $(BUILD)
	bash $< > $@

$(BUILD)/obj/syscall_names.o: $(BUILD)/syscall_names.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@
$(BUILD)/asan/obj/syscall_names.o: $(BUILD)/syscall_names.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(SANFLAGS) -c $< -o $@

# The default configuration is embedded verbatim (NUL-terminated).
$(BUILD)/obj/default_config.o $(BUILD)/asan/obj/default_config.o: etc/saker.yaml | $(BUILD)
	@mkdir -p $(@D)
	printf '\t.section .rodata\n\t.global saker_default_config_yaml\nsaker_default_config_yaml:\n\t.incbin "%s"\n\t.byte 0\n\t.section .note.GNU-stack,"",@progbits\n' \
		"$(CURDIR)/etc/saker.yaml" | $(CC) -c -x assembler -o $@ -

$(BUILD)/obj/%.o: src/%.c | $(GEN_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/asan/obj/%.o: src/%.c | $(GEN_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(SANFLAGS) -c $< -o $@

$(BUILD)/libsaker.a: $(OBJS)
	ar rcs $@ $^
$(BUILD)/asan/libsaker.a: $(ASAN_OBJS)
	ar rcs $@ $^

$(BUILD)/saker: $(BUILD)/obj/app/main.o $(BUILD)/libsaker.a
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/asan/saker: $(BUILD)/asan/obj/app/main.o $(BUILD)/asan/libsaker.a
	$(CC) $(CFLAGS) $(SANFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libsaker.a | $(GEN_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libsaker.a $(LIBS) -lcmocka

$(BUILD)/asan/tests/%: tests/unit/%.c $(BUILD)/asan/libsaker.a | $(GEN_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(SANFLAGS) -o $@ $< $(BUILD)/asan/libsaker.a $(LIBS) -lcmocka

# Small programs the end-to-end tests and benchmarks run (loopback only).
HELPER_SRCS := $(wildcard tests/helpers/*.c)
HELPER_BINS := $(patsubst tests/helpers/%.c,$(BUILD)/helpers/%,$(HELPER_SRCS))
.PHONY: tests-helpers
tests-helpers: $(HELPER_BINS)
$(BUILD)/helpers/%: tests/helpers/%.c
	@mkdir -p $(BUILD)/helpers
	$(CC) -std=gnu11 $(WARN) -O2 -o $@ $<

unit: $(UNIT_BINS) $(ASAN_UNIT_BINS)
	@set -e; for t in $(UNIT_BINS) $(ASAN_UNIT_BINS); do echo "== $$t"; $$t; done

e2e: all asan tests-helpers
	$(PYTEST) -v tests/e2e

bench: deps
	@$(MAKE) --no-print-directory all tests-helpers
	bash bench/run.sh

# Rules engine throughput on one core, in memory (no BPF, no root): docs/rules.md.
$(BUILD)/bench/rules_bench: bench/rules_bench.c $(BUILD)/libsaker.a | $(GEN_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(BUILD)/libsaker.a $(LIBS)

rules-bench: $(BUILD)/bench/rules_bench
	./$(BUILD)/bench/rules_bench

# libFuzzer on the rules loader and condition compiler, bounded in time.
# New inputs go to build/fuzz/corpus; tests/fuzz/corpus holds the seeds.
FUZZ_SECONDS ?= 60
$(BUILD)/fuzz/fuzz_rules: tests/fuzz/fuzz_rules.c $(LIB_SRCS) $(BUILD)/syscall_names.c \
		$(BUILD)/obj/default_config.o | $(GEN_HDRS)
	@mkdir -p $(@D)
	$(CLANG) -std=gnu11 -g -O1 $(WARN) -Iinclude -Isrc -I$(BUILD) -Itests/unit -D_GNU_SOURCE \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -o $@ \
		tests/fuzz/fuzz_rules.c $(LIB_SRCS) $(BUILD)/syscall_names.c \
		$(BUILD)/obj/default_config.o $(LIBS)

fuzz: $(BUILD)/fuzz/fuzz_rules
	@mkdir -p $(BUILD)/fuzz/corpus
	$(BUILD)/fuzz/fuzz_rules -max_total_time=$(FUZZ_SECONDS) -max_len=8192 -timeout=10 \
		-rss_limit_mb=1024 $(BUILD)/fuzz/corpus tests/fuzz/corpus

FORMAT_SRCS = $(wildcard src/*/*.c src/*/*.h include/*.h bpf/*.c bpf/lib/*.h tests/unit/*.c tests/unit/*.h)

format:
	clang-format -i $(FORMAT_SRCS)

# Style and structure gates; `make test` runs them first.
lint:
	@clang-format --dry-run --Werror $(FORMAT_SRCS)
	@bash scripts/check_layers.sh src
	@echo "lint: format and layers clean"

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name "*.d" 2>/dev/null)
