// SPDX-License-Identifier: MIT
// deno task bench [--quick] [--update [--no-readme]]: builds the benchmarks,
// then runs every benchmark of bench/ (native flips, the hot path,
// callgrind, init when bench/init_bench.c exists, Deno against C,
// Deno.bench), prints one table, checks the results, and writes them,
// the chart and the report to build/bench/results/. Only with --update does
// it rewrite the committed bench/results/latest.json, the chart
// bench/results/flip_cost.svg and the blocks between the bench markers of
// README (readmeBench(), the headline) and docs/performance.md
// (performanceBench(), every strategy): the same blocks deno task figures
// writes, and tests/figures_test.ts checks against
// bench/results/latest.json.

import $ from "dax";
import { build, buildDir, lines, root } from "./_common.ts";
import {
  benchOutputs,
  chart,
  checkList,
  checkResults,
  flipTable,
  floorLine,
  hotTable,
  initTable,
  machineLine,
  performanceBench,
  readmeBench,
  type Results,
  type Row,
} from "./_bench_report.ts";
import { BENCH_BLOCK, PERFORMANCE_BLOCK, replaceBetween } from "./_figures.ts";

const quick = Deno.args.includes("--quick");
const started = performance.now();
const loadAtStart = Deno.loadavg()[0];
// Only what the benchmarks run: a fresh clone need not build the tests.
const targets = ["static_keys_bench", "flip_bench", "hot_bench"];
if (root.join("bench", "init_bench.c").existsSync()) targets.push("init_bench");
await build({ bench: true, targets, what: "the benchmarks" });

const benchDir = buildDir.join("bench");
const benchLib = benchDir.join(
  Deno.build.os === "darwin"
    ? "libstatic_keys_bench.dylib"
    : "libstatic_keys_bench.so",
);
if (!benchLib.existsSync()) {
  $.logWarn("Skipped", `no bench module for ${Deno.build.os} in this build`);
  Deno.exit(0);
}
const quickFlag = quick ? ["--quick"] : [];

/** The JSON objects a program printed, one a line (others are skipped). */
function jsonRows(text: string): Row[] {
  return lines(text).filter((l) => l.startsWith("{")).flatMap((l) => {
    try {
      return [JSON.parse(l) as Row];
    } catch {
      return [];
    }
  });
}

async function run(step: string, cmd: ReturnType<typeof $>): Promise<Row[]> {
  $.logStep("Running", step);
  return jsonRows(await cmd.cwd(root).printCommand().text());
}

const native = await run(
  "flips from C",
  $`${benchDir.join("flip_bench")} --json ${quickFlag} ${benchLib}`,
);
const hot = await run(
  "the hot path",
  $`${benchDir.join("hot_bench")} --json ${quickFlag}`,
);

// Instructions a test, per kind: callgrind counts inside hot_pass_* only.
const callgrind: Record<string, number> = {};
if (await $.commandExists("valgrind")) {
  $.logStep("Running", "callgrind on the hot path");
  const calls = 100_000;
  for (const kind of ["static", "flag", "empty"]) {
    const toggle = "--toggle-collect=hot_pass_*"; // an argument, not a glob
    const hotBench = benchDir.join("hot_bench");
    const out = await $`valgrind --tool=callgrind ${toggle} \
      --callgrind-out-file=/dev/null ${hotBench} --only ${kind} --calls ${calls}`
      .cwd(root).captureCombined().noThrow();
    const m = out.combined.match(/Collected\s*:\s*(\d+)/);
    if (m) callgrind[kind] = Number(m[1]) / calls;
  }
} else {
  $.logWarn("Skipped", "callgrind: valgrind is not installed");
}

// Init figures come from bench/init_bench.c when the build has it: JSON
// lines, or "name value unit" lines.
const init: Row[] = [];
const initBench = benchDir.join("init_bench");
if (initBench.existsSync()) {
  $.logStep("Running", "init");
  const out = await $`${initBench}`.cwd(root).printCommand().noThrow()
    .stdout("piped");
  if (out.code !== 0) $.logWarn("Failed", `init_bench exited ${out.code}`);
  // "name entries value unit (...)" as init_bench.c prints, or JSON lines.
  for (const l of lines(out.stdout)) {
    const m = l.match(/^\s*([a-z][\w.-]*)\s+(\d+)\s+([\d.]+)\s*(\S+)/i);
    if (l.startsWith("{")) init.push(...jsonRows(l));
    else if (m) {
      init.push({
        name: m[1],
        entries: Number(m[2]),
        value: Number(m[3]),
        unit: m[4],
      });
    }
  }
} else {
  $.logWarn("Skipped", "init: no bench/init_bench in this build");
}

