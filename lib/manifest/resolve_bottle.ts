/**
 * Folding a bottle's `extends` chain into one {@link ResolvedBottle} (SPEC §3).
 */
import { didYouMeanSuffix } from "./did_you_mean.ts";
import { ManifestError } from "./manifest_error.ts";
import { formatKeyPath, quote, truncate } from "./parse_manifest.ts";
import { allowlistCovers } from "../policy/host_pattern.ts";
import {
  type BottleDef,
  DEFAULT_BUNDLE_LIMITS,
  DEFAULT_CPUS,
  DEFAULT_MEMORY_MIB,
  type EgressRule,
  type GitRemote,
  type InjectedSecret,
  type Manifest,
  type ResolvedBottle,
} from "./types.ts";

/** Longest `extends` chain (bottles, including the one asked for). */
export const MAX_EXTENDS_DEPTH = 32;

function definedIn(manifest: Manifest): string {
  return manifest.files.length === 0
    ? "any manifest (no manifest file was found)"
    : manifest.files.join(" or ");
}

/**
 * The definitions of `name` and its ancestors, root first.
 *
 * @throws ManifestError for an undefined bottle or parent, a bottle that
 *   extends itself, a cycle, or a chain longer than {@link MAX_EXTENDS_DEPTH}.
 */
export function bottleChain(manifest: Manifest, name: string): BottleDef[] {
  const bottles = manifest.bottles;
  if (!Object.hasOwn(bottles, name)) {
    throw new ManifestError(
      `bottle ${quote(name)} is not defined in ${definedIn(manifest)}` +
        didYouMeanSuffix(name, Object.keys(bottles)),
    );
  }
  const names = [name];
  const defs = [bottles[name]];
  let current = bottles[name];
  while (current.extends !== undefined) {
    const parent = current.extends;
    const at = `${current.source}: ${formatKeyPath(["bottles", current.name, "extends"])}`;
    if (parent === current.name) {
      throw new ManifestError(`${at}: bottle ${quote(parent)} extends itself`);
    }
    const seenAt = names.indexOf(parent);
    if (seenAt !== -1) {
      const cycle = [...names.slice(seenAt), parent].map((n) => truncate(n)).join(" -> ");
      throw new ManifestError(`${at}: extends cycle ${cycle}`);
    }
    if (!Object.hasOwn(bottles, parent)) {
      throw new ManifestError(
        `${at}: bottle ${quote(parent)} is not defined` +
          didYouMeanSuffix(parent, Object.keys(bottles)),
      );
    }
    if (names.length >= MAX_EXTENDS_DEPTH) {
      throw new ManifestError(
        `${bottles[name].source}: ${
          formatKeyPath(["bottles", name])
        }: extends chain is longer than ` +
          `${MAX_EXTENDS_DEPTH} bottles (${
            names.slice(0, 3).map((n) => truncate(n)).join(" -> ")
          } -> ...)`,
      );
    }
    names.push(parent);
    current = bottles[parent];
    defs.push(current);
  }
  return defs.reverse();
}

/**
 * Resolve bottle `name`: fold its `extends` chain root first. `env` and
 * `secrets` merge key by key (child wins), `egress.allow`, `ca_certs` and
 * `egress.rules` union in first-seen order, `git` unions by remote name (child
 * wins), scalars override; a child's `image` clears an inherited `dockerfile`
 * and vice versa.
 *
 * @throws ManifestError for chain problems (see {@link bottleChain}), a
 *   variable that ends up in both env and secrets, a secret declared in both
 *   forms (held and injected) along the chain, an `inject` host or a rule's host
 *   that egress.allow does not let through, a `ca_certs` file that was not read,
 *   or no image/dockerfile.
 */
