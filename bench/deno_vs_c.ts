// SPDX-License-Identifier: MIT
// A flip from Deno against the same flip from C, in one process, with the
// same method as bench/flip_bench.c: medians of rounds of enable+disable
// pairs. Rounds alternate (Deno, C, Deno, C, ...) so a busy machine slows
// both alike. Prints one JSON object per line; scripts/bench.ts reads them.
// Usage: deno run --allow-ffi=<lib> --allow-env --allow-read bench/deno_vs_c.ts [--quick]

import { open } from "../mod.ts";

const LIBRARY = Deno.build.os === "darwin"
  ? "libstatic_keys_bench.dylib"
  : "libstatic_keys_bench.so";
const path = Deno.env.get("STATIC_KEYS_BENCH_LIB") ??
  new URL(`../build/bench/${LIBRARY}`, import.meta.url).pathname;
const quick = Deno.args.includes("--quick");

using mod = open(path, {
  symbols: {
    bench_c_flips: { parameters: ["u32", "u32"], result: "i32" },
    bench_floors: { parameters: ["u32", "buffer"], result: "i32" },
  },
});
const { bench_c_flips, bench_floors } = mod.symbols;
// The core syncs of one 1-site flip, counted by the module. x86 runs the
// cross-modification protocol in passes with a core synchronisation after
// each but the last (two passes, one sync, when only byte 0 changes, as
// for every x86 flip); elsewhere one pass and its sync.
const syncsBefore = mod.stats().coreSyncs;
mod.key("one").set(!mod.key("one").enabled);
const syncs = mod.stats().coreSyncs - syncsBefore;
mod.key("one").set(!mod.key("one").enabled);
console.log(JSON.stringify({
  group: "default",
  strategy: mod.strategy,
  passes: Deno.build.arch === "x86_64" && syncs ? syncs + 1 : 1,
  syncs: syncs || 1,
  protocol: mod.stats().protocol,
}));

// The system calls a flip in place is made of, one at a time, from this
// process (Deno's threads), after one flip so the module is set up.
if (Deno.build.os === "linux") {
  const one = mod.key("one");
  one.set(true);
  one.set(false);
  const floors = new Float64Array(4);
  if (bench_floors(one.index, floors) === 0) {
    console.log(JSON.stringify({
      group: "floor",
      pwrite_us: Number(floors[0].toFixed(3)),
      membarrier_us: Number(floors[1].toFixed(3)),
      sigaction_us: Number(floors[2].toFixed(3)),
      threads: floors[3],
    }));
  }
}

function median(values: number[]): number {
  const sorted = values.toSorted((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

const sizes = [["one", 1], ["hundred", 100], ["tenk", 10000]] as const;
for (const strategy of mod.stats().strategies) {
  if (strategy === "direct") continue;
  try {
    mod.setStrategy(strategy);
  } catch {
    continue; // offered, but its probe refused it here
  }
  for (const [name, sites] of sizes) {
    const key = mod.key(name);
    key.set(false);
    const t0 = performance.now();
    key.set(true);
    key.set(false);
    const first = (performance.now() - t0) * 1000;
    const pairs = Math.max(1, Math.min(1000, Math.floor(2000 / first)));
    const rounds = first > 5000 ? 5 : quick ? 11 : 21;
    const deno: number[] = [];
    const c: number[] = [];
    const fromDeno = () => {
      const t = performance.now();
      for (let i = 0; i < pairs; i++) {
        key.set(true);
        key.set(false);
      }
      deno.push((performance.now() - t) * 1000 / pairs);
    };
    const fromC = () => {
      const t = performance.now();
      if (bench_c_flips(key.index, 2 * pairs) !== 0) {
        throw new Error(`Cannot flip key "${name}" from C`);
      }
      c.push((performance.now() - t) * 1000 / pairs);
    };
    // ABBA order: neither side always runs right after the other.
    for (let r = 0; r < rounds; r++) {
      if (r % 2) {
        fromC();
        fromDeno();
      } else {
        fromDeno();
        fromC();
      }
    }
    const denoUs = median(deno);
    const cUs = median(c);
    console.log(JSON.stringify({
      group: "deno",
      strategy,
      sites,
      us: Number(denoUs.toFixed(3)),
      c_us: Number(cUs.toFixed(3)),
      // Each Deno round against the C round next to it: drift cancels.
      ratio: Number(median(deno.map((d, i) => d / c[i])).toFixed(3)),
      pairs,
      rounds,
    }));
  }
}
mod.setStrategy("default");
