// SPDX-License-Identifier: MIT
// deno task build: configure and build the native code with CMake: the
// package's library, the C tests and the benchmarks. `--lib` builds the
// library alone (what the demo and a program that opens it need).

import { build } from "./_common.ts";

if (Deno.args.includes("--lib")) {
  await build({
    targets: ["static_keys_module"],
    what: "the package's library",
  });
} else {
  await build({ tests: true, bench: true });
}