export function resolveBottle(manifest: Manifest, name: string): ResolvedBottle {
  const chain = bottleChain(manifest, name);
  const self = chain[chain.length - 1];
  let image: string | undefined;
  let dockerfile: string | undefined;
  let cpus = DEFAULT_CPUS;
  let memory = DEFAULT_MEMORY_MIB;
  let workdir: string | undefined;
  let supervise = false;
  let onBlock: "refuse" | "ask" = "refuse";
  let askTimeout = 60;
  let runtime: "runc" | "runsc" = "runc";
  const bundle: ResolvedBottle["bundle"] = { ...DEFAULT_BUNDLE_LIMITS };
  const env = new Map<string, { value: string; from: string }>();
  const secrets = new Map<string, { value: string; from: string }>();
  const injected = new Map<string, { value: InjectedSecret; from: BottleDef }>();
  const egress = new Set<string>();
  const caCerts: string[] = [];
  const rules: EgressRule[] = [];
  let inspect: "credentials" | "all" = "credentials";
  const problems: string[] = [];
  const bothForms = (key: string, def: BottleDef, other: string, form: string) =>
    problems.push(
      `${def.source}: ${formatKeyPath(["bottles", def.name, "secrets", key])}: ${truncate(key)} ` +
        `is ${form} here and declared in the other form by bottle ${quote(other)} it extends; a ` +
        'secret is either held by the agent (NAME = "HOST_VAR") or injected by the bundle ' +
        "({ from, inject }), so declare it one way along the chain",
    );
  const git = new Map<string, GitRemote>();
  for (const def of chain) {
    if (def.image !== undefined) {
      image = def.image;
      dockerfile = undefined;
    }
    if (def.dockerfile !== undefined) {
      dockerfile = def.dockerfile;
      image = undefined;
    }
    if (def.cpus !== undefined) cpus = def.cpus;
    if (def.memory !== undefined) memory = def.memory;
    if (def.workdir !== undefined) workdir = def.workdir;
    if (def.supervise !== undefined) supervise = def.supervise;
    if (def.egressOnBlock !== undefined) onBlock = def.egressOnBlock;
    if (def.egressAskTimeout !== undefined) askTimeout = def.egressAskTimeout;
    if (def.runtime !== undefined) runtime = def.runtime;
    Object.assign(bundle, def.bundle ?? {});
    for (const [k, v] of Object.entries(def.env ?? {})) env.set(k, { value: v, from: def.name });
    if (def.egressInspect !== undefined) inspect = def.egressInspect;
    for (const [k, v] of Object.entries(def.secrets ?? {})) {
      const other = injected.get(k);
      if (other) bothForms(k, def, other.from.name, "held by the agent (string form)");
      secrets.set(k, { value: v, from: def.name });
    }
    for (const [k, v] of Object.entries(def.injected ?? {})) {
      const other = secrets.get(k);
      if (other) bothForms(k, def, other.from, "injected");
      injected.set(k, { value: { from: v.from, inject: [...v.inject] }, from: def });
    }
    for (const host of def.egressAllow ?? []) egress.add(host);
    for (const path of def.caCerts ?? []) if (!caCerts.includes(path)) caCerts.push(path);
    rules.push(...(def.egressRules ?? []));
    for (const remote of def.git ?? []) git.set(remote.name, { ...remote });
  }
  const chainNames = chain.map((d) => d.name);
  for (const [key, { from }] of env) {
    const secret = secrets.get(key) ??
      (injected.has(key) ? { from: injected.get(key)!.from.name } : undefined);
    if (secret !== undefined) {
      throw new ManifestError(
        `${self.source}: ${formatKeyPath(["bottles", name])}: ${truncate(key)} is set in env (by ` +
          `bottle ${quote(from)}) and in secrets (by bottle ${quote(secret.from)}) along the ` +
          `extends chain ${chainNames.map((n) => truncate(n)).join(" -> ")}; a guest variable ` +
          "must come from one place",
      );
    }
  }
  const allow = [...egress];
  const allowHint = (host: string) =>
    `add "${host}" to egress.allow of bottle ${quote(name)} (or a bottle it extends), or ` +
    "remove it here";
  for (const [key, { value, from }] of injected) {
    value.inject.forEach((host, i) => {
      if (allowlistCovers(allow, host)) return;
      problems.push(
        `${from.source}: ${formatKeyPath(["bottles", from.name, "secrets", key, "inject", i])}: ` +
          `${quote(host)} is not in egress.allow of bottle ${quote(name)}; a secret is injected ` +
          `only into requests the bottle may send: ${allowHint(host)}`,
      );
    });
  }
  for (const rule of rules) {
    if (allowlistCovers(allow, rule.host)) continue;
    problems.push(
      `${rule.source}: ${rule.where}: host ${quote(rule.host)} is not in egress.allow of bottle ${
        quote(name)
      }, ` +
        `so the rule could never apply: ${allowHint(rule.host)}`,
    );
  }
  const certificates = manifest.certificates ?? {};
  const certs: { path: string; pem: string }[] = [];
  for (const path of caCerts) {
    if (!Object.hasOwn(certificates, path)) {
      problems.push(
        `${self.source}: ${formatKeyPath(["bottles", name, "ca_certs"])}: ${path} was not read ` +
          "when the manifest was loaded",
      );
      continue;
    }
    certs.push({ path, pem: certificates[path] });
  }
  if (problems.length > 0) throw ManifestError.all(problems);
  if (image === undefined && dockerfile === undefined) {
    throw new ManifestError(
      `${self.source}: ${formatKeyPath(["bottles", name])}: bottle ${quote(name)} has neither ` +
        "image nor dockerfile " +
        "(set one of them in it or in a bottle it extends)",
    );
  }
  const resolved: ResolvedBottle = {
    name,
    chain: chainNames,
    cpus,
    memory,
    env: Object.fromEntries([...env].map(([k, v]) => [k, v.value])),
    secrets: Object.fromEntries([...secrets].map(([k, v]) => [k, v.value])),
    injected: Object.fromEntries([...injected].map(([k, v]) => [k, v.value])),
    caCerts: certs,
    egressAllow: allow,
    egressInspect: inspect,
    egressRules: rules,
    egressOnBlock: onBlock,
    egressAskTimeout: askTimeout,
    git: [...git.values()],
    supervise,
    bundle,
    runtime,
  };
  if (image !== undefined) resolved.image = image;
  if (dockerfile !== undefined) resolved.dockerfile = dockerfile;
  if (workdir !== undefined) resolved.workdir = workdir;
  return resolved;
}
