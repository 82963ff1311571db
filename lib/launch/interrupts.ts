/**
 * SIGINT/SIGTERM/SIGHUP during a launch (SIGHUP: the terminal or SSH session
 * went away): the first signal aborts the launch (the
 * running step is cancelled, teardown runs, the exit code is 130); the
 * listeners keep the process alive until teardown has finished.
 */
import { UserError } from "../errors.ts";

/** Thrown at the first checkpoint after a signal. */
export class Interrupted extends UserError {
  constructor(signal: string) {
    super(`interrupted by ${signal}; tearing down what was created`, { exitCode: 130 });
    this.name = "Interrupted";
  }
}

/** Signal handling for one launch. */
export class Interrupts {
  readonly #controller = new AbortController();
  #received: string | null = null;
  readonly #listeners: [Deno.Signal, () => void][] = [];

  constructor(signals: Deno.Signal[] = ["SIGINT", "SIGTERM", "SIGHUP"]) {
    for (const signal of signals) {
      const listener = () => {
        if (this.#received === null) this.#received = signal;
        this.#controller.abort(new Interrupted(signal));
      };
      Deno.addSignalListener(signal, listener);
      this.#listeners.push([signal, listener]);
    }
  }

  /** Aborts when a signal arrives. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** The signal received, if any. */
  get received(): string | null {
    return this.#received;
  }

  /** Throw `Interrupted` if a signal has arrived. */
  check(): void {
    if (this.#received !== null) throw new Interrupted(this.#received);
  }

  /** Stop listening. */
  dispose(): void {
    for (const [signal, listener] of this.#listeners) Deno.removeSignalListener(signal, listener);
    this.#listeners.length = 0;
  }
}

/** Sleep `ms`, waking early (and throwing) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
