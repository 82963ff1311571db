"""The workspace helper (SPEC §11): git and tar for `start --cwd`, run by bot-bottle in a
throwaway container of the bundle image (no network, no capabilities, the host user's uid), since
the binary itself may spawn only docker and smolvm.

    bb-workspace survey KIND     /src (read-only): what would be copied, as one JSON object
    bb-workspace snapshot KIND [NAME [FIFO]]
                                 /src (read-only): the copy, as a tar stream on stdout, or into
                                 a FIFO made at FIFO (NAME: the host directory's name, for a
                                 plain directory's base commit)
    bb-workspace capture SLUG BASE KIND
                                 /in/guest.tar (read-only), /out: the agent's work as commits,
                                 a git bundle, a diff and the secret scan; a JSON summary
    bb-workspace capture-delta SLUG BASE KIND TIP ARCHIVE...
                                 the same from a commit the guest says it made (TIP) and the
                                 object files of ARCHIVE... (what was copied in, then what
                                 changed since)

KIND is `git` (/src is a work tree: tracked files, untracked files that are not ignored, and
.git) or `dir` (/src is a plain directory: everything, plus a base commit made here). Every git
command runs with the repository's own hooks, fsmonitor and filters out of reach: the host's
repository is the user's, but the guest's is the agent's.

Paths are bytes throughout: a file name need not be UTF-8.
"""
import fcntl
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
from typing import Dict, Iterator, List, Optional, Tuple

SRC = b"/src"
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
SCANNER = "/usr/local/lib/bot-bottle/git-pre-receive"
HOST_OBJECTS = "/host/objects"
IDENTITY = {"GIT_AUTHOR_NAME": "bot-bottle", "GIT_AUTHOR_EMAIL": "bot-bottle@localhost",
            "GIT_COMMITTER_NAME": "bot-bottle", "GIT_COMMITTER_EMAIL": "bot-bottle@localhost"}
EXAMPLES = 5
IN_PROGRESS = ((b"MERGE_HEAD", "merge"), (b"rebase-merge", "rebase"), (b"rebase-apply", "rebase"),
               (b"CHERRY_PICK_HEAD", "cherry-pick"), (b"REVERT_HEAD", "revert"),
               (b"BISECT_LOG", "bisect"))


def _env() -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update({"HOME": tempfile.gettempdir(), "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_OPTIONAL_LOCKS": "0",
                "GIT_TERMINAL_PROMPT": "0", "GIT_NO_REPLACE_OBJECTS": "1", "LC_ALL": "C"})
    return env


GIT = ["git", "-c", "safe.directory=*", "-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null",
       "-c", "core.untrackedCache=false", "-c", "core.quotePath=false", "-c", "commit.gpgSign=false",
       "-c", "diff.external=", "-c", "protocol.allow=never"]


def git(args: List[str], cwd: bytes, env: Optional[Dict[str, str]] = None,
        check: bool = True, **kw) -> subprocess.CompletedProcess:
    run = subprocess.run(GIT + args, cwd=cwd, env={**_env(), **(env or {})},
                         stdout=kw.pop("stdout", subprocess.PIPE), stderr=subprocess.PIPE, **kw)
    if check and run.returncode != 0:
        raise Failure(f"git {args[0]} failed: {run.stderr.decode(errors='replace').strip()}")
    return run


class Failure(Exception):
    """A problem to report to bot-bottle (exit 3, the message on stderr)."""


def _one_line(text: str) -> str:
    """`text` with control characters escaped, cut at MESSAGE_MAX: a file name in a message
    (a directory called "x\\nbb-workspace: done 0") cannot make a line of the helper's
    protocol."""
    line = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                   for c in text)
    return line if len(line) <= MESSAGE_MAX else line[:MESSAGE_MAX] + "..."


# What of a failure's message is said (git's whole stderr can be long).
MESSAGE_MAX = 2000


# Directories that could not be listed (the survey reports them; the launch is then refused).
UNLISTABLE: List[bytes] = []


