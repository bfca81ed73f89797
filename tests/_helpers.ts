// SPDX-License-Identifier: MIT
// Shared by the Deno tests: the package's library with the demo symbols,
// reset to the keys' initial states.

import {
  open,
  type StaticKeysModule,
  type Stats,
  type Strategy,
} from "../mod.ts";
import { defaultLibraryPath } from "../src/runtime/_library.ts";

/** The demo functions of native/demo.c. */
export const demoSymbols = {
  static_keys_demo_tracing: { parameters: [], result: "i32" },
  static_keys_demo_checks: { parameters: [], result: "i32" },
  static_keys_demo_experimental: { parameters: [], result: "i32" },
  static_keys_demo_work: { parameters: ["u32"], result: "u64" },
  static_keys_demo_events: { parameters: [], result: "u64" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The package's library path, as open() finds it. */
export const LIB = defaultLibraryPath();

/**
 * Stops the run with one message naming the fix when the tests cannot use
 * the package's library, instead of a failure per test.
 */
function assertLibraryUsable(): void {
  const root = new URL("..", import.meta.url).pathname;
  const command = `deno test --allow-ffi=${LIB} --allow-read=${root} ` +
    `--allow-run=${Deno.execPath()} --doc tests/ mod.ts src/`;
  const granted = (descriptor: Deno.PermissionDescriptor) =>
    Deno.permissions.querySync(descriptor).state === "granted";
  if (granted({ name: "read", path: LIB })) {
    try {
      Deno.statSync(LIB);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      throw new Error(
        `Cannot run the Deno tests: the package's library "${LIB}" is not ` +
          `built, build it with "deno task build" (or run "deno task test", ` +
          `which builds it and runs every suite)`,
      );
    }
  }
  const usable = granted({ name: "read", path: root }) &&
    granted({ name: "ffi", path: LIB });
  if (!usable) {
    throw new Error(
      `Cannot run the Deno tests without their permissions: run ` +
        `"deno task test" (it builds the library with "deno task build" ` +
        `first), or run: ${command}`,
    );
  }
}

assertLibraryUsable();

/** The demo keys and their initial states (native/demo.c). */
export const INITIAL = {
  tracing: false,
  checks: true,
  experimental: false,
  audit: false,
} as const;

/**
 * Opens the package's library with the demo symbols and puts every key
 * back to its initial state (no pin, count 0 or 1) and the strategy to the
 * default: the library stays loaded across test files, so state would
 * leak otherwise.
 */
export function openDemo(): StaticKeysModule<typeof demoSymbols> {
  const mod = open(undefined, { symbols: demoSymbols, strategy: "default" });
  let reset = mod.batch();
  for (const name of mod.names) reset = reset.unpin(name).disable(name);
  reset.apply();
  mod.set(INITIAL);
  return mod;
}

/** Which demo branches are taken right now, by key. */
export function taken(
  mod: StaticKeysModule<typeof demoSymbols>,
): Record<"tracing" | "checks" | "experimental", boolean> {
  const s = mod.symbols;
  return {
    tracing: s.static_keys_demo_tracing() === 1,
    checks: s.static_keys_demo_checks() === 1,
    experimental: s.static_keys_demo_experimental() === 1,
  };
}

/** What a fixture printed: the error open() threw, or "opened". */
export interface FixtureResult {
  code: number;
  result: {
    name: string;
    message: string;
    code?: number;
    path?: string;
    reason?: string;
    hidden?: string[];
  };
  stderr: string;
}

/** What a subprocess ended with and printed. */
export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** A Run and the signal that ended it, if one did. */
export interface SignaledRun extends Run {
  signal: Deno.Signal | null;
}

/** How spawn() starts a program. */
export interface SpawnOptions {
  cwd?: string;
  /** Added to the environment, or the whole of it with `clearEnv`. */
  env?: Record<string, string>;
  clearEnv?: boolean;
}

async function output(
  program: string,
  args: string[],
  options: SpawnOptions,
): Promise<SignaledRun> {
  const out = await new Deno.Command(program, {
    args,
    cwd: options.cwd,
    env: { NO_COLOR: "1", ...options.env },
    clearEnv: options.clearEnv,
    stdin: "null",
  }).output();
  const text = new TextDecoder();
  return {
    code: out.code,
    signal: out.signal,
    stdout: text.decode(out.stdout),
    stderr: text.decode(out.stderr),
  };
}

/**
 * Runs `program` with `args`, stdin closed and NO_COLOR=1 in its
 * environment, and returns its exit code and output, decoded: only these,
 * so that a test can compare the Run whole.
 */
export async function spawn(
  program: string,
  args: string[],
  options: SpawnOptions = {},
): Promise<Run> {
  const { code, stdout, stderr } = await output(program, args, options);
  return { code, stdout, stderr };
}

/**
 * Runs `deno run --no-prompt --no-config ...args` in this deno: a fresh
 * process with exactly the flags in `args`.
 */
export function runDeno(
  args: string[],
  env: Record<string, string> = {},
): Promise<SignaledRun> {
  return output(
    Deno.execPath(),
    ["run", "--no-prompt", "--no-config", ...args],
    { env },
  );
}

/**
 * Runs tests/fixtures/open_main.ts in a fresh `deno run` with `flags` and
 * no others: it calls open(args[0]) and prints what happened as JSON.
 */
export async function runOpen(
  flags: string[],
  args: string[] = [],
  env: Record<string, string> = {},
): Promise<FixtureResult> {
  const main = new URL("./fixtures/open_main.ts", import.meta.url).pathname;
  const { code, stdout, stderr } = await runDeno(
    [...flags, main, ...args],
    env,
  );
  let result;
  try {
    result = JSON.parse(stdout);
  } catch {
    throw new Error(`open_main.ts printed no JSON: ${stdout}${stderr}`);
  }
  return { code, result, stderr };
}

/**
 * Starts `deno run --no-config --allow-net=127.0.0.1 --allow-read=<root>
 * <fixture> <root> ...files`, a server of the repository's files that
 * prints its port on its first line, and waits for that line; stop() ends
 * it. `what` names it in the error when it exits before listening.
 */
export async function serveFiles(
  root: string,
  fixture: string,
  files: string[],
  what: string,
): Promise<{ port: number; stop(): Promise<void> }> {
  const server = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-config",
      "--allow-net=127.0.0.1",
      `--allow-read=${root}`,
      fixture,
      root,
      ...files,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let first = "";
  while (!first.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${what} exited before listening`);
    first += value;
  }
  reader.releaseLock();
  return {
    port: Number(first.trim()),
    async stop() {
      await server.stdin.close().catch(() => {});
      await server.stdout.cancel().catch(() => {});
      await server.status;
    },
  };
}

/**
 * The default a module starts with here: procmem where the protocol makes
 * it safe for threads running the sites, remap otherwise.
 */
export function defaultStrategy(stats: Stats): Strategy {
  return stats.concurrent.includes("procmem") ? "procmem" : "remap";
}

/**
 * os_patch passes per run of one request: two under x86's protocol (the
 * breakpoint, then byte 0: the tail pass is skipped, as x86's nop and jmp
 * differ in byte 0 only).
 */
export function passes(stats: Stats, strategy: Strategy): number {
  const x86 = Deno.build.arch === "x86_64";
  return x86 && stats.protocol.includes(strategy) ? 2 : 1;
}
