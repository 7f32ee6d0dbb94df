# intaked — plain make, no autotools. See README.md.

PREFIX	?= /usr/local
SYSCONFDIR ?= /etc
DESTDIR	?=
BUILD	?= build
CC	?= cc

PKGS	 = libuv jansson libsodium libcurl sqlite3 inih libpcre2-8
DEBS	 = build-essential pkg-config libuv1-dev node-llhttp \
	   libjansson-dev libsodium-dev libcurl4-openssl-dev libsqlite3-dev \
	   libinih-dev libpcre2-dev check zlib1g-dev age python3-aiosmtpd sqlite3 \
	   openssl systemd nodejs chromium $(NPM_DEB)
# npm comes with Debian's nodejs as its own package, with NodeSource's
# nodejs inside it: ask for the package only when there is no npm.
NPM_DEB	 = $(if $(shell command -v npm 2>/dev/null),,npm)
BENCH_DEBS = wrk nginx-light
FUZZ_DEBS = clang libclang-rt-14-dev

WARN	 = -Wall -Wextra -Werror -Wshadow -Wconversion -Wno-sign-conversion \
	   -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes
CFLAGS	?= -O2 -g
CPPFLAGS += -D_GNU_SOURCE -D_FORTIFY_SOURCE=2 -Idaemon -I$(LLHTTP_INC) \
	   -DINTAKE_DATADIR='"$(PREFIX)/share/intaked"'
ALL_CFLAGS = -std=gnu11 $(WARN) -fstack-protector-strong -fPIE -MMD -MP \
	   $(shell pkg-config --cflags $(PKGS) 2>/dev/null) $(CFLAGS) $(SAN)
LDLIBS	 = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm
ALL_LDFLAGS = -pie -Wl,-z,relro,-z,now $(LDFLAGS) $(SAN)

# llhttp, the HTTP/1.1 parser, as Debian ships its C sources (node-llhttp).
# Not our code: built with the compiler's default warnings, not ours, and in
# llhttp's strict mode (it refuses bare LF and whitespace before a colon).
LLHTTP_DIR = /usr/share/llhttp
LLHTTP_INC = /usr/share/include/llhttp
LLHTTP_OBJ = $(BUILD)/obj/llhttp/llhttp.o $(BUILD)/obj/llhttp/api.o \
	   $(BUILD)/obj/llhttp/http.o
LLHTTP_CFLAGS = -std=gnu11 -DLLHTTP_STRICT_MODE=1 -fstack-protector-strong \
	   -fPIE $(CFLAGS) $(SAN)

