# deepmoon -- GNU make
#
#   make                 build the libraries, the Lua module and the deepmoon host
#   make test            install missing Debian packages, build, run C tests and busted specs;
#                        the last line is "N passed, N failed"
#   make test SANITIZE=1 the same under AddressSanitizer + UBSan (objects in build-asan/)
#   make test BLAS=0     the same without OpenBLAS, naive kernels only (objects in build-noblas/)
#   make test-tsan       the threads test (several threads, several Lua states) under
#                        ThreadSanitizer, BLAS=0 (objects in build-tsan/); any report fails
#   make demo | bench | clean | install PREFIX=/usr/local DESTDIR= | uninstall
#
# Each configuration builds into its own directory, so switching never mixes objects.

SANITIZE ?= 0
BLAS     ?= 1
TSAN     ?= 0
# ThreadSanitizer builds without OpenBLAS: its thread pool (not instrumented) gives false reports
ifeq ($(TSAN),1)
  override BLAS := 0
  BUILDDIR ?= build-tsan
endif
# MPI (data-parallel training, bindings/dist.c): on by default; MPI=0 builds without it (objects
# in build-nompi/).  The sanitizer and ThreadSanitizer builds leave it out: Open MPI's own
# allocations and threads are not ours to report, so the MPI specs skip there (see tests/dist_spec.lua)
MPI ?= 1
ifneq ($(filter 1,$(SANITIZE) $(TSAN)),)
  override MPI := 0
  MPI_SUFFIX :=
else
  MPI_SUFFIX := $(if $(filter 0,$(MPI)),-nompi)
endif
BUILDDIR ?= build$(if $(filter 1,$(SANITIZE)),-asan)$(if $(filter 0,$(BLAS)),-noblas)$(MPI_SUFFIX)

CC       ?= cc
AR       ?= ar
PKG_CONFIG ?= pkg-config
LUA      ?= lua5.4
BUSTED   ?= /usr/bin/busted

# ---- flags -----------------------------------------------------------------------------
OPT      ?= -O2
WARN     := -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
# always bugs in C11 (a pointer truncated through an implicit int); errors from gcc 14 on
WARN     += -Werror=implicit-function-declaration -Werror=int-conversion
SANFLAGS :=
ifeq ($(SANITIZE),1)
  OPT      := -O1 -g
  SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
endif
ifeq ($(TSAN),1)
  OPT      := -O1 -g
  SANFLAGS := -fsanitize=thread -fno-omit-frame-pointer
endif
ifeq ($(BLAS),0)
  BLAS_CFLAGS :=
  BLAS_LIBS   :=
else
  BLAS_CFLAGS = -DDM_USE_BLAS=1 $(shell $(PKG_CONFIG) --cflags openblas)
  BLAS_LIBS   = $(shell $(PKG_CONFIG) --libs openblas)
endif
# zlib: the IDX reader (core/io/idx.c) reads gzipped files (MNIST's .gz) through it
ZLIB_CFLAGS = $(shell $(PKG_CONFIG) --cflags zlib)
ZLIB_LIBS   = $(shell $(PKG_CONFIG) --libs zlib)
# Open MPI: only bindings/dist.c includes mpi.h; only what links the binding links -lmpi
ifeq ($(MPI),1)
  MPI_CFLAGS = -DDM_USE_MPI=1 $(shell $(PKG_CONFIG) --cflags ompi-c 2>/dev/null || mpicc --showme:compile)
  MPI_LIBS   = $(shell $(PKG_CONFIG) --libs ompi-c 2>/dev/null || mpicc --showme:link)
endif
LUA_CFLAGS = $(shell $(PKG_CONFIG) --cflags lua5.4)
LUA_LIBS   = $(shell $(PKG_CONFIG) --libs lua5.4)
# GNU readline gives the prompt line editing, history and Tab completion; it is used when
# present (READLINE=0 builds without it: the prompt then reads plain lines)
ifeq ($(origin READLINE),undefined)
  READLINE := $(shell $(PKG_CONFIG) --exists readline 2>/dev/null && echo 1 || echo 0)
endif
ifeq ($(READLINE),1)
  RL_CFLAGS = -DDM_READLINE=1 $(shell $(PKG_CONFIG) --cflags readline)
  RL_LIBS   = $(shell $(PKG_CONFIG) --libs readline)
endif

