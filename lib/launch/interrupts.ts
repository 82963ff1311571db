/**
 * SIGINT/SIGTERM/SIGHUP during a launch (SIGHUP: the terminal or SSH session
 * went away): the first signal aborts the launch (the
 * running step is cancelled, teardown runs, the exit code is 130); the
 * listeners keep the process alive until teardown has finished.
 */
import { UserError } from "../errors.ts";
import type { CreatedResource, TeardownFailure } from "./teardown_stack.ts";

/** Thrown at the first checkpoint after a signal. */
export class Interrupted extends UserError {
  readonly signal: string;

  constructor(signal: string, message = `interrupted by ${signal}`) {
    super(message, { exitCode: 130 });
    this.name = "Interrupted";
    this.signal = signal;
  }

  /** The same interruption, told after teardown: what it ended, what was removed (past tense). */
  after(
    created: readonly CreatedResource[],
    failures: readonly TeardownFailure[],
    agentRan: boolean,
  ): Interrupted {
    const failed = new Set(failures.map((f) => f.name));
    const removed = [...created].reverse().filter((r) => !failed.has(r.name))
      .map((r) => `${r.kind} ${r.name}`);
    const ended = agentRan ? "stopped the agent" : "stopped the launch before the agent ran";
    const what = removed.length > 0
      ? `removed ${removed.join(", ")}`
      : "nothing had been created yet";
    const left = failures.length > 0
      ? `; could not remove ${failures.map((f) => f.name).join(", ")} (\`bot-bottle cleanup\` ` +
        "retries)"
      : "";
    return new Interrupted(this.signal, `interrupted by ${this.signal}: ${ended}; ${what}${left}`);
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
