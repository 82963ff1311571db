"""Send one audit record to the bundle daemon: bb-audit SOURCE DECISION REASON [KEY=VALUE...].

Used by the git gate's hooks; a value that looks like an integer is sent as one.
"""
import sys

sys.path.insert(0, "/usr/local/lib/bot-bottle")
from bb.audit import now, send  # noqa: E402

if len(sys.argv) < 4:
    sys.exit("usage: bb-audit SOURCE DECISION REASON [KEY=VALUE...]")
record = {"time": now(), "source": sys.argv[1], "decision": sys.argv[2], "reason": sys.argv[3]}
for pair in sys.argv[4:]:
    key, _, value = pair.partition("=")
    record[key] = int(value) if value.isdigit() and len(value) < 10 else value
why = send("/run/bot-bottle/audit.sock", record)
if why:
    print(f"bb-audit: not recorded: {why}", file=sys.stderr)
