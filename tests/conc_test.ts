// SPDX-License-Identifier: MIT
// Flips while `nonblocking` FFI calls run the sites on other threads
// (docs/concurrency.md): every strategy the module calls safe survives.
// The sites are a user library's (tests/conc_lib.c), with a site that
// straddles a page and one that straddles a cache line: a torn instruction
// shows there first.

import assert from "node:assert/strict";
import { openDemo, runDeno } from "./_helpers.ts";

const FLIPS = 20_000;
/** The stress test's library (tests/conc_lib.c), built with the C tests. */
const CONC = new URL(
  `../build/tests/${
    Deno.build.os === "windows" ? "libsk_conc.dll" : "libsk_conc.so"
  }`,
  import.meta.url,
).pathname;

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
    `--allow-ffi=${CONC}`,
    `--allow-read=${CONC}`,
    new URL("./fixtures/conc_flips.ts", import.meta.url).pathname,
    CONC,
    String(FLIPS),
  ]);
  assert.equal(out.signal, null, `no crash: ${out.stderr}`);
  assert.equal(out.code, 0, out.stderr);
  const report = JSON.parse(out.stdout);
  assert.deepEqual(report.concurrent, concurrent);
  if (Deno.build.arch === "x86_64") {
    // 5-byte sites 2 bytes short of a page and of a cache line
    assert.equal(report.offsets.c_page, 4094, "the page site straddles");
    assert.equal(report.offsets.c_line % 64, 62, "the line site straddles");
  }
  for (const strategy of concurrent) {
    const r = report.results[strategy];
    assert.ok(r.calls > 0, `${strategy}: the readers ran`);
    assert.equal(r.bad, 0, `${strategy}: every result from a whole path`);
    assert.ok(r.requests >= FLIPS * 3 / 4, `${strategy}: every flip patched`);
    assert.equal(r.rewritten, 0, `${strategy}: every site agrees at the end`);
    assert.equal(r.unknown, 0, `${strategy}: every site whole at the end`);
    if (Deno.build.arch === "x86_64" && report.protocol.includes(strategy)) {
      // Whether a pool thread met a breakpoint depends on timing (alias's
      // window is a few stores): tests/protocol_test.c checks that part
      // deterministically. The syncs do not depend on it: one after the
      // breakpoint pass, none after the last; no tail pass, since x86's
      // two instructions differ in byte 0 only.
      assert.equal(
        r.coreSyncs,
        r.requests,
        `${strategy}: 1 sync a request`,
      );
    }
  }
});