# core/ is plain C: it never sees the Lua headers
BASE_CFLAGS = $(WARN) $(OPT) $(SANFLAGS) -fPIC -MMD -MP $(CPPFLAGS) $(CFLAGS)
# -Icore: the backends under core/backend/ include internal.h and backend.h by name
CORE_CFLAGS = $(BASE_CFLAGS) $(BLAS_CFLAGS) $(ZLIB_CFLAGS) -Icore -Icore/backend
BIND_CFLAGS = $(BASE_CFLAGS) $(BLAS_CFLAGS) -Icore $(LUA_CFLAGS)
HOST_CFLAGS = $(BASE_CFLAGS) $(LUA_CFLAGS) $(RL_CFLAGS) -I$(OBJDIR)/host
TEST_CFLAGS = $(BASE_CFLAGS) $(BLAS_CFLAGS) -Icore -Itests/c

# ---- files -----------------------------------------------------------------------------
OBJDIR    := $(BUILDDIR)/obj
CORE_SRC  := $(sort $(shell find core -name '*.c'))   # core/**/*.c (backends nest)
BIND_SRC  := $(sort $(wildcard bindings/*.c))
CTEST_SRC := $(sort $(wildcard tests/c/test_*.c))
CORE_OBJ  := $(CORE_SRC:%.c=$(OBJDIR)/%.o)
BIND_OBJ  := $(BIND_SRC:%.c=$(OBJDIR)/%.o)
HOST_OBJ  := $(OBJDIR)/host/deepmoon.o $(OBJDIR)/host/heap.o $(OBJDIR)/host/lineedit.o
CTEST_BIN := $(CTEST_SRC:tests/c/%.c=$(BUILDDIR)/tests/%)
DEPS      := $(CORE_OBJ:.o=.d) $(BIND_OBJ:.o=.d) $(HOST_OBJ:.o=.d) $(CTEST_BIN:=.d)

LIB_A  := $(BUILDDIR)/libdeepmoon.a
LIB_SO := $(BUILDDIR)/libdeepmoon.so
MODULE := $(BUILDDIR)/deepmoon/core.so
HOST   := $(BUILDDIR)/deepmoon-host
REPL_H := $(OBJDIR)/host/repl_lua.h
HOST_CONF := $(BUILDDIR)/host.conf

.PHONY: all test test-run test-tsan tsan-run deps demo bench clean install uninstall FORCE valgrind
.DEFAULT_GOAL := all

all: $(LIB_A) $(LIB_SO) $(MODULE) $(HOST)

$(OBJDIR)/core/%.o: core/%.c
	@mkdir -p $(@D)
	$(CC) $(CORE_CFLAGS) -c $< -o $@

$(OBJDIR)/bindings/%.o: bindings/%.c
	@mkdir -p $(@D)
	$(CC) $(BIND_CFLAGS) -c $< -o $@

$(OBJDIR)/host/%.o: host/%.c
	@mkdir -p $(@D)
	$(CC) $(HOST_CFLAGS) -c $< -o $@

$(LIB_A): $(CORE_OBJ)
	@mkdir -p $(@D)
	rm -f $@
	$(AR) rcs $@ $^

$(LIB_SO): $(CORE_OBJ)
	@mkdir -p $(@D)
	$(CC) -shared $(SANFLAGS) $(LDFLAGS) -Wl,--no-undefined -Wl,-z,nodelete -o $@ $^ $(BLAS_LIBS) \
	    $(ZLIB_LIBS) -lm

# The module gets the core linked in statically but never -llua5.4: the interpreter that loads
# it provides the Lua API, and a second copy of the Lua runtime in one process corrupts state
# silently.  It exports only luaopen_* (the version script).  A dm_ symbol left undefined is a
# binding calling a core function nobody wrote, which would only show at require time: refuse
# it here.
# -z nodelete: the module stays mapped when Lua closes its state (dlclose), since the conv
# helper thread (core/backend/cpu/par.c), once started, sleeps in its code until exit
$(MODULE): $(BIND_OBJ) $(LIB_A) $(BUILDDIR)/module.map
	@mkdir -p $(@D)
	$(CC) -shared $(SANFLAGS) $(LDFLAGS) -Wl,-z,nodelete -Wl,--version-script=$(BUILDDIR)/module.map \
	    -o $@ $(BIND_OBJ) $(LIB_A) $(BLAS_LIBS) $(ZLIB_LIBS) -lm
	@if nm -u $@ | grep -q ' dm_'; then \
	    echo "$@: undefined core symbols:" $$(nm -u $@ | grep ' dm_' | awk '{print $$2}') >&2; \
	    rm -f $@; exit 1; fi

$(BUILDDIR)/module.map:
	@mkdir -p $(@D)
	echo '{ global: luaopen_*; local: *; };' > $@

# The prompt (host/repl.lua) is compiled into the host as a C string, so an installed
# deepmoon needs no file of its own besides the Lua module.
$(REPL_H): host/repl.lua
	@mkdir -p $(@D)
	{ echo '/* generated from host/repl.lua by the Makefile; do not edit */'; \
	  echo 'static const char repl_lua[] ='; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/?/\\?/g' -e 's/^/"/' -e 's/$$/\\n"/' $<; \
	  echo ';'; } > $@.tmp && mv $@.tmp $@

$(OBJDIR)/host/deepmoon.o: $(REPL_H)

# remembers READLINE, so switching it rebuilds and relinks the host
$(HOST_CONF): FORCE
	@mkdir -p $(@D)
	@echo 'READLINE=$(READLINE)' | cmp -s - $@ || echo 'READLINE=$(READLINE)' > $@

FORCE:

$(OBJDIR)/host/lineedit.o: $(HOST_CONF)

# -Wl,-E exports the Lua API from the host to the C modules it loads
$(HOST): $(HOST_OBJ) $(HOST_CONF)
	$(CC) $(SANFLAGS) $(LDFLAGS) -Wl,-E -o $@ $(HOST_OBJ) $(LUA_LIBS) $(RL_LIBS) -lm

$(BUILDDIR)/tests/%: tests/c/%.c $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) -pthread -MF $@.d -MT $@ -o $@ $< $(LIB_A) $(BLAS_LIBS) $(ZLIB_LIBS) -lm

