# The device error codes by name, and what each means (README, "Device error codes"): every
# failure the client can detect maps to exactly one of these. Three digits, so an LED can blink
# them. For programs and tools that name a code; the firmware's modules keep their own private
# const()s of the codes they raise (a public name here would be one more interned name on every
# board's heap, and one more dict entry in every module importing it). Loaded only to show a
# code's text (mailer.errors.meaning), or by a program that imports a name.
from mailer.compat import const

COMM = const(801)  # error communicating with the SMTP server
RESOLVE = const(802)  # server name cannot be resolved
POP = const(810)  # POP server error
AUTH = const(839)  # SMTP authentication failed
TLS_NO_COMMON = const(841)  # no encryption method in common
TLS_CLIENT_CERT = const(842)  # server asked for a client certificate
CLOCK = const(843)  # device clock not set / too far off
MEMORY = const(851)  # not enough memory
NETWORK = const(860)  # network not connected
SETTINGS = const(861)  # settings invalid / bad input
TLS_REQUIRED = const(862)  # encryption required but not available
CERT = const(863)  # server certificate rejected
TOO_LARGE = const(864)  # message too large
OUTBOX_FULL = const(865)  # outbox full
OAUTH = const(866)  # OAuth token refused (the refresh grant)
INTERNAL = const(869)  # internal error

# Each code's meaning, one line each: a single string costs a board one object, where a dict
# of 16 strings costs 17 (the same table is in the README, with blink patterns).
TEXTS = """
801 Error communicating with the SMTP server
802 SMTP server name cannot be resolved
810 POP server error
839 SMTP authentication failed
841 No encryption method in common with the server
842 The server asked for a client certificate
843 Device clock not set, or too far off for secure authentication
851 Not enough memory
860 Network not connected
861 Settings invalid
862 Encryption required but not available
863 Server certificate rejected
864 Message too large
865 Outbox full
866 OAuth token refused
869 Internal error
"""
