// SPDX-License-Identifier: MIT
// deno task build: configure and build the native code with CMake.

import { build } from "./_common.ts";

await build();
