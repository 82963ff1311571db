"""`egress.rules` (SPEC §12): per host, the methods and path globs a request may have.

A request to a host some rule names must match one of that host's rules (its method listed, or
no method list; its path matching one glob, or no path list), or it is refused before its body
leaves. Globs match the path without its query: `*` within one segment, `**` as a whole segment
for any depth (`/a/**` is `/a` and everything under it). A path a server could read as something
else (an encoded `/`, `\\` or `.`, a `.` or `..` segment, an empty segment) is refused on a host
with rules rather than guessed at. Imports nothing of mitmproxy.
"""
import re
import urllib.parse
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .policy import matches_pattern

_AMBIGUOUS = re.compile(r"%(2f|5c|2e|00)", re.IGNORECASE)


def glob_regex(glob: str) -> "re.Pattern[str]":
    out = "^"
    i = 0
    while i < len(glob):
        if glob.startswith("/**", i) and (i + 3 == len(glob) or glob[i + 3] == "/"):
            out += "(?:/.*)?"
            i += 3
        elif glob[i] == "*":
            out += "[^/]*"
            i += 1
        else:
            out += re.escape(glob[i])
            i += 1
    return re.compile(out + "$", re.DOTALL)


def normal_path(target: str) -> Tuple[Optional[str], str]:
    """(the decoded path of a request target, "") or (None, why it is not in normal form)."""
    path = target.split("?", 1)[0].split("#", 1)[0]
    if not path.startswith("/"):
        return None, f"the request target {path[:80]!r} is not a path"
    if "\\" in path or _AMBIGUOUS.search(path):
        return None, "the path has an encoded '/', '\\', '.' or NUL, or a '\\'"
    decoded = urllib.parse.unquote(path)
    segments = decoded.split("/")[1:]
    if any(s in (".", "..") for s in segments) or "//" in decoded:
        return None, "the path has a '.', '..' or empty segment"
    return decoded, ""


class Rules:
    def __init__(self, rules: Sequence[Dict[str, Any]]):
        self.rules = [dict(r, _globs=[glob_regex(g) for g in (r.get("paths") or [])])
                      for r in rules]

    def for_host(self, host: str) -> List[Dict[str, Any]]:
        return [r for r in self.rules if matches_pattern(r["host"], host)]

    def check(self, host: str, method: str, target: str) -> Optional[str]:
        """None when allowed (or no rule names the host); else why not, naming the rules."""
        rules = self.for_host(host)
        if not rules:
            return None
        path, why = normal_path(target)
        if path is None:
            return f"{why}; egress.rules for {host}: {'; '.join(r['rule'] for r in rules)}"
        for r in rules:
            if r.get("methods") and method.upper() not in r["methods"]:
                continue
            if r["_globs"] and not any(g.match(path) for g in r["_globs"]):
                continue
            return None
        return (f"{method} {path} matches no rule for {host}: "
                f"{'; '.join(r['rule'] for r in rules)}")
