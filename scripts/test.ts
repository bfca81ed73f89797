// SPDX-License-Identifier: MIT
// deno task test: build, ctest, deno test, the C suite again under
// ASan+UBSan and under valgrind, then every cross target of
// cmake/toolchains/*.cmake. Ends with "N passed, N failed, N skipped" over
// all suites (a skipped test is not counted as passed).
//
// STATIC_KEYS_TARGETS picks the suites:
//   unset     every suite whose programs this machine has; the others are
//             skipped with the program and package that is missing
//   all       every suite; a missing program is a failure (CI)
//   a,b,...   these suites only, e.g. "host" (native ctest + deno test),
//             "host,asan", "aarch64-linux"; a missing program is a failure

import $ from "dax";
import { build, buildDir, libraryPath, root } from "./_common.ts";
import {
  ctestCounts,
  ctestFailures,
  denoCounts,
  denoFailures,
} from "./_results.ts";
import { readRequirements, type Requirements } from "./_requires.ts";
import { consoleTable, type Figure, parseCTestLog } from "./_figures.ts";

interface Suite {
  name: string;
  passed: number;
  failed: number;
  skipped: number;
  note: string;
  /** What failed, one line each, repeated next to the closing line. */
  failures?: string[];
}

const suites: Suite[] = [];

async function ctest(name: string, dir: string): Promise<void> {
  const result = await $`ctest --test-dir ${dir} --output-on-failure`
    .cwd(root).printCommand().stdout("inheritPiped").stderr("inherit")
    .noThrow();
  const [passed, failed, skipped] = ctestCounts(result.stdout, result.code);
  suites.push({
    name,
    passed,
    failed,
    skipped,
    note: "ctest",
    failures: ctestFailures(result.stdout),
  });
}

async function denoTest(): Promise<void> {
  const deno = Deno.execPath();
  // Exactly what the tests need: the library for FFI, the sources for the
  // Worker and its imports, this deno for the permission subprocesses.
  const flags = [
    `--allow-ffi=${libraryPath}`,
    `--allow-read=${root}`,
    // The toolchain cross-check asks sh and dpkg who owns each program;
    // the fleet tests start nats-server themselves.
    `--allow-run=${deno},sh,dpkg,dpkg-query,cc,c++,nats-server`,
    "--allow-env=STATIC_KEYS_FIGURES_STRICT",
    // The fleet tests: servers and followers on loopback only, files in
    // build/fleet-scratch only.
    "--allow-net=127.0.0.1",
    `--allow-write=${buildDir.join("fleet-scratch")}`,
  ];
  // Emptied first: the fleet's @examples leave their desired-state files
  // in temporary folders there (a test removes its own).
  const scratch = buildDir.join("fleet-scratch").toString();
  await Deno.remove(scratch, { recursive: true }).catch(() => {});
  await Deno.mkdir(scratch, { recursive: true });
  const result =
    await $`${deno} test ${flags} --doc tests/ mod.ts src/ cli.ts build.ts fleet.ts`
      .cwd(root).env({
        NO_COLOR: "1",
        // CONTRIBUTING's figures must be this run's numbers in CI; elsewhere
        // (another kernel, no procmem) only their names are held to account.
        STATIC_KEYS_FIGURES_STRICT:
          Deno.env.get("STATIC_KEYS_TARGETS") === "all" ? "1" : "",
      }).printCommand()
      .stdout("inheritPiped").stderr("inherit").noThrow();
  const [passed, failed, skipped] = denoCounts(result.stdout, result.code);
  suites.push({
    name: "deno test",
    passed,
    failed,
    skipped,
    note: "deno test",
    failures: denoFailures(result.stdout),
  });
}

/** The suites STATIC_KEYS_TARGETS names, and whether a missing tool fails. */
interface Selection {
  wanted: (name: string) => boolean;
  strict: boolean;
}

const SUITES_NOT_CROSS = ["host", "asan", "valgrind"];