def _walk(root: bytes, rel: bytes = b"") -> Iterator[bytes]:
    """Every entry under root/rel (rel itself first when it is not empty), without following
    symlinks."""
    if rel:
        yield rel
    path = os.path.join(root, rel) if rel else root
    try:
        names = sorted(os.listdir(path))
    except OSError:
        UNLISTABLE.append(rel)
        return
    for name in names:
        child = os.path.join(rel, name) if rel else name
        full = os.path.join(root, child)
        if stat.S_ISDIR(os.lstat(full).st_mode):
            yield from _walk(root, child)
        else:
            yield child


def _git_entries(root: bytes) -> Tuple[List[bytes], List[bytes]]:
    """(entries of the work tree to copy, submodule paths): tracked and untracked-not-ignored
    files as git lists them (deleted ones dropped, submodules expanded), then all of .git."""
    listed = git(["ls-files", "-z", "--cached", "--others", "--exclude-standard"], root).stdout
    gitlinks = git(["ls-files", "-z", "--stage"], root).stdout
    submodules = [line.split(b"\t", 1)[1] for line in gitlinks.split(b"\0")
                  if line.startswith(b"160000 ")]
    seen = set()
    entries: List[bytes] = []

    def add(path: bytes) -> None:
        # Parent directories first, so they are created with their own modes.
        parts = path.split(b"/")
        for i in range(1, len(parts)):
            parent = b"/".join(parts[:i])
            if parent not in seen:
                seen.add(parent)
                entries.append(parent)
        if path not in seen:
            seen.add(path)
            entries.append(path)

    for path in sorted(set(p for p in listed.split(b"\0") if p)):
        full = os.path.join(root, path)
        if not os.path.lexists(full):
            continue  # tracked, deleted in the work tree
        if path in submodules and os.path.isdir(full) and not os.path.islink(full):
            for sub in _walk(root, path):
                add(sub)
        else:
            add(path)
    for path in _walk(root, b".git"):
        add(path)
    return entries, submodules


def _dir_entries(root: bytes) -> List[bytes]:
    return list(_walk(root))


def _outside(root: bytes, rel: bytes) -> bool:
    target = os.readlink(os.path.join(root, rel))
    if target.startswith(b"/"):
        return True
    resolved = os.path.normpath(os.path.join(os.path.dirname(rel), target))
    return resolved == b".." or resolved.startswith(b"../")


def _measure(root: bytes, entries: List[bytes]) -> Dict[str, object]:
    files = bytes_ = 0
    outside: List[str] = []
    unreadable: List[str] = []
    non_utf8 = 0
    for rel in entries:
        full = os.path.join(root, rel)
        st = os.lstat(full)
        try:
            rel.decode("utf-8")
        except UnicodeDecodeError:
            non_utf8 += 1
        if stat.S_ISDIR(st.st_mode):
            if not os.access(full, os.R_OK | os.X_OK) or rel in UNLISTABLE:
                unreadable.append(os.fsdecode(rel))
            continue
        files += 1
        if stat.S_ISLNK(st.st_mode):
            bytes_ += len(os.readlink(full))
            if _outside(root, rel):
                outside.append(os.fsdecode(rel))
        elif stat.S_ISREG(st.st_mode):
            bytes_ += st.st_size
            if not os.access(full, os.R_OK):
                unreadable.append(os.fsdecode(rel))
    return {"files": files, "bytes": bytes_, "non_utf8_names": non_utf8,
            "symlinks_outside": {"count": len(outside), "examples": outside[:EXAMPLES]},
            "unreadable": {"count": len(unreadable), "examples": unreadable[:EXAMPLES]}}


def survey(kind: str) -> Dict[str, object]:
    if kind == "git":
        in_progress = [what for name, what in IN_PROGRESS if os.path.lexists(SRC + b"/.git/" + name)]
        head = git(["rev-parse", "--verify", "-q", "HEAD"], SRC, check=False).stdout.decode().strip()
        branch = git(["symbolic-ref", "-q", "--short", "HEAD"], SRC, check=False).stdout.decode().strip()
        status = git(["status", "--porcelain", "-z", "--untracked-files=normal"], SRC).stdout
        entries, submodules = _git_entries(SRC)
        return {"kind": "git", "base": head or None, "branch": branch or None,
                "dirty": bool(status), "in_progress": in_progress[0] if in_progress else None,
                "submodules": [os.fsdecode(s) for s in submodules], **_measure(SRC, entries)}
    entries = _dir_entries(SRC)
    return {"kind": "dir", "base": None, "branch": None, "dirty": False, "in_progress": None,
            "submodules": [], **_measure(SRC, entries)}


