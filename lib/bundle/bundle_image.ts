/**
 * The sidecar bundle image: a content-addressed tag over the embedded build context
 * (bundle_files.ts), the `docker build` argv, and a build-on-first-use helper.
 */
import { Sha256 } from "../plan/sha256.ts";
import { join } from "node:path";
import { buildArgv, buildImage, type BuildSpec, imagePresent } from "../host/docker_build.ts";
import type { Runner } from "../host/runner.ts";
import { BUNDLE_EXECUTABLES, BUNDLE_FILES } from "./bundle_files.ts";

/** Base image the bundle is built on unless told otherwise (a Debian bookworm image). */
export const DEFAULT_BUNDLE_BASE_IMAGE = "debian:bookworm-slim";
/** Repository part of the bundle image tag. */
export const BUNDLE_IMAGE_REPO = "bot-bottle/bundle";

/**
 * `bot-bottle/bundle:<12 hex>`: SHA-256 over the sorted build-context files (path and content,
 * NUL-separated) and, when it is not the default, the base image. Any change to the embedded
 * files or the base image yields a new tag.
 */
export function bundleImageTag(
  baseImage: string = DEFAULT_BUNDLE_BASE_IMAGE,
  files: Readonly<Record<string, string>> = BUNDLE_FILES,
): string {
  const hash = new Sha256();
  for (const path of Object.keys(files).sort()) {
    hash.update(path).update("\0").update(files[path]).update("\0");
  }
  if (baseImage !== DEFAULT_BUNDLE_BASE_IMAGE) hash.update(`BASE_IMAGE=${baseImage}`);
  return `${BUNDLE_IMAGE_REPO}:${hash.hex().slice(0, 12)}`;
}

/** The build of the bundle image from the context in `contextDir`. Pure. */
export function bundleBuildSpec(
  contextDir: string,
  tag: string,
  baseImage: string,
  scope: { owner?: string; lockDir?: string } = {},
): BuildSpec {
  return {
    what: `bundle image ${tag}`,
    tag,
    dockerfile: BUNDLE_FILES["Dockerfile"],
    context: contextDir,
    role: "bundle-image",
    baseImage,
    owner: scope.owner,
    lockDir: scope.lockDir,
    hint: `check that the base image ${baseImage} exists locally (docker image inspect ` +
      `${baseImage}) and that deb.debian.org is reachable, then run: bot-bottle bundle build`,
  };
}

/** `docker build` argv for the bundle image (legacy builder; the Dockerfile on stdin). Pure. */
export function bundleBuildArgv(contextDir: string, tag: string, baseImage: string): string[] {
  return buildArgv(bundleBuildSpec(contextDir, tag, baseImage), "legacy");
}

/** Options of {@link ensureBundleImage}. */
export interface EnsureBundleImageOptions {
  /** Defaults to {@link DEFAULT_BUNDLE_BASE_IMAGE}. */
  baseImage?: string;
  /** Directory the build context is written to (created if missing). */
  workDir: string;
  /** Progress lines. */
  onProgress?: (line: string) => void;
  /** A terminal's one-line status (the build's current step). */
  onStatus?: (text: string) => void;
  /** The state root's owner id and build-lock dir (labels and locks the build). */
  owner?: string;
  lockDir?: string;
  signal?: AbortSignal;
}

/**
 * Returns the bundle image tag, building the image first unless `docker image inspect <tag>`
 * already finds it. Throws {@link UserError} with the tail of the build log when the build fails.
 */
export async function ensureBundleImage(
  runner: Runner,
  opts: EnsureBundleImageOptions,
): Promise<string> {
  const baseImage = opts.baseImage ?? DEFAULT_BUNDLE_BASE_IMAGE;
  const tag = bundleImageTag(baseImage);
  const progress = opts.onProgress ?? (() => {});
  if (await imagePresent(runner, tag)) {
    progress(`bundle image ${tag} is present`);
    return tag;
  }
  await writeBuildContext(opts.workDir);
  await buildImage(runner, bundleBuildSpec(opts.workDir, tag, baseImage, opts), {
    progress: { line: progress, status: opts.onStatus },
    signal: opts.signal,
  });
  return tag;
}

/** Writes the embedded build context into `dir` (scripts executable). */
export async function writeBuildContext(dir: string): Promise<void> {
  for (const [path, content] of Object.entries(BUNDLE_FILES)) {
    const target = join(dir, path);
    await Deno.mkdir(join(target, ".."), { recursive: true });
    await Deno.writeTextFile(target, content);
    await Deno.chmod(target, BUNDLE_EXECUTABLES.includes(path) ? 0o755 : 0o644);
  }
}