function selection(requirements: Requirements[]): Selection {
  const value = (Deno.env.get("STATIC_KEYS_TARGETS") ?? "").trim();
  if (value === "") return { wanted: () => true, strict: false };
  if (value === "all") return { wanted: () => true, strict: true };
  const known = [
    ...SUITES_NOT_CROSS,
    ...requirements.filter((r) => r.name !== "host").map((r) => r.name),
  ];
  const names = value.split(",").map((n) => n.trim()).filter(Boolean);
  const unknown = names.filter((n) => !known.includes(n));
  if (unknown.length > 0) {
    $.logError(
      "Failed",
      `Cannot select STATIC_KEYS_TARGETS=${value}: unknown ${
        unknown.map((n) => `"${n}"`).join(", ")
      }; use "all", or a comma-separated list of ${known.join(", ")}`,
    );
    Deno.exit(2);
  }
  return { wanted: (n) => names.includes(n), strict: true };
}

/**
 * Whether this machine has `programs`. When some are missing, records the
 * suite as skipped (or failed when `strict`) with the programs and the
 * packages of `req` that bring them, and returns false.
 */
async function equipped(
  suite: string,
  req: Requirements,
  strict: boolean,
  programs = req.requires,
): Promise<boolean> {
  const missing: string[] = [];
  for (const cmd of programs) {
    if (!missing.includes(cmd) && !(await $.commandExists(cmd))) {
      missing.push(cmd);
    }
  }
  if (missing.length === 0) return true;
  const install = `apt-get install ${req.apt.join(" ")}`;
  const note = `missing ${missing.join(", ")} (install: ${install})`;
  if (strict) {
    $.logError("Failed", `${suite}: ${note}`);
    suites.push({
      name: suite,
      passed: 0,
      failed: 1,
      skipped: 0,
      note,
      failures: [note],
    });
  } else {
    $.logWarn(
      "Skipped",
      `${suite}: ${note}; set STATIC_KEYS_TARGETS=all to fail instead`,
    );
    suites.push({
      name: suite,
      passed: 0,
      failed: 0,
      skipped: 1,
      note: `skipped: ${note}`,
    });
  }
  return false;
}

/** Records a failed configure/build step and shows its output. */
function stepFailed(suite: string, step: string, output: string): void {
  $.log(output);
  $.logError("Failed", `${suite}: the ${step} step`);
  suites.push({
    name: suite,
    passed: 0,
    failed: 1,
    skipped: 0,
    note: `${step} failed`,
    failures: [`the ${step} step`],
  });
}

/** Configures (once) and builds `dir`; false after recording a failure. */
async function configureAndBuild(
  suite: string,
  dir: ReturnType<typeof $.path>,
  options: string[],
): Promise<boolean> {
  const steps = [
    ["configure", $`cmake -S ${root} -B ${dir} ${options}`],
    ["build", $`cmake --build ${dir} --parallel`],
  ] as const;
  for (const [step, command] of steps) {
    if (step === "configure" && dir.join("CMakeCache.txt").existsSync()) {
      continue;
    }
    const result = await command.cwd(root).printCommand().captureCombined()
      .noThrow();
    if (result.code !== 0) {
      stepFailed(suite, step, result.combined);
      return false;
    }
  }
  return true;
}

async function crossTarget(req: Requirements, strict: boolean): Promise<void> {
  if (!(await equipped(req.name, req, strict))) return;
  const dir = buildDir.join(req.name);
  if (await configureAndBuild(req.name, dir, ["--toolchain", req.path])) {
    await ctest(req.name, dir.toString());
  }
}

/** The whole C suite built with -fsanitize=address,undefined. */
async function sanitizers(): Promise<void> {
  const dir = buildDir.join("asan");
  const options = [
    "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
    "-DSTATIC_KEYS_SANITIZE=ON",
    "-DSTATIC_KEYS_BENCH=OFF",
  ];
  if (await configureAndBuild("asan", dir, options)) {
    await ctest("asan", dir.toString());
  }
}

interface CTestEntry {
  name: string;
  command?: string[];
  properties?: { name: string; value: unknown }[];
}

/**
 * The host suite's test programs run again under valgrind memcheck (with
 * --smc-check=all, since the tests rewrite their own code). Tests that run
 * no program of the build (packaging, scripts) are left out. valgrind runs
 * one thread at a time; --fair-sched=yes hands the CPU round in turn, so a
 * flipping thread is not starved by threads spinning on the sites (without
 * it conc_test took 7 minutes on an idle machine and timed out on a slower
 * one; with it, under a minute).
 */
