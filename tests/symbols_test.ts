// SPDX-License-Identifier: MIT
// What mod.symbols hands out: exact types, and no crash after close().

import assert from "node:assert/strict";
import { open } from "../mod.ts";
import { LIB, runDeno } from "./_helpers.ts";

Deno.test("open() keeps the exact parameter tuples of the user's symbols", () => {
  using mod = open(undefined, {
    symbols: {
      static_keys_demo_work: { parameters: ["u32"], result: "u64" },
      static_keys_demo_checks: { parameters: [], result: "i32" },
    },
  });
  const work: (n: number) => bigint = mod.symbols.static_keys_demo_work;
  assert.equal(typeof work(3), "bigint");
  assert.equal(mod.symbols.static_keys_demo_checks(), 1);
  // Type checks only, never called: each line must be a type error, or
  // `deno test` (which type-checks this file) fails on an unused directive.
  const _wrongArity = () => {
    // @ts-expect-error: static_keys_demo_work takes one argument
    mod.symbols.static_keys_demo_work(1, 2);
    // @ts-expect-error: and not none
    mod.symbols.static_keys_demo_work();
    // @ts-expect-error: static_keys_demo_checks takes none
    mod.symbols.static_keys_demo_checks(1);
    // @ts-expect-error: a u32 is a number, not a bigint
    mod.symbols.static_keys_demo_work(1n);
    // @ts-expect-error: only the symbols given exist
    mod.symbols.static_keys_demo_tracing();
  };
});

Deno.test("StaticKeysModule.symbols throw ModuleClosedError after close() instead of crashing", async () => {
  const main = new URL("./fixtures/symbols_main.ts", import.meta.url).pathname;
  const root = new URL("..", import.meta.url).pathname;
  const out = await runDeno([
    `--allow-ffi=${LIB}`,
    `--allow-read=${root}`,
    main,
  ]);
  assert.equal(
    out.code,
    0,
    `the subprocess ended with ${out.code}: ${out.stderr}`,
  );
  const closed = (name: string) => ({
    name: "ModuleClosedError",
    message: `Cannot call "${name}": the handle of "${LIB}" is closed`,
  });
  const outcomes = JSON.parse(out.stdout);
  assert.deepEqual(outcomes, {
    expected: outcomes.expected,
    afterLastClose: closed("static_keys_demo_checks"),
    closedHandle: closed("static_keys_demo_work"),
    openHandle: { value: "1" },
    runningAtClose: { value: outcomes.expected },
    afterRunning: closed("static_keys_demo_work_nb"),
  });
});
