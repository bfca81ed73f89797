// SPDX-License-Identifier: MIT
// deno task bench: what a flip costs per strategy, a batch against single
// flips, and a guarded call with its key off and on.

import { open, type Strategy } from "../mod.ts";

const mod = open(undefined, {
  symbols: {
    static_keys_demo_tracing: { parameters: [], result: "i32" },
  },
});
mod.set({ tracing: false, checks: true, experimental: false });
const tracing = mod.key("tracing");
const checks = mod.key("checks");
const experimental = mod.key("experimental");

// Benches run one after the other: switch strategy or state only when a
// bench starts, so every iteration measures the flip or the call alone.
let strategy: Strategy = mod.strategy;
function use(next: Strategy) {
  if (strategy !== next) mod.setStrategy(next);
  strategy = next;
}

for (const name of ["remap", "mprotect", "alias"] as const) {
  Deno.bench(`one flip (${name})`, {
    group: "flip",
    baseline: name === "remap",
  }, () => {
    use(name);
    tracing.toggle();
  });
}

let on = false;
Deno.bench("3 keys in one request", {
  group: "batch",
  baseline: true,
}, () => {
  use("remap");
  on = !on;
  mod.set({ tracing: on, checks: !on, experimental: on });
});
Deno.bench("3 single flips", { group: "batch" }, () => {
  use("remap");
  on = !on;
  tracing.set(on);
  checks.set(!on);
  experimental.set(on);
});

const CALLS = 1000;
const call = mod.symbols.static_keys_demo_tracing;
for (const state of [false, true]) {
  let ready = false;
  Deno.bench(`${CALLS} guarded calls, key ${state ? "on" : "off"}`, {
    group: "site",
    baseline: !state,
  }, () => {
    if (!ready) tracing.set(state);
    ready = true;
    for (let i = 0; i < CALLS; i++) call();
  });
}

globalThis.addEventListener("unload", () => {
  mod.setStrategy("default");
  mod.set({ tracing: false, checks: true, experimental: false });
  mod.close();
});
