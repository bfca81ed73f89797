// SPDX-License-Identifier: MIT
// deno task bench: build if needed, then Deno.bench over the library.

import $ from "dax";
import { build, libraryPath, root } from "./_common.ts";

await build();
await $`${Deno.execPath()} bench --allow-ffi=${libraryPath} bench/`
  .cwd(root).printCommand();
