# portseal - see README.md. `make deps` once, then `make`, `make test`.
CC ?= cc
BUILD ?= build
PKGS = openssl libnghttp2 jansson libsodium sqlite3 libxml-2.0
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
	iproute2 sqlite3 time

MAINS = appliance/portseald.c tools/portseal-keytool.c
LIB_SRC = $(filter-out $(MAINS), $(wildcard protocol/*.c hsm/*.c certs/*.c appliance/*.c))
LIB_OBJ = $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_SRC = $(wildcard tests/unit/*/*.c)
UNIT_BIN = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/unit/%)
BENCH_BIN = $(BUILD)/bench/h2sign-load $(BUILD)/bench/p11-sign-loop
PROGS = $(BUILD)/portseald $(BUILD)/portseal-keytool

.PHONY: all deps test unit asan format format-check bench demo clean
all: $(PROGS) $(UNIT_BIN) $(BENCH_BIN)

deps:
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(DEB_PACKAGES)

$(BUILD)/obj/%.o: %.c $(wildcard */*.h)
	@mkdir -p $(dir $@)
	@echo "  CC $<"
	@$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/libportseal.a: $(LIB_OBJ)
	ar rcs $@ $^

$(BUILD)/portseald: $(BUILD)/obj/appliance/portseald.o $(BUILD)/libportseal.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/portseal-keytool: $(BUILD)/obj/tools/portseal-keytool.o $(BUILD)/libportseal.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/unit/%: tests/unit/%.c $(wildcard tests/unit/*.h tests/unit/*/*.h) $(BUILD)/libportseal.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libportseal.a $(LDLIBS)

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

FORMAT_SRC = $(wildcard protocol/*.[ch] hsm/*.[ch] certs/*.[ch] appliance/*.[ch] tools/*.c \
	tests/unit/*.h tests/unit/*/*.h tests/unit/*/*.c)
format:
	clang-format -i $(FORMAT_SRC)
format-check:
	clang-format --dry-run --Werror $(FORMAT_SRC)

bench: all
	tests/bench/run

demo: all
	tools/demo-tour.sh $(or $(DIR),/tmp/portseal-demo)

clean:
	rm -rf build build-asan
