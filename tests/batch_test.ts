// SPDX-License-Identifier: MIT
// Several keys in one all-or-nothing request: set() and batch().

import assert from "node:assert/strict";
import { Batch, StaticKeysError, UnknownKeyError } from "../mod.ts";
import { INITIAL, openDemo, taken } from "./_helpers.ts";

Deno.test("StaticKeysModule.set() flips several keys in one request", async (t) => {
  using mod = openDemo();
  await t.step("from a record", () => {
    const before = mod.stats();
    mod.set({ tracing: true, checks: false, experimental: true });
    assert.deepEqual(taken(mod), {
      tracing: true,
      checks: false,
      experimental: true,
    });
    const after = mod.stats();
    assert.equal(after.flips - before.flips, 3);
    assert.equal(after.requests - before.requests, 1, "one native request");
  });
  await t.step("from [name, state] pairs", () => {
    mod.set([["tracing", false], ["checks", true], ["checks", true]]);
    assert.deepEqual(taken(mod), {
      tracing: false,
      checks: true,
      experimental: true,
    });
  });
  await t.step("with nothing to change", () => {
    const before = mod.stats();
    mod.set({});
    mod.set({ checks: true });
    assert.equal(mod.stats().requests, before.requests);
  });
});

// Requests that must fail as a whole: [what, changes, error].
const refused = [
  [
    "one unknown key",
    [["tracing", true], ["checks", false], ["tarce", true]],
    UnknownKeyError,
  ],
  [
    "a key given twice with both states",
    [["tracing", true], ["checks", false], ["tracing", false]],
    StaticKeysError,
  ],
  [
    "a state that is not a boolean",
    [["tracing", true], ["checks", 0]],
    TypeError,
  ],
] as const;

Deno.test("StaticKeysModule.set() changes nothing when one change is refused", async (t) => {
  using mod = openDemo();
  for (const [what, changes, error] of refused) {
    await t.step(what, () => {
      const before = mod.stats();
      assert.throws(
        () => mod.set(changes as unknown as [string, boolean][]),
        error,
      );
      assert.deepEqual(taken(mod), {
        tracing: INITIAL.tracing,
        checks: INITIAL.checks,
        experimental: INITIAL.experimental,
      });
      assert.equal(mod.key("tracing").enabled, false);
      assert.equal(mod.key("checks").enabled, true);
      assert.equal(mod.stats().flips, before.flips);
      assert.equal(mod.stats().pagesPatched, before.pagesPatched);
    });
  }
  await t.step("reporting the native code and text for both states", () => {
    assert.throws(() => mod.set([["tracing", true], ["tracing", false]]), {
      name: "StaticKeysError",
      code: -1,
      message:
        'Cannot update keys: key "tracing" is asked to be both enabled and disabled in one request',
    });
  });
});

Deno.test("Batch builds a request immutably and applies it once", async (t) => {
  using mod = openDemo();
  const empty = mod.batch();
  const one = empty.enable("tracing");
  const two = one.disable("checks");
  await t.step("each step returns a new builder", () => {
    assert.ok(two instanceof Batch);
    assert.notEqual(one, empty);
    assert.deepEqual(empty.changes, []);
    assert.deepEqual(one.changes, [["tracing", true]]);
    assert.deepEqual(two.changes, [["tracing", true], ["checks", false]]);
    assert.deepEqual(one.set("audit").changes.at(-1), ["audit", true]);
    assert.equal(mod.key("tracing").enabled, false, "building flips nothing");
  });
  await t.step("apply() makes one request", () => {
    const before = mod.stats().requests;
    two.apply();
    assert.deepEqual(taken(mod), {
      tracing: true,
      checks: false,
      experimental: false,
    });
    assert.equal(mod.stats().requests - before, 1);
  });
  await t.step("awaiting the builder applies it", async () => {
    await mod.batch().disable("tracing").enable("checks");
    assert.deepEqual(taken(mod), {
      tracing: false,
      checks: true,
      experimental: false,
    });
  });
  await t.step(
    "awaiting a refused builder rejects, changing nothing",
    async () => {
      await assert.rejects(
        async () => await mod.batch().enable("tracing").enable("nope"),
        UnknownKeyError,
      );
      assert.equal(mod.key("tracing").enabled, false);
    },
  );
});
