# certmint build. `make` builds build/certmint; `make check` runs every test.
# Sources are found by wildcard: a new module is a new file, not a Makefile edit.
CC      ?= cc
BUILD   ?= build
PKG_LIBS = libcrypto libssl sqlite3 libevent libevent_openssl libevent_pthreads jansson
# Loaded on first use with dlopen (src/util/dynlib.h): headers only, never
# linked, so that a command that does not need them does not pay for
# mapping them and their ~40 dependencies at every start.
PKG_DLOPEN = libcurl
HAVE_GMIME := $(shell pkg-config --exists gmime-3.0 && echo 1)
HAVE_LDAP  := $(shell test -f /usr/include/ldap.h && echo 1)
HAVE_PQ    := $(shell pkg-config --exists libpq && echo 1)
CPPFLAGS += -Isrc -D_GNU_SOURCE -DOPENSSL_API_COMPAT=30000 -DOPENSSL_NO_DEPRECATED
CFLAGS  ?= -O2 -g
# `override`: these stay when CFLAGS is given on the command line (make asan).
override CFLAGS += -std=c17 -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral \
           -Wmissing-prototypes -Wstrict-prototypes -fno-strict-aliasing $(SANFLAGS)
ifeq ($(findstring clang,$(CC)),)
override CFLAGS += -Wno-format-truncation
endif
LDLIBS  += $(shell pkg-config --libs $(PKG_LIBS)) -lgfshare -lpthread
CPPFLAGS += $(shell pkg-config --cflags $(PKG_LIBS) $(PKG_DLOPEN))
# PKCS#11 header only (src/key/pkcs11.c loads the module with dlopen).
CPPFLAGS += $(shell pkg-config --cflags p11-kit-1)
ifeq ($(HAVE_GMIME),1)
CPPFLAGS += $(shell pkg-config --cflags gmime-3.0) -DCM_HAVE_GMIME
endif
ifeq ($(HAVE_PQ),1)
CPPFLAGS += $(shell pkg-config --cflags libpq) -DCM_HAVE_PQ
endif
ifeq ($(HAVE_LDAP),1)
CPPFLAGS += -DCM_HAVE_LDAP -DLDAP_DEPRECATED=0
endif
override LDFLAGS += $(SANFLAGS)
# jemalloc as the allocator of the normal build (libjemalloc-dev; JEMALLOC=0
# leaves it out): OpenSSL makes hundreds of small allocations per
# certificate, freed in the other thread of a batch, and glibc's malloc
# cost more instructions for them and more CPU per certificate in the
# alternating runs (docs/architecture.md, "Memory allocator"). Never
# with a sanitizer (SANFLAGS), which brings its own allocator; the fuzz
# targets' link leaves it out too.
JEMALLOC ?= $(shell pkg-config --exists jemalloc && echo 1)
ifeq ($(JEMALLOC)$(SANFLAGS),1)
# Its position-independent archive where there is one (Debian's
# libjemalloc-dev): the shared libjemalloc.so.2 pulls in libstdc++ (for
# its operator new), whose 5,000 relocations every process paid at start
# (~5 ms of CPU here, bench/README.md, session 12). Linked into the
# executable, malloc and the rest of its family are still the ones every
# library calls (the executable comes first in symbol lookup).
JEMALLOC_PIC := $(wildcard $(shell pkg-config --variable=libdir jemalloc)/libjemalloc_pic.a)
ifneq ($(JEMALLOC_PIC),)
ALLOC_LIBS := $(JEMALLOC_PIC) -lm
else
ALLOC_LIBS := $(shell pkg-config --libs jemalloc)
endif
# The binary's jemalloc options (src/cli/main.c, malloc_conf).
JEMALLOC_CONF ?= thp:always,metadata_thp:always
$(BUILD)/src/cli/main.o: CPPFLAGS += -DCM_JEMALLOC_CONF='"$(JEMALLOC_CONF)"'
endif

