// SPDX-License-Identifier: MIT
// deno task figures: rewrites the generated blocks from their sources, so
// nothing is typed by hand: CONTRIBUTING's "What the suite proves" from
// build/figures.json (the last deno task test; skipped without it),
// README's and docs/performance.md's bench blocks from
// bench/results/latest.json, and docs/fleet.md's block from
// bench/results/fleet.json.

import $ from "dax";
import { buildDir, root } from "./_common.ts";
import {
  BENCH_BLOCK,
  type Block,
  FIGURES_BLOCK,
  figuresBlock,
  type FiguresFile,
  FLEET_BLOCK,
  PERFORMANCE_BLOCK,
  replaceBetween,
  replaceBlock,
} from "./_figures.ts";
import {
  performanceBench,
  readmeBench,
  type Results,
} from "./_bench_report.ts";
import { fleetBench, type FleetResults } from "./_fleet_report.ts";

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
const bench = root.join("bench", "results", "latest.json")
  .readJsonSync<Results>();
const fleet = root.join("bench", "results", "fleet.json")
  .readJsonSync<FleetResults>();
const blocks: [Block, string][] = [
  [BENCH_BLOCK, readmeBench(bench)],
  [PERFORMANCE_BLOCK, performanceBench(bench)],
  [FLEET_BLOCK, fleetBench(fleet)],
];
// Every file's new text first, so a missing block writes nothing.
const texts = new Map<string, string>();
for (const [block, body] of blocks) {
  const text = texts.get(block.file) ?? root.join(block.file).readTextSync();
  texts.set(block.file, replaceBetween(text, block, body));
}
for (const [file, text] of texts) root.join(file).writeTextSync(text);
const files = [...texts.keys()];
written.push(`the bench and fleet figures into ${files.join(", ")}`);
await $`${Deno.execPath()} fmt ${FIGURES_BLOCK.file} ${files}`
  .cwd(root).quiet();
$.logStep("Wrote", written.join(", "));
