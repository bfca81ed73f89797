// SPDX-License-Identifier: MIT
// deno task test: build, ctest, deno test, then every cross target of
// cmake/toolchains/*.cmake. Ends with "N passed, N failed, N skipped" over
// all suites (a skipped test is not counted as passed).

import $ from "dax";
import { build, buildDir, libraryPath, lines, root } from "./_common.ts";

interface Suite {
  name: string;
  passed: number;
  failed: number;
  skipped: number;
  note: string;
}

const suites: Suite[] = [];

/**
 * Counts a ctest run from its summary line ([passed, failed, skipped]);
 * ctest counts a skipped test as passed, so skips are taken back out. No
 * summary is one failure.
 */
function ctestCounts(
  output: string,
  code: number,
): [number, number, number] {
  const text = lines(output).join("\n");
  const summary = text.match(
    /(\d+)% tests passed, (\d+) tests? failed out of (\d+)/,
  );
  if (summary) {
    const failed = Number(summary[2]);
    const total = Number(summary[3]);
    const skipped = (text.match(/^\s*\d+ - \S+ \(Skipped\)$/gm) ?? []).length;
    return [
      total - failed - skipped,
      Math.max(failed, code === 0 ? 0 : 1),
      skipped,
    ];
  }
  if (/No tests were found/.test(text)) return [0, code === 0 ? 0 : 1, 0];
  return [0, 1, 0];
}

async function ctest(name: string, dir: string): Promise<void> {
  const result = await $`ctest --test-dir ${dir} --output-on-failure`
    .cwd(root).printCommand().stdout("inheritPiped").stderr("inherit")
    .noThrow();
  const [passed, failed, skipped] = ctestCounts(result.stdout, result.code);
  suites.push({ name, passed, failed, skipped, note: "ctest" });
}

/** Counts a deno test run: tests and steps, from its closing line. */
function denoCounts(output: string, code: number): [number, number, number] {
  const last = lines(output).reverse().find((l) =>
    /^(ok|FAILED) \| \d+ passed/.test(l)
  );
  if (!last) return [0, 1, 0];
  const count = (word: string) => {
    const m = last.match(
      new RegExp(`(\\d+) ${word}(?: \\((\\d+) steps?\\))?`),
    );
    return m ? Number(m[1]) + Number(m[2] ?? 0) : 0;
  };
  const passed = count("passed");
  const failed = count("failed");
  return [passed, failed || (code === 0 ? 0 : 1), count("ignored")];
}

async function denoTest(): Promise<void> {
  const deno = Deno.execPath();
  // Exactly what the tests need: the library for FFI, the sources for the
  // Worker and its imports, this deno for the permission subprocesses.
  const flags = [
    `--allow-ffi=${libraryPath}`,
    `--allow-read=${root}`,
    `--allow-run=${deno}`,
  ];
  const result = await $`${deno} test ${flags} --doc tests/ mod.ts src/`
    .cwd(root).env({ NO_COLOR: "1" }).printCommand()
    .stdout("inheritPiped").stderr("inherit").noThrow();
  const [passed, failed, skipped] = denoCounts(result.stdout, result.code);
  suites.push({
    name: "deno test",
    passed,
    failed,
    skipped,
    note: "deno test",
  });
}

/** `# apt:` and `# requires:` lines at the head of a toolchain file. */
function header(text: string, field: string): string[] {
  const line = text.split("\n").find((l) => l.startsWith(`# ${field}:`));
  return line ? line.slice(`# ${field}:`.length).trim().split(/\s+/) : [];
}

async function crossTarget(file: ReturnType<typeof $.path>): Promise<void> {
  const target = file.basename().replace(/\.cmake$/, "");
  const requires = header(await file.readText(), "requires").filter(Boolean);
  const missing: string[] = [];
  for (const cmd of requires) {
    if (!(await $.commandExists(cmd))) missing.push(cmd);
  }
  if (missing.length > 0) {
    const all = Deno.env.get("STATIC_KEYS_TARGETS") === "all";
    const note = `missing ${missing.join(", ")}`;
    if (all) {
      $.logError("Failed", `${target}: ${note} (STATIC_KEYS_TARGETS=all)`);
      suites.push({ name: target, passed: 0, failed: 1, skipped: 0, note });
    } else {
      $.logWarn(
        "Skipped",
        `${target}: ${note}; install it, or set STATIC_KEYS_TARGETS=all to fail instead`,
      );
      suites.push({
        name: target,
        passed: 0,
        failed: 0,
        skipped: 1,
        note: `not run: ${note}`,
      });
    }
    return;
  }
  const dir = buildDir.join(target);
  const steps = [
    ["configure", $`cmake -S ${root} -B ${dir} --toolchain ${file}`],
    ["build", $`cmake --build ${dir} --parallel`],
  ] as const;
  for (const [step, command] of steps) {
    const result = await command.cwd(root).printCommand().captureCombined()
      .noThrow();
    if (result.code !== 0) {
      $.log(result.combined);
      $.logError("Failed", `${target}: the ${step} step`);
      suites.push({
        name: target,
        passed: 0,
        failed: 1,
        skipped: 0,
        note: `${step} failed`,
      });
      return;
    }
  }
  await ctest(target, dir.toString());
}

await build();
await ctest("native (host)", buildDir.toString());
await denoTest();

const toolchains = root.join("cmake", "toolchains");
const files = toolchains.existsSync()
  ? Array.from(toolchains.readDirSync())
    .filter((e) => e.isFile && e.name.endsWith(".cmake"))
    .map((e) => e.path)
    .sort((a, b) => a.toString().localeCompare(b.toString()))
  : [];
for (const file of files) await crossTarget(file);

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
console.log("");
console.log(
  `${sum("passed")} passed, ${sum("failed")} failed, ${sum("skipped")} skipped`,
);
Deno.exit(sum("failed") > 0 ? 1 : 0);