def snapshot(kind: str, name: str = "", to: str = "") -> int:
    """The copy on stdout (GNU tar). For a plain directory, a base commit of all of it is made
    in /tmp and its .git goes along, so the agent's work can come back as commits."""
    extra: List[str] = []
    if kind == "git":
        entries, _ = _git_entries(SRC)
        base = git(["rev-parse", "--verify", "-q", "HEAD"], SRC, check=False).stdout.decode().strip()
    else:
        entries = _dir_entries(SRC)
        stage = tempfile.mkdtemp(prefix="bb-base-").encode()
        gitdir = os.path.join(stage, b".git")
        env = {"GIT_DIR": os.fsdecode(gitdir), "GIT_WORK_TREE": os.fsdecode(SRC),
               "GIT_INDEX_FILE": os.fsdecode(os.path.join(gitdir, b"index")), **IDENTITY}
        git(["init", "-q", "--initial-branch=main", os.fsdecode(stage)], stage)
        git(["add", "-A", "--force"], SRC, env=env)
        name = name or "the directory"
        git(["commit", "-q", "--allow-empty", "--no-verify", "-m",
             f"bot-bottle: snapshot of {name}"], SRC, env=env)
        extra = ["--recursion", "-C", os.fsdecode(stage), ".git"]
        base = git(["rev-parse", "HEAD"], SRC, env=env).stdout.decode().strip()
    # The commit the copy starts from, for bot-bottle's record (stderr: stdout is the tar).
    print(f"bb-workspace: base {base or '-'}", file=sys.stderr, flush=True)
    if UNLISTABLE:
        raise Failure("cannot read " + ", ".join(os.fsdecode(p) for p in UNLISTABLE[:EXAMPLES]))
    # With `to`: a FIFO bot-bottle reads on the host (a container's stdout crosses the Docker
    # daemon's attach stream, several times slower than a pipe).
    out = None
    if to:
        os.mkfifo(to, 0o600)
        out = open(to, "wb")
        # A 1 MiB pipe (the unprivileged maximum) instead of 64 KiB: bot-bottle then reads
        # the copy in 16 times fewer reads, which is most of what it spends passing it on.
        try:
            fcntl.fcntl(out.fileno(), fcntl.F_SETPIPE_SZ, 1 << 20)
        except OSError:
            pass
        # bot-bottle hands the read end to the guest's exec once a writer holds it (a reader
        # that came first would see the end at once), and shows progress from tar's records.
        print("bb-workspace: streaming", file=sys.stderr, flush=True)
        extra = ["--totals", "--checkpoint=1024",
                 "--checkpoint-action=echo=bb-workspace: copied %u", *extra]
    tar = subprocess.Popen(["tar", "-c", "-f", "-", "--format=gnu", "--null", "--no-recursion",
                            "-C", "/src", "-T", "-", *extra], stdin=subprocess.PIPE, stdout=out)
    assert tar.stdin is not None
    for rel in entries:
        tar.stdin.write(rel + b"\0")
    tar.stdin.close()
    # A tar killed by a signal (its memory limit) exits as a shell says it: 128 + the signal.
    rc = tar.wait()
    rc = rc if rc >= 0 else 128 - rc
    if out is not None:
        out.close()
        # The copy is over for bot-bottle once the guest's tar has read the end: it need not
        # wait for this container's removal.
        print(f"bb-workspace: done {rc}", file=sys.stderr, flush=True)
    return rc


OID = re.compile(rb"^([0-9a-f]{40}|[0-9a-f]{64})$")


