// SPDX-License-Identifier: MIT
// docs/fleet.md's benchmark block, from bench/results/fleet.json (deno
// task bench:fleet): every number comes from the results file, so the page
// shows what the last run measured (tests/figures_test.ts checks it).

/** One row of bench/results/fleet.json. */
export interface FleetRow {
  store: string;
  followers: number;
  sets: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
  /** Time of set() alone (the write), median. */
  write: number;
  /** CPU ms (user + system) per revision of one follower process. */
  followerCpu: number;
  /** CPU ms per second of an idle follower. */
  idleCpu: number;
  /** CPU ms per revision of the NATS servers (0 for a file store). */
  serverCpu: number;
}

/** bench/results/fleet.json. */
export interface FleetResults {
  date: string;
  machine: string;
  deno: string;
  rows: FleetRow[];
}

const STORES: Record<string, string> = {
  file: "file store",
  nats: "NATS, 1 node",
  nats3: "NATS, 3 nodes (R3)",
};

const ms = (v: number) => v.toFixed(1);

/**
 * docs/fleet.md's block: the run, then one row per store and follower
 * count with the times and the CPU each part spent.
 */
export function fleetBench(r: FleetResults): string {
  const sets = [...new Set(r.rows.map((row) => row.sets))].join(" or ");
  const writes = r.rows.map((row) => row.write);
  return [
    `Measured by \`deno task bench:fleet\` on ${r.date.slice(0, 10)}, ` +
    `${r.machine}, Deno ${r.deno}, with every follower a process of its ` +
    `own on that machine; ${sets} sets one after the other per row.`,
    "",
    "| store | followers | p50 ms | p99 ms | set() alone ms | follower CPU ms/rev | idle follower CPU ms/s | server CPU ms/rev |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...r.rows.map((row) =>
      `| ${STORES[row.store] ?? row.store} | ${row.followers} | ${
        ms(row.p50)
      } | ${ms(row.p99)} | ${ms(row.write)} | ${row.followerCpu.toFixed(2)} | ${
        row.idleCpu.toFixed(2)
      } | ${row.store === "file" ? "-" : ms(row.serverCpu)} |`
    ),
    "",
    `The write itself (\`set() alone\`) took ${ms(Math.min(...writes))} to ` +
    `${ms(Math.max(...writes))} ms.`,
  ].join("\n");
}
