// SPDX-License-Identifier: MIT
// Flips while `nonblocking` FFI calls run the sites on other threads
// (docs/concurrency.md): every strategy the module calls safe survives.

import assert from "node:assert/strict";
import { LIB, openDemo, runDeno } from "./_helpers.ts";

const FLIPS = 20_000;

Deno.test("StaticKeysModule flips are safe while nonblocking calls run the sites", async () => {
  let concurrent: readonly string[];
  {
    using mod = openDemo();
    concurrent = mod.stats().concurrent;
    assert.ok(
      concurrent.includes(mod.strategy),
      `the default "${mod.strategy}" is safe for concurrent executors`,
    );
    assert.equal(mod.stats().concurrentSafe, true);
    for (const strategy of mod.stats().strategies) {
      mod.setStrategy(strategy);
      assert.equal(
        mod.stats().concurrentSafe,
        concurrent.includes(strategy),
        `${strategy}: concurrentSafe agrees with concurrent`,
      );
    }
    mod.setStrategy("default");
  }
  const out = await runDeno([
    `--allow-ffi=${LIB}`,
    `--allow-read=${LIB}`,
    new URL("./fixtures/conc_flips.ts", import.meta.url).pathname,
    LIB,
    String(FLIPS),
  ]);
  assert.equal(out.signal, null, `no crash: ${out.stderr}`);
  assert.equal(out.code, 0, out.stderr);
  const report = JSON.parse(out.stdout);
  assert.deepEqual(report.concurrent, concurrent);
  for (const strategy of concurrent) {
    const r = report.results[strategy];
    assert.ok(r.calls > 0, `${strategy}: the readers ran`);
    assert.equal(r.zero, 0, `${strategy}: every result from a whole path`);
    assert.ok(r.requests >= FLIPS * 3 / 4, `${strategy}: every flip patched`);
    assert.equal(r.rewritten, 0, `${strategy}: every site agrees at the end`);
    assert.equal(r.unknown, 0, `${strategy}: every site whole at the end`);
    if (Deno.build.arch === "x86_64" && report.protocol.includes(strategy)) {
      // the pool threads met the breakpoints and were sent on
      assert.ok(r.traps > 0, `${strategy}: threads went through the handler`);
      assert.equal(
        r.coreSyncs,
        3 * r.requests,
        `${strategy}: 3 syncs a request`,
      );
    }
  }
});