def _regular(path: bytes) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def _agent_head(gitdir: bytes) -> Optional[str]:
    """The commit the agent's HEAD names, read as files (no git command runs in the agent's
    repository, whose config, hooks, replace refs, grafts and commit-graph are the agent's);
    None for a branch with no commit yet."""
    path = os.path.join(gitdir, b"HEAD")
    if not _regular(path):
        raise Failure("the workspace's .git/HEAD is missing or not a file")
    with open(path, "rb") as f:
        head = f.read(4096).strip()
    for _ in range(5):
        if OID.match(head):
            return head.decode()
        if not head.startswith(b"ref: refs/"):
            raise Failure("the workspace's .git/HEAD names neither a commit nor a branch")
        name = head[5:].strip()
        if b".." in name or b"\0" in name or name.endswith(b"/"):
            raise Failure("the workspace's .git/HEAD names a malformed ref")
        loose = os.path.join(gitdir, name)
        if _regular(loose):
            with open(loose, "rb") as f:
                head = f.read(4096).strip()
            continue
        packed = os.path.join(gitdir, b"packed-refs")
        found = None
        if _regular(packed):
            with open(packed, "rb") as f:
                for line in f:
                    parts = line.strip().split(b" ", 1)
                    if len(parts) == 2 and parts[1] == name and OID.match(parts[0]):
                        found = parts[0]
                        break
        if found is None:
            return None
        head = found
    raise Failure("the workspace's .git/HEAD is a chain of symbolic refs")


def _adopt_objects(agent_gitdir: bytes, gitdir: bytes) -> None:
    """The agent's object store into a repository made here: loose objects and packs (.pack,
    .idx) only, regular files only; no alternates, commit-graph, bitmaps or pack lists."""
    src = os.path.join(agent_gitdir, b"objects")
    dst = os.path.join(gitdir, b"objects")
    if not os.path.isdir(src) or os.path.islink(src):
        raise Failure("no_git: the workspace's .git has no object store")
    shutil.rmtree(dst)
    os.rename(src, dst)
    for top in os.listdir(dst):
        path = os.path.join(dst, top)
        keep_dir = (len(top) == 2 and all(c in b"0123456789abcdef" for c in top)) or top == b"pack"
        if not keep_dir or os.path.islink(path) or not os.path.isdir(path):
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
            continue
        for name in os.listdir(path):
            entry = os.path.join(path, name)
            wanted = name.endswith((b".pack", b".idx")) if top == b"pack" else True
            if not wanted or not _regular(entry):
                if os.path.isdir(entry) and not os.path.islink(entry):
                    shutil.rmtree(entry)
                else:
                    os.unlink(entry)


def _object_format(agent_gitdir: bytes) -> str:
    """sha1 or sha256, from the agent's config read as a file (includes are not followed)."""
    value = git(["config", "--file", os.fsdecode(os.path.join(agent_gitdir, b"config")),
                 "--no-includes", "--get", "extensions.objectformat"], b"/", check=False)
    fmt = value.stdout.decode(errors="replace").strip().lower() or "sha1"
    if fmt not in ("sha1", "sha256"):
        raise Failure(f"the workspace's repository uses object format {fmt!r}")
    return fmt


