// SPDX-License-Identifier: MIT
// Deno.bench over the bench-only module (build/bench/libstatic_keys_bench,
// generated sites): the same flips bench/flip_bench.c times from C.
//
//   flip N sites     an enable+disable pair per strategy the module offers,
//                    and the per-site baseline (3 syscalls a site); alias
//                    in a group of its own, last
//   deno vs c        the same pair from Deno and from C (bench_c_flips,
//                    one FFI call that flips twice), in this process
//   100 keys         one request flipping 100 keys, per strategy
//
// `deno task bench` runs this with --json; `deno bench` by hand works too
// once the library is built (STATIC_KEYS_BENCH_LIB overrides its path).

import { open, type Strategy } from "../mod.ts";

const LIBRARY = Deno.build.os === "darwin"
  ? "libstatic_keys_bench.dylib"
  : "libstatic_keys_bench.so";
const path = Deno.env.get("STATIC_KEYS_BENCH_LIB") ??
  new URL(`../build/bench/${LIBRARY}`, import.meta.url).pathname;

const mod = open(path, {
  symbols: {
    bench_c_flips: { parameters: ["u32", "u32"], result: "i32" },
    bench_baseline_set: { parameters: ["u32", "i32"], result: "i32" },
  },
});
const { bench_c_flips, bench_baseline_set } = mod.symbols;
// Offered is not usable: a strategy's probe may refuse it here (procmem).
// alias is not tried: choosing it moves the text into shared memory, and
// the other strategies should be timed on the library's own pages first.
const strategies = mod.stats().strategies.filter((s) => {
  if (s === "direct") return false;
  if (s === "alias") return true;
  try {
    mod.setStrategy(s);
    return true;
  } catch {
    return false;
  }
});
mod.setStrategy("default");

// Benches run one after the other: switch strategy only when a bench
// starts, so its iterations measure the flip alone.
let current: Strategy = mod.strategy;
function use(next: Strategy) {
  if (current !== next) mod.setStrategy(next);
  current = next;
}

// alias runs last, in a group of its own: it moves the text into shared
// memory for good, and the others are timed on the library's own pages.
const others = strategies.filter((s) => s !== "alias");
const sizes = [["one", 1], ["hundred", 100], ["tenk", 10000]] as const;
// Slow pairs get a fixed, small number of iterations: bounded time.
const iterations = (sites: number) => sites >= 10000 ? 30 : undefined;
for (const [name, sites] of sizes) {
  const key = mod.key(name);
  const group = `flip ${sites} sites`;
  const n = iterations(sites);
  for (const strategy of others) {
    Deno.bench(`${strategy}, ${sites} sites`, {
      group,
      baseline: strategy === "remap",
      n,
      warmup: n,
    }, () => {
      use(strategy);
      key.set(true);
      key.set(false);
    });
  }
  if (sites <= 100) {
    Deno.bench(`per-site, ${sites} sites`, { group }, () => {
      if (
        bench_baseline_set(key.index, 1) || bench_baseline_set(key.index, 0)
      ) {
        throw new Error("the per-site baseline failed");
      }
    });
  }
}

const one = mod.key("one");
for (const strategy of others) {
  const group = `deno vs c (${strategy})`;
  Deno.bench(`from C, ${strategy}`, { group, baseline: true }, () => {
    use(strategy);
    if (bench_c_flips(one.index, 2) !== 0) throw new Error("flip failed");
  });
  Deno.bench(`from Deno, ${strategy}`, { group }, () => {
    use(strategy);
    one.set(true);
    one.set(false);
  });
}

const batch = Array.from({ length: 100 }, (_, i) => `batch_${i}`);
const on = Object.fromEntries(batch.map((k) => [k, true]));
const off = Object.fromEntries(batch.map((k) => [k, false]));
for (const strategy of others) {
  Deno.bench(`100 keys in one request, ${strategy}`, {
    group: "100 keys",
    baseline: strategy === "remap",
  }, () => {
    use(strategy);
    mod.set(on);
    mod.set(off);
  });
}

if (strategies.includes("alias")) {
  for (const [name, sites] of sizes) {
    const key = mod.key(name);
    const n = iterations(sites);
    Deno.bench(
      `alias, ${sites} sites`,
      { group: "alias", n, warmup: n },
      () => {
        use("alias");
        key.set(true);
        key.set(false);
      },
    );
  }
  Deno.bench("alias, 100 keys in one request", { group: "alias" }, () => {
    use("alias");
    mod.set(on);
    mod.set(off);
  });
}

globalThis.addEventListener("unload", () => {
  mod.setStrategy("default");
  mod.close();
});
