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

# Every build (user space, BPF, tests, fuzzers) carries the strict warnings.
WARN     := -Wall -Wextra -Werror -Wshadow -Wmissing-prototypes -Wstrict-prototypes -Wformat=2 \
	-Wconversion -Wno-sign-conversion
CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 $(WARN) -Iinclude -Isrc -I$(BUILD) -D_GNU_SOURCE -fno-strict-aliasing -MMD -MP
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LIBS     := -lbpf -lelf -lz -lyaml -ljson-c -lcurl -lmicrohttpd $(shell pkg-config --libs libnats) -lpthread -lm
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) $(WARN) -Iinclude -I$(BUILD) \
	-idirafter /usr/include/$(shell uname -m)-linux-gnu \
	-Wno-unused-parameter

# Layers, left to right: a module includes headers of its own folder or of
# folders to its left only (scripts/check_layers.sh, run by `make lint`).
LAYERS   := lib config capture event state drops rules outputs web observe app
SRCS     := $(foreach l,$(LAYERS),$(wildcard src/$(l)/*.c))
LIB_SRCS := $(filter-out src/app/main.c,$(SRCS))
GEN_SRCS := $(BUILD)/syscall_names.c
OBJS      = $(patsubst src/%.c,$(BUILD)/obj/%.o,$(LIB_SRCS)) $(BUILD)/obj/syscall_names.o \
	    $(BUILD)/obj/default_config.o $(BUILD)/obj/default_rules.o
ASAN_OBJS = $(patsubst $(BUILD)/obj/%,$(BUILD)/asan/obj/%,$(OBJS))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
ASAN_UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/asan/tests/%,$(UNIT_SRCS))
# Header dependencies come from -MMD -MP; only the generated skeleton is named.
GEN_HDRS := $(BUILD)/saker.skel.h $(BUILD)/saker_iter.skel.h

.PHONY: all deps run test unit e2e bench asan format lint lint-selftest clean install uninstall fuzz fuzz-short fuzz-build fuzz-seeds replay rules-bench rules-bench-capture rules-live-bench outputs-bench
.DELETE_ON_ERROR:

all: $(BUILD)/saker

deps:
	@bash scripts/deps.sh

run: deps
	@$(MAKE) --no-print-directory all
	./$(BUILD)/saker $(ARGS)

test: deps
	@$(MAKE) --no-print-directory lint lint-selftest
	@$(MAKE) --no-print-directory all asan $(UNIT_BINS) $(ASAN_UNIT_BINS) tests-helpers
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory fuzz-short
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

# The task iterators (seeding and resync), a separate object: a kernel that
# cannot load them still runs the probe.
$(BUILD)/saker_iter.bpf.o: bpf/iter.bpf.c $(BUILD)/vmlinux.h | $(BUILD)
	$(CLANG) $(BPF_CFLAGS) -MMD -MP -MF $(BUILD)/saker_iter.bpf.d -c $< -o $@

$(BUILD)/saker_iter.skel.h: $(BUILD)/saker_iter.bpf.o
	$(BPFTOOL) gen skeleton $< name saker_iter_bpf > $@

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

# The default ruleset, embedded the same way (used without rules_files / -r).
$(BUILD)/obj/default_rules.o $(BUILD)/asan/obj/default_rules.o: etc/rules/saker_rules.yaml | $(BUILD)
	@mkdir -p $(@D)
	printf '\t.section .rodata\n\t.global saker_default_rules_yaml\nsaker_default_rules_yaml:\n\t.incbin "%s"\n\t.byte 0\n\t.section .note.GNU-stack,"",@progbits\n' \
		"$(CURDIR)/etc/rules/saker_rules.yaml" | $(CC) -c -x assembler -o $@ -

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
	$(CC) -std=gnu11 $(WARN) -O2 -Iinclude -o $@ $<

unit: $(UNIT_BINS) $(ASAN_UNIT_BINS)
	@set -e; for t in $(UNIT_BINS) $(ASAN_UNIT_BINS); do echo "== $$t"; $$t; done

e2e: all asan tests-helpers
	$(PYTEST) -v tests/e2e

# libFuzzer harnesses (tests/fuzz/fuzz_<h>.c, seeds in tests/fuzz/corpus/<h>/). The
# library is compiled again, with clang and sanitizers, under $(BUILD)/fuzz.
# `make fuzz` runs each for FUZZ_SECONDS; `make test` runs each for
# FUZZ_SHORT_SECONDS. New inputs go to $(BUILD)/fuzz/work/<h>, crashes to
# $(BUILD)/fuzz/crash-<h>-*; the committed corpus is only read.
FUZZ_SECONDS	   ?= 300
FUZZ_SHORT_SECONDS ?= 20
FUZZ_CFLAGS := -g -O1 -std=gnu11 $(WARN) -Iinclude -Isrc -I$(BUILD) -Itests/unit -D_GNU_SOURCE \
	-fno-strict-aliasing -MMD -MP -fno-omit-frame-pointer -fno-sanitize-recover=undefined \
	-fsanitize=fuzzer-no-link,address,undefined
FUZZ_NAMES := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS  := $(patsubst %,$(BUILD)/fuzz/fuzz_%,$(FUZZ_NAMES))
FUZZ_OBJS   = $(patsubst src/%.c,$(BUILD)/fuzz/obj/%.o,$(LIB_SRCS)) $(BUILD)/fuzz/obj/syscall_names.o \
	      $(BUILD)/obj/default_config.o $(BUILD)/obj/default_rules.o
FUZZ_PROBE := printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n)\n{ return (int)(d && n && 0); }\n' | \
	$(CLANG) -fsanitize=fuzzer,address,undefined -x c - -o /dev/null >/dev/null 2>&1

$(BUILD)/fuzz/obj/%.o: src/%.c | $(GEN_HDRS)
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) -c $< -o $@
$(BUILD)/fuzz/obj/syscall_names.o: $(BUILD)/syscall_names.c
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) -c $< -o $@
$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OBJS)
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJS) $(LIBS)

fuzz-build:
	@if ! $(FUZZ_PROBE); then echo "fuzz: skipped: $(CLANG) cannot build -fsanitize=fuzzer"; \
	else $(MAKE) --no-print-directory $(FUZZ_BINS); fi

# One harness: $(1) name, $(2) seconds.
define fuzz_run
	mkdir -p $(BUILD)/fuzz/work/$(1) && \
	$(BUILD)/fuzz/fuzz_$(1) -max_total_time=$(2) -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix=$(BUILD)/fuzz/crash-$(1)- \
		$(BUILD)/fuzz/work/$(1) tests/fuzz/corpus/$(1) 2>&1 | \
		grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|==[0-9]+==|SUMMARY|.*ERROR)' ; \
	test $${PIPESTATUS[0]} -eq 0 || { echo "fuzz: $(1) failed (see $(BUILD)/fuzz/crash-$(1)-*)"; exit 1; }
endef

fuzz fuzz-short: SHELL := /bin/bash
fuzz fuzz-short: fuzz-build
	@if ! $(FUZZ_PROBE); then exit 0; fi; set -e; \
	$(foreach h,$(FUZZ_NAMES),echo "== fuzz $(h) ($(if $(filter fuzz,$@),$(FUZZ_SECONDS),$(FUZZ_SHORT_SECONDS)) s)"; \
	$(call fuzz_run,$(h),$(if $(filter fuzz,$@),$(FUZZ_SECONDS),$(FUZZ_SHORT_SECONDS)));)

# Regenerates the event harness's seeds (committed) from tests/fuzz/gen_event_seeds.c.
fuzz-seeds: $(BUILD)/libsaker.a | $(GEN_HDRS)
	@mkdir -p $(BUILD)/fuzz tests/fuzz/corpus/event
	$(CC) $(CFLAGS) -o $(BUILD)/fuzz/gen_event_seeds tests/fuzz/gen_event_seeds.c \
		$(BUILD)/libsaker.a $(LIBS)
	$(BUILD)/fuzz/gen_event_seeds tests/fuzz/corpus/event

replay: $(BUILD)/bench/replay
	./$(BUILD)/bench/replay

bench: deps
	@$(MAKE) --no-print-directory all tests-helpers $(BUILD)/bench/replay
	bash bench/run.sh

# nats_output to a local nats-server: alerts/s, publish-to-ack p50/p99, spool throughput
# with the node down (docs/bench.md). No BPF; starts and stops its own nats-server.
.PHONY: nats-bench
nats-bench: $(BUILD)/bench/nats_bench
	/usr/bin/python3 bench/nats_bench.py
$(BUILD)/bench/nats_bench: bench/nats_bench.c $(BUILD)/libsaker.a | $(GEN_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libsaker.a $(LIBS)

# Alert throughput through the outputs' channels (no BPF, no root): docs/bench.md.
$(BUILD)/bench/outputs_bench: bench/outputs_bench.c $(BUILD)/libsaker.a | $(GEN_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libsaker.a $(LIBS)
outputs-bench: $(BUILD)/bench/outputs_bench
	./$(BUILD)/bench/outputs_bench > /dev/null

# Rules engine throughput on one core, in memory (no BPF, no root): docs/rules.md.
$(BUILD)/bench/rules_bench: bench/rules_bench.c $(BUILD)/libsaker.a | $(GEN_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(BUILD)/libsaker.a $(LIBS)

# With a capture recorded (make rules-bench-capture, root), also decode + state
# + rules over its records, with the default ruleset and with Falco's stable
# one when it is next to the repository (never copied in).
RULES_BENCH_CAPTURE ?= $(BUILD)/bench/rules.cap
FALCO_RULES ?= ../shared/reference/falco_rules.yaml
rules-bench: $(BUILD)/bench/rules_bench
	./$(BUILD)/bench/rules_bench
	@if [ ! -f $(RULES_BENCH_CAPTURE) ]; then \
		echo "rules-bench: no capture at $(RULES_BENCH_CAPTURE) (make rules-bench-capture, as root)"; \
	else \
		echo "== capture replay, default ruleset"; \
		./$(BUILD)/bench/rules_bench --capture $(RULES_BENCH_CAPTURE) etc/rules/saker_rules.yaml; \
		if [ -f $(FALCO_RULES) ]; then \
			echo "== capture replay, Falco's stable ruleset"; \
			./$(BUILD)/bench/rules_bench --capture $(RULES_BENCH_CAPTURE) $(FALCO_RULES); \
		else echo "rules-bench: $(FALCO_RULES) absent: Falco's ruleset not measured"; fi; \
	fi

# Rules in a live run: capture overhead and drops under a flood, no rules / default / Falco's.
rules-live-bench: all tests-helpers
	@$(MAKE) --no-print-directory -C bench
	/usr/bin/python3 bench/rules_live.py

rules-bench-capture: all
	bash bench/record_capture.sh $(RULES_BENCH_CAPTURE)

# User-space cost per event (decode, state, dump) on synthetic records.
$(BUILD)/bench/replay: bench/replay.c $(BUILD)/libsaker.a | $(GEN_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libsaker.a $(LIBS)

FORMAT_SRCS = $(wildcard src/*/*.c src/*/*.h include/*.h bpf/*.c bpf/lib/*.h tests/unit/*.c tests/unit/*.h \
	tests/fuzz/*.c)

format:
	clang-format -i $(FORMAT_SRCS)

# Style and structure gates; `make test` runs them first.
# cppcheck's findings are errors; a deliberate exception carries an inline
# `// cppcheck-suppress <id>` with its reason.
# variableScope is off: declarations at the top of a block are this tree's style;
# rules.c's rule table grows through a void ** that cppcheck cannot follow. The
# generated skeleton is left out (-I$(BUILD) would make cppcheck parse the BPF object).
CPPCHECK_FLAGS := --quiet --error-exitcode=1 --std=c11 --inline-suppr --max-configs=1 \
	--enable=warning,style,performance,portability --suppress=missingIncludeSystem \
	--suppress=missingInclude --suppress=variableScope -D_GNU_SOURCE -Iinclude -Isrc \
	--suppress=nullPointerRedundantCheck:src/rules/rules.c

# The copy/paste detector, pinned (5.4.1 does not run here), installed from
# npm into the build folder on first use (nodejs and npm: scripts/deps.sh).
# Clones of 6 lines or more are listed at every lint; more than 0.4 % of src/'s
# lines in clones fails (0.29 %, 12 clones, most of them include blocks, on
# 2026-12-07 after issue 15's clean-up, from 0.84 %, 26 clones, before it).
JSCPD_VERSION := 5.3.2
JSCPD	      := $(BUILD)/tools/node_modules/.bin/jscpd
JSCPD_STAMP   := $(BUILD)/tools/jscpd-$(JSCPD_VERSION).stamp
export JSCPD_FLAGS := --min-lines 6 --format c --threshold 0.4 --reporters console

$(JSCPD_STAMP):
	@mkdir -p $(BUILD)/tools
	npm install --no-audit --no-fund --silent --prefix $(BUILD)/tools jscpd@$(JSCPD_VERSION)
	@touch $@

# Sizes: no .c over 900 lines, no function over 80 (exceptions with their
# reasons in scripts/size-allow.txt).
lint: $(JSCPD_STAMP)
	@clang-format --dry-run --Werror $(FORMAT_SRCS)
	@bash scripts/check_layers.sh src
	@python3 scripts/check_size.py --allow scripts/size-allow.txt src bpf
	@python3 scripts/check_scnames.py --selftest && python3 scripts/check_scnames.py
	@$(JSCPD) $(JSCPD_FLAGS) src
	@cppcheck $(CPPCHECK_FLAGS) src
	@echo "lint: format, layers, sizes, syscall names, copies and cppcheck clean"

# Each gate above fails on a violation planted in a copy of the tree.
lint-selftest: $(JSCPD_STAMP)
	@bash scripts/lint_selftest.sh $(abspath $(JSCPD))

# Installation: the binary, the configuration and the default ruleset in
# rules.d, read when no rules file is configured (an edited one is kept: the
# new one goes next to it as saker.yaml.new, saker_rules.yaml.new, which the
# loader does not read), the systemd unit and saker(8).
PREFIX     ?= /usr/local
SBINDIR    ?= $(PREFIX)/sbin
MANDIR     ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
UNITDIR    ?= $(PREFIX)/lib/systemd/system

install: all
	install -D -m 0755 $(BUILD)/saker $(DESTDIR)$(SBINDIR)/saker
	install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/saker
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/saker/saker.yaml ] && \
	    ! cmp -s etc/saker.yaml $(DESTDIR)$(SYSCONFDIR)/saker/saker.yaml; then \
		install -m 0644 etc/saker.yaml $(DESTDIR)$(SYSCONFDIR)/saker/saker.yaml.new; \
		echo "install: kept $(DESTDIR)$(SYSCONFDIR)/saker/saker.yaml, new one as saker.yaml.new"; \
	else \
		install -m 0644 etc/saker.yaml $(DESTDIR)$(SYSCONFDIR)/saker/saker.yaml; \
	fi
	install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/saker/rules.d
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/saker/rules.d/saker_rules.yaml ] && \
	    ! cmp -s etc/rules/saker_rules.yaml $(DESTDIR)$(SYSCONFDIR)/saker/rules.d/saker_rules.yaml; then \
		install -m 0644 etc/rules/saker_rules.yaml \
			$(DESTDIR)$(SYSCONFDIR)/saker/rules.d/saker_rules.yaml.new; \
		echo "install: kept $(DESTDIR)$(SYSCONFDIR)/saker/rules.d/saker_rules.yaml, new one as saker_rules.yaml.new"; \
	else \
		install -m 0644 etc/rules/saker_rules.yaml $(DESTDIR)$(SYSCONFDIR)/saker/rules.d/saker_rules.yaml; \
	fi
	install -d -m 0755 $(DESTDIR)$(UNITDIR)
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' etc/saker.service \
		> $(DESTDIR)$(UNITDIR)/saker.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/saker.service
	install -D -m 0644 man/saker.8 $(DESTDIR)$(MANDIR)/man8/saker.8

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/saker $(DESTDIR)$(UNITDIR)/saker.service \
		$(DESTDIR)$(MANDIR)/man8/saker.8 $(DESTDIR)$(SYSCONFDIR)/saker/saker.yaml.new \
		$(DESTDIR)$(SYSCONFDIR)/saker/rules.d/saker_rules.yaml.new
	@if cmp -s etc/rules/saker_rules.yaml $(DESTDIR)$(SYSCONFDIR)/saker/rules.d/saker_rules.yaml; then \
		rm -f $(DESTDIR)$(SYSCONFDIR)/saker/rules.d/saker_rules.yaml; fi
	@echo "uninstall: $(DESTDIR)$(SYSCONFDIR)/saker/saker.yaml and edited rules left in place"

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name "*.d" 2>/dev/null)
