# Runs ON THE MICROPYTHON UNIX PORT (simulated board): a stand-in for the ESP32 `network`
# module whose station interface is always connected (the host's network is the board's).
# WLAN.up = False makes it report "not connected", for tests of #860.
STA_IF = 0
AP_IF = 1
STAT_GOT_IP = 1010


class WLAN:
    up = True

    def __init__(self, interface=STA_IF):
        self.interface = interface

    def active(self, on=None):
        return True

    def isconnected(self):
        return WLAN.up

    def connect(self, ssid=None, key=None):
        pass

    def disconnect(self):
        pass

    def status(self):
        return STAT_GOT_IP if WLAN.up else 0

    def ifconfig(self):
        return ("127.0.0.1", "255.0.0.0", "127.0.0.1", "127.0.0.1")
