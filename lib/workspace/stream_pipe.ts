/**
 * One child's output into another's input, in process (never through a
 * temp file), counting bytes for a progress line; both children's exit codes
 * and stderr come back. Used for the workspace copy in (snapshot helper ->
 * guest tar) and out (guest tar -> file).
 */
import type { Spawned } from "../host/runner.ts";

/** What a finished pipe left. */
export interface PipeResult {
  bytes: number;
  /** The source's exit code (null for a file source). */
  sourceCode: number | null;
  sourceErr: string;
  sinkCode: number | null;
  sinkErr: string;
  /** The source sent more than `limit` bytes: the pipe was cut there. */
  overLimit: boolean;
}

async function text(stream: ReadableStream<Uint8Array> | null): Promise<string> {
  if (!stream) return "";
  let out = "";
  const decoder = new TextDecoder();
  for await (const chunk of stream) {
    if (out.length < 64 * 1024) out += decoder.decode(chunk, { stream: true });
  }
  return out;
}

/** Pipe `source` (a child or a readable) into `sink` (a child or a writable). */
export async function pipeStreams(
  source: Spawned | ReadableStream<Uint8Array>,
  sink: Spawned | WritableStream<Uint8Array>,
  onBytes: (total: number) => void = () => {},
  /** Cut the pipe (and stop the source) once more than this many bytes came. */
  limit = Infinity,
): Promise<PipeResult> {
  const readable = source instanceof ReadableStream ? source : source.stdout!;
  const writable = sink instanceof WritableStream ? sink : sink.stdin!;
  let bytes = 0;
  let overLimit = false;
  const counter = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      bytes += chunk.byteLength;
      if (bytes > limit) {
        overLimit = true;
        controller.error(new Error(`more than ${limit} bytes`));
        return;
      }
      onBytes(bytes);
      controller.enqueue(chunk);
    },
  });
  const sourceErr = source instanceof ReadableStream ? Promise.resolve("") : text(source.stderr);
  const sinkErr = sink instanceof WritableStream ? Promise.resolve("") : text(sink.stderr);
  const sinkOut = sink instanceof WritableStream ? Promise.resolve("") : text(sink.stdout);
  // A sink that dies early makes the pipe fail: the source is then stopped (it would block on
  // a full pipe otherwise); the exit codes and stderr say why.
  const failed = await readable.pipeThrough(counter).pipeTo(writable).then(() => null, (e) => e);
  if (failed !== null && !(source instanceof ReadableStream)) {
    try {
      source.kill("SIGTERM");
    } catch { /* already gone */ }
  }
  const [sourceCode, sinkCode] = await Promise.all([
    source instanceof ReadableStream ? Promise.resolve(null) : source.status,
    sink instanceof WritableStream ? Promise.resolve(null) : sink.status,
  ]);
  await sinkOut;
  return {
    bytes,
    sourceCode,
    sourceErr: await sourceErr,
    sinkCode,
    sinkErr: await sinkErr,
    overLimit,
  };
}
