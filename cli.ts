// SPDX-License-Identifier: MIT
/**
 * Command line: list a library's static keys and their sites, and set keys
 * in one all-or-nothing request.
 *
 * ```sh
 * deno run --allow-ffi=./libmine.so jsr:@static-keys/deno/cli ./libmine.so
 * deno run --allow-ffi=./libmine.so jsr:@static-keys/deno/cli ./libmine.so --json
 * deno run --allow-ffi=./libmine.so jsr:@static-keys/deno/cli ./libmine.so tracing=on checks=off
 * ```
 *
 * Add `--allow-read=./libmine.so` to name static and hidden functions too.
 * Exit codes: 0 ok, 1 other failure, 2 usage, 3 no such file, 4 not a
 * static-keys library, 5 unknown key.
 *
 * @module
 */

import { main as run } from "./src/cli/_cli.ts";

/**
 * Runs the command line on `args` (printing to stdout and stderr) and
 * returns its exit code.
 *
 * @param args The arguments, as `Deno.args`.
 * @returns The exit code: 0 ok, 1 other failure, 2 usage, 3 no such file,
 *   4 not a static-keys library, 5 unknown key.
 *
 * @example Usage
 * ```ts
 * import { main } from "@static-keys/deno/cli";
 * import assert from "node:assert/strict";
 *
 * assert.equal(main(["--no-such-option"]), 2);
 * ```
 */
export function main(args: readonly string[]): number {
  return run(args);
}

if (import.meta.main) Deno.exit(main(Deno.args));
