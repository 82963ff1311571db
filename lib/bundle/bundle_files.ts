/**
 * The sidecar bundle's build context (SPEC §8): the real files under
 * lib/bundle/image/ (shellchecked by the tests), embedded in the binary as
 * text imports, plus the reasons table generated from bot-bottle's reason
 * codes (what the proxy's refusals say). Built from Debian packages only:
 * mitmproxy (plain-http proxying and tunnels, with bot-bottle's addon in
 * lib/bb/; bot-bottle's own TLS interceptor, lib/bb/intercept.py, reads
 * HTTP/1.1 with lib/bb/http1.py and WebSocket frames with the wsproto
 * mitmproxy depends on), python3,
 * git + openssh-client (git gate) and gitleaks from trixie (apt-pinned so
 * nothing else comes from trixie). The per-bottle config is
 * rendered by config/render_bundle_config.ts and mounted read-only at
 * /etc/bot-bottle.
 *
 * Every change to these files gives the image a new tag (bundle_image.ts).
 */
import DOCKERFILE from "./image/Dockerfile" with { type: "text" };
import APT_GITLEAKS_PREF from "./image/apt/gitleaks.pref" with { type: "text" };
import APT_TRIXIE_SOURCES from "./image/apt/trixie.sources" with { type: "text" };
import BIN_HEALTH from "./image/bin/bot-bottle-health" with { type: "text" };
import BIN_INIT from "./image/bin/bot-bottle-init" with { type: "text" };
import BIN_BB_AUDIT from "./image/lib/bb-audit.py" with { type: "text" };
import BIN_BB_SECRETS from "./image/lib/bb-secrets.py" with { type: "text" };
import BIN_BB_WORKSPACE from "./image/lib/bb-workspace.py" with { type: "text" };
import LIB_BB_INIT from "./image/lib/bb/__init__.py" with { type: "text" };
import LIB_BB_ADDRESSES from "./image/lib/bb/addresses.py" with { type: "text" };
import LIB_BB_AUDIT from "./image/lib/bb/audit.py" with { type: "text" };
import LIB_BB_CERTS from "./image/lib/bb/certs.py" with { type: "text" };
import LIB_BB_CREDENTIALS from "./image/lib/bb/credentials.py" with { type: "text" };
import LIB_BB_DNS_SINK from "./image/lib/bb/dns_sink.py" with { type: "text" };
import LIB_BB_EGRESS from "./image/lib/bb/egress.py" with { type: "text" };
import LIB_BB_GATE from "./image/lib/bb/gate.py" with { type: "text" };
import LIB_BB_HTTP1 from "./image/lib/bb/http1.py" with { type: "text" };
import LIB_BB_INTERCEPT from "./image/lib/bb/intercept.py" with { type: "text" };
import LIB_BB_MAIN from "./image/lib/bb/main.py" with { type: "text" };
import LIB_BB_PATCHES from "./image/lib/bb/patches.py" with { type: "text" };
import LIB_BB_POLICY from "./image/lib/bb/policy.py" with { type: "text" };
import LIB_BB_RULES from "./image/lib/bb/rules.py" with { type: "text" };
import LIB_BB_WORKSPACE from "./image/lib/bb/workspace.py" with { type: "text" };
import LIB_GIT_ACCESS_HOOK from "./image/lib/git-access-hook" with { type: "text" };
import LIB_GIT_PRE_RECEIVE from "./image/lib/git-pre-receive" with { type: "text" };
import LIB_MK_GITLEAKS_CONFIG from "./image/lib/mk-gitleaks-config" with { type: "text" };
import { PROXY_REASONS } from "../policy/reasons.ts";

/** The files of lib/bundle/image/, by path in the build context. */
export const IMAGE_FILES: Readonly<Record<string, string>> = Object.freeze({
  "Dockerfile": DOCKERFILE,
  "apt/gitleaks.pref": APT_GITLEAKS_PREF,
  "apt/trixie.sources": APT_TRIXIE_SOURCES,
  "bin/bot-bottle-health": BIN_HEALTH,
  "bin/bot-bottle-init": BIN_INIT,
  "lib/bb-audit.py": BIN_BB_AUDIT,
  "lib/bb-secrets.py": BIN_BB_SECRETS,
  "lib/bb-workspace.py": BIN_BB_WORKSPACE,
  "lib/bb/__init__.py": LIB_BB_INIT,
  "lib/bb/addresses.py": LIB_BB_ADDRESSES,
  "lib/bb/audit.py": LIB_BB_AUDIT,
  "lib/bb/certs.py": LIB_BB_CERTS,
  "lib/bb/credentials.py": LIB_BB_CREDENTIALS,
  "lib/bb/dns_sink.py": LIB_BB_DNS_SINK,
  "lib/bb/egress.py": LIB_BB_EGRESS,
  "lib/bb/gate.py": LIB_BB_GATE,
  "lib/bb/http1.py": LIB_BB_HTTP1,
  "lib/bb/intercept.py": LIB_BB_INTERCEPT,
  "lib/bb/main.py": LIB_BB_MAIN,
  "lib/bb/patches.py": LIB_BB_PATCHES,
  "lib/bb/policy.py": LIB_BB_POLICY,
  "lib/bb/rules.py": LIB_BB_RULES,
  "lib/bb/workspace.py": LIB_BB_WORKSPACE,
  "lib/git-access-hook": LIB_GIT_ACCESS_HOOK,
  "lib/git-pre-receive": LIB_GIT_PRE_RECEIVE,
  "lib/mk-gitleaks-config": LIB_MK_GITLEAKS_CONFIG,
});

/** What is generated from bot-bottle's own tables: the reasons the proxy names in refusals. */
function generated(): Record<string, string> {
  const reasons = Object.fromEntries(
    PROXY_REASONS.map((r) => [r.code, { summary: r.summary, page: r.page }]),
  );
  return { "lib/reasons.json": `${JSON.stringify(reasons, null, 2)}\n` };
}

/** Build context of the bundle image: relative path -> file content. */
export const BUNDLE_FILES: Readonly<Record<string, string>> = Object.freeze({
  ...IMAGE_FILES,
  ...generated(),
});

/** Files of BUNDLE_FILES that must be executable in the build context. */
export const BUNDLE_EXECUTABLES: readonly string[] = Object.freeze(
  Object.keys(IMAGE_FILES).filter((path) => IMAGE_FILES[path].startsWith("#!")),
);

/** The bash scripts among them (shellchecked by the tests). */
export const BUNDLE_SHELL_SCRIPTS: readonly string[] = Object.freeze(
  BUNDLE_EXECUTABLES.filter((path) => IMAGE_FILES[path].startsWith("#!/bin/bash")),
);
