# Runs ON THE MICROPYTHON UNIX PORT (simulated board): a stand-in for micropython-lib's
# `ntptime`. The Unix port's clock is the host's, already set: settime() only checks the host.
host = "pool.ntp.org"


def settime():
    pass
