// SPDX-License-Identifier: MIT
// deno task check: formatting, lint, types and docs, one step at a time.

import $ from "dax";
import { root } from "./_common.ts";

const deno = Deno.execPath();
const steps = [
  $`${deno} fmt --check`,
  $`${deno} lint`,
  $`${deno} check mod.ts build.ts cli.ts fleet.ts src/ tests/ scripts/ bench/ examples/fleet/`,
  $`${deno} doc --lint mod.ts build.ts cli.ts fleet.ts`,
];
for (const step of steps) {
  const result = await step.cwd(root).printCommand().noThrow();
  if (result.code !== 0) Deno.exit(result.code);
}