LIB_SRC  := $(filter-out src/cli/%,$(wildcard src/*/*.c))
CLI_SRC  := $(wildcard src/cli/*.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
# Test drivers (tests/tools/NAME.c -> $(BUILD)/tools/NAME) that e2e scripts run.
TOOL_SRC := $(wildcard tests/tools/*.c)
TOOL_BIN := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tools/%)
# Benchmark programs linked against the library (bench/NAME.c ->
# $(BUILD)/bench/NAME), run by the bench/*.sh scripts. Built with the
# tools, so that `make check` stops when an API they use moves (crl_bench
# once stopped compiling unseen); tests/e2e/crl_bench.sh runs the CRL ones
# at a tiny size.
BENCH_BIN := $(BUILD)/bench/crl_bench $(BUILD)/bench/crl_db_bench $(BUILD)/bench/recover_mails

.PHONY: all check check-softhsm check-pg unit tools e2e clean deps asan tsan fuzz bench bench-all format dist install uninstall
all: $(BUILD)/certmint

# Installation: `make install` (PREFIX=/usr/local by default; DESTDIR for
# packaging). The man pages and the bash completion are generated from the
# binary's help texts, the systemd unit gets the binary's path.
PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
MANDIR      ?= $(PREFIX)/share/man
DOCDIR      ?= $(PREFIX)/share/doc/certmint
UNITDIR     ?= $(PREFIX)/lib/systemd/system
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
INSTALL     ?= install
DIST := $(BUILD)/dist/certmint.1 $(BUILD)/dist/certmint.conf.5 $(BUILD)/dist/certmint.bash \
        $(BUILD)/dist/certmint.service
DOCS := README.md $(wildcard docs/*.md)

dist: $(DIST)

$(BUILD)/dist/certmint.1: $(BUILD)/certmint docs/man/certmint.1.in scripts/gen-man.sh
	@mkdir -p $(@D)
	@echo "  GEN     $@"
	@sh scripts/gen-man.sh $(BUILD)/certmint certmint.1 docs/man/certmint.1.in $(DOCDIR) >$@.tmp && mv $@.tmp $@

$(BUILD)/dist/certmint.conf.5: $(BUILD)/certmint scripts/gen-man.sh
	@mkdir -p $(@D)
	@echo "  GEN     $@"
	@sh scripts/gen-man.sh $(BUILD)/certmint certmint.conf.5 $(DOCDIR) >$@.tmp && mv $@.tmp $@

$(BUILD)/dist/certmint.bash: $(BUILD)/certmint scripts/gen-completion.sh
	@mkdir -p $(@D)
	@echo "  GEN     $@"
	@sh scripts/gen-completion.sh $(BUILD)/certmint >$@.tmp && mv $@.tmp $@

# The unit names the installed binary: rebuilt when BINDIR changes.
$(BUILD)/dist/certmint.service: dist/certmint.service.in FORCE
	@mkdir -p $(@D)
	@sed 's|@BINDIR@|$(BINDIR)|g' dist/certmint.service.in >$@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else echo "  GEN     $@"; mv $@.tmp $@; fi

install: $(BUILD)/certmint $(DIST)
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
	    $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(UNITDIR) $(DESTDIR)$(BASHCOMPDIR)
	$(INSTALL) -m 755 $(BUILD)/certmint $(DESTDIR)$(BINDIR)/certmint
	$(INSTALL) -m 644 $(BUILD)/dist/certmint.1 $(DESTDIR)$(MANDIR)/man1/certmint.1
	$(INSTALL) -m 644 $(BUILD)/dist/certmint.conf.5 $(DESTDIR)$(MANDIR)/man5/certmint.conf.5
	$(INSTALL) -m 644 $(DOCS) $(DESTDIR)$(DOCDIR)/
	$(INSTALL) -m 644 dist/certmint.env $(DESTDIR)$(DOCDIR)/examples/certmint.env
	$(INSTALL) -m 644 $(BUILD)/dist/certmint.service $(DESTDIR)$(UNITDIR)/certmint.service
	$(INSTALL) -m 644 $(BUILD)/dist/certmint.bash $(DESTDIR)$(BASHCOMPDIR)/certmint

# Removes exactly what install put there (never a CA home or /etc/certmint).
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/certmint $(DESTDIR)$(MANDIR)/man1/certmint.1 \
	    $(DESTDIR)$(MANDIR)/man5/certmint.conf.5 $(DESTDIR)$(UNITDIR)/certmint.service \
	    $(DESTDIR)$(BASHCOMPDIR)/certmint $(DESTDIR)$(DOCDIR)/examples/certmint.env \
	    $(addprefix $(DESTDIR)$(DOCDIR)/,$(notdir $(DOCS)))
	-rmdir $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(DOCDIR) 2>/dev/null

FORCE:

$(BUILD)/libcertmint.a: $(LIB_OBJ)
	@mkdir -p $(@D)
	@echo "  AR      $@"
	@rm -f $@
	@$(AR) rcs $@ $^

$(BUILD)/certmint: $(CLI_OBJ) $(BUILD)/libcertmint.a
	@echo "  LINK    $@"
	@$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libcertmint.a $(LDLIBS) $(ALLOC_LIBS)

# The REST API's OpenAPI document is built into api.o (.incbin).
$(BUILD)/src/http/api.o: src/http/openapi.json

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC      $<"
	@$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(BUILD)/libcertmint.a
	@mkdir -p $(@D)
	@echo "  LINK    $@"
	@$(CC) $(CPPFLAGS) $(CFLAGS) -Itests/unit -o $@ $< $(filter %.o,$^) $(BUILD)/libcertmint.a $(LDFLAGS) $(LDLIBS) $(ALLOC_LIBS)

# Shared unit-test fixtures with code of their own (tests/unit/fixture_*.c,
# each with its header), compiled once and linked into the tests named here.
$(BUILD)/tests/test_ca_threads $(BUILD)/tests/test_ocsp_pool $(BUILD)/tests/test_issue_build: $(BUILD)/tests/unit/fixture_home.o
$(BUILD)/tests/unit/fixture_home.o: $(wildcard tests/unit/*.h)
$(BUILD)/tests/test_key_pkcs11 $(BUILD)/tests/test_key_decrypt: $(BUILD)/tests/unit/fixture_token.o
$(BUILD)/tests/unit/fixture_token.o: $(wildcard tests/unit/*.h)

unit: $(UNIT_BIN)

$(BUILD)/tools/%: tests/tools/%.c $(BUILD)/libcertmint.a
	@mkdir -p $(@D)
	@echo "  LINK    $@"
	@$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(BUILD)/libcertmint.a $(LDFLAGS) $(LDLIBS) $(ALLOC_LIBS)

tools: $(TOOL_BIN) $(BENCH_BIN)

# Linked without jemalloc, as they always were: their figures (time, peak
# RSS) are comparable with the earlier ones in docs/crl.md.
$(BUILD)/bench/%: bench/%.c $(BUILD)/libcertmint.a
	@mkdir -p $(@D)
	@echo "  LINK    $@"
	@$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(BUILD)/libcertmint.a $(LDFLAGS) $(LDLIBS)
$(BUILD)/bench/recover_mails: tests/unit/mailgen.h

# The whole suite: unit tests and end-to-end tests against the real binary and
# real servers. Ends with "N passed, N failed".
# The suite on SQLite and, in parallel, its e2e scripts on PostgreSQL
# (tests/run-both.sh; CERTMINT_CHECK_PG=0 leaves the second pass out).
check: all unit tools
	@BUILD=$(BUILD) sh tests/run-both.sh

# The same end-to-end suite with every CA key in a SoftHSM2 token (PKCS#11)
# instead of an encrypted file (tests/e2e/lib.sh, CERTMINT_TEST_KEYSTORE).
check-softhsm: all unit tools
	@CERTMINT_TEST_KEYSTORE=softhsm CERTMINT_STATIC_CHECKS=0 BUILD=$(BUILD) sh tests/run.sh

# The same end-to-end suite with every CA's database in PostgreSQL, on a
# private server that tests/run.sh starts (scripts/pg.sh, docs/postgresql.md).
check-pg: all unit tools
	@CERTMINT_TEST_DB=postgresql BUILD=$(BUILD) sh tests/run.sh

# The same suite built with AddressSanitizer and UndefinedBehaviorSanitizer,
# on SQLite (the unit tests' db contract test runs the PostgreSQL backend's
# code under the sanitizers; the e2e pass on PostgreSQL is make check's).
asan:
	CERTMINT_CHECK_PG=0 CERTMINT_STATIC_CHECKS=0 $(MAKE) BUILD=build-asan SANFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" CFLAGS="-O1 -g" check

# ThreadSanitizer over the code that runs threads: the unit test of
# recover-orphans' workers, of the mbox scan's and the threads sharing one CA
# handle (TSAN_TESTS names more unit tests), then the
# suite's e2e scripts that CERTMINT_TESTS selects (none unless set), with a
# TSan build of the binary. OpenSSL and GLib are not instrumented: TSan sees
# their locks, not their atomics; G_SLICE=always-malloc makes GLib's slice
# allocator (which GMime uses in the mbox scan's workers) hand out memory
# through malloc, which TSan sees, instead of its per-thread magazines, and
# tests/tsan.supp leaves out races reported inside GLib and GMime (their
# futex-based locks are invisible to TSan).
TSAN_TESTS ?= test_recover_prep test_recover_spool test_mailscan test_ca_threads
tsan:
	$(MAKE) BUILD=build-tsan SANFLAGS="-fsanitize=thread -fno-omit-frame-pointer" CFLAGS="-O1 -g" build-tsan/certmint $(TSAN_TESTS:%=build-tsan/tests/%)
	@for t in $(TSAN_TESTS); do G_SLICE=always-malloc TSAN_OPTIONS="halt_on_error=1 exitcode=66 suppressions=$(CURDIR)/tests/tsan.supp" build-tsan/tests/$$t || exit 1; done
	@if [ -n "$$CERTMINT_TESTS" ]; then $(MAKE) BUILD=build-tsan SANFLAGS="-fsanitize=thread -fno-omit-frame-pointer" CFLAGS="-O1 -g" tools && G_SLICE=always-malloc TSAN_OPTIONS="halt_on_error=1 exitcode=66 suppressions=$(CURDIR)/tests/tsan.supp" BUILD=build-tsan sh tests/run.sh; fi

# libFuzzer targets (clang), one per parser.
FUZZ_SRC := $(wildcard fuzz/fuzz_*.c)
fuzz:
	$(MAKE) BUILD=build-fuzz CC=clang SANFLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all" CFLAGS="-O1 -g" $(BUILD:%=build-fuzz)/libcertmint.a
	@mkdir -p build-fuzz/fuzz
	@for f in $(FUZZ_SRC); do n=$$(basename $$f .c); \
	  echo "clang $$f"; \
	  clang $(CPPFLAGS) -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -o build-fuzz/fuzz/$$n $$f build-fuzz/libcertmint.a $(LDLIBS) || exit 1; done

deps:
	sh scripts/install-deps.sh

bench: all
	sh bench/run.sh

bench-all: all
	sh bench/all.sh

format:
	clang-format -i $(wildcard src/*/*.c src/*/*.h tests/unit/*.c fuzz/*.c)

clean:
	rm -rf build build-asan build-fuzz

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
