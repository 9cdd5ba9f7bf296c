# portseal - see README.md. `make deps` once, then `make`, `make test`.
SHELL := /bin/bash
CC ?= cc
BUILD ?= build
PKGS = openssl libnghttp2 jansson libsodium sqlite3 libxml-2.0 libcurl
PKGS += libarchive zlib
override CPPFLAGS += -I/usr/include/p11-kit-1 -DOPENSSL_API_COMPAT=0x10101000L -D_GNU_SOURCE
CFLAGS ?= -O2 -g
override CFLAGS += -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-missing-field-initializers \
          -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIE \
          $(shell pkg-config --cflags $(PKGS))
override LDFLAGS += -pie -Wl,-z,relro,-z,now
override LDLIBS += $(shell pkg-config --libs $(PKGS)) -ldl -lpthread

DEB_PACKAGES = build-essential pkg-config libssl-dev libnghttp2-dev libjansson-dev libsodium-dev \
	libsqlite3-dev libxml2-dev libxml2-utils libarchive-dev p11-kit libp11-kit-dev softhsm2 opensc \
	nghttp2-client curl xmlsec1 python3 python3-h2 clang libclang-rt-14-dev clang-format procps \
	iproute2 sqlite3 time python3-jwcrypto zlib1g-dev unzip libcurl4-openssl-dev
# the status page is compiled in with xxd; tests/integration/ui.sh loads it in Chromium (client
# certificate from an NSS database made with certutil/pk12util) and checks metrics.sh's output
# with the Prometheus client's parser
DEB_PACKAGES += xxd chromium libnss3-tools python3-prometheus-client

MAINS = appliance/portseald.c tools/portseal-keytool.c
MAINS += tools/portseal-verify.c
LIB_SRC = $(filter-out $(MAINS), $(wildcard protocol/*.c hsm/*.c certs/*.c appliance/*.c))
LIB_OBJ = $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_SRC = $(wildcard tests/unit/*/*.c)
UNIT_BIN = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/unit/%)
BENCH_BIN = $(BUILD)/bench/h2sign-load $(BUILD)/bench/p11-sign-loop $(BUILD)/bench/ledger-bench
BENCH_BIN += $(BUILD)/bench/c14n-bench
PROGS = $(BUILD)/portseald $(BUILD)/portseal-keytool
PROGS += $(BUILD)/portseal-verify

.PHONY: all deps test unit asan fuzz format format-check bench demo clean attack
all: $(PROGS) $(UNIT_BIN) $(BENCH_BIN)

deps:
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(DEB_PACKAGES)

$(BUILD)/obj/%.o: %.c $(wildcard */*.h)
	@mkdir -p $(dir $@)
	@echo "  CC $<"
	@$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# The status page (appliance/api_ui.c): the files of appliance/ui/ as C arrays (xxd -i).
UI_FILES = appliance/ui/index.html appliance/ui/app.js appliance/ui/style.css
$(BUILD)/gen/ui_files.h: $(UI_FILES)
	@mkdir -p $(dir $@)
	@echo "  GEN $@"
	@{ echo "/* generated from appliance/ui/ by the Makefile (xxd -i): do not edit */"; \
	  for f in $(notdir $(UI_FILES)); do (cd appliance/ui && xxd -i $$f) | \
	    sed 's/^unsigned/static const unsigned/'; done; } > $@.tmp && mv $@.tmp $@
$(BUILD)/obj/appliance/api_ui.o: $(BUILD)/gen/ui_files.h
$(BUILD)/obj/appliance/api_ui.o: override CPPFLAGS += -I$(BUILD)/gen

$(BUILD)/libportseal.a: $(LIB_OBJ)
	ar rcs $@ $^

$(BUILD)/portseald: $(BUILD)/obj/appliance/portseald.o $(BUILD)/libportseal.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/portseal-keytool: $(BUILD)/obj/tools/portseal-keytool.o $(BUILD)/libportseal.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/portseal-verify: $(BUILD)/obj/tools/portseal-verify.o $(BUILD)/libportseal.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/unit/%: tests/unit/%.c $(wildcard tests/unit/*.h tests/unit/*/*.h) $(BUILD)/libportseal.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libportseal.a $(LDLIBS)

$(BUILD)/bench/ledger-bench: tests/bench/ledger-bench.c $(BUILD)/libportseal.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bench/c14n-bench: tests/bench/c14n-bench.c $(BUILD)/libportseal.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bench/%: tests/bench/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LDLIBS)

# The README's test command. Prints "N passed, N failed" last.
test: all
	tests/run

unit: $(UNIT_BIN)
	tests/run unit

# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer, in its own build folder.
asan:
	$(MAKE) BUILD=build-asan CC=clang \
	  CFLAGS="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer" \
	  LDFLAGS="-fsanitize=address,undefined" all
	PORTSEAL_BUILD=build-asan ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1 tests/run

