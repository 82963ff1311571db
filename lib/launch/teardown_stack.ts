/**
 * What a launch created, and how to remove it: each resource is recorded
 * the moment it exists (never before, so a name another object already held
 * is never ours to remove), and disposal removes them in reverse order, best
 * effort, collecting what could not be removed. Built on
 * `AsyncDisposableStack`, so `await using` runs it on every exit path.
 */

/** One thing a launch created. */
export interface CreatedResource {
  kind: "network" | "container" | "machine" | "file";
  name: string;
}

/** A resource that could not be removed, with why. */
export interface TeardownFailure {
  name: string;
  reason: string;
}

/** Removes a resource; returns why it could not, or null when it is gone. */
export type Remover = () => Promise<string | null>;

/** The launch's resources, removed in reverse on dispose. */
export class TeardownStack implements AsyncDisposable {
  readonly #stack = new AsyncDisposableStack();
  readonly #created: CreatedResource[] = [];
  readonly #failures: TeardownFailure[] = [];
  #disposed = false;

  /** Resources created so far, in creation order. */
  get created(): readonly CreatedResource[] {
    return this.#created;
  }

  /** What disposal could not remove. */
  get failures(): readonly TeardownFailure[] {
    return this.#failures;
  }

  /** Record that `resource` exists now, and how it goes away. */
  add(resource: CreatedResource, remove: Remover): void {
    this.#created.push(resource);
    this.defer(resource.name, remove);
  }

  /** Run `step` at disposal (before everything added earlier); `name` labels its failure. */
  defer(name: string, step: Remover): void {
    this.#stack.defer(async () => {
      let reason: string | null;
      try {
        reason = await step();
      } catch (error) {
        reason = error instanceof Error ? error.message : String(error);
      }
      if (reason !== null) this.#failures.push({ name, reason });
    });
  }

  /** Remove everything, newest first. Idempotent; never throws. */
  async dispose(): Promise<readonly TeardownFailure[]> {
    if (!this.#disposed) {
      this.#disposed = true;
      await this.#stack.disposeAsync();
    }
    return this.#failures;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}
