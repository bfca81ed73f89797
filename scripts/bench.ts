// SPDX-License-Identifier: MIT
// deno task bench: build if needed, then the native benchmark (when this OS
// has one) and Deno.bench over the library.

import $ from "dax";
import { build, buildDir, libraryPath, root } from "./_common.ts";

await build();
const native = buildDir.join("bench", "flip_bench");
if (native.existsSync()) await $`${native}`.cwd(root).printCommand();
await $`${Deno.execPath()} bench --allow-ffi=${libraryPath} bench/`
  .cwd(root).printCommand();