def capture(slug: str, base: str, kind: str) -> Dict[str, object]:
    """The agent's work, from data it cannot make lie: its objects are adopted by a repository
    made here (none of its config, hooks, refs or caches), the result goes through a complete
    bundle into a second, bare repository (index-pack hashes every object), and the diff, the
    counts, the scan and the exported bundle all come from that one."""
    tmp = tempfile.mkdtemp(prefix="bb-cap-").encode()
    ws = os.path.join(tmp, b"tree")
    os.mkdir(ws)
    untar = subprocess.run(["tar", "-x", "-f", "/in/guest.tar", "-C", os.fsdecode(ws),
                            "--no-same-owner"], stderr=subprocess.PIPE)
    if untar.returncode != 0:
        raise Failure(f"cannot read the captured workspace: {untar.stderr.decode(errors='replace').strip()}")
    agent_gitdir = os.path.join(ws, b".git")
    if not os.path.isdir(agent_gitdir) or os.path.islink(agent_gitdir):
        raise Failure("no_git: the workspace has no .git directory (the agent removed it)")
    if os.path.lexists(os.path.join(agent_gitdir, b"commondir")):
        raise Failure("the workspace's .git belongs to a linked worktree; cannot capture it")
    # Out of the work tree, so `git add -A` below never sees it.
    moved = os.path.join(tmp, b"agent.git")
    os.rename(agent_gitdir, moved)
    fmt = _object_format(moved)
    head = _agent_head(moved)

    work = os.path.join(tmp, b"work.git")
    git(["init", "-q", "--bare", f"--object-format={fmt}", os.fsdecode(work)], tmp)
    _adopt_objects(moved, work)
    index = os.path.join(work, b"index")
    # The agent's index only saves hashing unchanged files again: what it says ends up in the
    # commit, which is checked like everything else below. One git cannot read is dropped.
    adopted = _regular(os.path.join(moved, b"index"))
    if adopted:
        os.rename(os.path.join(moved, b"index"), index)
    shutil.rmtree(moved)
    env = {"GIT_DIR": os.fsdecode(work), "GIT_WORK_TREE": os.fsdecode(ws),
           "GIT_INDEX_FILE": os.fsdecode(index), **IDENTITY}
    ref = f"refs/heads/bot-bottle/{slug}"
    if head:
        if git(["cat-file", "-e", f"{head}^{{commit}}"], ws, env=env, check=False).returncode != 0:
            raise Failure(f"the workspace's HEAD {head} is not a commit in its repository")
        git(["update-ref", ref, head], ws, env=env)
    git(["symbolic-ref", "HEAD", ref], ws, env=env)
    if not adopted or git(["add", "-A"], ws, env=env, check=False).returncode != 0:
        if os.path.lexists(index):
            os.unlink(index)
        if head:
            git(["read-tree", head], ws, env=env)
        git(["add", "-A"], ws, env=env)
    staged = (not head) or git(["diff-index", "--cached", "--quiet", head], ws, env=env,
                               check=False).returncode == 1
    if staged:
        git(["commit", "-q", "--no-verify", "--allow-empty", "-m",
             f"bot-bottle: work left uncommitted in {slug}"], ws, env=env)
    tip = git(["rev-parse", ref], ws, env=env).stdout.decode().strip()
    return _checked_export(slug, base, kind, fmt, tmp, work, env, ref, tip, staged,
                           cleanup=[ws])