# ---- embedding: luaopen_deepmoon with the Lua sources built in; C hosts -----------------
# lua_sources.h (tools/embed_lua.sh) holds lua/deepmoon/**.lua as bytes for bindings/embed.c,
# which is in the module and in libdeepmoon_lua.a (core + binding, no Lua: hosts link their
# own).  lua_files.txt remembers the list of files, so adding or removing one rebuilds it.
LUA_SRC_H := $(OBJDIR)/gen/lua_sources.h
LUA_LIST  := $(OBJDIR)/gen/lua_files.txt
LUA_MODS  := $(shell find lua/deepmoon -name '*.lua' | LC_ALL=C sort)
LIB_LUA_A := $(BUILDDIR)/libdeepmoon_lua.a
EMBED_BIN := $(BUILDDIR)/examples/embed_host $(BUILDDIR)/examples/embed_infer

all: $(LIB_LUA_A) $(EMBED_BIN)

$(LUA_LIST): FORCE
	@mkdir -p $(@D)
	@echo '$(LUA_MODS)' | cmp -s - $@ || echo '$(LUA_MODS)' > $@

$(LUA_SRC_H): $(LUA_MODS) $(LUA_LIST) tools/embed_lua.sh
	sh tools/embed_lua.sh lua > $@.tmp && mv $@.tmp $@

$(OBJDIR)/bindings/embed.o: $(LUA_SRC_H)
$(OBJDIR)/bindings/embed.o: BIND_CFLAGS += -I$(OBJDIR)/gen

# MPI: the binding's dist.c and what links the binding (target-specific, so the core library
# and the C tests never link Open MPI)
$(OBJDIR)/bindings/dist.o: BIND_CFLAGS += $(MPI_CFLAGS)
# with MPI on, a plain `make` installs Open MPI first when it is missing (tools/deps.sh; the
# flags above are read when dist.c compiles, after that)
ifeq ($(MPI),1)
$(OBJDIR)/bindings/dist.o: | mpi-deps
.PHONY: mpi-deps
mpi-deps:
	@$(PKG_CONFIG) --exists ompi-c 2>/dev/null || command -v mpicc > /dev/null 2>&1 || tools/deps.sh
endif
# (embed_infer and libdeepmoon use the core only: no MPI; deepmoon-lua.pc names it below)
$(MODULE) $(BUILDDIR)/examples/embed_host $(BUILDDIR)/tests/test_threads: BLAS_LIBS += $(MPI_LIBS)

