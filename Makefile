# Host-side entry points. Everything runs from a private virtual environment (.venv)
# that this Makefile creates with pinned versions; a fresh machine needs only python3 and make.
PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STUBS := $(VENV)/stubs
STAMP := $(VENV)/.installed
# Point this at your own Unix-port build to use it instead of the pinned one.
MICROPYTHON ?= $(abspath $(VENV)/bin/micropython)
export MICROPYTHON

.PHONY: help venv test lint typecheck demo devserver send deploy simboard probe bench dist clean

help:
	@echo "make demo        the firmware on the Unix port sends a message to a local dev server"
	@echo "make test        every test (what CI runs)"
	@echo "make devserver   a local mail server on 127.0.0.1:2525, with a ready settings file"
	@echo "make send SETTINGS=file TO=addr [SUBJECT=..] [BODY=..] [ATTACH=a,b] [CC=..] [BCC=..] [VERBOSE=1]"
	@echo "make probe SETTINGS=file    what the server offers, its certificate, the verdict"
	@echo "make deploy PORT=/dev/ttyUSB0 BOARD=name [SETTINGS=file] [ASYNCIO=1]    put the firmware on a board"
	@echo "make simboard    the Unix port as a board on a pseudo-terminal"
	@echo "make dist        .mpy files and a package.json for mpremote mip"
	@echo "make bench       speed, round trips and heap figures"
	@echo "make clean       remove .venv, build and dist"

venv: $(STAMP)

$(STAMP): requirements-dev.txt
	@echo "setting up .venv (pinned tools from requirements-dev.txt; about a minute the first time)"
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --progress-bar off --disable-pip-version-check -r requirements-dev.txt
	# The ESP32 stubs live in their own folder so they never shadow CPython's stdlib.
	$(VPY) -m pip install -q --disable-pip-version-check --no-deps --target $(STUBS) \
		micropython-esp32-stubs==1.29.0.post1 micropython-stdlib-stubs==1.29.0.post2
	touch $(STAMP)

# Every test: style, types against the ESP32 stubs, host and Unix-port tests (see host_tests/);
# then the tests that ran the firmware through host_tests/mpy.py once more at micropython -O1.
test: lint typecheck
	UNIXPORT_TESTS=build/unixport-tests.txt $(VPY) -m pytest -q host_tests
	if [ -s build/unixport-tests.txt ]; then MPY_OPT=1 $(VPY) -m pytest -q @build/unixport-tests.txt; fi

lint: venv
	$(VENV)/bin/ruff check firmware host_tests tools boards bench
	$(VENV)/bin/ruff format --check firmware host_tests tools boards bench

typecheck: venv
	$(VENV)/bin/mypy firmware/mailer $(wildcard firmware/main.py)

# The main job: the firmware on the Unix port sends a real message over STARTTLS + AUTH to a
# local dev mail server started (and stopped) for the occasion.
demo: venv
	$(VPY) tools/demo.py

# A local mail server to bench-test against (STARTTLS + AUTH), its certificates kept in
# build/devserver/certs, with build/devserver/settings.json ready for make send.
devserver: venv
	$(VPY) -m tools.devserver

# Bench test against any server: make send SETTINGS=path.json TO=addr [SUBJECT=..] [BODY=..|BODY=-]
# [BODY_FILE=path] [ATTACH=a,b] [CC=..] [BCC=..] [VERBOSE=1]. Exit 0 sent, 75 worth retrying, 1
# permanent. tools/send.py does it (also usable by itself: --help). The values go to it through
# the environment, unexpanded ($(value ...)), so they arrive byte for byte as typed: no shell
# and no make expansion reads them. CC is also make's C compiler ("cc" by default): only a CC
# given by the user is a Cc address.
export MAIL_SETTINGS := $(value SETTINGS)
export MAIL_TO := $(value TO)
export MAIL_SUBJECT := $(value SUBJECT)
export MAIL_BODY := $(value BODY)
export MAIL_BODY_FILE := $(value BODY_FILE)
export MAIL_ATTACH := $(value ATTACH)
export MAIL_CC := $(if $(filter default,$(origin CC)),,$(value CC))
export MAIL_BCC := $(value BCC)
export MAIL_VERBOSE := $(value VERBOSE)
send: venv
	@$(VPY) -m tools.send --from-make

# Deploy to a board (or the simulated one: PORT=<pty from make simboard> BOARD=unix).
deploy: venv
	@test -n "$(PORT)" -a -n "$(BOARD)" || { echo "usage: make deploy PORT=/dev/ttyUSB0 BOARD=esp32_devkitc [SETTINGS=file] [ASYNCIO=1]"; exit 2; }
	$(VPY) tools/deploy.py --port "$(PORT)" --board "$(BOARD)" $(if $(SETTINGS),--settings "$(SETTINGS)") $(if $(ASYNCIO),--asyncio)

# The Unix port as a board on a pseudo-terminal, with a LittleFS2 flash image; mpremote reaches it.
simboard: venv
	$(VPY) tools/simboard.py

# What a user needs to fix their settings: greeting, capabilities, certificate, AUTH mechanisms.
probe: venv
	@test -n "$(SETTINGS)" || { echo "usage: make probe SETTINGS=path.json"; exit 2; }
	$(VPY) tools/probe.py "$(SETTINGS)"

# Benchmarks: the firmware on the Unix port vs CPython smtplib (wall time, round trips), and the
# smallest GC heap on the 64-bit and on the 32-bit port (../shared/mp32: 4-byte pointers, as on
# an ESP32), from .mpy and frozen (the first run builds build/mp32-frozen, ~3 min). Results in
# build/bench-results.json (OUT=path to write elsewhere, e.g. the reference bench/results.json).
bench: venv
	$(VPY) bench/run.py $(if $(OUT),--out $(OUT))

# The mip route that compiles nothing on the board: dist/mailer-<version>-mpy<N>/ with the .mpy
# files, main.py and a package.json naming them (mpremote mip install <that folder>/package.json).
dist: venv
	$(VPY) tools/dist.py

clean:
	rm -rf $(VENV) build dist
