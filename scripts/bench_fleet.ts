// SPDX-License-Identifier: MIT
// deno task bench:fleet [--sets N] [--followers 1,20,100] [--stores
// file,nats,nats3]: propagation time of the fleet. For each store (the
// file store, one NATS server, a 3-node NATS cluster with R3 buckets, all
// on loopback) and each number of follower processes, N sets one after
// the other; each is timed from the call of set() to the moment the
// status stream shows every follower at its revision. Followers keep the
// default minimum interval (100 ms): the next set waits that long after
// the last one converged, so coalescing adds nothing. Writes
// bench/results/fleet.json and bench/results/fleet.md.

import $ from "dax";
import { build, libraryPath, root } from "./_common.ts";
import { openStore, type Store } from "../src/fleet/_store.ts";
import type { FollowerStatus } from "../src/fleet/_types.ts";
import {
  FOLLOWER,
  type FollowerProcess,
  OPERATOR,
  retry,
  scratch,
  startFollower,
  startNats,
} from "../tests/_fleet.ts";

function flag(name: string, fallback: string): string {
  const i = Deno.args.indexOf(name);
  return i >= 0 && Deno.args[i + 1] ? Deno.args[i + 1] : fallback;
}

const SETS = Number(flag("--sets", "100"));
const COUNTS = flag("--followers", "1,20,100").split(",").map(Number);
const STORES = flag("--stores", "file,nats,nats3").split(",");
const SCOPE = "bench";

interface Row {
  store: string;
  followers: number;
  sets: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
  /** Time of set() alone (the write), median. */
  write: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];
}

/** Watches statuses; `until(n, r)` resolves when n followers are at >= r. */
async function observer(store: Store) {
  let latest: FollowerStatus[] = [];
  let wake = () => {};
  const w = await store.watchStatuses(SCOPE, 60_000, (list) => {
    latest = list;
    wake();
  });
  return {
    stop: () => w.stop(),
    until: (n: number, revision: number, timeout = 60_000) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          wake = () => {};
          reject(
            new Error(
              `only ${
                latest.filter((s) => s.revision >= revision).length
              } of ${n} followers reached revision ${revision}`,
            ),
          );
        }, timeout);
        wake = () => {
          if (latest.filter((s) => s.revision >= revision).length >= n) {
            clearTimeout(timer);
            wake = () => {};
            resolve();
          }
        };
        wake();
      }),
  };
}