$(LIB_LUA_A): $(CORE_OBJ) $(BIND_OBJ)
	@mkdir -p $(@D)
	rm -f $@
	$(AR) rcs $@ $^

$(BUILDDIR)/examples/embed_host: examples/embed/host.c $(LIB_LUA_A)
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) -Icore -Ibindings $(LUA_CFLAGS) -MF $@.d -MT $@ $(LDFLAGS) -o $@ $< \
	    $(LIB_LUA_A) $(LUA_LIBS) $(BLAS_LIBS) $(ZLIB_LIBS) -lm

$(BUILDDIR)/examples/embed_infer: examples/embed/infer.c $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) -Icore -MF $@.d -MT $@ $(LDFLAGS) -o $@ $< $(LIB_A) $(BLAS_LIBS) $(ZLIB_LIBS) -lm

# embed_classify: plain C classifying one Fashion-MNIST image with a saved CNN
all: $(BUILDDIR)/examples/embed_classify
$(BUILDDIR)/examples/embed_classify: examples/embed/classify_image.c $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) -Icore -MF $@.d -MT $@ $(LDFLAGS) -o $@ $< $(LIB_A) $(BLAS_LIBS) $(ZLIB_LIBS) -lm
-include $(BUILDDIR)/examples/embed_classify.d

# test_threads opens Lua states in several threads: it links the binding and the Lua library
$(BUILDDIR)/tests/test_threads: tests/c/test_threads.c $(LIB_LUA_A)
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) -Ibindings $(LUA_CFLAGS) -pthread -MF $@.d -MT $@ -o $@ $< \
	    $(LIB_LUA_A) $(LUA_LIBS) $(BLAS_LIBS) $(ZLIB_LIBS) -lm

-include $(EMBED_BIN:=.d)

-include $(DEPS)

# ---- tests -----------------------------------------------------------------------------
# `test` installs what is missing first, then runs the rest in a fresh make so that the
# pkg-config queries see the freshly installed packages.
test:
	@tools/deps.sh
	@$(MAKE) --no-print-directory test-run

deps:
	@tools/deps.sh

# The sanitized run executes the specs under the sanitized host (its executable carries the
# ASan runtime, which must come first in the process); Lua's own exit-time allocations are
# not ours, so leak checking is off there and on for the C tests.
# Specs that start a fresh interpreter should run $DM_LUA (set below), not lua5.4, which
# cannot load the sanitized module; DM_SANITIZE=1 tells them memory figures mean nothing here
# (ASan's quarantine alone holds 256 MB of freed blocks).
ifeq ($(SANITIZE),1)
  SPEC_LUA  := $(abspath $(HOST))
  SAN_ENV   := DM_SANITIZE=1 ASAN_OPTIONS=detect_leaks=0:abort_on_error=0:halt_on_error=1 \
               UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  CTEST_ENV := ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 \
               UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
else
  SPEC_LUA  := $(LUA)
  SAN_ENV   :=
  CTEST_ENV :=
endif
LUA_ENV = DM_LUA='$(SPEC_LUA)' DM_BLAS='$(BLAS)' LUA_PATH_5_4='$(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;;' \
          LUA_CPATH_5_4='$(abspath $(BUILDDIR))/?.so;;'
SPECS   = $(wildcard tests/*_spec.lua tests/spec/*_spec.lua tests/spec/*/*_spec.lua)

