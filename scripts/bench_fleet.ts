// SPDX-License-Identifier: MIT
// deno task bench:fleet [--sets N] [--followers 1,20,100] [--stores
// file,nats,nats3] [--wait-load L] [--merge]: propagation time of the
// fleet. For each
// store (the file store, one NATS server, a 3-node NATS cluster with R3
// buckets, all on loopback) and each number of follower processes, N sets
// one after the other; each is timed from the call of set() to the moment
// the status stream shows every follower at its revision. Followers keep
// the default minimum interval (100 ms): the next set waits that long
// after the last one converged, so coalescing adds nothing.
//
// Wall time depends on what else the machine runs; CPU time much less. So
// each row also reports the CPU time (user + system, from /proc) a
// follower process spends per revision, what an idle follower spends per
// second, and what this process (the operator's set() and the status
// watch) and the NATS servers spend per revision, with the load average
// before and after the row. Before each row's sets (its followers started
// and idle) it waits until the 1-minute load average is at most L
// (--wait-load L or WAIT_LOAD=L; 1 when omitted, 0: no wait), for at most
// --wait-max minutes (30), so that a row does not inherit the load of the
// row before it. --merge keeps the rows of bench/results/fleet.json this
// run does not measure (each with its date and load). Writes
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
import type { FleetRow } from "./_fleet_report.ts";

function flag(name: string, fallback: string): string {
  const i = Deno.args.indexOf(name);
  return i >= 0 && Deno.args[i + 1] ? Deno.args[i + 1] : fallback;
}

const SETS = Number(flag("--sets", "100"));
const COUNTS = flag("--followers", "1,20,100").split(",").map(Number);
const STORES = flag("--stores", "file,nats,nats3").split(",");
const WAIT_LOAD = Number(flag("--wait-load", Deno.env.get("WAIT_LOAD") ?? "1"));
const WAIT_MAX_MS = Number(flag("--wait-max", "30")) * 60_000;
const MERGE = Deno.args.includes("--merge");
const SCOPE = "bench";
/** How long an idle follower's CPU is measured. */
const IDLE_MS = 5000;

/** A row of the results file, and what else the run measured. */
interface Row extends FleetRow {
  /** CPU ms a follower process spends per revision (mean of all). */
  followerCpu: number;
  /** CPU ms an idle follower spends per second (mean of all). */
  idleCpu: number;
  /** CPU ms this process (set() and the status watch) spends per revision. */
  operatorCpu: number;
  /** CPU ms the NATS servers spend per revision (all nodes). */
  serverCpu: number;
  /** The 1-minute load average before and after the row. */
  load: [number, number];
}

const TICK_MS = 10; // USER_HZ is 100 on Linux

/** User + system CPU ms of process `pid` (all its threads), from /proc. */
function cpuMs(pid: number | "self"): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // the fields after the command name, which is in parentheses
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
  } catch {
    return NaN; // not Linux, or the process is gone
  }
}

function cpuOf(pids: number[]): number {
  return pids.reduce((sum, pid) => sum + cpuMs(pid), 0);
}

