// SPDX-License-Identifier: MIT
// Keys one at a time: listing, flips seen by the demo functions, counts,
// unknown names, the user's own symbols.

import assert from "node:assert/strict";
import { KeyCountError, StaticKey, UnknownKeyError } from "../mod.ts";
import { openDemo, taken } from "./_helpers.ts";

Deno.test("StaticKeysModule.keys lists every key of the demo module", () => {
  using mod = openDemo();
  const byName = Object.fromEntries(mod.keys.map((k) => [k.name, k]));
  assert.deepEqual(Object.keys(byName).sort(), [
    "audit",
    "checks",
    "experimental",
    "tracing",
  ]);
  // name, enabled, initial, sites, count, pinned
  assert.deepEqual(byName.tracing, {
    name: "tracing",
    enabled: false,
    initial: false,
    sites: 2,
    count: 0,
    pinned: null,
  });
  assert.deepEqual(byName.checks, {
    name: "checks",
    enabled: true,
    initial: true,
    sites: 2,
    count: 1,
    pinned: null,
  });
  assert.equal(byName.experimental.sites, 2);
  assert.equal(byName.audit.sites, 0, "a key without sites is still listed");
  assert.deepEqual(mod.names, mod.keys.map((k) => k.name));
  assert.match(mod.version, /^\d+\.\d+\.\d+ /);
});

// [key, how to flip it, the state it must end in], starting from the
// initial state; each row runs verify -> flip -> verify -> flip back.
const flips = [
  ["tracing", "enable", true],
  ["tracing", "toggle", true],
  ["tracing", "set", true],
  ["tracing", "inc", true],
  ["checks", "disable", false],
  ["checks", "toggle", false],
  ["checks", "set", false],
  ["checks", "dec", false],
  ["experimental", "enable", true],
  ["experimental", "inc", true],
] as const;

Deno.test("StaticKey flips are seen by the demo functions", async (t) => {
  using mod = openDemo();
  for (const [name, how, after] of flips) {
    await t.step(`${name}.${how}() makes the branch ${after}`, () => {
      const key = mod.key(name);
      const before = !after;
      assert.equal(key.enabled, before);
      assert.equal(taken(mod)[name], before);
      if (how === "set") key.set(after);
      else key[how]();
      assert.equal(key.enabled, after);
      assert.equal(taken(mod)[name], after, "the site was rewritten");
      assert.equal(key.info().count, after ? 1 : 0);
      // Back again, through the opposite operation.
      if (how === "inc") key.dec();
      else if (how === "dec") key.inc();
      else key.set(before);
      assert.equal(key.enabled, before);
      assert.equal(taken(mod)[name], before);
    });
  }
});

Deno.test("StaticKey.enable() changes only its own key", () => {
  using mod = openDemo();
  mod.key("experimental").enable();
  assert.deepEqual(taken(mod), {
    tracing: false,
    checks: true,
    experimental: true,
  });
  assert.equal(mod.key("experimental").enable(), undefined, "no-op when on");
  assert.equal(mod.key("experimental").enabled, true);
});

Deno.test("static_keys_demo_work() follows the experimental and tracing keys", () => {
  using mod = openDemo();
  const { static_keys_demo_work: work, static_keys_demo_events: events } =
    mod.symbols;
  const off = work(1000);
  const eventsBefore = events();
  assert.equal(work(1000), off, "the same path gives the same hash");
  assert.equal(events(), eventsBefore, "no events while tracing is off");

  mod.key("experimental").enable();
  const on = work(1000);
  assert.notEqual(on, off, "the experimental path changes the hash");

  mod.key("tracing").enable();
  work(1000);
  assert.equal(events() - eventsBefore, 1000n, "one event per round");

  mod.set({ experimental: false, tracing: false });
  assert.equal(work(1000), off);
  assert.equal(events() - eventsBefore, 1000n);
});

Deno.test("StaticKey.inc() and dec() count like the kernel's", () => {
  using mod = openDemo();
  const key = mod.key("tracing");
  key.inc();
  key.inc();
  assert.equal(key.info().count, 2);
  key.dec();
  assert.equal(key.enabled, true, "on while the count is above 0");
  assert.equal(taken(mod).tracing, true);
  key.dec();
  assert.equal(key.enabled, false);
  assert.equal(taken(mod).tracing, false);
  assert.throws(() => key.dec(), {
    name: "KeyCountError",
    message:
      'Cannot dec key "tracing": its count is already 0; every dec must match an earlier inc or enable',
  });
  assert.throws(() => key.dec(), KeyCountError);
  assert.equal(key.info().count, 0);
});

Deno.test("StaticKeysModule.key() refuses an unknown name", async (t) => {
  using mod = openDemo();
  await t.step("with the closest names as suggestions", () => {
    assert.throws(() => mod.key("tarcing"), (error: unknown) => {
      assert.ok(error instanceof UnknownKeyError);
      assert.equal(error.code, -2);
      assert.equal(error.key, "tarcing");
      assert.deepEqual(error.suggestions, ["tracing"]);
      assert.equal(
        error.message,
        `Cannot find key "tarcing" in "${mod.path}": did you mean "tracing"?`,
      );
      return true;
    });
  });
  await t.step("listing every key when none is close", () => {
    assert.throws(() => mod.key("zzz"), {
      name: "UnknownKeyError",
      message:
        `Cannot find key "zzz" in "${mod.path}": the keys are "audit", "checks", "experimental", "tracing"`,
    });
  });
  await t.step("with a TypeError for a name that is not a string", () => {
    assert.throws(() => mod.key(42 as unknown as string), TypeError);
  });
  await t.step("has() answers without throwing", () => {
    assert.equal(mod.has("tracing"), true);
    assert.equal(mod.has("tarce"), false);
  });
});

Deno.test("StaticKey.set() refuses a state that is not a boolean", () => {
  using mod = openDemo();
  assert.throws(
    () => mod.key("tracing").set(1 as unknown as boolean),
    TypeError,
  );
  assert.equal(mod.key("tracing").enabled, false);
});

Deno.test("StaticKeysModule.key() returns one StaticKey per name", () => {
  using mod = openDemo();
  const key = mod.key("checks");
  assert.ok(key instanceof StaticKey);
  assert.equal(mod.key("checks"), key);
  assert.equal(key.name, "checks");
  assert.equal(mod.names[key.index], "checks");
});

Deno.test("open() binds options.symbols next to the keys", () => {
  using mod = openDemo();
  assert.deepEqual(Object.keys(mod.symbols).sort(), [
    "static_keys_demo_checks",
    "static_keys_demo_events",
    "static_keys_demo_experimental",
    "static_keys_demo_tracing",
    "static_keys_demo_work",
  ]);
  assert.equal(typeof mod.symbols.static_keys_demo_work(10), "bigint");
  assert.equal(mod.symbols.static_keys_demo_checks(), 1);
});
