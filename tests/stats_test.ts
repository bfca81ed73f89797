// SPDX-License-Identifier: MIT
// Strategies and the counters that show what a flip cost.

import assert from "node:assert/strict";
import { open, UnsupportedStrategyError } from "../mod.ts";
import {
  defaultStrategy,
  demoSymbols,
  openDemo,
  passes,
  taken,
} from "./_helpers.ts";

Deno.test("StaticKeysModule.stats() describes the demo module", () => {
  using mod = openDemo();
  const stats = mod.stats();
  assert.equal(stats.strategy, defaultStrategy(stats), "the default on Linux");
  assert.deepEqual(stats.strategies, [
    "remap",
    "mprotect",
    "alias",
    "procmem",
  ]);
  assert.equal(stats.keys, 4);
  assert.equal(stats.entries, 6, "two sites each for three keys");
  assert.ok(stats.pageSize >= 4096);
  assert.equal(stats.pageSize & (stats.pageSize - 1), 0);
});

// [strategy, syscalls per touched page]; alias pays its syscalls once, when
// it is chosen, and a flip is then a plain store; procmem is one pwrite.
const strategies = [
  ["remap", 3],
  ["mprotect", 2],
  ["alias", 0],
  ["procmem", 1],
] as const;

Deno.test("StaticKeysModule.setStrategy() picks how pages are patched", async (t) => {
  using mod = openDemo();
  for (const [strategy, perPage] of strategies) {
    // The strategy's syscalls come once per run of contiguous pages.
    await t.step(`${strategy} makes ${perPage} syscalls per run`, () => {
      mod.setStrategy(strategy);
      assert.equal(mod.strategy, strategy);
      const before = mod.stats();
      mod.key("tracing").enable();
      const after = mod.stats();
      assert.equal(taken(mod).tracing, true);
      assert.equal(after.strategy, strategy);
      assert.ok(after.lastPages >= 1);
      assert.ok(after.lastRuns >= 1 && after.lastRuns <= after.lastPages);
      const n = perPage * passes(after, strategy);
      assert.equal(after.lastSyscalls, n * after.lastRuns);
      assert.equal(after.runs - before.runs, after.lastRuns);
      assert.equal(after.flips - before.flips, 1);
      assert.equal(after.requests - before.requests, 1);
      assert.equal(after.pagesPatched - before.pagesPatched, after.lastPages);
      assert.equal(after.syscalls - before.syscalls, after.lastSyscalls);
      mod.key("tracing").disable();
      assert.equal(taken(mod).tracing, false);
      assert.equal(mod.stats().lastSyscalls, n * mod.stats().lastRuns);
    });
  }
  await t.step("three keys in one batch patch each page once", () => {
    mod.setStrategy("mprotect");
    const before = mod.stats();
    mod.set({ tracing: true, checks: false, experimental: true });
    const after = mod.stats();
    assert.equal(after.requests - before.requests, 1);
    assert.equal(after.flips - before.flips, 3);
    assert.equal(
      after.lastSyscalls,
      2 * passes(after, "mprotect") * after.lastRuns,
    );
    assert.equal(after.lastRuns, 1, "the sites' pages are contiguous");
    // demo.c is small: its six sites share one or two pages.
    assert.ok(after.lastPages <= 2);
  });
  await t.step("options.strategy picks it at open", () => {
    using other = open(undefined, { symbols: demoSymbols, strategy: "remap" });
    assert.equal(other.strategy, "remap");
    assert.equal(mod.strategy, "remap", "the module keeps one for all handles");
  });
});

Deno.test("StaticKeysModule.setStrategy() refuses a strategy this system lacks", async (t) => {
  using mod = openDemo();
  await t.step("direct needs writable text (bare metal)", () => {
    assert.throws(() => mod.setStrategy("direct"), (error: unknown) => {
      assert.ok(error instanceof UnsupportedStrategyError);
      assert.equal(error.code, -7);
      // What to do: the strategies it offers, as stats().strategies.
      assert.equal(
        error.message,
        'Cannot use strategy "direct": the linux layer does not offer it: ' +
          `choose one it offers (${mod.stats().strategies.join(", ")})`,
      );
      return true;
    });
    assert.equal(mod.strategy, defaultStrategy(mod.stats()), "unchanged");
  });
  await t.step("an unknown name is a TypeError", () => {
    assert.throws(
      () => mod.setStrategy("fast" as unknown as "remap"),
      TypeError,
    );
  });
});
