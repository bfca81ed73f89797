// SPDX-License-Identifier: MIT
// StaticKeysModule.repair(): every site checked against its key's state;
// sites holding the other instruction rewritten; a report per key.

import assert from "node:assert/strict";
import { ModuleClosedError, WrongThreadError } from "../mod.ts";
import { openDemo, runDeno, taken } from "./_helpers.ts";

/** The test plugin (tests/plugin.c), built next to the C tests. */
const PLUGIN = new URL(
  `../build/tests/${
    Deno.build.os === "windows" ? "libsk_plugin.dll" : "libsk_plugin.so"
  }`,
  import.meta.url,
).pathname;

Deno.test("StaticKeysModule.repair() reports a consistent module as such", () => {
  using mod = openDemo();
  mod.key("tracing").enable();
  const report = mod.repair();
  assert.deepEqual(report, {
    sites: mod.stats().entries,
    rewritten: 0,
    unknown: 0,
    keys: [],
  });
  assert.ok(report.sites > 0);
  assert.equal(taken(mod).tracing, true);
  assert.equal(mod.key("tracing").enabled, true);
});

Deno.test("StaticKeysModule.repair() rewrites a site that disagrees with its key", async () => {
  const out = await runDeno([
    `--allow-ffi=${PLUGIN}`,
    `--allow-read=${PLUGIN}`,
    new URL("./fixtures/repair_main.ts", import.meta.url).pathname,
    PLUGIN,
  ]);
  assert.equal(out.code, 0, out.stderr);
  const steps = JSON.parse(out.stdout);
  const clean = { sites: 3, rewritten: 0, unknown: 0, keys: [] };
  assert.deepEqual(steps, {
    before: clean,
    broken: 0,
    enable: "BadSiteError",
    repair: {
      sites: 3,
      rewritten: 1,
      unknown: 0,
      keys: [{ name: "feature", sites: 2, rewritten: 1, unknown: 0 }],
    },
    enabled: 2,
    disabled: 0,
    after: clean,
  });
});

Deno.test("StaticKeysModule.repair() refuses a Worker and a closed handle", () => {
  const mod = openDemo();
  const scope = globalThis as { WorkerGlobalScope?: unknown };
  scope.WorkerGlobalScope = class {
    static [Symbol.hasInstance]() {
      return true;
    }
  };
  try {
    assert.throws(() => mod.repair(), WrongThreadError);
  } finally {
    delete scope.WorkerGlobalScope;
  }
  mod.close();
  assert.throws(() => mod.repair(), ModuleClosedError);
});
