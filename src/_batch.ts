// SPDX-License-Identifier: MIT
// Batch: an immutable builder of one all-or-nothing request, after dax's
// CommandBuilder.

import type { NativeModule } from "./_native.ts";

/**
 * An immutable builder of one all-or-nothing request; get one with
 * `StaticKeysModule.batch()`. Each step returns a new builder; `apply()`, or
 * awaiting the builder, validates every name and then makes one native call
 * that patches each touched page once. If any change fails, none is made.
 *
 * @example Usage
 * ```ts ignore
 * import { open } from "@static-keys/deno";
 *
 * using mod = open();
 * const tracingOnly = mod.batch().enable("tracing").disable("checks");
 * tracingOnly.apply();
 * await mod.batch().disable("tracing").enable("checks");
 * ```
 */
export class Batch implements PromiseLike<void> {
  readonly #module: NativeModule<Deno.ForeignLibraryInterface>;
  readonly #changes: readonly (readonly [string, boolean])[];

  /**
   * Used by `StaticKeysModule.batch()`; not meant to be called directly.
   *
   * @param module The module's native state.
   * @param changes The changes so far.
   * @internal
   */
  constructor(
    module: NativeModule<Deno.ForeignLibraryInterface>,
    changes: readonly (readonly [string, boolean])[] = [],
  ) {
    this.#module = module;
    this.#changes = changes;
  }

  /**
   * The changes so far, in order, as `[name, enabled]` pairs.
   *
   * @returns The changes.
   *
   * @example Usage
   * ```ts ignore
   * import { open } from "@static-keys/deno";
   * import assert from "node:assert/strict";
   *
   * using mod = open();
   * assert.deepEqual(mod.batch().enable("tracing").changes, [["tracing", true]]);
   * ```
   */
  get changes(): readonly (readonly [string, boolean])[] {
    return this.#changes;
  }

  /**
   * A new builder that also sets key `name` to `enabled`. A key may appear
   * twice only with the same state; the request is checked when applied.
   *
   * @param name The key's name.
   * @param enabled The state it takes; `true` when omitted.
   * @returns A new builder.
   *
   * @example Usage
   * ```ts ignore
   * import { open } from "@static-keys/deno";
   *
   * using mod = open();
   * mod.batch().set("tracing").set("checks", false).apply();
   * ```
   */
  set(name: string, enabled = true): Batch {
    return new Batch(this.#module, [...this.#changes, [name, enabled]]);
  }

  /**
   * A new builder that also turns key `name` on.
   *
   * @param name The key's name.
   * @returns A new builder.
   *
   * @example Usage
   * ```ts ignore
   * import { open } from "@static-keys/deno";
   *
   * using mod = open();
   * mod.batch().enable("tracing").apply();
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
   * ```ts ignore
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
   * Makes the request: one native call for every change.
   *
   * @throws {TypeError} If a name is not a string or a state not a boolean.
   * @throws {UnknownKeyError} If a name is not a key of the module; nothing
   *   changed.
   * @throws {WrongThreadError} Inside a Worker, or from a foreign thread.
   * @throws {ModuleClosedError} If the module is closed.
   * @throws {StaticKeysError} If the native layer refuses the request (a
   *   key given twice with both states is `EINVAL`); nothing changed.
   *
   * @example Usage
   * ```ts ignore
   * import { open } from "@static-keys/deno";
   *
   * using mod = open();
   * mod.batch().enable("tracing").enable("experimental").apply();
   * ```
   */
  apply(): void {
    const action = `Cannot apply a batch of ${this.#changes.length} changes`;
    const resolved = this.#module.resolve(this.#changes, action);
    this.#module.setMany(resolved, action);
  }

  /**
   * Applies the batch when awaited, so `await batch` equals `batch.apply()`.
   *
   * @typeParam T The fulfilled value of `onfulfilled`.
   * @typeParam E The fulfilled value of `onrejected`.
   * @param onfulfilled Called after the request succeeded.
   * @param onrejected Called with the error when it failed.
   * @returns A promise of the callbacks' result.
   *
   * @example Usage
   * ```ts ignore
   * import { open } from "@static-keys/deno";
   *
   * using mod = open();
   * await mod.batch().enable("tracing");
   * ```
   */
  then<T = void, E = never>(
    onfulfilled?: ((value: void) => T | PromiseLike<T>) | null,
    onrejected?: ((reason: unknown) => E | PromiseLike<E>) | null,
  ): PromiseLike<T | E> {
    return new Promise<void>((resolve) => resolve(this.apply())).then(
      onfulfilled,
      onrejected,
    );
  }
}
