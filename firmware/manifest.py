# ruff: noqa: F821  (include, require, package: functions the manifest reader provides)
# Freezing into a firmware build (docs.micropython.org, "MicroPython manifest files"):
#   make -C ports/esp32 BOARD=ESP32_GENERIC FROZEN_MANIFEST=/path/to/firmware/manifest.py
# The port's own modules stay; the mailer package and the SSD1306 driver (for boards with a
# display) are frozen; main.py stays a file on flash, so the user can edit it. The same files as
# `make deploy` and `make dist` put on a board (tools/mpbuild.board_files), with the probe too:
# frozen code costs flash, not heap, until it is imported.
include("$(PORT_DIR)/boards/manifest.py")
require("ssd1306")
package("mailer")
