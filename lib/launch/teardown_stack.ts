/**
 * What a launch created, and how to remove it: each resource is recorded
 * the moment it exists (never before, so a name another object already held
 * is never ours to remove), and disposal removes them in reverse order, best
 * effort, collecting what could not be removed. Neighbours of one kind that
 * do not depend on each other (the agent's and the bundle's containers, the
 * bottle's two networks) are removed at once, their removals started in
 * reverse order; every container goes before the networks it joined, since
 * they were created after them. Disposable, so `await using` runs it on every
 * exit path.
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

/** Kinds whose neighbours on the stack are removed concurrently. */
const CONCURRENT: ReadonlySet<CreatedResource["kind"]> = new Set(["container", "network"]);

interface Step {
  name: string;
  /** Set for a created resource of a concurrent kind; steps of one group share it. */
  group: CreatedResource["kind"] | null;
  run: Remover;
}

/** The launch's resources, removed in reverse on dispose. */
export class TeardownStack implements AsyncDisposable {
  readonly #steps: Step[] = [];
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
    this.#steps.push({
      name: resource.name,
      group: CONCURRENT.has(resource.kind) ? resource.kind : null,
      run: remove,
    });
  }

  /** Run `step` at disposal (before everything added earlier, alone); `name` labels its failure. */
  defer(name: string, step: Remover): void {
    this.#steps.push({ name, group: null, run: step });
  }

  /** Remove everything, newest first. Idempotent; never throws. */
  async dispose(): Promise<readonly TeardownFailure[]> {
    if (this.#disposed) return this.#failures;
    this.#disposed = true;
    let i = this.#steps.length - 1;
    while (i >= 0) {
      // The newest step, and the steps just below it of the same kind.
      const batch = [this.#steps[i--]];
      while (i >= 0 && batch[0].group !== null && this.#steps[i].group === batch[0].group) {
        batch.push(this.#steps[i--]);
      }
      const reasons = await Promise.all(batch.map((step) => _attempt(step.run)));
      batch.forEach((step, n) => {
        if (reasons[n] !== null) this.#failures.push({ name: step.name, reason: reasons[n]! });
      });
    }
    return this.#failures;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}

async function _attempt(step: Remover): Promise<string | null> {
  try {
    return await step();
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}
