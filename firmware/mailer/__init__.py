# mailer: a small SMTP client for MicroPython boards (and CPython, for host tests).
# Modules are imported where they are used, so that a board loads only what it needs.
