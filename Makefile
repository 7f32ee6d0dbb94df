# intaked — plain make, no autotools. See README.md.

PREFIX	?= /usr/local
SYSCONFDIR ?= /etc
DESTDIR	?=
BUILD	?= build
CC	?= cc

PKGS	 = libuv jansson libsodium sqlite3 inih libpcre2-8 libcrypto
# Headers only: opened at run time by what needs them (dlib.h).
DLPKGS	 = libcurl libpq
DEBS	 = build-essential pkg-config libuv1-dev node-llhttp \
	   libjansson-dev libsodium-dev libcurl4-openssl-dev libsqlite3-dev \
	   libinih-dev libpcre2-dev libssl-dev libpq-dev postgresql check zlib1g-dev age python3-aiosmtpd sqlite3 \
	   openssl systemd mandoc nodejs chromium $(NPM_DEB)
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
	   $(shell pkg-config --cflags $(PKGS) $(DLPKGS) 2>/dev/null) $(CFLAGS) \
	   $(SAN)
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
CTLSRC	 = $(wildcard daemon/ctl_*.c)
CTLOBJ	 = $(CTLSRC:daemon/%.c=$(BUILD)/obj/%.o)
LIBSRC	 = $(filter-out $(MAINS) $(CTLSRC),$(wildcard daemon/*.c))
LIBOBJ	 = $(LIBSRC:daemon/%.c=$(BUILD)/obj/%.o) $(LLHTTP_OBJ)
SUITES	 = $(patsubst tests/check_%.c,$(BUILD)/tests/check_%,$(filter-out tests/check_main.c,$(wildcard tests/check_*.c)))
BENCHES	 = $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(wildcard tests/bench/*.c))
REPLAYS	 = $(patsubst tests/fuzz/%.c,$(BUILD)/replay/%,$(wildcard tests/fuzz/fuzz_*.c))
TESTUTIL = tests/testutil.c tests/testutil.h

.PHONY: all deps npm-deps bench-deps fuzz-deps run check check-unit \
	check-integration check-browser check-fuzz-replay check-man check-asan \
	install uninstall clean bench fuzz

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

$(BUILD)/intakectl: $(BUILD)/obj/intakectl.o $(CTLOBJ) $(BUILD)/libintake.a
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
RUN_CONF = config/dev.conf
run: deps all
	@mkdir -p var && chmod 700 var
	@test -f var/dev.key || $(BUILD)/intakectl keygen -o var/dev.key > var/dev.recipients
	@$(RUN_BANNER) $(RUN_CONF)
	exec $(BUILD)/intaked -c $(RUN_CONF)

# make run's banner, read from RUN_CONF so that it names what intaked will
# really use after an edit: the first [server] and [admin] listen (the
# built-in defaults when unset), the first [form NAME], and the Maildir and
# database, which intaked takes relative to the config's directory. A key
# line is "key = value", values end at a space, a comma or a " ;" comment.
RUN_BANNER = awk -v key='$(CURDIR)/var/dev.key' -v dir='$(dir $(RUN_CONF))' ' \
	function val(l) { sub(/^[^=]*=[ \t]*/, "", l); sub(/[ \t,].*/, "", l); \
	    return l; } \
	function url(a, p) { if (a ~ /^unix:/) \
	    return "http://localhost" p " (on the socket " substr(a, 6) ")"; \
	    return "http://" a p; } \
	function rel(p) { if (p ~ /^\//) return p; p = "/" dir p; \
	    while (sub(/\/[^\/.][^\/]*\/\.\.\//, "/", p)); \
	    return substr(p, 2); } \
	/^[ \t]*\[/ { s = $$0; gsub(/^[ \t]*\[[ \t]*|[ \t]*\].*/, "", s); \
	    if (form == "" && s ~ /^form[ \t]/) { form = s; \
	    sub(/^form[ \t]+/, "", form); } next; } \
	s == "server" && pub == "" && /^[ \t]*listen[ \t]*=/ { pub = val($$0); } \
	s == "admin" && adm == "" && /^[ \t]*listen[ \t]*=/ { adm = val($$0); } \
	s == "storage" && /^[ \t]*path[ \t]*=/ { db = rel(val($$0)); } \
	s == "mail" && /^[ \t]*maildir[ \t]*=/ { md = rel(val($$0)); } \
	END { if (pub == "") pub = "127.0.0.1:8080"; \
	    if (adm == "") adm = "unix:/run/intaked/admin.sock"; \
	    printf "intaked: the form  %s\n", url(pub, "/forms/" form); \
	    printf "         the inbox %s  (log in with the key file %s)\n", \
	        url(adm, "/inbox/"), key; \
	    if (db == "") db = "/var/lib/intaked/intake.db"; \
	    printf "        %s the database %s\n", \
	        md == "" ? "" : " mail in " md ",", db; }'

check: deps
	@$(MAKE) --no-print-directory check-man
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory check-unit check-integration
	@$(MAKE) --no-print-directory check-browser
	@sh tests/summary.sh check $(BUILD) unit integration browser

# The manual pages, as mandoc reads them: any message fails. Not counted in
# the summary line; a page with a problem stops make check here.
MANPAGES = daemon/intaked.8 daemon/intakectl.1 config/intaked.conf.5

check-man:
	@out=$$(mandoc -Tlint -W warning $(MANPAGES) 2>&1); st=$$?; \
	if [ $$st -ne 0 ] || [ -n "$$out" ]; then \
	    printf '%s\n' "$$out"; \
	    echo "check-man: mandoc -Tlint -W warning failed (exit $$st)"; \
	    exit 1; \
	fi

check-unit: $(SUITES) all check-fuzz-replay
	@INTAKE_RESULTS=$(BUILD)/unit.result /usr/bin/python3 tests/pgtest.py \
	    run -- sh tests/run-unit.sh $(SUITES)

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

# Never part of make check. The C micro-benchmarks, then
# tests/bench/bench.py: the table of issue 13, also written to
# tests/bench/RESULTS.md (BENCH_SECONDS, BENCH_ROUNDS shorten it).
bench: deps bench-deps all $(BENCHES)
	@sh tests/bench/run.sh $(BUILD)

fuzz: deps fuzz-deps
	@sh tests/fuzz/run.sh $${FUZZ_SECONDS:-60}

# What make install puts where, and make uninstall takes away again. Both
# only copy or remove: they never compile, so the objects keep the build
# they were made with (run make first; BUILD names that build).
BINDIR	 = $(PREFIX)/bin
SBINDIR	 = $(PREFIX)/sbin
DATADIR	 = $(PREFIX)/share/intaked
DOCDIR	 = $(PREFIX)/share/doc/intaked
MANDIR	 = $(PREFIX)/share/man
UNITDIR	 = $(PREFIX)/lib/systemd/system
CONFDIR	 = $(SYSCONFDIR)/intaked
TEMPLATES = $(notdir $(wildcard templates/*.txt templates/*.html))
# The page as $(BUILD)/inbox holds it: templates/inbox and what
# templates/build-vendor.mjs writes into vendor/.
INBOX_FILES = $(INBOX_SRC:templates/inbox/%=%) vendor/age.js vendor/LICENSES.txt
SCHEMAS	 = $(notdir $(wildcard config/forms/*.schema.json))
DOCS	 = $(wildcard docs/*.png)
UNITS	 = intaked.service intaked.socket intaked-admin.socket
PUBLIC_FILES = altcha.js altcha.LICENSE.txt
# The config install writes: the sample, pointed at the installed files.
CONF_GEN = sed 's|^\# templates = .*|templates = $(DATADIR)/templates|; s|^\# public_files = .*|public_files = $(DATADIR)/public|; s|^\# root = .*|root = $(DATADIR)/inbox|' config/intaked.conf

install:
	@for f in $(BUILD)/intaked $(BUILD)/intakectl \
	    $(INBOX_FILES:%=$(BUILD)/inbox/%) $(PUBLIC_FILES:%=$(BUILD)/public/%); do \
	    test -f $$f || { echo "install: no $$f; run make first" >&2; \
	    exit 1; }; done
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) \
	    $(DESTDIR)$(CONFDIR)/forms $(DESTDIR)$(DATADIR)/templates \
	    $(DESTDIR)$(DATADIR)/inbox/vendor $(DESTDIR)$(DATADIR)/public \
	    $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
	    $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(DOCDIR)/docs
	install -m 755 $(BUILD)/intaked $(DESTDIR)$(SBINDIR)/intaked
	install -m 755 $(BUILD)/intakectl $(DESTDIR)$(BINDIR)/intakectl
	install -m 644 $(TEMPLATES:%=templates/%) $(DESTDIR)$(DATADIR)/templates/
	for f in $(INBOX_FILES); do \
	    install -m 644 $(BUILD)/inbox/$$f $(DESTDIR)$(DATADIR)/inbox/$$f || exit 1; \
	done
	install -m 644 $(PUBLIC_FILES:%=$(BUILD)/public/%) $(DESTDIR)$(DATADIR)/public/
	install -m 644 $(SCHEMAS:%=config/forms/%) $(DESTDIR)$(CONFDIR)/forms/
	test -f $(DESTDIR)$(CONFDIR)/intaked.conf || \
	    { $(CONF_GEN) > $(DESTDIR)$(CONFDIR)/intaked.conf && \
	    chmod 644 $(DESTDIR)$(CONFDIR)/intaked.conf; }
	sed 's|@PREFIX@|$(PREFIX)|g; s|@SYSCONFDIR@|$(SYSCONFDIR)|g' systemd/intaked.service \
	    > $(DESTDIR)$(UNITDIR)/intaked.service
	chmod 644 $(DESTDIR)$(UNITDIR)/intaked.service
	install -m 644 systemd/intaked.socket systemd/intaked-admin.socket \
	    $(DESTDIR)$(UNITDIR)/
	install -m 644 daemon/intakectl.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 644 config/intaked.conf.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 644 daemon/intaked.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 644 README.md $(DESTDIR)$(DOCDIR)/
	install -m 644 $(DOCS) $(DESTDIR)$(DOCDIR)/docs/

# Removes what install put there, with the same PREFIX, SYSCONFDIR and
# DESTDIR. The config and the schemas are removed only when they are
# byte-identical to what install writes: an edited one is kept, and said
# so. Directories go when empty: intaked's own, and those of the hierarchy
# a system does not come with (lib/systemd/system, share/man/manN,
# share/doc); bin, sbin, share/man and the like stay.
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/intaked $(DESTDIR)$(BINDIR)/intakectl
	rm -f $(UNITS:%=$(DESTDIR)$(UNITDIR)/%)
	rm -f $(TEMPLATES:%=$(DESTDIR)$(DATADIR)/templates/%)
	rm -f $(INBOX_FILES:%=$(DESTDIR)$(DATADIR)/inbox/%)
	rm -f $(PUBLIC_FILES:%=$(DESTDIR)$(DATADIR)/public/%)
	rm -f $(DESTDIR)$(MANDIR)/man1/intakectl.1 \
	    $(DESTDIR)$(MANDIR)/man5/intaked.conf.5 \
	    $(DESTDIR)$(MANDIR)/man8/intaked.8
	rm -f $(DESTDIR)$(DOCDIR)/README.md $(DOCS:%=$(DESTDIR)$(DOCDIR)/%)
	@for f in $(SCHEMAS); do \
	    t=$(DESTDIR)$(CONFDIR)/forms/$$f; \
	    if [ ! -f $$t ]; then :; \
	    elif cmp -s config/forms/$$f $$t; then echo "rm -f $$t"; rm -f $$t; \
	    else echo "uninstall: keeping $$t: it was edited"; fi; \
	done
	@t=$(DESTDIR)$(CONFDIR)/intaked.conf; \
	if [ ! -f $$t ]; then :; \
	elif $(CONF_GEN) | cmp -s - $$t; then echo "rm -f $$t"; rm -f $$t; \
	else echo "uninstall: keeping $$t: it was edited"; fi
	@for d in $(DATADIR)/inbox/vendor $(DATADIR)/inbox $(DATADIR)/public \
	    $(DATADIR)/templates $(DATADIR) $(DOCDIR)/docs $(DOCDIR) \
	    $(PREFIX)/share/doc $(MANDIR)/man1 $(MANDIR)/man5 $(MANDIR)/man8 \
	    $(UNITDIR) $(PREFIX)/lib/systemd $(CONFDIR)/forms $(CONFDIR); do \
	    if [ -d $(DESTDIR)$$d ] && rmdir $(DESTDIR)$$d 2>/dev/null; then \
	        echo "rmdir $(DESTDIR)$$d"; fi; \
	done

clean:
	rm -rf build build-asan build-fuzz

-include $(wildcard $(BUILD)/obj/*.d $(BUILD)/tests/*.d)