# Every C test prints "name: N passed, M failed" as its last counting line; a test that
# crashes, exits non-zero or prints no count adds a failure.  tests/c/test_*.sh likewise.
# busted prints "busted: N passed, M failed, P pending" through tests/helpers/summary_handler.
# The closing line "N passed, N failed" sums them all (CI reads it).
test-run: all $(CTEST_BIN)
	@pass=0; fail=0; log=$(BUILDDIR)/tests/log; mkdir -p $$log; \
	tally() { \
	    set -- "$$1" "$$2" $$(grep -aoE '[0-9]+ passed, [0-9]+ failed' "$$3" | tail -n 1 | \
	                          sed 's/ passed, / /; s/ failed//'); \
	    if [ $$# -ne 4 ]; then \
	        echo "$$1: FAILED (exit status $$2, no 'N passed, N failed' line)"; \
	        set -- "$$1" "$$2" 0 1; \
	    elif [ "$$2" -ne 0 ] && [ "$$4" -eq 0 ]; then \
	        echo "$$1: FAILED (exit status $$2)"; \
	        set -- "$$1" "$$2" "$$3" 1; \
	    fi; \
	    pass=$$((pass + $$3)); fail=$$((fail + $$4)); \
	}; \
	for t in $(CTEST_BIN); do \
	    name=$${t##*/}; \
	    $(CTEST_ENV) $$t > $$log/$$name.out 2>&1; rc=$$?; \
	    cat $$log/$$name.out; tally $$name $$rc $$log/$$name.out; \
	done; \
	for t in $(wildcard tests/c/test_*.sh); do \
	    name=$${t##*/}; name=$${name%.sh}; \
	    DM_HOST=$(abspath $(HOST)) $(LUA_ENV) $(SAN_ENV) sh $$t > $$log/$$name.out 2>&1; rc=$$?; \
	    cat $$log/$$name.out; tally $$name $$rc $$log/$$name.out; \
	done; \
	if [ -n "$(SPECS)" ]; then \
	    { $(LUA_ENV) $(SAN_ENV) $(SPEC_LUA) $(BUSTED) --ignore-lua --cpath='$(abspath $(BUILDDIR))/?.so' \
	        $(BUSTED_ARGS) 2>&1; echo $$? > $$log/busted.rc; } | tee $$log/busted.out; \
	    tally busted "$$(cat $$log/busted.rc)" $$log/busted.out; \
	else \
	    echo "busted: no spec files (tests/*_spec.lua)"; \
	fi; \
	echo "$$pass passed, $$fail failed"; \
	[ $$fail -eq 0 ]

# Memcheck over the C tests, the tensor and nn specs and the tour: any error or definite leak
# fails.  Slow (a few minutes), so .ci/run calls it once, on the default build.
VALGRIND = valgrind -q --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite
valgrind: all $(CTEST_BIN)
	@pass=0; fail=0; \
	for t in $(CTEST_BIN); do \
	    if $(VALGRIND) $$t > $(BUILDDIR)/tests/vg.out 2>&1; then pass=$$((pass + 1)); \
	    else fail=$$((fail + 1)); echo "valgrind: $$t failed"; cat $(BUILDDIR)/tests/vg.out; fi; \
	done; \
	for s in examples/tour.lua; do \
	    if $(LUA_ENV) $(VALGRIND) $(LUA) $$s > $(BUILDDIR)/tests/vg.out 2>&1; then pass=$$((pass + 1)); \
	    else fail=$$((fail + 1)); echo "valgrind: $$s failed"; cat $(BUILDDIR)/tests/vg.out; fi; \
	done; \
	if $(LUA_ENV) $(VALGRIND) $(LUA) $(BUSTED) --ignore-lua --cpath='$(abspath $(BUILDDIR))/?.so' \
	    tests/tensor_spec.lua tests/nn_spec.lua > $(BUILDDIR)/tests/vg.out 2>&1; then pass=$$((pass + 1)); \
	else fail=$$((fail + 1)); echo "valgrind: specs failed"; cat $(BUILDDIR)/tests/vg.out; fi; \
	echo "valgrind: $$pass passed, $$fail failed"; \
	[ $$fail -eq 0 ]

# The API fuzzer (tests/fuzz/api_fuzz.lua) under the sanitized host for FUZZ_SECONDS, first seed
# FUZZ_SEED (default: today's date, printed), one process per seed; ends with the number of
# calls, then "fuzz-api: N passed, N failed" (seeds without a finding, findings: a crash, a
# hang, Lua's own message from deepmoon's Lua files).  .ci/run runs it as a stage.
FUZZ_SECONDS ?= 150
FUZZ_SEED    ?=
.PHONY: fuzz-api
fuzz-api:
	@tools/deps.sh
	@$(MAKE) --no-print-directory SANITIZE=1 all
	@DM_HOST=$(abspath build-asan/deepmoon-host) tests/fuzz/api_fuzz.sh $(FUZZ_SECONDS) $(FUZZ_SEED)

# The file readers' libFuzzer targets (tests/fuzz/fuzz_safetensors.c, fuzz_pt.c; clang with
# libFuzzer) for FUZZ_SECONDS each, -seed=FUZZ_SEED (default: the date, printed); a crash, leak,
# timeout or out-of-memory fails it.  Last line "fuzz-files: N passed, N failed" (one count per
# target).  .ci/run runs it as a stage for 60 s each.
.PHONY: fuzz-files
fuzz-files:
	@tests/fuzz/fuzz_files.sh $(FUZZ_SECONDS) $(FUZZ_SEED)

# ThreadSanitizer over the tests that run threads: each runs TSAN_ROUNDS times (interleavings
# differ from run to run); a report, a crash or a failed check fails it.  The last line is
# "tsan: N passed, N failed" (one count per run).  Uninstrumented code (Lua, libc) is not
# checked, only what it does to memory deepmoon's code touches.
TSAN_TESTS  := test_threads
TSAN_TESTS  += test_par_threads
TSAN_ROUNDS ?= 3
test-tsan:
	@tools/deps.sh
	@$(MAKE) --no-print-directory TSAN=1 tsan-run

tsan-run: $(TSAN_TESTS:%=$(BUILDDIR)/tests/%)
	@pass=0; fail=0; mkdir -p $(BUILDDIR)/tests/log; \
	for t in $^; do \
	    for r in $$(seq 1 $(TSAN_ROUNDS)); do \
	        out=$(BUILDDIR)/tests/log/$${t##*/}.tsan$$r.out; \
	        TSAN_OPTIONS=halt_on_error=1:exitcode=66:second_deadlock_stack=1 $$t > $$out 2>&1; \
	        rc=$$?; tail -n 1 $$out; \
	        if [ $$rc -eq 0 ] && ! grep -q 'ThreadSanitizer' $$out; then pass=$$((pass + 1)); \
	        else fail=$$((fail + 1)); echo "tsan: $$t (round $$r) failed, exit status $$rc"; \
	            cat $$out; fi; \
	    done; \
	done; \
	echo "tsan: $$pass passed, $$fail failed"; \
	[ $$fail -eq 0 ]

# ---- running things --------------------------------------------------------------------
DEMO := $(firstword $(wildcard examples/article.lua) examples/tour.lua)

# like test, demo works on a fresh machine: install what is missing, then build in a fresh make
demo:
	@tools/deps.sh
	@$(MAKE) --no-print-directory all
	./deepmoon $(DEMO)

# Prints one table and records it in BENCHMARKS.md (bench/run.lua); the sgemm-ceiling helper
# is built here when BLAS is on.  PyTorch runs too where /usr/bin/python3 imports torch.
bench: all
	@mkdir -p $(BUILDDIR)/bench
	@if [ "$(BLAS)" != 0 ]; then \
	    $(CC) -std=c11 -O2 $(BLAS_CFLAGS) bench/sgemm.c -o $(BUILDDIR)/bench/sgemm $(BLAS_LIBS) \
	    || exit 1; fi
	DM_BENCH_SGEMM=$(if $(filter 0,$(BLAS)),,$(abspath $(BUILDDIR))/bench/sgemm) \
	    ./deepmoon bench/run.lua
ifeq ($(MPI),1)
	./deepmoon bench/dist.lua
endif

# (j) data-parallel training over MPI (bench/dist.lua): 1 process against 2 ranks of one
# thread each on the MLP of (b), the cost of one gradient average over shared memory and TCP,
# and the projected scaling; prints a table and records it in BENCHMARKS.md.  Needs MPI;
# `make bench` runs it after the others when built with MPI.
.PHONY: bench-dist
bench-dist: all
	./deepmoon bench/dist.lua

clean:
	rm -rf $(sort build build-asan build-noblas build-asan-noblas build-tsan build-nompi build-noblas-nompi $(BUILDDIR))

# ---- install ---------------------------------------------------------------------------
# make install PREFIX=/usr/local DESTDIR=   installs
#   $(BINDIR)/deepmoon                      the host (the prompt is compiled into it)
#   $(LUA_LDIR)/deepmoon/*.lua              the Lua side      (lua5.4 searches both of these
#   $(LUA_CDIR)/deepmoon/core.so            the C module       under /usr/local by default)
#   $(LIBDIR)/libdeepmoon.{a,so}, $(INCLUDEDIR)/deepmoon.h, $(PCDIR)/deepmoon.pc  (for C)
#   $(LIBDIR)/libdeepmoon_lua.a, $(INCLUDEDIR)/deepmoon_lua.h, $(PCDIR)/deepmoon-lua.pc
#                                           (for C programs hosting Lua)
# INSTALL_DEV=0 leaves out the C libraries, headers and pkg-config file (the rockspec does, so
# luarocks does not deploy libdeepmoon as a Lua module).
PREFIX     ?= /usr/local
DESTDIR    ?=
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
BINDIR     ?= $(PREFIX)/bin
LUA_CDIR   ?= $(LIBDIR)/lua/5.4
LUA_LDIR   ?= $(PREFIX)/share/lua/5.4
PCDIR      ?= $(LIBDIR)/pkgconfig
INSTALL_DEV ?= 1
VERSION     = $(shell sed -n 's/^#define DM_VERSION "\(.*\)"/\1/p' core/deepmoon.h)
LUA_FILES   = $(shell cd lua && find deepmoon -name '*.lua' | sort)

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LUA_CDIR)/deepmoon $(DESTDIR)$(LUA_LDIR)
	install -m 755 $(HOST) $(DESTDIR)$(BINDIR)/deepmoon
	install -m 755 $(MODULE) $(DESTDIR)$(LUA_CDIR)/deepmoon/core.so
	for f in $(LUA_FILES); do \
	    install -D -m 644 lua/$$f $(DESTDIR)$(LUA_LDIR)/$$f || exit 1; done
ifeq ($(INSTALL_DEV),1)
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PCDIR)
	install -m 644 $(LIB_A) $(DESTDIR)$(LIBDIR)/libdeepmoon.a
	install -m 755 $(LIB_SO) $(DESTDIR)$(LIBDIR)/libdeepmoon.so
	install -m 644 $(LIB_LUA_A) $(DESTDIR)$(LIBDIR)/libdeepmoon_lua.a
	install -m 644 core/deepmoon.h bindings/deepmoon_lua.h $(DESTDIR)$(INCLUDEDIR)/
	printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$(LIBDIR)' 'includedir=$(INCLUDEDIR)' '' \
	    'Name: deepmoon' 'Description: deep-learning toolkit core (tensors, autograd)' \
	    'Version: $(VERSION)' 'Cflags: -I$${includedir}' 'Libs: -L$${libdir} -ldeepmoon' \
	    'Libs.private: $(BLAS_LIBS) $(ZLIB_LIBS) -lm' > $(DESTDIR)$(PCDIR)/deepmoon.pc
	printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$(LIBDIR)' 'includedir=$(INCLUDEDIR)' '' \
	    'Name: deepmoon-lua' 'Description: deepmoon for programs hosting Lua 5.4 (luaopen_deepmoon)' \
	    'Version: $(VERSION)' 'Requires: lua5.4' 'Cflags: -I$${includedir}' \
	    'Libs: -L$${libdir} -ldeepmoon_lua $(BLAS_LIBS) $(MPI_LIBS) $(ZLIB_LIBS) -lm' > $(DESTDIR)$(PCDIR)/deepmoon-lua.pc
	@# a real install into a system directory: let the dynamic loader see libdeepmoon.so
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v ldconfig > /dev/null; then \
	    ldconfig; fi
endif

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/deepmoon $(DESTDIR)$(LUA_CDIR)/deepmoon/core.so \
	    $(DESTDIR)$(LIBDIR)/libdeepmoon.a $(DESTDIR)$(LIBDIR)/libdeepmoon.so \
	    $(DESTDIR)$(LIBDIR)/libdeepmoon_lua.a $(DESTDIR)$(INCLUDEDIR)/deepmoon.h \
	    $(DESTDIR)$(INCLUDEDIR)/deepmoon_lua.h $(DESTDIR)$(PCDIR)/deepmoon.pc \
	    $(DESTDIR)$(PCDIR)/deepmoon-lua.pc
	for f in $(LUA_FILES); do rm -f $(DESTDIR)$(LUA_LDIR)/$$f; done
	-find $(DESTDIR)$(LUA_LDIR)/deepmoon $(DESTDIR)$(LUA_CDIR)/deepmoon -depth -type d \
	    -exec rmdir {} \; 2>/dev/null
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v ldconfig > /dev/null; then \
	    ldconfig; fi

# ---- the API reference -----------------------------------------------------------------
# make doc: build/doc/index.html (the Lua API: LDoc over the doc comments, which
# tools/docgen.lua collects through deepmoon.help) and build/doc/c_api.html (the C API, from
# core/deepmoon.h by tools/cdoc.lua).  Installs Debian's lua-ldoc when missing (as root);
# make test does not need it.
.PHONY: doc
doc: $(MODULE)
	@BUILDDIR=$(BUILDDIR) LUA=$(LUA) sh tools/doc.sh
