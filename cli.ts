// SPDX-License-Identifier: MIT
/**
 * Command line: list a library's static keys and their sites, and set keys
 * in one all-or-nothing request; `fleet` drives the keys of many processes
 * through a store (see `docs/fleet.md`).
 *
 * ```sh
 * deno run --allow-ffi=./libmine.so --allow-read=./libmine.so jsr:@static-keys/deno/cli ./libmine.so
 * deno run --allow-ffi=./libmine.so --allow-read=./libmine.so jsr:@static-keys/deno/cli ./libmine.so --json
 * deno run --allow-ffi=./libmine.so --allow-read=./libmine.so jsr:@static-keys/deno/cli ./libmine.so tracing=on checks=off
 * deno run --allow-read=. --allow-write=. jsr:@static-keys/deno/cli fleet set ./fleet.json cksum tracing=on --wait
 * deno run --allow-net=127.0.0.1:4222 jsr:@static-keys/deno/cli fleet status nats://127.0.0.1:4222 cksum
 * ```
 *
 * `--allow-read` of the library is needed too: the file is checked before
 * it is loaded (a file cut short would crash the process), and its symbol
 * table names static and hidden functions. Exit codes: 0 ok, 1 other
 * failure (a permission missing), 2 usage, 3 no such file, 4 not a
 * static-keys library, 5 unknown key; for `fleet`: 6 store unreachable, 7
 * not converged, 8 refused by the store.
 *
 * @module
 */

import { main as run } from "./src/cli/_cli.ts";

/**
 * Runs the command line on `args` (printing to stdout and stderr) and
 * returns its exit code; `fleet` commands return a promise of it.
 *
 * @param args The arguments, as `Deno.args`.
 * @returns The exit code: 0 ok, 1 other failure, 2 usage, 3 no such file,
 *   4 not a static-keys library, 5 unknown key; for `fleet`, 6 store
 *   unreachable, 7 not converged, 8 refused by the store.
 *
 * @example Usage
 * ```ts
 * import { main } from "@static-keys/deno/cli";
 * import assert from "node:assert/strict";
 *
 * assert.equal(main(["--no-such-option"]), 2);
 * assert.equal(await main(["fleet", "frobnicate"]), 2);
 * ```
 */
export function main(args: readonly string[]): number | Promise<number> {
  return run(args);
}

if (import.meta.main) Deno.exit(await main(Deno.args));
