// SPDX-License-Identifier: MIT
// CMake for the build entry: finding it, configuring, building and
// installing, with errors that name the package that is missing.

import { BuildError } from "../runtime/_errors.ts";
import { inDirectory, type Os } from "../runtime/_cache.ts";
import { LIBRARY_NAMES } from "../runtime/_library.ts";
import { SOURCES } from "./_sources.ts";

const INSTALL_CMAKE =
  "install CMake 3.15 or newer (Debian/Ubuntu: apt install cmake; " +
  "macOS: brew install cmake; Windows: winget install Kitware.CMake)";
const INSTALL_CC = "install a C compiler (Debian/Ubuntu: apt install gcc; " +
  "macOS: xcode-select --install; Windows: the Visual Studio Build Tools, " +
  "winget install Microsoft.VisualStudio.2022.BuildTools)";
const INSTALL_MAKE =
  "install a build program (Debian/Ubuntu: apt install make; " +
  "macOS: xcode-select --install; Windows: the Visual Studio Build Tools)";

/**
 * `cmake --version`, or undefined when Deno refuses to run it (no
 * `--allow-run=cmake`). Throws when cmake is missing or too old. Deno
 * reports a missing binary as NotFound even under `--allow-run=cmake`.
 */
export async function probeCmake(): Promise<string | undefined> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("cmake", {
      args: ["--version"],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (error) {
    if (
      error instanceof Deno.errors.NotCapable ||
      error instanceof Deno.errors.PermissionDenied
    ) return undefined;
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    throw new BuildError(
      `Cannot build the static-keys library: cmake is not on PATH: ${INSTALL_CMAKE}`,
      "cmake",
      { cause: error },
    );
  }
  const text = new TextDecoder().decode(out.stdout);
  const match = text.match(/version (\d+)\.(\d+)(\.\d+)?/);
  if (!out.success || !match) {
    throw new BuildError(
      `Cannot build the static-keys library: "cmake --version" failed: ${INSTALL_CMAKE}`,
      "cmake",
    );
  }
  const [major, minor] = [Number(match[1]), Number(match[2])];
  const version = match[0].slice("version ".length);
  // 3.15: cmake --install; the CMake files need 3.13.
  if (major < 3 || major === 3 && minor < 15) {
    throw new BuildError(
      `Cannot build the static-keys library: cmake ${version} is too old: ${INSTALL_CMAKE}`,
      "cmake",
    );
  }
  return version;
}

/**
 * Writes the sources into `work`/src, configures `work`/build (Release, no
 * tests, no benchmarks) and builds it; returns the library and the
 * compiler CMake found.
 */
export async function compile(
  work: string,
  prefix: string | undefined,
  say: (line: string) => void,
): Promise<{ library: string; compiler: string }> {
  const src = inDirectory(work, "src");
  const bin = inDirectory(work, "build");
  for (const [path, text] of Object.entries(SOURCES)) {
    const file = inDirectory(src, path);
    Deno.mkdirSync(file.replace(/[\\/][^\\/]*$/, ""), { recursive: true });
    Deno.writeTextFileSync(file, text);
  }
  const configure = await run([
    "-S",
    src,
    "-B",
    bin,
    "-DCMAKE_BUILD_TYPE=Release",
    "-DSTATIC_KEYS_TEST=OFF",
    "-DSTATIC_KEYS_BENCH=OFF",
    "-DSTATIC_KEYS_INSTALL=ON",
    // Folders cmake --install creates: 0755 whatever the umask.
    "-DCMAKE_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS=OWNER_READ;OWNER_WRITE;" +
    "OWNER_EXECUTE;GROUP_READ;GROUP_EXECUTE;WORLD_READ;WORLD_EXECUTE",
    ...(prefix === undefined ? [] : [`-DCMAKE_INSTALL_PREFIX=${prefix}`]),
  ], say);
  if (!configure.ok) throw configureError(configure.output);
  const compiler = configure.output.match(
    /The C compiler identification is (.+)/,
  )?.[1]?.trim() ?? "unknown";
  const jobs = String(navigator.hardwareConcurrency || 2);
  const built = await run(
    ["--build", bin, "--config", "Release", "--parallel", jobs],
    say,
  );
  if (!built.ok) throw failed("cmake --build", built.output);
  for (const library of builtLibraryPaths(bin)) {
    try {
      if (Deno.statSync(library).isFile) return { library, compiler };
    } catch { /* try the next name */ }
  }
  throw failed("cmake --build", `${built.output}\n(no library in ${bin}/lib)`);
}

/**
 * Where a build in `bin` for `os` leaves the library: lib/ (the module's
 * output directory), or lib/Release/ under a multi-config generator
 * (Visual Studio, Xcode); each of the OS's names.
 */
export function builtLibraryPaths(
  bin: string,
  os: Os = Deno.build.os,
): string[] {
  return [["lib"], ["lib", "Release"]].flatMap((dir) =>
    LIBRARY_NAMES[os].map((name) =>
      [...dir, name].reduce((path, part) => inDirectory(path, part, os), bin)
    )
  );
}

/** Runs cmake, showing its progress lines; keeps all output for errors. */
async function run(
  args: string[],
  say: (line: string) => void,
): Promise<{ ok: boolean; output: string }> {
  const child = new Deno.Command("cmake", {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const read = async (stream: ReadableStream<Uint8Array>) => {
    let rest = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      const parts = (rest + chunk).split(/\r?\n/);
      rest = parts.pop() ?? "";
      for (const line of parts) {
        lines.push(line);
        if (
          /^\[\s*\d+%\]|^\[\d+\/\d+\]|^-- (Configuring|Generating) done/.test(
            line,
          )
        ) {
          say(`  ${line}`);
        }
      }
    }
    if (rest) lines.push(rest);
  };
  const [status] = await Promise.all([
    child.status,
    read(child.stdout),
    read(child.stderr),
  ]);
  return { ok: status.success, output: lines.join("\n") };
}

function configureError(output: string): BuildError {
  if (
    /CMAKE_MAKE_PROGRAM is not set|unable to find a build program/i.test(output)
  ) {
    return new BuildError(
      "Cannot build the static-keys library: CMake finds no build program " +
        `(make or ninja): ${INSTALL_MAKE}`,
      "compiler",
    );
  }
  if (
    /No CMAKE_C_COMPILER could be found|Could not find compiler set in environment variable CC|CMAKE_C_COMPILER[^\n]*(not a full path|NOTFOUND)/i
      .test(output)
  ) {
    return new BuildError(
      `Cannot build the static-keys library: CMake finds no C compiler: ${INSTALL_CC}`,
      "compiler",
    );
  }
  return failed("cmake (configure)", output);
}

function failed(step: string, output: string): BuildError {
  const tail = output.trimEnd().split("\n").slice(-30).join("\n");
  return new BuildError(
    `Cannot build the static-keys library: ${step} failed; its output ends:\n${tail}`,
    "failed",
  );
}

/** `cmake --install` of the build in `work` into `prefix`. */
export async function install(work: string, prefix: string): Promise<void> {
  const bin = inDirectory(work, "build");
  const result = await run(
    ["--install", bin, "--config", "Release", "--prefix", prefix],
    () => {},
  );
  if (!result.ok) {
    const tail = result.output.trimEnd().split("\n").slice(-30).join("\n");
    throw new BuildError(
      `Cannot install the C package into "${prefix}": cmake --install failed; its output ends:\n${tail}`,
      "prefix",
    );
  }
}
