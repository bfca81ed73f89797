// SPDX-License-Identifier: MIT
// Batch: an immutable builder of one all-or-nothing request, after dax's
// CommandBuilder, made with an explicit apply(). Not awaitable on purpose:
// a thenable builder is applied by any `await` or `return` from an async
// function, and a forgotten one would change nothing silently.

import type { NativeModule } from "./_native.ts";
import type { BatchStep, Pin } from "./_types.ts";

/**
 * An immutable builder of one all-or-nothing request; get one with
 * `StaticKeysModule.batch()`. Each step returns a new builder; nothing
 * changes until `apply()`, which validates every name and step and then
 * makes one native call that patches each touched page once. If any step
 * fails (an unknown key, a `dec` below 0), none is made: no byte, no
 * count, no pin changes.
 *
 * Steps mix sets (`enable`, `disable`, `set`), counts (`inc`, `dec`) and
 * pins (`pin`, `unpin`), over any keys; they apply in order, as if made
 * one after the other, except that one key may not be set both on and off.
 *
 * A builder is not a promise: `await` does not apply it. A builder with
 * changes that is neither applied nor extended by another step is lost;
 * the handle's `close()` (or the end of its `using` block) then throws
 * `UnappliedBatchError` naming the lost changes, and a program that ends
 * without closing the handle prints them as a warning on stderr.
 *
 * @example Usage
 * ```ts
 * import { open } from "@static-keys/deno";
 *
 * using mod = open();
 * const tracingOnly = mod.batch().enable("tracing").disable("checks");
 * tracingOnly.apply();
 * mod.batch().disable("tracing").enable("checks").apply();
 * ```
 */
export class Batch {
  readonly #module: NativeModule<Deno.ForeignLibraryInterface>;
  readonly #changes: readonly (readonly [string, BatchStep])[];

  /**
   * Used by `StaticKeysModule.batch()`; not meant to be called directly.
   *
   * @param module The module's native state.
   * @param changes The changes so far.
   * @internal
   */
  constructor(
    module: NativeModule<Deno.ForeignLibraryInterface>,
    changes: readonly (readonly [string, BatchStep])[] = [],
  ) {
    this.#module = module;
    this.#changes = changes;
    if (changes.length > 0) module.pending.add(this);
  }

  /**
   * The steps so far, in the order they were added, as `[name, step]`
   * pairs: `true` and `false` for sets, else the step's name (see
   * `BatchStep`). This is what `apply()` will request, and what
   * `UnappliedBatchError.changes` lists for a lost batch. Names are not
   * checked until `apply()`. The array is this builder's own and never
   * changes.
   *
   * @returns The changes.
   *
   * @example Usage
   * ```ts
   * import { open } from "@static-keys/deno";
   * import assert from "node:assert/strict";
   *
   * using mod = open();
   * const batch = mod.batch().enable("tracing");
   * assert.deepEqual(batch.changes, [["tracing", true]]);
   * batch.apply();
   * mod.batch().disable("tracing").apply();
   * ```
   */
  get changes(): readonly (readonly [string, BatchStep])[] {
    return this.#changes;
  }

  /** A new builder with one more step; this one is no longer pending. */
  #with(name: string, step: BatchStep): Batch {
    this.#module.pending.delete(this);
    return new Batch(this.#module, [...this.#changes, [name, step]]);
  }

  /**
   * A new builder that also sets key `name` to `enabled`; `enable()` and
   * `disable()` are this with `true` and `false`. This builder is left as
   * it was, and is no longer reported as lost: the new one is. A key may
   * appear twice only with the same state; names and states are checked
   * when the batch is applied, not here.
   *
   * @param name The key's name.
   * @param enabled The state it takes; `true` when omitted.
   * @returns A new builder.
   *
   * @example Usage
   * ```ts
   * import { open } from "@static-keys/deno";
   * import assert from "node:assert/strict";
   *
   * using mod = open();
   * const flags = { tracing: true, checks: false };
   * let batch = mod.batch();
   * for (const [name, on] of Object.entries(flags)) batch = batch.set(name, on);
   * assert.deepEqual(batch.changes, [["tracing", true], ["checks", false]]);
   * batch.apply();
   * mod.batch().set("tracing", false).set("checks").apply(); // back
   * ```
   */
  set(name: string, enabled = true): Batch {
    return this.#with(name, enabled);
  }

