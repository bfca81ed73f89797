// SPDX-License-Identifier: MIT
// deno task demo: build if needed, open the package's library, list its
// keys, and show what a flip changes and what it costs.

import { open, type StaticKeysModule } from "../mod.ts";
import { build, libraryPath } from "./_common.ts";

await build();

const symbols = {
  static_keys_demo_work: { parameters: ["u32"], result: "u64" },
  static_keys_demo_events: { parameters: [], result: "u64" },
} as const;

using mod = open(libraryPath.toString(), { symbols });
const { static_keys_demo_work: work, static_keys_demo_events: events } =
  mod.symbols;
const ROUNDS = 1_000_000;

console.log(`${mod.path} (${mod.version}), strategy ${mod.strategy}`);
console.table(mod.keys);

function run(label: string) {
  const e0 = events();
  const t0 = performance.now();
  const hash = work(ROUNDS);
  const ms = performance.now() - t0;
  const ev = events() - e0;
  console.log(
    `  ${label.padEnd(34)} hash ${hash.toString(16).padStart(16, "0")}, ` +
      `${ev} trace events, ${ms.toFixed(2)} ms for ${ROUNDS} rounds`,
  );
}

function flip(
  m: StaticKeysModule<typeof symbols>,
  label: string,
  change: () => void,
) {
  const t0 = performance.now();
  change();
  const us = (performance.now() - t0) * 1000;
  const s = m.stats();
  console.log(
    `  flip: ${label}: ${us.toFixed(0)} us, ${s.lastSyscalls} syscalls, ` +
      `${s.lastPages} page(s) patched (${s.strategy})`,
  );
}

/** A heading on stdout, where the rest of the demo prints. */
function step(verb: string, text: string) {
  console.log(`%c${verb}%c ${text}`, "color: green; font-weight: bold", "");
}

step("Run", "static_keys_demo_work with experimental and tracing off");
mod.set({ experimental: false, tracing: false });
run("experimental off, tracing off");

step("Flip", "experimental on: the hash takes the other path");
flip(mod, "experimental on", () => mod.key("experimental").enable());
run("experimental on, tracing off");

step("Flip", "tracing on: every round records an event");
flip(mod, "tracing on", () => mod.key("tracing").enable());
run("experimental on, tracing on");

step("Flip", "both back in one request, with the mprotect strategy");
mod.setStrategy("mprotect");
flip(
  mod,
  "experimental+tracing off",
  () => mod.set({ experimental: false, tracing: false }),
);
run("experimental off, tracing off");
mod.setStrategy("default");

const s = mod.stats();
console.log(
  `\n${s.flips} flips in ${s.requests} requests: ${s.pagesPatched} pages, ` +
    `${s.syscalls} syscalls (remap: 3 per page, mprotect: 2)`,
);
