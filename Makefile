# Makefile - build, test and install runbook.
#
#   make            build ./runbook
#   make check      install missing Debian packages, build, run every test
#   make demo       run a real runbook end to end on a throwaway PostgreSQL
#   make asan       the same tests under AddressSanitizer + UBSan
#   make bench      the benchmark suite; writes bench/RESULTS.md
#   make bench-smoke  every benchmark case at tiny sizes, no timings judged
#   make fuzz       run each libFuzzer target for FUZZ_SECONDS (default 60)
#   make fuzz-smoke run each libFuzzer target for a few seconds
#   make install    PREFIX=/usr/local DESTDIR=
#   make V=1        show the commands

PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
DESTDIR ?=
CC      ?= cc
O       ?= build
WERROR  ?= -Werror
CFLAGS  ?= -O2 -g
V       ?= 0

ifeq ($(V),0)
Q = @
say = @printf '  %-6s %s\n' $(1) $(2);
else
Q =
say =
endif

PKGS = libcmark-gfm libpcre2-8 libpq libsodium jansson
# Debian's libcmark-gfm.pc already links the extensions; other systems ship
# a separate libcmark-gfm-extensions.pc or none at all.
EXT_LIBS = $(shell pkg-config --exists libcmark-gfm-extensions 2>/dev/null && \
	pkg-config --libs libcmark-gfm-extensions || echo -lcmark-gfm-extensions)
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) $(EXT_LIBS)
CMOCKA_CFLAGS = $(shell pkg-config --cflags cmocka 2>/dev/null)
CMOCKA_LIBS   = $(shell pkg-config --libs cmocka 2>/dev/null)

WARNINGS = -Wall -Wextra -Wstrict-prototypes -Wmissing-prototypes -Wvla \
	-Wwrite-strings -Wformat-security -Wshadow -fno-common
ALL_CFLAGS = -std=gnu11 $(WARNINGS) $(WERROR) $(CFLAGS) -Isrc $(PKG_CFLAGS) -MMD -MP
ALL_LDFLAGS = $(LDFLAGS)
LIBS = $(PKG_LIBS) -lm

# src/<layer>/<module>.c (README: Layout); main.c and cli/ make the program,
# every other layer goes into librunbook.a
SRC_ALL  = $(sort $(wildcard src/*.c src/*/*.c))
SRC_MAIN = src/main.c $(filter src/cli/%.c,$(SRC_ALL))
SRC_LIB  = $(filter-out $(SRC_MAIN),$(SRC_ALL))
OBJ_LIB  = $(patsubst src/%.c,$(O)/src/%.o,$(SRC_LIB))
OBJ_MAIN = $(patsubst src/%.c,$(O)/src/%.o,$(SRC_MAIN))

