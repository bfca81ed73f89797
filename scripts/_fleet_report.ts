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
  /** The 1-minute load average before and after the row. */
  load?: [number, number];
  /**
   * When the row was measured, if not in the run of the file's `date` (a
   * row kept from an earlier run by `bench:fleet --merge`).
   */
  date?: string;
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
 * count with the times, the CPU each part spent and the load average
 * around the row (the run's own followers raise it); a row kept from an
 * earlier run is marked with its date.
 */
export function fleetBench(r: FleetResults): string {
  const sets = [...new Set(r.rows.map((row) => row.sets))].join(" or ");
  const writes = r.rows.map((row) => row.write);
  const day = r.date.slice(0, 10);
  const kept = r.rows.filter((row) =>
    row.date && row.date.slice(0, 16) !== r.date.slice(0, 16)
  );
  const load = (row: FleetRow) =>
    row.load ? row.load.map((l) => l.toFixed(1)).join(" to ") : "-";
  const mark = (row: FleetRow) =>
    kept.includes(row)
      ? ` (${row.date!.slice(0, 16).replace("T", " ")} UTC)`
      : "";
  return [
    `Measured by \`deno task bench:fleet\` on ${day}, ` +
    `${r.machine.replace(/, load [\d.]+ at start$/, "")}, Deno ${r.deno}, ` +
    `with every follower a process of its own on that machine; ${sets} sets ` +
    `one after the other per row. The load column is the 1-minute load ` +
    `average before and after the row's sets.` +
    (kept.length > 0
      ? ` Rows with a time were kept from the earlier run of that time.`
      : ""),
    "",
    "| store | followers | p50 ms | p99 ms | set() alone ms | follower CPU ms/rev | idle follower CPU ms/s | server CPU ms/rev | load |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ...r.rows.map((row) =>
      `| ${STORES[row.store] ?? row.store} | ${row.followers}${mark(row)} | ${
        ms(row.p50)
      } | ${ms(row.p99)} | ${ms(row.write)} | ${row.followerCpu.toFixed(2)} | ${
        row.idleCpu.toFixed(2)
      } | ${row.store === "file" ? "-" : ms(row.serverCpu)} | ${load(row)} |`
    ),
    "",
    `The write itself (\`set() alone\`) took ${ms(Math.min(...writes))} to ` +
    `${ms(Math.max(...writes))} ms.`,
  ].join("\n");
}