# libFuzzer targets (tests/fuzz/NAME_fuzz.c, seeds in tests/fuzz/corpus/NAME/, optional
# tests/fuzz/NAME.dict), each run for FUZZ_SECONDS on a working copy of its corpus.
FUZZ_SECONDS ?= 60
FUZZ_SRC = $(wildcard tests/fuzz/*_fuzz.c)
FUZZ_FLAGS = -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
fuzz:
	$(MAKE) BUILD=build-fuzz CC=clang CFLAGS="$(FUZZ_FLAGS) -fsanitize=fuzzer-no-link" \
	  LDFLAGS="-fsanitize=address,undefined" build-fuzz/libportseal.a
	@mkdir -p build-fuzz/fuzz
	@set -e; for f in $(FUZZ_SRC); do n=$$(basename $$f .c); \
	  echo "  FUZZ build $$n"; \
	  clang $(FUZZ_FLAGS) -fsanitize=fuzzer $(CPPFLAGS) -I. $(shell pkg-config --cflags $(PKGS)) \
	    -o build-fuzz/fuzz/$$n $$f build-fuzz/libportseal.a $(LDLIBS); done
	@set -e; for f in $(FUZZ_SRC); do n=$$(basename $$f .c); c=$${n%_fuzz}; \
	  mkdir -p build-fuzz/corpus/$$c; cp -r tests/fuzz/corpus/$$c/. build-fuzz/corpus/$$c/ 2>/dev/null || true; \
	  d=""; [ -f tests/fuzz/$$c.dict ] && d="-dict=tests/fuzz/$$c.dict"; \
	  echo "  FUZZ run $$n for $(FUZZ_SECONDS) s"; \
	  build-fuzz/fuzz/$$n -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $$d \
	    -artifact_prefix=build-fuzz/ build-fuzz/corpus/$$c 2>&1 | tail -n 3; \
	  test $${PIPESTATUS[0]} -eq 0; done

FORMAT_SRC = $(wildcard protocol/*.[ch] hsm/*.[ch] certs/*.[ch] appliance/*.[ch] tools/*.c \
	tests/unit/*.h tests/unit/*/*.h tests/unit/*/*.c tests/fuzz/*.c)
format:
	clang-format -i $(FORMAT_SRC)
format-check:
	clang-format --dry-run --Werror $(FORMAT_SRC)

bench: all
	tests/bench/run

# The attack suite (tests/attack/, docs/hardening.md) with ATTACK_SECONDS per attack and an
# honest client that signs as fast as it can (ATTACK_RATE), so that the "# ..." lines show what
# each attack costs in signing throughput. The default suite runs a short version.
ATTACK_SECONDS ?= 30
ATTACK_RATE ?= 1000
attack: all
	@mkdir -p $(BUILD)
	ATTACK_SECONDS=$(ATTACK_SECONDS) ATTACK_RATE=$(ATTACK_RATE) tests/run tests/integration/attack.sh \
	  | tee $(BUILD)/attack.out; test $${PIPESTATUS[0]} -eq 0
	@grep -h '^# ' $$(awk '/^logs:/ { print $$2 }' $(BUILD)/attack.out)/attack.sh.log

demo: all
	tools/demo-tour.sh $(or $(DIR),/tmp/portseal-demo)

clean:
	rm -rf build build-asan build-fuzz

# `make install [DESTDIR=/staging] [PREFIX=/usr/local]` (docs/install.md): the daemon in sbin,
# portseal-keytool, portseal-verify and the portseal CLI in bin, the example configuration in
# SYSCONFDIR/portseal (never an active portseald.conf), the docs and openapi.yaml in DOCDIR, and
# the systemd unit. tools/portseal-demo is a development tool (test PKI, SoftHSM token, paths
# into this tree) and is not installed. `make uninstall` removes what install put there.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
DOCDIR ?= $(PREFIX)/share/doc/portseal
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
UNITDIR ?= $(PREFIX)/lib/systemd/system
INSTALL_DOCS = README.md $(wildcard docs/*.md) protocol/openapi.yaml portseald.conf.example
DEB_PACKAGES += python3-yaml

.PHONY: install uninstall
install: $(PROGS)
	install -d -m 0755 $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(DOCDIR) $(DESTDIR)$(UNITDIR)
	install -d -m 0700 $(DESTDIR)$(SYSCONFDIR)/portseal
	install -m 0755 $(BUILD)/portseald $(DESTDIR)$(SBINDIR)/portseald
	install -m 0755 $(BUILD)/portseal-keytool $(BUILD)/portseal-verify tools/portseal $(DESTDIR)$(BINDIR)/
	install -m 0644 $(INSTALL_DOCS) $(DESTDIR)$(DOCDIR)/
	install -m 0600 portseald.conf.example $(DESTDIR)$(SYSCONFDIR)/portseal/portseald.conf.example
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' -e 's|@DOCDIR@|$(DOCDIR)|g' \
	  systemd/portseald.service.in > $(DESTDIR)$(UNITDIR)/portseald.service.tmp
	chmod 0644 $(DESTDIR)$(UNITDIR)/portseald.service.tmp
	mv $(DESTDIR)$(UNITDIR)/portseald.service.tmp $(DESTDIR)$(UNITDIR)/portseald.service

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/portseald $(DESTDIR)$(BINDIR)/portseal-keytool \
	  $(DESTDIR)$(BINDIR)/portseal-verify $(DESTDIR)$(BINDIR)/portseal \
	  $(DESTDIR)$(UNITDIR)/portseald.service $(DESTDIR)$(SYSCONFDIR)/portseal/portseald.conf.example
	rm -rf $(DESTDIR)$(DOCDIR)

# the man pages of the portseal CLI and the daemon (issue 8)
MANDIR ?= $(PREFIX)/share/man
install: install-man
uninstall: uninstall-man
.PHONY: install-man uninstall-man
install-man:
	install -d -m 0755 $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man8
	install -m 0644 docs/man/portseal.1 $(DESTDIR)$(MANDIR)/man1/portseal.1
	install -m 0644 docs/man/portseald.8 $(DESTDIR)$(MANDIR)/man8/portseald.8
uninstall-man:
	rm -f $(DESTDIR)$(MANDIR)/man1/portseal.1 $(DESTDIR)$(MANDIR)/man8/portseald.8
