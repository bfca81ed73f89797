// SPDX-License-Identifier: MIT
// deno task bench leaves a clone clean: a run writes its results, chart and
// report under build/ (ignored by git); only --update rewrites the
// committed bench/results/ and the bench blocks of README and
// docs/performance.md.

import assert from "node:assert/strict";
import { benchOutputs } from "../scripts/_bench_report.ts";

const ROOT = new URL("..", import.meta.url);

/** Whether .gitignore ignores `file` by one of its directory patterns. */
function ignored(file: string): boolean {
  const patterns = Deno.readTextFileSync(new URL(".gitignore", ROOT))
    .split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
  return patterns.some((p) => {
    const dir = p.replace(/^\//, "").replace(/\*?\/$/, "");
    return file.startsWith(`${dir}/`) ||
      (p.endsWith("*/") && file.startsWith(dir));
  });
}

Deno.test("deno task bench writes under build/ unless --update", async (t) => {
  for (const args of [[], ["--quick"], ["--no-readme"]]) {
    await t.step(`deno task bench ${args.join(" ")}`.trim(), () => {
      const out = benchOutputs(args);
      assert.equal(out.readme, undefined, "README.md is left alone");
      assert.equal(out.performance, undefined, "docs/ is left alone");
      for (const file of [out.json, out.chart, out.report]) {
        assert.ok(file.startsWith("build/"), file);
        assert.ok(ignored(file), `${file} is not ignored by git`);
      }
    });
  }
  await t.step("deno task bench --update", () => {
    assert.deepEqual(benchOutputs(["--update"]), {
      json: "bench/results/latest.json",
      chart: "bench/results/flip_cost.svg",
      report: "build/bench/results/report.md",
      readme: "README.md",
      performance: "docs/performance.md",
    });
    const noReadme = benchOutputs(["--update", "--no-readme"]);
    assert.equal(noReadme.readme, undefined);
    assert.equal(noReadme.performance, undefined);
  });
});
