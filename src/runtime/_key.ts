// SPDX-License-Identifier: MIT
// StaticKey: one key of an open module, by name.

import type { NativeModule } from "./_native.ts";
import type { KeyInfo, Pin } from "./_types.ts";

/**
 * One key of an open module; get it with `StaticKeysModule.key(name)`.
 * State getters read the native key each time. Every flip is one native
 * request that patches each touched page once; flips are refused outside
 * the main thread and after the module is closed.
 *
 * @example Usage
 * ```ts ignore
 * import { open } from "@static-keys/deno";
 * import assert from "node:assert/strict";
 *
 * using mod = open();
 * const tracing = mod.key("tracing");
 * tracing.enable();
 * assert.equal(tracing.enabled, true);
 * tracing.disable();
 * ```
 */
export class StaticKey {
  readonly #module: NativeModule<Deno.ForeignLibraryInterface>;
  readonly #index: number;

  /**
   * Used by `StaticKeysModule.key()`; not meant to be called directly.
   *
   * @param module The module's native state.
   * @param index The key's index in the module's key table.
   * @internal
   */
  constructor(
    module: NativeModule<Deno.ForeignLibraryInterface>,
    index: number,
  ) {
    this.#module = module;
    this.#index = index;
  }

  /**
   * The key's name.
   *
   * @returns The name.
   *
   * @example Usage
   * ```ts ignore
   * import { open } from "@static-keys/deno";
   * import assert from "node:assert/strict";
   *
   * using mod = open();
   * assert.equal(mod.key("tracing").name, "tracing");
   * ```
   */
  get name(): string {
    return this.#module.names[this.#index];
  }

  /**
   * The key's index in the module's key table.
   *
   * @returns The index.
   *
   * @example Usage
   * ```ts ignore
   * import { open } from "@static-keys/deno";
   *
   * using mod = open();
   * console.log(mod.key("tracing").index);
   * ```
   */
  get index(): number {
    return this.#index;
  }

  /**
   * The key's current state: what its sites do now. For a pinned key that
   * is the pin's state, whatever its count says (see `pin()`).
   *
   * @returns `true` when enabled.
   * @throws {ModuleClosedError} If the module is closed.
   *
   * @example Usage
   * ```ts ignore
   * import { open } from "@static-keys/deno";
   * import assert from "node:assert/strict";
   *
   * using mod = open();
   * assert.equal(mod.key("checks").enabled, true);
   * ```
   */
  get enabled(): boolean {
    return this.#module.enabled(this.#index);
  }

  /**
   * Everything about the key now: state, initial state, sites, count.
   *
   * @returns A snapshot of the key.
   * @throws {ModuleClosedError} If the module is closed.
   *
   * @example Usage
   * ```ts ignore
   * import { open } from "@static-keys/deno";
   *
   * using mod = open();
   * const { sites, count } = mod.key("tracing").info();
   * ```
   */
  info(): KeyInfo {
    return this.#module.info(this.#index);
  }

  /**
   * Turns the key on; a no-op when it is on already.
   *
   * @throws {WrongThreadError} Inside a Worker, or from a foreign thread.
   * @throws {ModuleClosedError} If the module is closed.
   * @throws {StaticKeysError} If the native layer refuses (e.g.
   *   `BadSiteError`); nothing changed then.
   *
   * @example Usage
   * ```ts ignore
   * import { open } from "@static-keys/deno";
   *
   * using mod = open();
   * mod.key("tracing").enable();
   * ```
   */
  enable(): void {
    this.#module.set(this.#index, true, "enable");
  }

  /**
   * Turns the key off; a no-op when it is off already.
   *
   * @throws {WrongThreadError} Inside a Worker, or from a foreign thread.
   * @throws {ModuleClosedError} If the module is closed.
   * @throws {StaticKeysError} If the native layer refuses; nothing changed
   *   then.
   *
   * @example Usage
   * ```ts ignore
   * import { open } from "@static-keys/deno";
   *
   * using mod = open();
   * mod.key("checks").disable();
   * ```
   */
  disable(): void {
    this.#module.set(this.#index, false, "disable");
  }

  /**
   * Sets the key to `enabled`.
   *
   * @param enabled The new state.
   * @throws {TypeError} If `enabled` is not a boolean.
   * @throws {WrongThreadError} Inside a Worker, or from a foreign thread.
   * @throws {ModuleClosedError} If the module is closed.
   * @throws {StaticKeysError} If the native layer refuses; nothing changed
   *   then.
   *
   * @example Usage
   * ```ts ignore
   * import { open } from "@static-keys/deno";
   *
   * using mod = open();
   * mod.key("tracing").set(Deno.args.includes("--trace"));
   * ```
   */
  set(enabled: boolean): void {
    if (typeof enabled !== "boolean") {
      throw new TypeError(
        `Cannot set key "${this.name}": the state must be a boolean, got ${typeof enabled}`,
      );
    }
    this.#module.set(this.#index, enabled, "set");
  }

