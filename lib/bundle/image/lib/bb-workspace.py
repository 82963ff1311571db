"""bot-bottle's workspace helper (lib/bb/workspace.py): survey, snapshot, capture."""
import sys

sys.path.insert(0, "/usr/local/lib/bot-bottle")
sys.dont_write_bytecode = True
from bb.workspace import main  # noqa: E402

sys.exit(main(sys.argv[1:]))