/** Waits until the 1-minute load average is at most WAIT_LOAD. */
async function quiet(): Promise<void> {
  if (!(WAIT_LOAD > 0)) return;
  const deadline = performance.now() + WAIT_MAX_MS;
  let said = false;
  while (Deno.loadavg()[0] > WAIT_LOAD && performance.now() < deadline) {
    if (!said) {
      $.logStep(
        "Waiting",
        `for a load average of at most ${WAIT_LOAD} (now ${
          Deno.loadavg()[0].toFixed(1)
        })`,
      );
      said = true;
    }
    await new Promise((r) => setTimeout(r, 5000));
  }
  if (Deno.loadavg()[0] > WAIT_LOAD) {
    $.logWarn(
      "Load",
      `still ${Deno.loadavg()[0].toFixed(1)} after ${
        WAIT_MAX_MS / 60_000
      } minutes: measuring anyway (the row's load column says so)`,
    );
  }
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
      await quiet();
      const pids = followers.map((f) => f.pid);
      const servers = cluster?.pids() ?? [];
      const idle0 = cpuOf(pids);
      await new Promise((r) => setTimeout(r, IDLE_MS));
      const idle = (cpuOf(pids) - idle0) / count / (IDLE_MS / 1000);
      const load0 = Deno.loadavg()[0];
      const cpu0 = [cpuOf(pids), cpuMs("self"), cpuOf(servers)];
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
      const cpu1 = [cpuOf(pids), cpuMs("self"), cpuOf(servers)];
      // The sets took a while: take out what idle followers spend meanwhile.
      const elapsed = (times.reduce((a, b) => a + b, 0) + SETS * 110) / 1000;
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
        followerCpu: Math.max(
          0,
          (cpu1[0] - cpu0[0]) / count / SETS - idle * elapsed / SETS,
        ),
        idleCpu: idle,
        operatorCpu: (cpu1[1] - cpu0[1]) / SETS,
        serverCpu: (cpu1[2] - cpu0[2]) / SETS,
        load: [load0, Deno.loadavg()[0]],
        date: started.toISOString(),
      };
      $.logStep(
        "Measured",
        `${kind}, ${count} followers: p50 ${row.p50.toFixed(1)} ms, p99 ${
          row.p99.toFixed(1)
        } ms (set() alone ${row.write.toFixed(1)} ms); CPU per revision: ` +
          `follower ${row.followerCpu.toFixed(2)} ms, operator ${
            row.operatorCpu.toFixed(1)
          } ms, servers ${row.serverCpu.toFixed(1)} ms; idle follower ${
            row.idleCpu.toFixed(2)
          } ms/s; load ${row.load.map((l) => l.toFixed(1)).join(" to ")}`,
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
const results = root.join("bench", "results");
const measured: Row[] = [];
for (const kind of STORES) measured.push(...await runStore(kind));
// --merge: the earlier run's rows this run did not measure, with their date
const earlier = MERGE && results.join("fleet.json").existsSync()
  ? results.join("fleet.json").readJsonSync<
    { date: string; rows: Row[] }
  >()
  : undefined;
const order = ["file", "nats", "nats3"];
const rows: Row[] = [
  ...measured,
  ...(earlier?.rows ?? []).filter((old) =>
    !measured.some((r) =>
      r.store === old.store && r.followers === old.followers
    )
  ).map((old) => ({ ...old, date: old.date ?? earlier!.date })),
].sort((a, b) =>
  order.indexOf(a.store) - order.indexOf(b.store) || a.followers - b.followers
);
const cpu = (await Deno.readTextFile("/proc/cpuinfo").catch(() => ""))
  .match(/model name\s*:\s*(.*)/)?.[1] ?? "unknown CPU";
const machine =
  `${Deno.build.os} ${Deno.build.arch}, ${navigator.hardwareConcurrency} cores (${cpu})`;
const table = [
  "| store | followers | sets | p50 ms | p99 ms | max ms | set() alone ms | follower CPU ms/rev | idle follower CPU ms/s | operator CPU ms/rev | server CPU ms/rev | load | measured |",
  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
  ...rows.map((r) =>
    `| ${NAMES[r.store] ?? r.store} | ${r.followers} | ${r.sets} | ${
      r.p50.toFixed(1)
    } | ${r.p99.toFixed(1)} | ${r.max.toFixed(1)} | ${r.write.toFixed(1)} | ${
      r.followerCpu.toFixed(2)
    } | ${r.idleCpu.toFixed(2)} | ${r.operatorCpu.toFixed(1)} | ${
      r.store === "file" ? "-" : r.serverCpu.toFixed(1)
    } | ${r.load.map((l) => l.toFixed(1)).join("-")} | ${
      (r.date ?? started.toISOString()).slice(0, 16).replace("T", " ")
    } |`
  ),
].join("\n");
results.join("fleet.json").writeJsonPrettySync({
  date: started.toISOString(),
  machine,
  deno: Deno.version.deno,
  rows,
});
results.join("fleet.md").writeTextSync(
  `# Fleet propagation\n\n${started.toISOString()}, ${machine}, Deno ${Deno.version.deno}.\n` +
    `Time from set() to every follower's status at the new revision, ` +
    `${SETS} sets per row (deno task bench:fleet); CPU (user + system) ` +
    `per revision of one follower process, of the operator's process ` +
    `(set() and the status watch) and of the NATS servers; CPU per ` +
    `second of an idle follower; the 1-minute load average before and ` +
    `after each row's sets, and when the row was measured.\n\n${table}\n`,
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