def _checked_export(slug: str, base: str, kind: str, fmt: str, tmp: bytes, work: bytes,
                    env: Dict[str, str], ref: str, tip: str, staged: Optional[bool],
                    cleanup: List[bytes]) -> Dict[str, object]:
    """From a repository whose `ref` is the agent's tip (objects not yet trusted): everything
    through a bundle into a checked repository, and from that one the counts, the diff, the
    exported bundle and the scan. `staged` None: whether the tip is bot-bottle's commit of
    uncommitted work is read from the checked tip itself (its author, committer and message),
    never taken from the guest's word."""

    # The checked repository: every object the agent made hashed by index-pack on the way in;
    # the base and what it holds come from the user's own repository when it is mounted
    # (/host/objects, read-only), else everything goes through (a complete bundle).
    repo = os.path.join(tmp, b"checked.git")
    git(["init", "-q", "--bare", f"--object-format={fmt}", os.fsdecode(repo)], tmp)
    thin = bool(base) and kind == "git" and os.path.isdir(HOST_OBJECTS) and git(
        ["cat-file", "-e", f"{base}^{{commit}}"], repo,
        env={"GIT_ALTERNATE_OBJECT_DIRECTORIES": HOST_OBJECTS}, check=False).returncode == 0
    if thin:
        with open(os.path.join(repo, b"objects", b"info", b"alternates"), "w") as f:
            f.write(HOST_OBJECTS + "\n")
    full = os.path.join(tmp, b"transfer.bundle")
    git(["bundle", "create", "-q", os.fsdecode(full), ref, *([f"^{base}"] if thin else [])],
        work, env=env)
    for path in cleanup + [work]:
        shutil.rmtree(path)
    unb = git(["bundle", "unbundle", os.fsdecode(full)], repo, check=False)
    if unb.returncode != 0:
        raise Failure("the workspace's repository is corrupt (its objects do not match their "
                      "names): " + unb.stderr.decode(errors="replace").strip().split("\n")[-1])
    os.unlink(full)
    git(["update-ref", ref, tip], repo)
    if git(["rev-list", "--objects", "--quiet", ref], repo, check=False).returncode != 0:
        raise Failure("the workspace's repository is incomplete: objects of its history are missing")
    if base and git(["cat-file", "-e", f"{base}^{{commit}}"], repo, check=False).returncode != 0:
        raise Failure(f"the base commit {base} is no longer in the workspace's repository "
                      "(the agent rewrote or pruned its history)")
    if staged is None:
        staged = _is_bot_bottle_commit(repo, tip, slug)
    empty = git(["hash-object", "-t", "tree", "--stdin"], repo, input=b"").stdout.decode().strip()
    exclude = [f"^{base}"] if base and kind == "git" else []
    since = base or empty
    commits = [c for c in git(["rev-list", tip, *([f"^{base}"] if base else [])], repo)
               .stdout.decode().split() if c]
    numstat = git(["diff", "--numstat", "-z", "--no-renames", since, tip], repo).stdout
    changed = len([x for x in numstat.split(b"\0") if x and x.count(b"\t") >= 2])
    with open("/out/diff.patch", "wb") as f:
        git(["diff", "--no-ext-diff", "--no-textconv", "--binary", "--no-color", since, tip],
            repo, stdout=f)
    if commits or kind != "git":
        git(["bundle", "create", "-q", "/out/changes.bundle", ref, *exclude], repo)
    findings: List[str] = []
    scanned = False
    if commits:
        scan = subprocess.run([SCANNER, "--scan-range", base or "", tip, ref],
                              cwd=repo, env={**_env(), "GIT_DIR": "."},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if scan.returncode not in (0, 99):
            raise Failure("the secret scan could not be completed: "
                          + scan.stderr.decode(errors="replace").strip())
        scanned = True
        findings = [line for line in scan.stdout.decode(errors="replace").splitlines() if line]
    return {"tip": tip, "base": base or None, "ref": ref, "commits": len(commits),
            "auto_commit": staged, "files_changed": changed, "scanned": scanned,
            "findings": findings}



def _is_bot_bottle_commit(repo: bytes, tip: str, slug: str) -> bool:
    """Whether `tip` (in the checked repository) is exactly the commit bot-bottle makes of
    uncommitted work: its identity as author and committer, its message."""
    raw = git(["cat-file", "commit", tip], repo).stdout
    head, _, message = raw.partition(b"\n\n")
    who = {line.split(b" ", 1)[0]: line.split(b" ", 1)[1].rsplit(b" ", 2)[0]
           for line in head.split(b"\n") if line.startswith((b"author ", b"committer "))}
    me = f"{IDENTITY['GIT_AUTHOR_NAME']} <{IDENTITY['GIT_AUTHOR_EMAIL']}>".encode()
    return who.get(b"author") == me and who.get(b"committer") == me and \
        message == f"bot-bottle: work left uncommitted in {slug}\n".encode()


SNAPSHOT_OBJECT = re.compile(rb"(?:\./)?\.git/objects/(?:[0-9a-f]{2}/[0-9a-f]{38,62}|pack/pack-[0-9a-f]{40,64}\.(?:pack|idx))")


def _member_name(raw, member: tarfile.TarInfo) -> str:
    """A member's name. Python's tarfile reads the atime and ctime that GNU tar's incremental
    archives store in a GNU header as a ustar name prefix ("15303601001/./a"); a GNU header has
    no prefix, so when the member has no long-name record of its own, its name is the header's
    name field alone."""
    if member.offset != member.offset_data - tarfile.BLOCKSIZE:
        return member.name  # a long name, from its own record
    raw.seek(member.offset)
    header = raw.read(tarfile.BLOCKSIZE)
    if header[257:265] != tarfile.GNU_MAGIC:
        return member.name
    return tarfile.nts(header[0:100], "utf-8", "surrogateescape")


def _objects_from(archive: str, objects: bytes) -> int:
    """The plain regular files of `archive` under .git/objects (loose objects and packs, by
    name), copied into `objects`; nothing else of it is read (no links, hooks, config, refs,
    or sparse members, whose holes would be written out in full). Returns the bytes written:
    never more than the archive's own size, so the archive bounds what it can make here."""
    n = 0
    budget = os.path.getsize(archive)
    with open(archive, "rb") as raw, tarfile.open(archive, "r:", encoding="utf-8",
                                                   errors="surrogateescape") as tar:
        for member in tar:
            tar.members = []  # one header at a time: a stream of headers costs no memory
            name = _member_name(raw, member).encode("utf-8", "surrogateescape")
            if member.type not in (tarfile.REGTYPE, tarfile.AREGTYPE) or member.sparse \
                    or not SNAPSHOT_OBJECT.fullmatch(name):
                continue
            if member.size > budget:
                raise Failure("an object file in the captured changes is larger than the "
                              "archive holding it")
            budget -= member.size
            rel = name.split(b".git/objects/", 1)[1]
            dest = os.path.join(objects, rel)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            src = tar.extractfile(member)
            assert src is not None
            with open(dest, "wb") as f:
                shutil.copyfileobj(src, f)
            n += member.size
    return n


def capture_delta(slug: str, base: str, kind: str, tip: str,
                  archives: List[str]) -> Dict[str, object]:
    """The fast capture: the guest made the commit itself (as the agent, a temporary index,
    no ref moved) and sent only what changed since the copy-in; `tip` is what it says the commit
    is. Only object files are taken from the archives (/in/*.tar: what was copied in, then each
    capture since, oldest first); the tip and every object it needs are then checked exactly as
    in a full capture (index-pack hashes each one), so nothing the guest says is trusted."""
    if not OID.match(tip.encode()):
        raise Failure("the guest's commit is not an object name")
    fmt = "sha1" if len(tip) == 40 else "sha256"
    tmp = tempfile.mkdtemp(prefix="bb-cap-").encode()
    work = os.path.join(tmp, b"work.git")
    git(["init", "-q", "--bare", f"--object-format={fmt}", os.fsdecode(work)], tmp)
    objects = os.path.join(work, b"objects")
    for archive in archives:
        _objects_from(archive, objects)
    env = {"GIT_DIR": os.fsdecode(work), **IDENTITY}
    if base and kind == "git" and os.path.isdir(HOST_OBJECTS):
        # Objects the guest had at copy-in are the user's: asked for in the user's repository.
        env["GIT_ALTERNATE_OBJECT_DIRECTORIES"] = HOST_OBJECTS
    ref = f"refs/heads/bot-bottle/{slug}"
    if git(["cat-file", "-e", f"{tip}^{{commit}}"], work, env=env, check=False).returncode != 0:
        raise Failure(f"the guest's commit {tip} is not among the objects it sent")
    git(["update-ref", ref, tip], work, env=env)
    return _checked_export(slug, base, kind, fmt, tmp, work, env, ref, tip, None, cleanup=[])


def main(argv: List[str]) -> int:
    try:
        if argv[:1] == ["survey"] and len(argv) == 2:
            print(json.dumps(survey(argv[1])))
            return 0
        if argv[:1] == ["snapshot"] and 2 <= len(argv) <= 4:
            return snapshot(argv[1], *argv[2:])
        if argv[:1] == ["capture"] and len(argv) == 4:
            print(json.dumps(capture(argv[1], argv[2], argv[3])))
            return 0
        if argv[:1] == ["capture-delta"] and len(argv) >= 6:
            print(json.dumps(capture_delta(*argv[1:5], archives=argv[5:])))
            return 0
    except Failure as failure:
        print(f"bb-workspace: {_one_line(str(failure))}", file=sys.stderr)
        return 3
    print("usage: bb-workspace survey|snapshot KIND | capture SLUG BASE KIND | "
          "capture-delta SLUG BASE KIND TIP ARCHIVE...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
