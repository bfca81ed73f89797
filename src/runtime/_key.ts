// SPDX-License-Identifier: MIT
// StaticKey: one key of an open module, by name.

import type { NativeModule } from "./_native.ts";
import type { KeyInfo, Pin } from "./_types.ts";

/**
 * One key of an open module; get it with `StaticKeysModule.key(name)`
 * (one object per key and handle). State getters read the native key each
 * time. Every flip is one native request that patches each touched page
 * once; flips are refused outside the main thread and after the module is
 * closed.
 *
 * @example Usage
 * ```ts
 * import { open } from "@static-keys/deno";
 * import assert from "node:assert/strict";
 *
 * using mod = open();
 * const tracing = mod.key("tracing");
 * tracing.enable();
 * assert.equal(tracing.enabled, true);
 * tracing.disable();
 * assert.equal(tracing.enabled, false);
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
   * The key's name in the module's key table: the C identifier of
   * `DEFINE_STATIC_KEY_*`, or the name given to `DEFINE_STATIC_KEY_*_NAMED`.
   * Readable after `close()`.
   *
   * @returns The name.
   *
   * @example Usage
   * ```ts
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
   * The key's index in the module's key table: its place in
   * `StaticKeysModule.names` and `.keys`, fixed for the library's lifetime
   * (the C ABI's functions take keys by this index). Readable after
   * `close()`.
   *
   * @returns The index, from 0.
   *
   * @example Usage
   * ```ts
   * import { open } from "@static-keys/deno";
   * import assert from "node:assert/strict";
   *
   * using mod = open();
   * const { index } = mod.key("tracing");
   * assert.equal(mod.names[index], "tracing");
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
   * ```ts
   * import { open } from "@static-keys/deno";
   * import assert from "node:assert/strict";
   *
   * using mod = open();
   * const checks = mod.key("checks");
   * assert.equal(checks.enabled, checks.info().enabled);
   * ```
   */
  get enabled(): boolean {
    return this.#module.enabled(this.#index);
  }

  /**
   * Everything about the key now, in one native read: its name, state,
   * state as built, number of sites and enable count (see
   * {@linkcode KeyInfo}). A snapshot: it does not follow later flips.
   *
   * @returns A snapshot of the key.
   * @throws {ModuleClosedError} If the module is closed.
   *
   * @example Usage
   * ```ts
   * import { open } from "@static-keys/deno";
   * import assert from "node:assert/strict";
   *
   * using mod = open();
   * const { name, initial, sites } = mod.key("tracing").info();
   * assert.deepEqual([name, initial], ["tracing", false]);
   * assert.ok(sites > 0);
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
   * ```ts
   * import { open } from "@static-keys/deno";
   *
   * using mod = open();
   * mod.key("tracing").enable();
   * mod.key("tracing").disable();
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
   * ```ts
   * import { open } from "@static-keys/deno";
   *
   * using mod = open();
   * const checks = mod.key("checks");
   * const was = checks.enabled;
   * checks.disable();
   * checks.set(was);
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
   * ```ts
   * import { open } from "@static-keys/deno";
   *
   * using mod = open();
   * mod.key("tracing").set(Deno.args.includes("--trace"));
   * mod.key("tracing").set(false);
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
   * ```ts
   * import { open } from "@static-keys/deno";
   * import assert from "node:assert/strict";
   *
   * using mod = open();
   * const tracing = mod.key("tracing");
   * const now = tracing.toggle();
   * assert.equal(tracing.enabled, now);
   * tracing.toggle(); // and back
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
   * ```ts
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
   * ```ts
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
   * ```ts
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
   * ```ts
   * import { open } from "@static-keys/deno";
   * import assert from "node:assert/strict";
   *
   * using mod = open();
   * const audit = mod.key("audit"); // off, count 0
   * audit.inc(); // on
   * audit.inc(); // count 2
   * audit.dec();
   * assert.equal(audit.enabled, true);
   * audit.dec(); // count 0: off again
   * assert.equal(audit.enabled, false);
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
   * ```ts
   * import { KeyCountError, open } from "@static-keys/deno";
   * import assert from "node:assert/strict";
   *
   * using mod = open();
   * mod.key("audit").inc();
   * mod.key("audit").dec();
   * assert.throws(() => mod.key("audit").dec(), KeyCountError);
   * ```
   */
  dec(): void {
    this.#module.count(this.#index, false);
  }
}
