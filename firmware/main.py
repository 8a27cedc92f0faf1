# Board entry point: MicroPython runs this after boot.py. The boot sequence and the loop are
# in mailer.app (board -> settings -> outbox -> Wi-Fi -> clock -> queued mail -> loop). To run
# your own code in the loop, pass it: app.run(task=check_sensor) (called every ~50 ms; send
# mail from it with app.send(subject, body)). Ctrl-C (or mpremote) stops the loop. On asyncio
# (the LED, display and your tasks keep running during a send): "asyncio": true in board.json, or
# `from mailer import aapp; aapp.run(task=my_async_task)` here instead (README, section 5).
from mailer import app

app.run()