UNIT_SRC  = $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN  = $(patsubst tests/unit/%.c,$(O)/tests/%,$(UNIT_SRC))
TOOL_SRC  = $(sort $(wildcard tests/tools/*.c))
TOOL_BIN  = $(patsubst tests/tools/%.c,$(O)/tests/tools/%,$(TOOL_SRC))
FUZZ_SRC  = $(sort $(wildcard tests/fuzz/fuzz_*.c))
REPLAY_BIN = $(patsubst tests/fuzz/fuzz_%.c,$(O)/tests/fuzz/replay_%,$(FUZZ_SRC))

ifeq ($(O),build)
PROGRAM = runbook
else
PROGRAM = $(O)/runbook
endif

.PHONY: all deps check test build-tests asan demo install uninstall clean format bench bench-smoke \
	fuzz fuzz-build fuzz-corpus fuzz-smoke
.DEFAULT_GOAL := all

all: $(PROGRAM)

$(PROGRAM): $(OBJ_MAIN) $(O)/librunbook.a
	$(call say,LINK,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $(OBJ_MAIN) $(O)/librunbook.a $(ALL_LDFLAGS) $(LIBS)

# `runbook new` falls back to the installed templates
$(O)/src/cli/new.o: ALL_CFLAGS += -DRUNBOOK_TEMPLATES_DIR='"$(PREFIX)/share/runbook/templates"'

# ar keeps members by their base name: two modules with one name in two
# layers would replace each other
LIB_DUPS = $(strip $(foreach f,$(sort $(notdir $(SRC_LIB))),$(if $(filter-out 1,$(words $(filter %/$(f),$(SRC_LIB)))),$(f))))
$(if $(LIB_DUPS),$(error two library modules share a file name: $(LIB_DUPS)))

$(O)/librunbook.a: $(OBJ_LIB)
	$(call say,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $(OBJ_LIB)

$(O)/src/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(O)/tests/%: tests/unit/%.c $(O)/librunbook.a
	@mkdir -p $(dir $@)
	$(call say,CC,$<)
	$(Q)$(CC) $(ALL_CFLAGS) $(CMOCKA_CFLAGS) -Isrc -DTESTS_DIR='"$(CURDIR)/tests"' \
		-o $@ $< $(O)/librunbook.a $(ALL_LDFLAGS) $(CMOCKA_LIBS) $(LIBS)

$(O)/tests/tools/%: tests/tools/%.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< $(ALL_LDFLAGS) -lutil

# The fuzz targets built with the ordinary compiler and a plain main() that
# replays saved inputs (tests/fuzz/replay.c): keeps them -Werror clean under
# gcc and replays tests/fuzz/regressions in `make check` and `make asan`.
$(O)/tests/fuzz/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c tests/fuzz/fuzz.h $(O)/librunbook.a
	@mkdir -p $(dir $@)
	$(call say,CC,$<)
	$(Q)$(CC) $(filter-out -MMD -MP,$(ALL_CFLAGS)) -Isrc -o $@ $< tests/fuzz/replay.c \
		$(O)/librunbook.a $(ALL_LDFLAGS) $(LIBS)

build-tests: $(PROGRAM) $(UNIT_BIN) $(TOOL_BIN) $(REPLAY_BIN)

deps:
	@scripts/install-deps

# `check` re-enters make so that pkg-config runs after `deps` installed the
# libraries on a fresh machine.
check: deps
	@$(MAKE) --no-print-directory build-tests
	@RUNBOOK=$(CURDIR)/$(PROGRAM) BUILD_DIR=$(CURDIR)/$(O) tests/run

test: build-tests
	@RUNBOOK=$(CURDIR)/$(PROGRAM) BUILD_DIR=$(CURDIR)/$(O) tests/run

ASAN_FLAGS = -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
asan: deps
	@$(MAKE) --no-print-directory O=build-asan CFLAGS="$(ASAN_FLAGS)" \
		LDFLAGS="-fsanitize=address,undefined" build-tests
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		RUNBOOK=$(CURDIR)/build-asan/runbook BUILD_DIR=$(CURDIR)/build-asan tests/run

# the benchmark suite (bench/README.md): installs its peers, writes
# bench/RESULTS.md; bench-smoke runs every case at tiny sizes (make check
# runs it too, as tests/e2e/bench_smoke.sh)
BENCH_PKGS = hyperfine python3-cram shelltestrunner bats strace

bench: deps
	@scripts/install-deps $(BENCH_PKGS)
	@$(MAKE) --no-print-directory build-tests
	@RUNBOOK=$(CURDIR)/$(PROGRAM) BUILD_DIR=$(CURDIR)/$(O) bench/run

bench-smoke: build-tests
	@RUNBOOK=$(CURDIR)/$(PROGRAM) BUILD_DIR=$(CURDIR)/$(O) bench/run --smoke
# ---- fuzzing: clang's libFuzzer, ASan and UBSan in build-fuzz/ (docs/fuzzing.md)
FUZZ_CC      ?= clang
FUZZ_O        = build-fuzz
FUZZ_CFLAGS  ?= -O1 -g -fno-omit-frame-pointer
FUZZ_SAN      = -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= $(patsubst tests/fuzz/fuzz_%.c,%,$(FUZZ_SRC))
FUZZ_ALL_CFLAGS = -std=gnu11 $(WARNINGS) $(WERROR) $(FUZZ_CFLAGS) $(FUZZ_SAN) -Isrc $(PKG_CFLAGS) -MMD -MP
FUZZ_OBJ_LIB = $(patsubst src/%.c,$(FUZZ_O)/src/%.o,$(SRC_LIB))
FUZZ_BIN     = $(patsubst tests/fuzz/fuzz_%.c,$(FUZZ_O)/fuzz_%,$(FUZZ_SRC))

$(FUZZ_O)/src/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)
	$(Q)$(FUZZ_CC) $(FUZZ_ALL_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_O)/librunbook.a: $(FUZZ_OBJ_LIB)
	$(call say,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $(FUZZ_OBJ_LIB)

$(FUZZ_O)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_O)/librunbook.a
	$(call say,LINK,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_ALL_CFLAGS) -fsanitize=fuzzer -Isrc -o $@ $< \
		$(FUZZ_O)/librunbook.a $(LIBS)

fuzz-build: $(FUZZ_BIN)

# Seeds from the test fixtures, next to the committed ones in tests/fuzz/corpus.
fuzz-corpus:
	@tests/fuzz/make-corpus $(FUZZ_O)/seeds

fuzz: deps
	@$(MAKE) --no-print-directory fuzz-build fuzz-corpus
	@tests/fuzz/run-targets --seconds $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# The libFuzzer part of what `make check` runs (tests/e2e/fuzz_smoke.sh):
# a few seconds each, from the seeds alone, with a fixed seed.
fuzz-smoke: deps
	@$(MAKE) --no-print-directory fuzz-build fuzz-corpus
	@FUZZ_FLAGS="$${FUZZ_FLAGS:--seed=1}" tests/fuzz/run-targets --seconds 3 --scratch $(FUZZ_TARGETS)

demo: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo

install: all
	install -d $(DESTDIR)$(BINDIR)
	install -m 0755 runbook $(DESTDIR)$(BINDIR)/runbook
	install -d $(DESTDIR)$(PREFIX)/share/runbook/templates
	install -m 0644 templates/*.md $(DESTDIR)$(PREFIX)/share/runbook/templates/ 2>/dev/null || true

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/runbook
	rm -rf $(DESTDIR)$(PREFIX)/share/runbook

clean:
	rm -rf build build-asan build-fuzz runbook

FORMAT_FILES = $(wildcard src/*.c src/*/*.c src/*/*.h) $(wildcard tests/unit/*.c tests/tools/*.c)

format:
	clang-format -i $(FORMAT_FILES)

-include $(OBJ_LIB:.o=.d) $(OBJ_MAIN:.o=.d) $(FUZZ_OBJ_LIB:.o=.d) $(FUZZ_BIN:=.d)