MAINS	 = daemon/intaked.c daemon/intakectl.c
LIBSRC	 = $(filter-out $(MAINS),$(wildcard daemon/*.c))
LIBOBJ	 = $(LIBSRC:daemon/%.c=$(BUILD)/obj/%.o) $(LLHTTP_OBJ)
SUITES	 = $(patsubst tests/check_%.c,$(BUILD)/tests/check_%,$(filter-out tests/check_main.c,$(wildcard tests/check_*.c)))
BENCHES	 = $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(wildcard tests/bench/*.c))
REPLAYS	 = $(patsubst tests/fuzz/%.c,$(BUILD)/replay/%,$(wildcard tests/fuzz/fuzz_*.c))
TESTUTIL = tests/testutil.c tests/testutil.h

.PHONY: all deps npm-deps bench-deps fuzz-deps run check check-unit \
	check-integration check-browser check-fuzz-replay check-asan install \
	clean bench fuzz

all: $(BUILD)/intaked $(BUILD)/intakectl $(BUILD)/inbox/index.html \
	$(BUILD)/public/altcha.js

$(BUILD)/obj/%.o: daemon/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/obj/llhttp/%.o: $(LLHTTP_DIR)/%.c
	@mkdir -p $(@D)
	$(CC) -I$(LLHTTP_INC) $(LLHTTP_CFLAGS) -c -o $@ $<

$(BUILD)/libintake.a: $(LIBOBJ)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/intaked: $(BUILD)/obj/intaked.o $(BUILD)/libintake.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/intakectl: $(BUILD)/obj/intakectl.o $(BUILD)/libintake.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

# The torture suite makes each allocation of the load path fail in turn:
# the allocators are wrapped at link time (tests/check_torture.c).
TORTURE_WRAP = -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc \
	   -Wl,--wrap=reallocarray,--wrap=strdup,--wrap=strndup \
	   -Wl,--wrap=realpath,--wrap=fopen,--wrap=asprintf
LINK_torture = $(TORTURE_WRAP)

# The npm packages of templates/package.json, as its lock file pins them:
# the inbox's age-encryption, the public pages' ALTCHA widget, and the
# tools of the build and the tests (altcha-lib for the ALTCHA interop).
# Playwright drives Debian's chromium: it must never fetch a browser.
NPM_STAMP = templates/node_modules/.package-lock.json
$(NPM_STAMP): templates/package.json templates/package-lock.json
	cd templates && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --ignore-scripts --no-audit --no-fund
	@touch $@

npm-deps: $(NPM_STAMP)

# The staff inbox as the daemon serves it: templates/inbox, and
# age-encryption bundled into vendor/age.js (see templates/build-vendor.mjs
# for why a bundle); nothing else of node_modules.
INBOX_SRC = $(wildcard templates/inbox/*)
$(BUILD)/inbox/index.html: $(INBOX_SRC) templates/build-vendor.mjs $(NPM_STAMP)
	@rm -rf $(BUILD)/inbox && mkdir -p $(BUILD)/inbox
	cp -R templates/inbox/. $(BUILD)/inbox/
	node templates/build-vendor.mjs $(BUILD)/inbox/vendor

# The ALTCHA widget, served from our own origin to the public pages: the
# package's browser build, which carries its styles and its SHA-256
# workers inside (no other file to serve), and the package's licence.
ALTCHA_PKG = templates/node_modules/altcha
$(BUILD)/public/altcha.js: $(NPM_STAMP)
	@mkdir -p $(@D)
	cp $(ALTCHA_PKG)/dist/main/altcha.min.js $@
	{ echo "altcha.js is $(ALTCHA_PKG:templates/node_modules/%=%)" \
	    "$$(node -p 'require("./$(ALTCHA_PKG)/package.json").version')" \
	    "(dist/main/altcha.min.js), MIT; it bundles the Svelte runtime" \
	    "(MIT)."; echo; cat $(ALTCHA_PKG)/LICENSE.txt; } \
	    > $(BUILD)/public/altcha.LICENSE.txt

# One Check binary per suite: tests/check_NAME.c defines NAME_suite().
$(BUILD)/tests/check_%: tests/check_%.c tests/check_main.c $(TESTUTIL) \
	    $(BUILD)/libintake.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -Wno-missing-prototypes \
	    -DSUITE_FN=$*_suite -o $@ tests/check_main.c $< tests/testutil.c \
	    $(BUILD)/libintake.a $(ALL_LDFLAGS) $(LINK_$*) $(LDLIBS) \
	    $(shell pkg-config --libs check) -lz

# Each fuzz target linked with a plain main that replays its committed
# corpus (tests/fuzz/corpus/NAME/): no libFuzzer, this build's sanitizers.
$(BUILD)/replay/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c $(TESTUTIL) \
	    $(BUILD)/libintake.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -Itests $(ALL_CFLAGS) -o $@ $< tests/fuzz/replay.c \
	    tests/testutil.c $(BUILD)/libintake.a $(ALL_LDFLAGS) $(LDLIBS)

# Programs the integration tests drive: tests/integration/NAME.c, linked
# with the library (altcha_tool puts our ALTCHA against altcha-lib).
HELPERS	 = $(patsubst tests/integration/%.c,$(BUILD)/tests/%,$(wildcard tests/integration/*.c))
$(BUILD)/tests/%: tests/integration/%.c $(BUILD)/libintake.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libintake.a \
	    $(ALL_LDFLAGS) $(LDLIBS)

$(BUILD)/bench/%: tests/bench/%.c $(TESTUTIL) $(BUILD)/libintake.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -Itests $(ALL_CFLAGS) -Wno-missing-prototypes -o $@ \
	    $< tests/testutil.c $(BUILD)/libintake.a $(ALL_LDFLAGS) $(LDLIBS)

deps:
	@sh tests/deps.sh $(DEBS)
	@$(MAKE) --no-print-directory npm-deps

bench-deps:
	@sh tests/deps.sh $(BENCH_DEBS)

fuzz-deps:
	@sh tests/deps.sh $(FUZZ_DEBS)

# The embedded defaults for trying it out: everything under ./var.
run: deps all
	@mkdir -p var && chmod 700 var
	@test -f var/dev.key || $(BUILD)/intakectl keygen -o var/dev.key > var/dev.recipients
	@echo "intaked: the form  http://127.0.0.1:8080/forms/consultation"
	@echo "         the inbox http://127.0.0.1:8081/inbox/  (log in with the key file $(CURDIR)/var/dev.key)"
	@echo "         mail in ./var/mail, the database ./var/intake.db"
	exec $(BUILD)/intaked -c config/dev.conf

check: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory check-unit check-integration
	@$(MAKE) --no-print-directory check-browser
	@sh tests/summary.sh check $(BUILD) unit integration browser

check-unit: $(SUITES) all check-fuzz-replay
	@INTAKE_RESULTS=$(BUILD)/unit.result sh tests/run-unit.sh $(SUITES)

# The shipped files seed their targets where they are, never out of date.
REPLAY_MORE_fuzz_form = config/forms
REPLAY_MORE_fuzz_template = templates

check-fuzz-replay: $(REPLAYS)
	@$(foreach t,$(REPLAYS),$(t) tests/fuzz/corpus/$(notdir $(t)) \
	    $(REPLAY_MORE_$(notdir $(t))) &&) true

check-integration: all $(HELPERS)
	@INTAKE_BUILD=$(BUILD) INTAKE_RESULTS=$(BUILD)/integration.result \
	    /usr/bin/python3 tests/integration/run.py

# The inbox page in Debian's chromium, driven by playwright-core, against
# the built intaked.
check-browser: all
	@INTAKE_BUILD=$(BUILD) INTAKE_RESULTS=$(BUILD)/browser.result \
	    node tests/browser/run.mjs

check-asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan CFLAGS="-O1 -g" \
	    SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	    check-unit check-integration
	@sh tests/summary.sh check-asan build-asan

bench: deps bench-deps all $(BENCHES)
	@sh tests/bench/run.sh $(BUILD)

fuzz: deps fuzz-deps
	@sh tests/fuzz/run.sh $${FUZZ_SECONDS:-60}

install: all
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin \
	    $(DESTDIR)$(SYSCONFDIR)/intaked/forms \
	    $(DESTDIR)$(PREFIX)/share/intaked/templates \
	    $(DESTDIR)$(PREFIX)/share/intaked/inbox \
	    $(DESTDIR)$(PREFIX)/lib/systemd/system
	install -m 755 $(BUILD)/intaked $(DESTDIR)$(PREFIX)/sbin/intaked
	install -m 755 $(BUILD)/intakectl $(DESTDIR)$(PREFIX)/bin/intakectl
	install -m 644 $(wildcard templates/*.txt templates/*.html) \
	    $(DESTDIR)$(PREFIX)/share/intaked/templates/
	cp -R $(BUILD)/inbox/. $(DESTDIR)$(PREFIX)/share/intaked/inbox/
	install -m 644 config/forms/*.schema.json $(DESTDIR)$(SYSCONFDIR)/intaked/forms/
	test -f $(DESTDIR)$(SYSCONFDIR)/intaked/intaked.conf || \
	    { sed 's|^# templates = .*|templates = $(PREFIX)/share/intaked/templates|; s|^# root = .*|root = $(PREFIX)/share/intaked/inbox|' \
	    config/intaked.conf > $(DESTDIR)$(SYSCONFDIR)/intaked/intaked.conf && \
	    chmod 644 $(DESTDIR)$(SYSCONFDIR)/intaked/intaked.conf; }
	sed 's|@PREFIX@|$(PREFIX)|g; s|@SYSCONFDIR@|$(SYSCONFDIR)|g' systemd/intaked.service \
	    > $(DESTDIR)$(PREFIX)/lib/systemd/system/intaked.service
	install -m 644 systemd/intaked.socket systemd/intaked-admin.socket \
	    $(DESTDIR)$(PREFIX)/lib/systemd/system/

clean:
	rm -rf build build-asan build-fuzz

-include $(wildcard $(BUILD)/obj/*.d $(BUILD)/tests/*.d)
