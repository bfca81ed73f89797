// SPDX-License-Identifier: MIT
// Shared by the task scripts: where things are, and building the library.

import $ from "dax";
import { lines } from "./_results.ts";

export { lines };

/** The repository root. */
export const root = $.path(new URL("..", import.meta.url));
/** The host build directory. */
export const buildDir = root.join("build");

const LIBRARY_NAMES: Record<typeof Deno.build.os, string> = {
  linux: "libstatic_keys.so",
  android: "libstatic_keys.so",
  darwin: "libstatic_keys.dylib",
  windows: "static_keys.dll",
  freebsd: "libstatic_keys.so",
  netbsd: "libstatic_keys.so",
  aix: "libstatic_keys.so",
  solaris: "libstatic_keys.so",
  illumos: "libstatic_keys.so",
};

/** The package's library in the host build. */
export const libraryPath = buildDir.join("lib", LIBRARY_NAMES[Deno.build.os]);

/** What a task needs from the CMake build. */
export interface BuildRequest {
  /** The build directory; `build/` unless given. */
  dir?: ReturnType<typeof $.path>;
  /** More configure options (a cross toolchain, a sanitizer). */
  extra?: string[];
  /** The targets to build; every target when empty or omitted. */
  targets?: string[];
  /** Build the C tests (STATIC_KEYS_TEST); off unless asked for. */
  tests?: boolean;
  /** Build the native benchmarks (STATIC_KEYS_BENCH); off unless asked. */
  bench?: boolean;
  /** What is built, for the progress line ("the package's library"). */
  what?: string;
}

/** The value CMakeCache.txt in `dir` holds for `option`, if any. */
function cached(dir: ReturnType<typeof $.path>, option: string) {
  const cache = dir.join("CMakeCache.txt");
  if (!cache.existsSync()) return undefined;
  return cache.readTextSync().match(new RegExp(`^${option}:\\w+=(.*)$`, "m"))
    ?.[1];
}

/**
 * Configures `dir` if needed and builds only what the task asks for, with
 * a progress bar (one line a phase when stderr is not a terminal). The C
 * tests and benchmarks are configured only when asked for: a fresh clone's
 * `deno task demo` builds the library alone. An option asked for that the
 * build dir has off is turned on (never off: a build with tests stays one).
 * Quiet when up to date; a failed step prints its output and exits.
 */
export async function build(request: BuildRequest = {}): Promise<void> {
  const dir = request.dir ?? buildDir;
  const what = request.what ?? "everything";
  const started = performance.now();
  const options: string[] = [];
  for (
    const [option, on] of [
      ["STATIC_KEYS_TEST", request.tests ?? false],
      ["STATIC_KEYS_BENCH", request.bench ?? false],
    ] as const
  ) {
    const now = cached(dir, option);
    if (now === undefined) options.push(`-D${option}=${on ? "ON" : "OFF"}`);
    else if (on && now !== "ON") options.push(`-D${option}=ON`);
  }
  const fresh = !dir.join("CMakeCache.txt").existsSync();
  if (fresh || options.length > 0) {
    const type = fresh ? ["-DCMAKE_BUILD_TYPE=Release"] : [];
    const command = $`cmake -S ${root} -B ${dir} ${type} ${options} ${
      request.extra ?? []
    }`;
    const configure = await progress(
      "Configuring",
      `${root.relative(dir)} (${fresh ? "new" : options.join(" ")})`,
    ).with(async () => await command.cwd(root).captureCombined().noThrow());
    if (configure.code !== 0) fail("configure", configure.combined);
  }
  const only = request.targets?.length ? ["--target", ...request.targets] : [];
  const args = ["--build", dir.toString(), "--parallel", ...only];
  const bar = progress("Building", `${what} in ${root.relative(dir)}`, 100);
  const result = await bar.with(() =>
    run("cmake", args, (line) => {
      // Makefiles print "[ 42%]", Ninja "[12/159]".
      const percent = line.match(/^\[\s*(\d+)%\]/)?.[1];
      const steps = line.match(/^\[(\d+)\/(\d+)\]/);
      if (percent) bar.position(Number(percent));
      else if (steps) bar.position(Math.round(100 * +steps[1] / +steps[2]));
    })
  );
  if (result.code !== 0) {
    $.log(`$ cmake ${args.join(" ")}`);
    fail("build", result.output);
  }
  const work = lines(result.output).filter((l) =>
    /Building|Linking|Generating/.test(l)
  );
  if (work.length > 0) {
    const seconds = ((performance.now() - started) / 1000).toFixed(0);
    step(
      "Built",
      `${what}: ${work.length} steps in ${root.relative(dir)}, ${seconds} s`,
    );
  }
}

/** What build() reports its phases through. */
interface Progress {
  position(percent: number): unknown;
  with<T>(action: () => Promise<T>): Promise<T>;
}

/**
 * A dax progress bar on a terminal; elsewhere (CI logs, a pipe) one plain
 * line, since the bar's redraws would leave escape codes in the log.
 */
function progress(prefix: string, message: string, length?: number): Progress {
  if (Deno.stderr.isTerminal()) {
    return $.progress({ prefix, message, ...(length ? { length } : {}) });
  }
  step(prefix, message);
  return { position: () => {}, with: (action) => action() };
}

/**
 * dax's logStep on a terminal; a plain line elsewhere (dax's cursor codes
 * would end up in the log).
 */
function step(prefix: string, message: string): void {
  if (Deno.stderr.isTerminal()) $.logStep(prefix, message);
  else console.error(`${prefix} ${message}`);
}

/** Runs `program`, calling `onLine` for each line of its combined output. */
async function run(
  program: string,
  args: string[],
  onLine: (line: string) => void,
): Promise<{ code: number; output: string }> {
  const child = new Deno.Command(program, {
    args,
    cwd: root.toString(),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  const read = async (stream: ReadableStream<Uint8Array>) => {
    let pending = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      output += chunk;
      pending += chunk;
      const parts = pending.split("\n");
      pending = parts.pop()!;
      parts.forEach(onLine);
    }
  };
  const [status] = await Promise.all([
    child.status,
    read(child.stdout),
    read(child.stderr),
  ]);
  return { code: status.code, output };
}

function fail(step: string, output: string): never {
  $.logError("Failed", `the ${step} step; its output:`);
  $.log(output);
  Deno.exit(1);
}
