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

/**
 * Configures build/ if needed and builds it (only `targets` when given).
 * Quiet when up to date: prints
 * the commands and what was built only when there was work to do; a failed
 * step prints its output and exits.
 */
export async function build(
  dir = buildDir,
  extra: string[] = [],
  targets: string[] = [],
) {
  if (!dir.join("CMakeCache.txt").existsSync()) {
    const configure =
      await $`cmake -S ${root} -B ${dir} -DCMAKE_BUILD_TYPE=Release ${extra}`
        .cwd(root).printCommand().captureCombined().noThrow();
    if (configure.code !== 0) fail("configure", configure.combined);
  }
  const only = targets.length ? ["--target", ...targets] : [];
  const run = () =>
    $`cmake --build ${dir} --parallel ${only}`.cwd(root).captureCombined()
      .noThrow();
  // A progress bar only on a terminal: in CI logs it leaves escape codes.
  const result = Deno.stderr.isTerminal()
    ? await $.progress(`Building ${root.relative(dir)}`).with(run)
    : await run();
  if (result.code !== 0) {
    $.log(`$ cmake --build ${dir} --parallel`);
    fail("build", result.combined);
  }
  const work = lines(result.combined).filter((l) =>
    /Building|Linking|Generating/.test(l)
  );
  if (work.length > 0) {
    $.logStep("Built", `${work.length} steps in ${root.relative(dir)}`);
  }
}

function fail(step: string, output: string): never {
  $.logError("Failed", `the ${step} step; its output:`);
  $.log(output);
  Deno.exit(1);
}
