// SPDX-License-Identifier: MIT
// The demo's comparison is fair only if the flag twin does the keys' work:
// static_keys_demo_work_flags() must compute what static_keys_demo_work()
// computes, and record the same events, for every state of the three.

import assert from "node:assert/strict";
import { open } from "../mod.ts";
import { INITIAL } from "./_helpers.ts";

const symbols = {
  static_keys_demo_work: { parameters: ["u32"], result: "u64" },
  static_keys_demo_work_flags: { parameters: ["u32"], result: "u64" },
  static_keys_demo_set_flags: {
    parameters: ["i32", "i32", "i32"],
    result: "void",
  },
  static_keys_demo_events: { parameters: [], result: "u64" },
} as const;

Deno.test("static_keys_demo_work_flags() does static_keys_demo_work()'s work for every state", () => {
  using mod = open(undefined, { symbols, strategy: "default" });
  const s = mod.symbols;
  const results = new Set<bigint>();
  try {
    for (let bits = 0; bits < 8; bits++) {
      const [tracing, checks, experimental] = [1, 2, 4].map((b) =>
        !!(bits & b)
      );
      mod.set({ tracing, checks, experimental });
      s.static_keys_demo_set_flags(+tracing, +checks, +experimental);
      const e0 = s.static_keys_demo_events();
      const keys = s.static_keys_demo_work(100);
      const e1 = s.static_keys_demo_events();
      const flags = s.static_keys_demo_work_flags(100);
      const e2 = s.static_keys_demo_events();
      assert.equal(flags, keys, `state ${bits}`);
      assert.equal(e2 - e1, e1 - e0, `events in state ${bits}`);
      assert.equal(e1 - e0, tracing ? 100n : 0n);
      results.add(keys);
    }
    assert.equal(results.size, 2, "experimental changes the result");
  } finally {
    mod.set(INITIAL);
    s.static_keys_demo_set_flags(0, 1, 0);
  }
});
