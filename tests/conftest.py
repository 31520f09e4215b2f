"""Test-session set-up shared by every test module.

A suite started in the background of a non-interactive shell (``cmd &`` in a script, ``nohup``)
inherits SIGINT ignored, and Python then installs no KeyboardInterrupt handler: the Ctrl-C
tests (``test_engine.py``, ``test_progress.py``, ``test_cli.py``, ``test_dask.py``) would wait
for an interrupt that never comes, here and in the CLI processes they start. Put Python's own
handler back so they test the program, not how the suite was launched.
"""

from __future__ import annotations

import signal

if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
