// SPDX-License-Identifier: MIT
// Several keys in one all-or-nothing request: set() and batch(), and the
// report of a batch never applied.

import assert from "node:assert/strict";
import {
  Batch,
  ModuleClosedError,
  StaticKeysError,
  UnappliedBatchError,
  UnknownKeyError,
} from "../mod.ts";
import { INITIAL, LIB, openDemo, runDeno, taken } from "./_helpers.ts";

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
      name: "InvalidArgumentError",
      code: -1,
      message:
        'Cannot update keys: key "tracing" is asked to be both enabled and disabled in one request; ' +
        "nothing was changed; give each key one state in a request",
    });
  });
});

Deno.test("Batch builds a request immutably and changes nothing until apply()", async (t) => {
  using mod = openDemo();
  const empty = mod.batch();
  const one = empty.enable("tracing");
  const two = one.disable("checks");
  const three = one.set("audit");
  await t.step("each step returns a new builder", () => {
    assert.ok(two instanceof Batch);
    assert.notEqual(one, empty);
    assert.deepEqual(empty.changes, []);
    assert.deepEqual(one.changes, [["tracing", true]]);
    assert.deepEqual(two.changes, [["tracing", true], ["checks", false]]);
    assert.deepEqual(three.changes.at(-1), ["audit", true]);
    assert.equal(mod.key("tracing").enabled, false, "building flips nothing");
  });
  await t.step(
    "await does not apply it: a builder is not thenable",
    async () => {
      assert.equal("then" in two, false);
      await two;
      // The case under test: a builder returned from an async function.
      // deno-lint-ignore require-await
      const returned = await (async () => two)();
      assert.equal(returned, two, "an async function returns the builder");
      assert.equal(mod.key("tracing").enabled, false);
      assert.equal(mod.key("checks").enabled, true);
    },
  );
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
  await t.step("apply() again makes the request again", () => {
    mod.set(INITIAL);
    three.apply();
    three.apply();
    assert.equal(mod.key("tracing").enabled, true);
    assert.equal(mod.key("audit").enabled, true);
    assert.equal(mod.key("checks").enabled, true);
  });
  await t.step("a refused apply() throws and changes nothing", () => {
    mod.set(INITIAL);
    assert.throws(
      () => mod.batch().enable("tracing").enable("nope").apply(),
      UnknownKeyError,
    );
    assert.equal(mod.key("tracing").enabled, false);
  });
});

Deno.test("StaticKeysModule.close() reports a batch that was never applied", async (t) => {
  await t.step("close() closes, then throws UnappliedBatchError", () => {
    const mod = openDemo();
    mod.batch().enable("tracing"); // lost: no apply()
    const kept = mod.batch().disable("checks").enable("experimental"); // lost
    const base = mod.batch().enable("audit"); // extended, not lost
    const lost = base.enable("tracing").disable("tracing"); // lost
    assert.equal(lost.changes.length, 3);
    base.disable("checks").apply(); // applied
    mod.batch(); // empty: nothing to lose
    assert.throws(() => mod.batch().enable("nope").apply(), UnknownKeyError);
    assert.throws(() => mod.close(), (error: unknown) => {
      assert.ok(error instanceof UnappliedBatchError);
      assert.equal(error.code, -1);
      assert.deepEqual(error.changes, [
        [["tracing", true]],
        [["checks", false], ["experimental", true]],
        [["audit", true], ["tracing", true], ["tracing", false]],
      ]);
      assert.equal(
        error.message,
        `Cannot close "${LIB}" cleanly: 3 batches were built but never applied ` +
          `(enable "tracing"; disable "checks", enable "experimental"; ` +
          `enable "audit", enable "tracing", disable "tracing"): ` +
          `call apply() on a batch to make its request; the handle is closed now`,
      );
      return true;
    });
    assert.equal(mod.closed, true);
    mod.close(); // reported once: a second close() is a no-op
    assert.throws(() => kept.apply(), ModuleClosedError);
  });
  await t.step("the lost batches changed no key", () => {
    const mod = openDemo();
    mod.batch().set("tracing", true).disable("checks");
    assert.deepEqual(taken(mod), {
      tracing: INITIAL.tracing,
      checks: INITIAL.checks,
      experimental: INITIAL.experimental,
    });
    assert.throws(() => mod.close(), UnappliedBatchError);
  });
  await t.step("a using block ends with the error", () => {
    assert.throws(() => {
      using mod = openDemo();
      mod.batch().disable("checks");
    }, /1 batch was built but never applied \(disable "checks"\)/);
  });
  await t.step("applied and empty batches close quietly", () => {
    const mod = openDemo();
    mod.batch();
    mod.batch().enable("tracing").apply();
    mod.close();
    assert.equal(mod.closed, true);
  });
});

Deno.test("a program that ends without close() warns about a batch never applied", async (t) => {
  const main = new URL("./fixtures/lost_batch_main.ts", import.meta.url);
  const root = new URL("..", import.meta.url).pathname;
  const run = (args: string[]) =>
    runDeno([
      `--allow-ffi=${LIB}`,
      `--allow-read=${root}`,
      main.pathname,
      ...args,
    ]);
  await t.step("lost: a warning on stderr", async () => {
    const { code, stdout, stderr } = await run([]);
    assert.equal(code, 0, stderr);
    assert.equal(stdout, "end\n");
    assert.equal(
      stderr,
      `Warning: "${LIB}" was never closed: 1 batch was built but never applied ` +
        `(enable "tracing", disable "checks"): call apply() on a batch to make its request\n`,
    );
  });
  await t.step("applied: no warning", async () => {
    const { code, stdout, stderr } = await run(["apply"]);
    assert.equal(code, 0, stderr);
    assert.equal(stdout, "end\n");
    assert.equal(stderr, "");
  });
});