const deno = Deno.execPath();
const perms = [
  `--allow-ffi=${benchLib}`,
  "--allow-env",
  `--allow-read=${root}`,
];
const fromDeno = await run(
  "Deno against C",
  $`${deno} run ${perms} bench/deno_vs_c.ts ${quickFlag}`,
);
$.logStep("Running", "Deno.bench");
const denoBenchOut = await $`${deno} bench --json ${perms} bench/flip_bench.ts`
  .cwd(root).printCommand().text();
const denoBench: Row[] = [];
for (const b of JSON.parse(denoBenchOut).benches ?? []) {
  const ok = b.results?.[0]?.ok;
  if (!ok) continue;
  denoBench.push({
    group: b.group ?? "",
    name: b.name,
    n: ok.n,
    min_us: ok.min / 1000,
    p75_us: ok.p75 / 1000,
    avg_us: ok.avg / 1000,
  });
}

const cpu = (await Deno.readTextFile("/proc/cpuinfo").catch(() => ""))
  .match(/model name\s*:\s*(.*)/)?.[1]?.trim() ?? Deno.build.arch;
const results: Results = {
  machine: {
    cpu,
    cores: navigator.hardwareConcurrency,
    kernel: Deno.osRelease(),
    deno: `Deno ${Deno.version.deno}`,
    date: new Date().toISOString().slice(0, 16).replace("T", " ") + " UTC",
    load: loadAtStart.toFixed(1),
    mode: quick ? "quick" : "full",
  },
  flip: native.filter((r) => r.group === "flip"),
  batch: native.filter((r) => r.group === "batch"),
  maps: native.filter((r) => r.group === "maps"),
  deno: fromDeno.filter((r) => r.group === "deno"),
  denoBench,
  hot,
  callgrind,
  init,
  defaultStrategy: String(
    fromDeno.find((r) => r.group === "default")?.strategy ?? "remap",
  ),
  protocolPasses: Object.fromEntries(
    ((fromDeno.find((r) => r.group === "default")?.protocol ?? []) as string[])
      .map((s) => [
        s,
        Number(fromDeno.find((r) => r.group === "default")?.passes ?? 1),
      ]),
  ),
  protocolSyncs: Object.fromEntries(
    ((fromDeno.find((r) => r.group === "default")?.protocol ?? []) as string[])
      .map((s) => [
        s,
        Number(fromDeno.find((r) => r.group === "default")?.syncs ?? 1),
      ]),
  ),
  floor: fromDeno.find((r) => r.group === "floor"),
  checks: [],
};
results.checks = checkResults(results);

const outputs = benchOutputs(Deno.args);
const write = (file: string, text: string) => {
  const path = root.join(file);
  path.parentOrThrow().mkdirSync({ recursive: true });
  path.writeTextSync(text);
};
write(outputs.json, JSON.stringify(results, null, 2) + "\n");
write(outputs.chart, chart(results));

const report = [
  `Measured by \`deno task bench\` on ${machineLine(results)}; ` +
  `medians, enable+disable pairs. Default strategy: \`${results.defaultStrategy}\`.`,
  "",
  flipTable(results),
  "",
  hotTable(results),
  ...(results.init.length ? ["", initTable(results)] : []),
  ...(results.floor ? ["", floorLine(results)] : []),
  "",
  "Checks:",
  "",
  checkList(results.checks),
].join("\n");
console.log(`\n${report}\n`);
write(outputs.report, report + "\n");

// With --update, README and docs/performance.md show this run: their
// blocks between the bench markers.
for (
  const [file, block, body] of [
    [outputs.readme, BENCH_BLOCK, readmeBench],
    [outputs.performance, PERFORMANCE_BLOCK, performanceBench],
  ] as const
) {
  if (!file) continue;
  const doc = root.join(file);
  doc.writeTextSync(replaceBetween(doc.readTextSync(), block, body(results)));
}
// deno fmt owns the layout of the committed files we wrote, as of every
// file (build/ is excluded from it).
const committed = [
  outputs.readme,
  outputs.performance,
  outputs.json,
  outputs.chart,
]
  .filter((f): f is string => f !== undefined && !f.startsWith("build/"));
if (committed.length > 0) {
  await $`${deno} fmt ${committed}`.cwd(root).quiet();
}
$.logStep(
  "Wrote",
  `${
    [
      outputs.json,
      outputs.chart,
      outputs.report,
      outputs.readme,
      outputs.performance,
    ].filter(Boolean).join(", ")
  } in ${((performance.now() - started) / 1000).toFixed(0)} s${
    outputs.readme === undefined && !Deno.args.includes("--update")
      ? " (--update writes bench/results/, README and docs/performance.md instead)"
      : ""
  }`,
);
