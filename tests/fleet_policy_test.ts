// SPDX-License-Identifier: MIT
// The follower's policy on its own (transition(): the steps from what the
// follower holds to what a value needs) and through a follower over the
// file store, read back from mod.keys: a reference local code took away is
// neither taken again nor given back.

import assert from "node:assert/strict";
import type { KeyInfo } from "../mod.ts";
import { follow, set } from "../fleet.ts";
import { holdingFor, NOTHING, transition } from "../src/fleet/_policy.ts";
import { openDemo, taken } from "./_helpers.ts";
import { scratch } from "./_fleet.ts";

/** A TRUE key's info with `count`, unpinned. */
function trueKey(count: number): KeyInfo {
  return {
    name: "checks",
    enabled: count > 0,
    initial: true,
    sites: 1,
    count,
    pinned: null,
  };
}

Deno.test("transition(): off on a key local code disabled drops nothing and gives nothing back", () => {
  const off = holdingFor("off", true);
  // local disable(): the count is 0, the compiled default's reference gone
  const dropped = transition(trueKey(0), NOTHING, off);
  assert.deepEqual(dropped.steps, [], "no dec at count 0");
  assert.equal(dropped.holding.dropped, false, "nothing was dropped");
  // unset: the follower must not give back a reference it did not take
  const unset = transition(trueKey(0), dropped.holding, NOTHING);
  assert.deepEqual(unset.steps, [], "no inc: the key stays off");
  // off again, after local code took a reference of its own: not dropped
  const again = transition(trueKey(1), dropped.holding, off);
  assert.deepEqual(again.steps, [], "local code's reference is not taken");
});

Deno.test("transition(): off then unset on an untouched TRUE key drops and gives back the default's reference", () => {
  const off = holdingFor("off", true);
  const dropped = transition(trueKey(1), NOTHING, off);
  assert.deepEqual(dropped.steps, ["dec"]);
  assert.equal(dropped.holding.dropped, true);
  const unset = transition(trueKey(0), dropped.holding, NOTHING);
  assert.deepEqual(unset.steps, ["inc"]);
});

Deno.test("transition(): on then off on a TRUE key local code disabled issues no dec", () => {
  const on = transition(trueKey(1), NOTHING, holdingFor("on", true));
  assert.deepEqual(on.steps, ["inc"]);
  // local disable(): count 0, the follower's and the default's both gone
  const off = transition(trueKey(0), on.holding, holdingFor("off", true));
  assert.deepEqual(off.steps, []);
  const unset = transition(trueKey(0), off.holding, NOTHING);
  assert.deepEqual(unset.steps, [], "the disabled key stays off");
});

Deno.test({
  name:
    "a follower's off then unset leaves off a TRUE key local code disabled (file store)",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await scratch("fleet-policy");
    const store = `${dir.path}/fleet.json`;
    try {
      using mod = openDemo();
      await using f = await follow(mod, {
        store,
        scope: "demo",
        host: null,
        instance: "i1",
        minInterval: 0,
      });
      mod.key("checks").disable(); // local code: off, count 0
      await f.applied(await set(store, "demo", { checks: "off" }));
      assert.deepEqual(
        mod.keys.find((k) => k.name === "checks"),
        {
          name: "checks",
          enabled: false,
          initial: true,
          sites: mod.key("checks").info().sites,
          count: 0,
          pinned: null,
        },
      );
      await f.applied(await set(store, "demo", { checks: null }));
      const checks = mod.keys.find((k) => k.name === "checks")!;
      assert.equal(checks.count, 0, "no reference given back");
      assert.equal(checks.enabled, false, "the key local code disabled");
      assert.equal(taken(mod).checks, false, "the code runs it off");
      assert.equal(f.state.error, null);
    } finally {
      await dir.remove();
    }
  },
});