async function valgrind(): Promise<void> {
  const listing = await $`ctest --test-dir ${buildDir} --show-only=json-v1`
    .cwd(root).quiet().json() as { tests: CTestEntry[] };
  const suite: Suite = {
    name: "valgrind",
    passed: 0,
    failed: 0,
    skipped: 0,
    note: "valgrind memcheck",
    failures: [],
  };
  for (const test of listing.tests) {
    const [program, ...args] = test.command ?? [];
    if (!program?.startsWith(buildDir.toString())) continue;
    const prop = (name: string) =>
      test.properties?.find((p) => p.name === name)?.value;
    const skipCode = Number(prop("SKIP_RETURN_CODE") ?? -1);
    const cwd = String(prop("WORKING_DIRECTORY") ?? buildDir);
    const started = performance.now();
    const result =
      await $`valgrind -q --fair-sched=yes --error-exitcode=99 --smc-check=all --leak-check=no ${program} ${args}`
        .cwd(cwd).captureCombined().noThrow().timeout("10m");
    const seconds = Math.round((performance.now() - started) / 1000);
    if (result.code === 0) {
      suite.passed++;
    } else if (result.code === skipCode) {
      suite.skipped++;
    } else {
      suite.failed++;
      // dax reports a timeout as exit code 124
      const why = result.code === 124
        ? `timed out after ${seconds} s`
        : result.code === 99
        ? "memcheck found errors"
        : `exit ${result.code} after ${seconds} s`;
      suite.failures!.push(`${test.name} (${why})`);
      $.log(result.combined);
      $.logError("Failed", `${test.name} under valgrind: ${why}`);
    }
  }
  $.logStep(
    "valgrind",
    `${suite.passed} passed, ${suite.failed} failed, ${suite.skipped} skipped`,
  );
  suites.push(suite);
}

/**
 * The figures the host C suite printed (`figure: <name>: <n>`), summed by
 * name over the tests that passed; written to build/figures.json for
 * deno task figures and tests/figures_test.ts.
 */
function collectFigures(): Figure[] {
  const log = buildDir.join("Testing", "Temporary", "LastTest.log");
  const found = log.existsSync() ? parseCTestLog(log.readTextSync()) : [];
  buildDir.join("figures.json").writeJsonPrettySync({
    source: root.relative(log),
    figures: found,
  });
  return found;
}

let figures: Figure[] | undefined;
const requirements = readRequirements(root.toString());
const hostReq = requirements.find((r) => r.name === "host")!;
const { wanted, strict } = selection(requirements);

// The host suites need every host program in CI; elsewhere a C compiler and
// CMake, and a test that needs more (clang++, pkg-config) skips itself.
const hostPrograms = strict
  ? hostReq.requires.filter((p) => p !== "valgrind")
  : ["cmake", "cc"];
if (
  (wanted("host") || wanted("valgrind")) &&
  (await equipped("host", hostReq, strict, hostPrograms))
) {
  await build({ tests: true, bench: true });
  if (wanted("host")) {
    await ctest("native (host)", buildDir.toString());
    figures = collectFigures();
    await denoTest();
  }
}
if (wanted("asan") && (await equipped("asan", hostReq, strict, ["cc"]))) {
  await sanitizers();
}
if (
  wanted("valgrind") && buildDir.join("CMakeCache.txt").existsSync() &&
  (await equipped("valgrind", hostReq, strict, ["valgrind"]))
) {
  await valgrind();
}
for (const req of requirements) {
  if (req.name !== "host" && wanted(req.name)) await crossTarget(req, strict);
}

const width = Math.max(6, ...suites.map((s) => s.name.length));
console.log("");
console.log(`${"suite".padEnd(width)}  passed  failed skipped  note`);
for (const s of suites) {
  const cells = [s.passed, s.failed, s.skipped].map((n) =>
    String(n).padStart(6)
  );
  console.log(`${s.name.padEnd(width)}  ${cells.join("  ")}  ${s.note}`);
}
const sum = (field: "passed" | "failed" | "skipped") =>
  suites.reduce((n, s) => n + s[field], 0);
if (figures) {
  console.log("");
  for (const line of consoleTable(figures)) console.log(line);
}
const failures = suites.flatMap((s) =>
  (s.failures ?? []).map((f) => `  ${s.name}: ${f}`)
);
if (failures.length > 0) {
  console.log("");
  console.log("Failed:");
  for (const line of failures) console.log(line);
}
console.log("");
console.log(
  `${sum("passed")} passed, ${sum("failed")} failed, ${sum("skipped")} skipped`,
);
Deno.exit(sum("failed") > 0 ? 1 : 0);
