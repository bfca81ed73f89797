// SPDX-License-Identifier: MIT
// Pins from Deno (StaticKey.pin/unpin/pinned, KeyInfo.pinned) and batches
// that mix counts, sets and pins in one all-or-nothing request. Each check
// reads what the code does (the demo functions, the sites' bytes), not
// only what the key reports.

import assert from "node:assert/strict";
import {
  KeyCountError,
  StaticKeysError,
  UnappliedBatchError,
  UnknownKeyError,
} from "../mod.ts";
import { openDemo, taken } from "./_helpers.ts";
import type { StaticKeysModule } from "../mod.ts";

/** Every site of `name` holds what its state asks for, and which that is. */
function instructions(mod: StaticKeysModule, name: string): string[] {
  return mod.sites(name).map((s) => {
    assert.equal(s.instruction, s.expected, `site of ${name} at ${s.address}`);
    return s.instruction;
  });
}

Deno.test("StaticKey.pin() forces a key whatever local code does", async (t) => {
  using mod = openDemo();
  const tracing = mod.key("tracing");
  const off = instructions(mod, "tracing");
  await t.step("pinned off, enable() and inc() count but do not flip", () => {
    tracing.pin("off");
    assert.equal(tracing.pinned, "off");
    const before = mod.stats();
    tracing.enable();
    tracing.inc();
    assert.equal(tracing.info().count, 2);
    assert.equal(tracing.enabled, false);
    assert.equal(taken(mod).tracing, false, "the code still skips tracing");
    assert.deepEqual(instructions(mod, "tracing"), off);
    assert.equal(mod.stats().pagesPatched, before.pagesPatched);
    assert.equal(mod.stats().flips, before.flips);
  });
  await t.step("unpin() moves the key to what its count says", () => {
    tracing.unpin();
    assert.equal(tracing.pinned, null);
    assert.equal(tracing.enabled, true);
    assert.equal(taken(mod).tracing, true);
    assert.notDeepEqual(instructions(mod, "tracing"), off);
  });
  await t.step("pinned on, disable() and dec() count but do not flip", () => {
    tracing.pin("on");
    tracing.disable();
    assert.equal(tracing.info().count, 0);
    assert.throws(() => tracing.dec(), KeyCountError, "a dec at 0 is refused");
    assert.equal(tracing.enabled, true);
    assert.equal(taken(mod).tracing, true);
    assert.deepEqual(mod.keys.find((k) => k.name === "tracing"), {
      name: "tracing",
      enabled: true,
      initial: false,
      sites: 2,
      count: 0,
      pinned: "on",
    });
    tracing.unpin();
    assert.equal(tracing.enabled, false);
    assert.deepEqual(instructions(mod, "tracing"), off);
  });
  await t.step("pin() refuses a state that is not on or off", () => {
    assert.throws(
      () => tracing.pin("yes" as "on"),
      new TypeError(
        'Cannot pin key "tracing": the pin must be "on" or "off", got "yes"',
      ),
    );
    assert.equal(tracing.pinned, null);
  });
});

Deno.test("Batch mixes counts, sets and pins in one request", async (t) => {
  using mod = openDemo();
  await t.step("steps are recorded in order", () => {
    const batch = mod.batch().inc("tracing").pin("checks", "off").unpin(
      "audit",
    ).dec("tracing").enable("experimental");
    assert.deepEqual(batch.changes, [
      ["tracing", "inc"],
      ["checks", "pin-off"],
      ["audit", "unpin"],
      ["tracing", "dec"],
      ["experimental", true],
    ]);
    batch.apply();
  });
  await t.step("one request patches them all", () => {
    mod.key("checks").unpin();
    mod.set({ experimental: false });
    const before = mod.stats();
    mod.batch().inc("tracing").pin("checks", "off").enable("experimental")
      .apply();
    const after = mod.stats();
    assert.equal(after.requests - before.requests, 1);
    assert.equal(after.flips - before.flips, 3);
    assert.deepEqual(taken(mod), {
      tracing: true,
      checks: false,
      experimental: true,
    });
    assert.equal(mod.key("checks").pinned, "off");
    assert.equal(mod.key("checks").info().count, 1);
  });
});

// Requests that must fail whole: [what, build, error].
const refused = [
  [
    "a dec below 0",
    (m: StaticKeysModule) =>
      m.batch().pin("tracing", "on").inc("audit").dec("experimental"),
    KeyCountError,
  ],
  [
    "an unknown key",
    (m: StaticKeysModule) => m.batch().pin("tracing", "on").inc("tarce"),
    UnknownKeyError,
  ],
  [
    "a key set both on and off",
    (m: StaticKeysModule) =>
      m.batch().pin("tracing", "on").enable("audit").disable("audit"),
    StaticKeysError,
  ],
  [
    "a step that is not a step",
    (m: StaticKeysModule) => m.batch().pin("tracing", "sideways" as "on"),
    TypeError,
  ],
] as const;

Deno.test("Batch.apply() of a mixed request changes nothing when one step fails", async (t) => {
  using mod = openDemo();
  mod.key("checks").pin("off");
  const keys = mod.keys;
  const bytes = mod.sites().map((s) => s.hex);
  for (const [what, build, error] of refused) {
    await t.step(what, () => {
      const before = mod.stats();
      assert.throws(() => build(mod).apply(), error);
      assert.deepEqual(mod.keys, keys, "no state, count or pin changed");
      assert.deepEqual(mod.sites().map((s) => s.hex), bytes, "no byte");
      assert.equal(mod.stats().requests, before.requests);
      assert.equal(mod.stats().flips, before.flips);
    });
  }
});

Deno.test("close() names the pins and counts of a batch never applied", () => {
  using mod = openDemo();
  mod.batch().pin("tracing", "off").inc("checks");
  assert.throws(() => mod.close(), (error: unknown) => {
    assert.ok(error instanceof UnappliedBatchError);
    assert.match(error.message, /pin-off "tracing", inc "checks"/);
    assert.deepEqual(error.changes, [[["tracing", "pin-off"], [
      "checks",
      "inc",
    ]]]);
    return true;
  });
});
