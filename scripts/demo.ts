// SPDX-License-Identifier: MIT
// deno task demo: what a static key is, shown on the package's library:
// the instruction a flip rewrites, the behaviour it changes, what the flip
// costs, and what the test costs next to an ordinary flag.

import { open, type Site } from "../mod.ts";
import {
  formatInstruction,
  formatLocation,
  formatTable,
} from "../src/cli/_cli.ts";
import { build, libraryPath } from "./_common.ts";

// The library alone: a fresh clone need not build the tests to see a flip.
await build({ targets: ["static_keys_module"], what: "the package's library" });

const symbols = {
  static_keys_demo_tracing: { parameters: [], result: "i32" },
  static_keys_demo_work: { parameters: ["u32"], result: "u64" },
  static_keys_demo_work_flags: { parameters: ["u32"], result: "u64" },
  static_keys_demo_set_flags: {
    parameters: ["i32", "i32", "i32"],
    result: "void",
  },
  static_keys_demo_events: { parameters: [], result: "u64" },
} as const;

using mod = open(libraryPath.toString(), { symbols });
const s = mod.symbols;
mod.set({ tracing: false, checks: true, experimental: false });

function step(title: string) {
  console.log(`\n%c${title}`, "color: green; font-weight: bold");
}

function median(xs: number[]): number {
  const a = [...xs].sort((x, y) => x - y);
  return a.length % 2
    ? a[a.length >> 1]
    : (a[a.length / 2 - 1] + a[a.length / 2]) / 2;
}

/** The middle half of the values: [25th, 75th] percentile. */
function quartiles(xs: number[]): [number, number] {
  const a = [...xs].sort((x, y) => x - y);
  return [
    a[Math.floor((a.length - 1) / 4)],
    a[Math.ceil((a.length - 1) * 3 / 4)],
  ];
}

function showSite(site: Site, result: number) {
  const where = formatInstruction(site) === "nop"
    ? `falls through to the next instruction: the function returns ${result}`
    : `jumps to ${formatLocation(site.target)}: the function returns ${result}`;
  console.log(
    `    ${site.hex}  ${formatInstruction(site).padEnd(10)} ${where}`,
  );
}

const EVENTS_ROUNDS = 1000;
function behaviour() {
  const e0 = s.static_keys_demo_events();
  s.static_keys_demo_work(EVENTS_ROUNDS);
  const events = s.static_keys_demo_events() - e0;
  console.log(
    `  static_keys_demo_tracing() returns ${s.static_keys_demo_tracing()}; ` +
      `static_keys_demo_work(${EVENTS_ROUNDS}) records ${events} trace events`,
  );
}

console.log(
  `A static key guards a rarely-changed feature. Where native code tests it,
the compiler emits one instruction: a 'nop' that falls through, or a 'jmp'
to the guarded code. There is no load, compare or conditional branch.
Flipping the key rewrites those instructions in the running process.

${mod.path} (${mod.version})`,
);

step("The keys of the package's library, and where code tests them");
console.log(
  formatTable(mod, mod.keys, mod.sites()).split("\n").slice(2).join("\n"),
);
console.log(
  `\nstate: the key now; initial: as the library was built; sites: how many
instructions test it. Each site row: the function holding it and the offset
into it, the bytes there now and the instruction they encode, and where its
jmp goes (a site holding the nop would jump there once flipped).`,
);

// ---- one key, before and after ---------------------------------------------
const site = mod.sites("tracing").find((x) =>
  x.function === "static_keys_demo_tracing"
)!;
step(`1. Before: "tracing" is off`);
console.log(
  `  Its site in ${formatLocation(site)} (file address 0x${
    site.libraryAddress?.toString(16)
  }) holds:`,
);
showSite(site, s.static_keys_demo_tracing());
behaviour();

