/**
 * The sidecar bundle image: a content-addressed tag over the embedded build context
 * (bundle_files.ts), the `docker build` argv, and a build-on-first-use helper.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { UserError } from "../errors.ts";
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
  const hash = createHash("sha256");
  for (const path of Object.keys(files).sort()) {
    hash.update(path, "utf8").update("\0").update(files[path], "utf8").update("\0");
  }
  if (baseImage !== DEFAULT_BUNDLE_BASE_IMAGE) hash.update(`BASE_IMAGE=${baseImage}`, "utf8");
  return `${BUNDLE_IMAGE_REPO}:${hash.digest("hex").slice(0, 12)}`;
}

/** `docker build` argv for the bundle image. Pure. */
export function bundleBuildArgv(contextDir: string, tag: string, baseImage: string): string[] {
  return [
    "docker",
    "build",
    "--build-arg",
    `BASE_IMAGE=${baseImage}`,
    "--label",
    "io.bot-bottle.role=bundle-image",
    "-t",
    tag,
    contextDir,
  ];
}

/** Options of {@link ensureBundleImage}. */
export interface EnsureBundleImageOptions {
  /** Defaults to {@link DEFAULT_BUNDLE_BASE_IMAGE}. */
  baseImage?: string;
  /** Directory the build context is written to (created if missing). */
  workDir: string;
  /** Human progress lines (e.g. for a TTY spinner). */
  onProgress?: (line: string) => void;
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
  const inspect = await runner.run(["docker", "image", "inspect", "--format", "{{.Id}}", tag]);
  if (inspect.code === 0) {
    progress(`bundle image ${tag} is present`);
    return tag;
  }
  await writeBuildContext(opts.workDir);
  progress(`building bundle image ${tag} from ${baseImage} (Debian packages; first use only)`);
  const result = await runner.run(bundleBuildArgv(opts.workDir, tag, baseImage));
  const output = `${result.stdout}\n${result.stderr}`.split("\n").filter((l) => l.trim() !== "");
  for (const line of output) progress(line);
  if (result.code !== 0) {
    const tail = output.slice(-25).join("\n");
    throw new UserError(
      `building the bundle image ${tag} failed (docker build exit ${result.code}):\n${tail}`,
      {
        hint: `check that the base image ${baseImage} exists locally (docker image inspect ` +
          `${baseImage}) and that deb.debian.org is reachable, then run: bot-bottle bundle build`,
      },
    );
  }
  progress(`built bundle image ${tag}`);
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