  /**
   * A new builder that also turns key `name` on.
   *
   * @param name The key's name.
   * @returns A new builder.
   *
   * @example Usage
   * ```ts
   * import { open } from "@static-keys/deno";
   *
   * using mod = open();
   * mod.batch().enable("tracing").apply();
   * mod.batch().disable("tracing").apply();
   * ```
   */
  enable(name: string): Batch {
    return this.set(name, true);
  }

  /**
   * A new builder that also turns key `name` off.
   *
   * @param name The key's name.
   * @returns A new builder.
   *
   * @example Usage
   * ```ts
   * import { open } from "@static-keys/deno";
   *
   * using mod = open();
   * mod.batch().disable("tracing").apply();
   * ```
   */
  disable(name: string): Batch {
    return this.set(name, false);
  }

  /**
   * A new builder that also adds one to key `name`'s count (a hold), as
   * `StaticKey.inc()`.
   *
   * @param name The key's name.
   * @returns A new builder.
   *
   * @example Usage
   * ```ts
   * import { open } from "@static-keys/deno";
   *
   * using mod = open();
   * mod.batch().inc("tracing").dec("checks").apply();
   * ```
   */
  inc(name: string): Batch {
    return this.#with(name, "inc");
  }

  /**
   * A new builder that also takes one from key `name`'s count, as
   * `StaticKey.dec()`; applying it fails, changing nothing, if the count
   * would go below 0.
   *
   * @param name The key's name.
   * @returns A new builder.
   *
   * @example Usage
   * ```ts
   * import { open } from "@static-keys/deno";
   *
   * using mod = open();
   * mod.batch().inc("tracing").apply();
   * mod.batch().dec("tracing").apply();
   * ```
   */
  dec(name: string): Batch {
    return this.#with(name, "dec");
  }

  /**
   * A new builder that also pins key `name` to `pin`, as `StaticKey.pin()`.
   *
   * @param name The key's name.
   * @param pin The state forced; `"on"` when omitted.
   * @returns A new builder.
   *
   * @example Usage
   * ```ts
   * import { open } from "@static-keys/deno";
   *
   * using mod = open();
   * mod.batch().pin("tracing", "on").pin("checks", "off").apply();
   * ```
   */
  pin(name: string, pin: Pin = "on"): Batch {
    return this.#with(
      name,
      pin === "off" ? "pin-off" : pin === "on" ? "pin-on" : pin,
    );
  }

  /**
   * A new builder that also lifts key `name`'s pin, as `StaticKey.unpin()`.
   *
   * @param name The key's name.
   * @returns A new builder.
   *
   * @example Usage
   * ```ts
   * import { open } from "@static-keys/deno";
   *
   * using mod = open();
   * mod.batch().unpin("tracing").apply();
   * ```
   */
  unpin(name: string): Batch {
    return this.#with(name, "unpin");
  }

  /**
   * Makes the request: one native call for every step. A builder may be
   * applied more than once; each time is one request.
   *
   * @throws {TypeError} If a name is not a string or a step not a
   *   `BatchStep`.
   * @throws {UnknownKeyError} If a name is not a key of the module; nothing
   *   changed.
   * @throws {WrongThreadError} Inside a Worker, or from a foreign thread.
   * @throws {ModuleClosedError} If the module is closed.
   * @throws {KeyCountError} If a `dec` would take a count below 0 (or an
   *   `inc` past 2^31 - 1); nothing changed.
   * @throws {InvalidArgumentError} If a key is given both states;
   *   nothing changed.
   * @throws {StaticKeysError} If the native layer refuses the request
   *   (`PatchRefusedError`, `BadSiteError`, ...); nothing changed.
   *
   * @example Usage
   * ```ts
   * import { open } from "@static-keys/deno";
   *
   * using mod = open();
   * const on = mod.batch().enable("tracing").enable("experimental");
   * on.apply();
   * on.apply(); // again: one more request, which changes nothing
   * mod.batch().disable("tracing").disable("experimental").apply();
   * ```
   */
  apply(): void {
    // Tried is not lost, even when refused: the error says what went wrong.
    this.#module.pending.delete(this);
    const action = `Cannot apply a batch of ${this.#changes.length} changes`;
    this.#module.apply(
      this.#module.resolveSteps(this.#changes, action),
      action,
    );
  }
}
