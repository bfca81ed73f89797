// SPDX-License-Identifier: MIT
// deno task bench: what a flip costs per strategy, a batch against single
// flips, and a guarded call with its key off and on.

import { open } from "../mod.ts";

const mod = open(undefined, {
  symbols: {
    static_keys_demo_tracing: { parameters: [], result: "i32" },
  },
});
mod.set({ tracing: false, checks: true, experimental: false });
const tracing = mod.key("tracing");
const checks = mod.key("checks");
const experimental = mod.key("experimental");

for (const strategy of ["remap", "mprotect"] as const) {
  Deno.bench(`one flip (${strategy})`, {
    group: "flip",
    baseline: strategy === "remap",
  }, (b) => {
    mod.setStrategy(strategy);
    b.start();
    tracing.toggle();
    b.end();
  });
}

let on = false;
Deno.bench("3 keys in one request", {
  group: "batch",
  baseline: true,
}, (b) => {
  mod.setStrategy("remap");
  on = !on;
  b.start();
  mod.set({ tracing: on, checks: !on, experimental: on });
  b.end();
});
Deno.bench("3 single flips", { group: "batch" }, (b) => {
  mod.setStrategy("remap");
  on = !on;
  b.start();
  tracing.set(on);
  checks.set(!on);
  experimental.set(on);
  b.end();
});

const CALLS = 1000;
const call = mod.symbols.static_keys_demo_tracing;
for (const state of [false, true]) {
  Deno.bench(`${CALLS} guarded calls, key ${state ? "on" : "off"}`, {
    group: "site",
    baseline: !state,
  }, (b) => {
    tracing.set(state);
    b.start();
    for (let i = 0; i < CALLS; i++) call();
    b.end();
  });
}

globalThis.addEventListener("unload", () => {
  mod.setStrategy("default");
  mod.set({ tracing: false, checks: true, experimental: false });
  mod.close();
});
