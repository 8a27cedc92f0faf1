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

.PHONY: venv test unit lint typecheck demo send bench clean

venv: $(STAMP)

$(STAMP): requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	# The ESP32 stubs live in their own folder so they never shadow CPython's stdlib.
	$(VPY) -m pip install -q --disable-pip-version-check --no-deps --target $(STUBS) micropython-esp32-stubs==1.29.0.post1
	touch $(STAMP)

# Every test: style, types against the ESP32 stubs, host and Unix-port tests (see host_tests/).
test: lint typecheck
	$(VPY) -m pytest -q host_tests

lint: venv
	$(VENV)/bin/ruff check firmware host_tests tools boards

typecheck: venv
	$(VENV)/bin/mypy firmware/mailer firmware/main.py

clean:
	rm -rf $(VENV) build