  /**
   * Flips the key to the other state.
   *
   * @returns The new state.
   * @throws {WrongThreadError} Inside a Worker, or from a foreign thread.
   * @throws {ModuleClosedError} If the module is closed.
   * @throws {StaticKeysError} If the native layer refuses; nothing changed
   *   then.
   *
   * @example Usage
   * ```ts ignore
   * import { open } from "@static-keys/deno";
   *
   * using mod = open();
   * const now = mod.key("tracing").toggle();
   * ```
   */
  toggle(): boolean {
    const enabled = !this.enabled;
    this.#module.set(this.#index, enabled, "toggle");
    return enabled;
  }

  /**
   * The pin forcing the key's state, or `null` when the count decides.
   *
   * @returns `"on"`, `"off"` or `null`.
   * @throws {ModuleClosedError} If the module is closed.
   *
   * @example Usage
   * ```ts ignore
   * import { open } from "@static-keys/deno";
   * import assert from "node:assert/strict";
   *
   * using mod = open();
   * assert.equal(mod.key("tracing").pinned, null);
   * ```
   */
  get pinned(): Pin | null {
    return this.#module.info(this.#index).pinned;
  }

  /**
   * Pins the key: forces it on (or off) whatever local code does, until
   * `unpin()`. The sites are patched now if they need it. While pinned,
   * `enable()`, `disable()`, `set()`, `inc()` and `dec()` still count (and
   * throw what they would throw unpinned) but patch nothing: `enabled`
   * stays the pin's state, `info().count` follows the holders. Pinning a
   * pinned key again to either state is allowed.
   *
   * @param pin The state forced; `"on"` when omitted.
   * @throws {TypeError} If `pin` is not `"on"` or `"off"`.
   * @throws {WrongThreadError} Inside a Worker, or from a foreign thread.
   * @throws {ModuleClosedError} If the module is closed.
   * @throws {StaticKeysError} If the native layer refuses; nothing changed
   *   then (no byte, no pin).
   *
   * @example Usage
   * ```ts ignore
   * import { open } from "@static-keys/deno";
   * import assert from "node:assert/strict";
   *
   * using mod = open();
   * const tracing = mod.key("tracing");
   * tracing.pin("off");
   * tracing.enable(); // counted, not flipped
   * assert.equal(tracing.enabled, false);
   * tracing.unpin(); // on now: its count is 1
   * assert.equal(tracing.enabled, true);
   * ```
   */
  pin(pin: Pin = "on"): void {
    if (pin !== "on" && pin !== "off") {
      throw new TypeError(
        `Cannot pin key "${this.name}": the pin must be "on" or "off", got ${
          JSON.stringify(pin) ?? typeof pin
        }`,
      );
    }
    this.#module.pin(this.#index, pin);
  }

  /**
   * Lifts the key's pin: the key takes the state its count says (on while
   * the count is above 0), patched now if needed. A no-op on a key that is
   * not pinned.
   *
   * @throws {WrongThreadError} Inside a Worker, or from a foreign thread.
   * @throws {ModuleClosedError} If the module is closed.
   * @throws {StaticKeysError} If the native layer refuses; the key stays
   *   pinned then.
   *
   * @example Usage
   * ```ts ignore
   * import { open } from "@static-keys/deno";
   *
   * using mod = open();
   * mod.key("checks").pin("off");
   * mod.key("checks").unpin();
   * ```
   */
  unpin(): void {
    this.#module.pin(this.#index, null);
  }

  /**
   * Adds one to the enable count, as the kernel's `static_branch_inc`: the
   * key is on while the count is above 0.
   *
   * @throws {WrongThreadError} Inside a Worker, or from a foreign thread.
   * @throws {ModuleClosedError} If the module is closed.
   * @throws {KeyCountError} If the count would overflow.
   *
   * @example Usage
   * ```ts ignore
   * import { open } from "@static-keys/deno";
   *
   * using mod = open();
   * mod.key("tracing").inc(); // on
   * mod.key("tracing").dec(); // off again
   * ```
   */
  inc(): void {
    this.#module.count(this.#index, true);
  }

  /**
   * Takes one from the enable count; the key turns off when it reaches 0.
   *
   * @throws {WrongThreadError} Inside a Worker, or from a foreign thread.
   * @throws {ModuleClosedError} If the module is closed.
   * @throws {KeyCountError} If the count is already 0.
   *
   * @example Usage
   * ```ts ignore
   * import { open } from "@static-keys/deno";
   *
   * using mod = open();
   * mod.key("tracing").inc();
   * mod.key("tracing").dec();
   * ```
   */
  dec(): void {
    this.#module.count(this.#index, false);
  }
}
