"""Hand the values of a bottle's injected secrets to the bundle daemon: a JSON object
{"NAME": "value", ...} on stdin (bot-bottle runs this with `docker exec -i`, so the values are
never in an argument, the environment, a file or a log). Prints what the daemon said, never a
value; exit 0 when the daemon took them in."""
import socket
import sys

SOCK = "/run/bot-bottle/secrets/intake.sock"

data = sys.stdin.buffer.read(1 << 20)
if b"\n" in data.rstrip(b"\n"):
    sys.exit("bb-secrets: expected one line of JSON on stdin")
try:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(SOCK)
        sock.sendall(data.rstrip(b"\n") + b"\n")
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
except OSError as error:
    sys.exit(f"bb-secrets: the bundle daemon did not take the secrets: {error}")
del data
text = reply.decode("utf-8", "replace").strip()
print(f"bb-secrets: {text}")
sys.exit(0 if text.startswith("ok ") else 1)
