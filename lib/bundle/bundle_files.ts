/**
 * The sidecar bundle's build context (SPEC §8): the real files under
 * lib/bundle/image/ (shellchecked by the tests), embedded in the binary as
 * text imports, plus what is generated from bot-bottle's reason codes (one
 * refusal page per proxy reason, and the reasons table the decision log
 * reads). Built from Debian packages only: squid (egress proxy), dnsmasq
 * (DNS sink), git + openssh-client (git gate) and gitleaks from trixie
 * (apt-pinned so nothing else comes from trixie). The per-bottle config is
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
import LIB_DNSMASQ_CONF from "./image/lib/dnsmasq.conf" with { type: "text" };
import LIB_EGRESS_LOG_AWK from "./image/lib/egress-log.awk" with { type: "text" };
import LIB_GIT_ACCESS_HOOK from "./image/lib/git-access-hook" with { type: "text" };
import LIB_GIT_PRE_RECEIVE from "./image/lib/git-pre-receive" with { type: "text" };
import { PROXY_REASONS, refusalPageName } from "../policy/reasons.ts";

/** The files of lib/bundle/image/, by path in the build context. */
export const IMAGE_FILES: Readonly<Record<string, string>> = Object.freeze({
  "Dockerfile": DOCKERFILE,
  "apt/gitleaks.pref": APT_GITLEAKS_PREF,
  "apt/trixie.sources": APT_TRIXIE_SOURCES,
  "bin/bot-bottle-health": BIN_HEALTH,
  "bin/bot-bottle-init": BIN_INIT,
  "lib/dnsmasq.conf": LIB_DNSMASQ_CONF,
  "lib/egress-log.awk": LIB_EGRESS_LOG_AWK,
  "lib/git-access-hook": LIB_GIT_ACCESS_HOOK,
  "lib/git-pre-receive": LIB_GIT_PRE_RECEIVE,
});

/** squid's page for a refusal: `%M %H:%p` are the request's method, host and port. */
function refusalPage(page: string): string {
  const text = page.replaceAll("{method}", "%M").replaceAll("{host}", "%H").replaceAll(
    "{port}",
    "%p",
  );
  return "<!DOCTYPE html><html><head><title>403 refused by bot-bottle egress</title></head>" +
    `<body><pre>\nbot-bottle egress: refused %M %H:%p: ${text}\n</pre></body></html>\n`;
}

function generated(): Record<string, string> {
  const files: Record<string, string> = {};
  for (const reason of PROXY_REASONS) {
    files[`errors/${refusalPageName(reason.code)}`] = refusalPage(reason.page);
  }
  files["lib/reasons.tsv"] = PROXY_REASONS.map((r) => `${r.code}\t${r.summary}\n`).join("");
  return files;
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
