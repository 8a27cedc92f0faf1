# mailer: a small SMTP client for MicroPython boards (and CPython, for host tests).
# Modules are imported where they are used, so that a board loads only what it needs.


class Settings(dict):
    # mailer.settings.load()'s result (and its groups): a dict whose text form shows "***" for
    # secrets. Here, not in mailer.settings: a loaded settings dict does not keep that module
    # (its code, its names' functions) on the heap. On MicroPython dict(s) and {}.update(s)
    # refuse a dict subclass: copy with items().
    def __repr__(self):
        from mailer.compat import once

        return repr(once("settings", "redacted", self))

    __str__ = __repr__
