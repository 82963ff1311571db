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

/** A file's (or FIFO's) reads: this large, so a 1 MiB pipe is emptied in one read. */
const FILE_READ = 1 << 20;

/** What a pipe reads from: a child's stdout, a readable, or an open file or FIFO. */
export type PipeSource = Spawned | ReadableStream<Uint8Array> | Deno.FsFile;

function isChild(source: PipeSource): source is Spawned {
  return !(source instanceof ReadableStream) && !(source instanceof Deno.FsFile);
}

/**
 * Pipe `source` into `sink` (a child or a writable). A file is read in FILE_READ pieces and
 * written on as it comes (a stream of it would read 64 KiB at a time, each a trip to a
 * thread, and pass every piece through a transform: the most of what a copy costs here);
 * it is closed at the end.
 */
export async function pipeStreams(
  source: PipeSource,
  sink: Spawned | WritableStream<Uint8Array>,
  onBytes: (total: number) => void = () => {},
  /** Cut the pipe (and stop the source) once more than this many bytes came. */
  limit = Infinity,
): Promise<PipeResult> {
  const writable = sink instanceof WritableStream ? sink : sink.stdin!;
  let bytes = 0;
  let overLimit = false;
  const counted = (n: number): boolean => {
    bytes += n;
    if (bytes > limit) {
      overLimit = true;
      return false;
    }
    onBytes(bytes);
    return true;
  };
  const sourceErr = isChild(source) ? text(source.stderr) : Promise.resolve("");
  const sinkErr = sink instanceof WritableStream ? Promise.resolve("") : text(sink.stderr);
  const sinkOut = sink instanceof WritableStream ? Promise.resolve("") : text(sink.stdout);
  // A sink that dies early makes the pipe fail: the source is then stopped (it would block on
  // a full pipe otherwise); the exit codes and stderr say why.
  let failed: unknown = null;
  if (source instanceof Deno.FsFile) {
    failed = await copyFile(source, writable, counted).then(() => null, (e) => e);
  } else {
    const readable = source instanceof ReadableStream ? source : source.stdout!;
    const counter = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        if (!counted(chunk.byteLength)) {
          controller.error(new Error(`more than ${limit} bytes`));
          return;
        }
        controller.enqueue(chunk);
      },
    });
    failed = await readable.pipeThrough(counter).pipeTo(writable).then(() => null, (e) => e);
  }
  if (failed !== null && isChild(source)) {
    try {
      source.kill("SIGTERM");
    } catch { /* already gone */ }
  }
  const [sourceCode, sinkCode] = await Promise.all([
    isChild(source) ? source.status : Promise.resolve(null),
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

/** A file into a writable, FILE_READ at a time; the file is closed, the writable closed (or
 * aborted on a failure or when `take` refuses a piece). */
async function copyFile(
  file: Deno.FsFile,
  writable: WritableStream<Uint8Array>,
  take: (n: number) => boolean,
): Promise<void> {
  const writer = writable.getWriter();
  try {
    while (true) {
      const buf = new Uint8Array(FILE_READ);
      const n = await file.read(buf);
      if (n === null) break;
      if (!take(n)) throw new Error("over the limit");
      await writer.write(buf.subarray(0, n));
    }
    await writer.close();
  } catch (error) {
    await writer.abort(error).catch(() => {});
    throw error;
  } finally {
    try {
      file.close();
    } catch { /* closed */ }
  }
}