async function runStore(kind: string): Promise<Row[]> {
  const rows: Row[] = [];
  const dir = await scratch(`bench-${kind}`);
  const cluster = kind === "file"
    ? undefined
    : await startNats(kind === "nats3" ? 3 : 1);
  const storeName = cluster ? cluster.store : `${dir.path}/fleet.json`;
  const admin = cluster ? OPERATOR : {};
  const followers: FollowerProcess[] = [];
  let store: Store | undefined;
  try {
    store = await retry(() => openStore(storeName, admin));
    const s = store;
    await retry(async () => {
      const nats = s as Store & {
        ensureBuckets?: (r: number, ttl: number) => Promise<void>;
      };
      await nats.ensureBuckets?.(kind === "nats3" ? 3 : 1, 60_000);
      await s.set(SCOPE, { kind: "scope" }, new Map([["audit", "on"]]));
    });
    const watch = await observer(store);
    for (const count of COUNTS) {
      $.logStep("Starting", `${count - followers.length} followers (${kind})`);
      while (followers.length < count) {
        const batch = Math.min(10, count - followers.length);
        followers.push(
          ...await Promise.all(
            Array.from({ length: batch }, (_, j) =>
              startFollower({
                lib: libraryPath.toString(),
                store: storeName,
                scope: SCOPE,
                instance: `b${String(followers.length + j).padStart(3, "0")}`,
                host: null,
                heartbeat: 5000,
                readyTimeout: 10_000,
                ...(cluster ? FOLLOWER : {}),
              })),
          ),
        );
      }
      // every follower live and at the current revision
      const warm = await store.set(
        SCOPE,
        { kind: "scope" },
        new Map([["tracing", "off"]]),
      );
      await watch.until(count, warm, 120_000);
      await new Promise((r) => setTimeout(r, 300));
      const times: number[] = [];
      const writes: number[] = [];
      for (let i = 0; i < SETS; i++) {
        const t0 = performance.now();
        const revision = await store.set(
          SCOPE,
          { kind: "scope" },
          new Map([["tracing", i % 2 ? "off" : "on"]]),
        );
        writes.push(performance.now() - t0);
        await watch.until(count, revision);
        times.push(performance.now() - t0);
        await new Promise((r) => setTimeout(r, 110)); // the minimum interval
      }
      times.sort((a, b) => a - b);
      writes.sort((a, b) => a - b);
      const row: Row = {
        store: kind,
        followers: count,
        sets: SETS,
        p50: percentile(times, 0.5),
        p99: percentile(times, 0.99),
        max: times.at(-1)!,
        mean: times.reduce((a, b) => a + b, 0) / times.length,
        write: percentile(writes, 0.5),
      };
      $.logStep(
        "Measured",
        `${kind}, ${count} followers: p50 ${row.p50.toFixed(1)} ms, p99 ${
          row.p99.toFixed(1)
        } ms (set() alone ${row.write.toFixed(1)} ms)`,
      );
      rows.push(row);
    }
    await watch.stop();
  } finally {
    await Promise.all(followers.map((f) => f.kill()));
    await store?.close();
    await cluster?.stop();
    await dir.remove();
  }
  return rows;
}

const NAMES: Record<string, string> = {
  file: "file store",
  nats: "NATS, 1 node",
  nats3: "NATS, 3 nodes (R3)",
};

await build({ targets: ["static_keys_module"], what: "the package's library" });
const started = new Date();
const load = Deno.loadavg()[0];
const rows: Row[] = [];
for (const kind of STORES) rows.push(...await runStore(kind));
const cpu = (await Deno.readTextFile("/proc/cpuinfo").catch(() => ""))
  .match(/model name\s*:\s*(.*)/)?.[1] ?? "unknown CPU";
const machine =
  `${Deno.build.os} ${Deno.build.arch}, ${navigator.hardwareConcurrency} cores (${cpu}), load ${
    load.toFixed(1)
  } at start`;
const table = [
  "| store | followers | sets | p50 ms | p99 ms | max ms | set() alone ms |",
  "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
  ...rows.map((r) =>
    `| ${NAMES[r.store] ?? r.store} | ${r.followers} | ${r.sets} | ${
      r.p50.toFixed(1)
    } | ${r.p99.toFixed(1)} | ${r.max.toFixed(1)} | ${r.write.toFixed(1)} |`
  ),
].join("\n");
const results = root.join("bench", "results");
results.join("fleet.json").writeJsonPrettySync({
  date: started.toISOString(),
  machine,
  deno: Deno.version.deno,
  rows,
});
results.join("fleet.md").writeTextSync(
  `# Fleet propagation\n\n${started.toISOString()}, ${machine}, Deno ${Deno.version.deno}.\n` +
    `Time from set() to every follower's status at the new revision, ` +
    `${SETS} sets per row (deno task bench:fleet).\n\n${table}\n`,
);
await $`${Deno.execPath()} fmt ${results.join("fleet.md")}`.quiet();
console.log(`\n${table}\n`);
const goals = rows.filter((r) =>
  r.followers === 20 && r.p99 > 50 || r.followers === 100 && r.p99 > 100
);
for (const r of goals) {
  $.logWarn(
    "Goal",
    `${NAMES[r.store]}, ${r.followers} followers: p99 ${
      r.p99.toFixed(1)
    } ms is above ${r.followers === 20 ? 50 : 100} ms`,
  );
}
