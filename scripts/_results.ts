// SPDX-License-Identifier: MIT
// Reading the suites' own reports for deno task test: counts from ctest's
// and deno test's closing lines, and the names of what failed, so that the
// closing summary (the last lines CI keeps) says what broke.

/** Turns captured output into lines without colours (SGR sequences). */
export function lines(text: string): string[] {
  // deno-lint-ignore no-control-regex
  return text.replace(/\x1b\[[0-9;]*m/g, "").split(/\r?\n/);
}

/**
 * Counts a ctest run from its summary line ([passed, failed, skipped]);
 * ctest counts a skipped test as passed, so skips are taken back out. No
 * summary is one failure.
 */
export function ctestCounts(
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

/** The tests ctest lists under "The following tests FAILED:". */
export function ctestFailures(output: string): string[] {
  const text = lines(output);
  const start = text.findIndex((l) => /The following tests FAILED:/.test(l));
  if (start < 0) return [];
  const found: string[] = [];
  for (const line of text.slice(start + 1)) {
    const m = line.match(/^\s*\d+ - (.+)$/);
    if (!m) break;
    found.push(m[1].trim());
  }
  return found;
}

/** The tests deno test names in its closing "FAILURES" list. */
export function denoFailures(output: string): string[] {
  const text = lines(output);
  const start = text.findLastIndex((l) => /^\s*FAILURES\s*$/.test(l));
  if (start < 0) return [];
  const found: string[] = [];
  for (const line of text.slice(start + 1)) {
    if (/^(ok|FAILED) \|/.test(line)) break;
    if (line.includes("=>")) found.push(line.trim());
  }
  return found;
}

/** Counts a deno test run: tests and steps, from its closing line. */
export function denoCounts(
  output: string,
  code: number,
): [number, number, number] {
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