step(`2. Flip "tracing" on`);
const FLIPS = 21;
const times: number[] = [];
for (let i = 0; i < FLIPS; i++) {
  mod.key("tracing").disable();
  const t0 = performance.now();
  mod.key("tracing").enable();
  times.push((performance.now() - t0) * 1000);
}
const st = mod.stats();
const [q1, q3] = quartiles(times);
const how: Record<string, string> = {
  remap: "copy the page, patch the copy, make it r-x, move it over the code",
  mprotect: "make the page writable, write, make it r-x again",
  alias: "a plain store through a writable second mapping of the code",
  procmem: "one write through /proc/self/mem",
};
console.log(
  `  The flip rewrote ${
    mod.sites("tracing").length
  } sites on ${st.lastPages} page(s) ` +
    `with ${st.lastSyscalls} syscalls (strategy ${st.strategy}${
      how[st.strategy] ? `: ${how[st.strategy]}` : ""
    }).
  It takes ${
      median(times).toFixed(0)
    } µs: the median of ${FLIPS} flips, the middle ` +
    `half took ${q1.toFixed(0)}–${
      q3.toFixed(0)
    } µs (the first flips of a run, ` +
    `and a loaded machine, are slower). Flips are slow on purpose: flip rarely.`,
);

step(`3. After: "tracing" is on`);
const now = mod.sites("tracing").find((x) => x.address === site.address)!;
console.log(`  The same site in ${formatLocation(now)} now holds:`);
showSite(now, s.static_keys_demo_tracing());
behaviour();
console.log(
  `  Before → after: ${site.hex}  ${formatInstruction(site)}  →  ` +
    `${now.hex}  ${formatInstruction(now)}\n  (${
      formatInstruction(now)
    }: a jump to the address that far from the site's first byte; the ` +
    `bytes are the same length, so nothing else in the code moves)`,
);
mod.key("tracing").disable();

// ---- what the test costs -----------------------------------------------------
step("4. What a test costs: static keys against ordinary flags");
const ROUNDS = 250_000;
const RUNS = 41;
s.static_keys_demo_set_flags(0, 1, 0); // the keys' states: same work, same result
const keysHash = s.static_keys_demo_work(1000);
const flagsHash = s.static_keys_demo_work_flags(1000);
if (keysHash !== flagsHash) throw new Error("the two workloads differ");
const ns = { keys: [] as number[], flags: [] as number[] };
for (let i = 0; i < RUNS + 2; i++) {
  for (const kind of ["keys", "flags"] as const) {
    const fn = kind === "keys"
      ? s.static_keys_demo_work
      : s.static_keys_demo_work_flags;
    const t0 = performance.now();
    fn(ROUNDS);
    const t = (performance.now() - t0) * 1e6 / ROUNDS;
    if (i >= 2) ns[kind].push(t); // the first two runs warm caches up
  }
}
const diffs = ns.flags.map((f, i) => f - ns.keys[i]);
const diff = median(diffs);
const [d1, d3] = quartiles(diffs);
const row = (label: string, xs: number[]) => {
  const [a, b] = quartiles(xs);
  return `  ${label.padEnd(6)} ${median(xs).toFixed(2)} ns per round ` +
    `(middle half of the runs: ${a.toFixed(2)}–${b.toFixed(2)} ns)`;
};
console.log(
  `  static_keys_demo_work(${ROUNDS}) runs a loop whose every round tests three
  keys; static_keys_demo_work_flags does the same work testing three flags
  (an atomic load, a compare and a branch each). Same states, same result.
  ${RUNS} runs of each, alternating; medians:`,
);
console.log(row("keys", ns.keys));
console.log(row("flags", ns.flags));
console.log(
  `  flags minus keys, run by run: median ${diff.toFixed(2)} ns per round, ` +
    `middle half ${d1.toFixed(2)} to ${d3.toFixed(2)} ns.`,
);
if (d1 > 0) {
  console.log(
    `  The flags are slower in most runs: each round loads and tests three
  flags, where the keys' sites are three nops.
  A flip (${median(times).toFixed(0)} µs) costs as much as about ${
      Math.round(median(times) * 1000 / diff).toLocaleString("en")
    } rounds of
  that difference: a key pays off when the code tests it far more often than
  its state changes.`,
  );
} else if (d3 < 0) {
  console.log(
    `  The keys are slower in most runs here, which the instructions do not
  explain: the machine is busy. Run the demo again on a quiet machine.`,
  );
} else {
  console.log(
    `  The middle half of the differences straddles 0: on this machine, now,
  the runs cannot tell keys from flags apart. A flag in cache costs little on
  a modern CPU; keys pay off where the test is on a hot path and a flag would
  miss the cache or crowd the branch predictor.`,
  );
}
