// SPDX-License-Identifier: MIT
// deno task figures: rewrites the generated blocks from their sources, so
// nothing is typed by hand: CONTRIBUTING's "What the suite proves" from
// build/figures.json (the last deno task test; skipped without it),
// README's performance block from bench/results/latest.json and its fleet
// block from bench/results/fleet.json.

import $ from "dax";
import { buildDir, root } from "./_common.ts";
import {
  BENCH_BLOCK,
  FIGURES_BLOCK,
  figuresBlock,
  type FiguresFile,
  FLEET_BLOCK,
  replaceBetween,
  replaceBlock,
} from "./_figures.ts";
import { readmeBench, type Results } from "./_bench_report.ts";
import { type FleetResults, readmeFleet } from "./_fleet_report.ts";

const written: string[] = [];
const file = buildDir.join("figures.json");
if (file.existsSync()) {
  const { figures } = file.readJsonSync<FiguresFile>();
  const contributing = root.join(FIGURES_BLOCK.file);
  contributing.writeTextSync(
    replaceBlock(contributing.readTextSync(), figuresBlock(figures)),
  );
  written.push(`${figures.length} suite figures into ${FIGURES_BLOCK.file}`);
} else {
  $.logWarn(
    "Skipped",
    `the suite's figures: no ${file} (deno task test writes it)`,
  );
}
const readme = root.join(BENCH_BLOCK.file);
let text = readme.readTextSync();
const bench = root.join("bench", "results", "latest.json");
text = replaceBetween(
  text,
  BENCH_BLOCK,
  readmeBench(bench.readJsonSync<Results>()),
);
const fleet = root.join("bench", "results", "fleet.json");
text = replaceBetween(
  text,
  FLEET_BLOCK,
  readmeFleet(fleet.readJsonSync<FleetResults>()),
);
readme.writeTextSync(text);
written.push(`the bench and fleet figures into ${BENCH_BLOCK.file}`);
await $`${Deno.execPath()} fmt ${FIGURES_BLOCK.file} ${BENCH_BLOCK.file}`
  .cwd(root).quiet();
$.logStep("Wrote", written.join(", "));
