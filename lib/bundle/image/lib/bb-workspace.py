"""bot-bottle's workspace helper (lib/bb/workspace.py): survey, snapshot, capture."""
import os
import signal
import sys

# The helper is its container's PID 1, which ignores a SIGTERM it has no handler for (the one
# docker passes on when bot-bottle stops a helper): the handler comes before anything else.
signal.signal(signal.SIGTERM, lambda signum, _frame: os._exit(128 + signum))
sys.path.insert(0, "/usr/local/lib/bot-bottle")
sys.dont_write_bytecode = True
from bb.workspace import main  # noqa: E402

sys.exit(main(sys.argv[1:]))
