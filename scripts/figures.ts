// SPDX-License-Identifier: MIT
// deno task figures: rewrites README's "What the suite proves" block from
// build/figures.json, which the last deno task test wrote from what the
// C suite printed. Nothing is typed by hand.

import $ from "dax";
import { buildDir, root } from "./_common.ts";
import { type FiguresFile, readmeBlock, replaceBlock } from "./_figures.ts";

const file = buildDir.join("figures.json");
if (!file.existsSync()) {
  $.logError(
    "Failed",
    `Cannot read ${file}: run "deno task test" (the host suite) first`,
  );
  Deno.exit(1);
}
const { figures } = file.readJsonSync<FiguresFile>();
const readme = root.join("README.md");
readme.writeTextSync(replaceBlock(readme.readTextSync(), readmeBlock(figures)));
await $`${Deno.execPath()} fmt README.md`.cwd(root).quiet();
$.logStep("Wrote", `${figures.length} figures into README.md`);
