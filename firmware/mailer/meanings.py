# The meaning of each device error code (mailer.errors), as consoles and displays show it.
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
