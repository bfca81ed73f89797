// SPDX-License-Identifier: MIT
// The figures the suite reports (README, "What the suite proves"). A test
// program prints `figure: <name>: <n>` on stdout, n counted as it ran;
// deno task test reads every test's output from ctest's log, sums the
// figures by name over the tests that passed, prints them and writes
// build/figures.json; deno task figures rewrites README's block from that
// file; tests/figures_test.ts fails when the two disagree.

/** One figure: its sum, and what each test that printed it counted. */
export interface Figure {
  name: string;
  value: number;
  tests: Record<string, number>;
}

/** build/figures.json. */
export interface FiguresFile {
  /** Where the figures were read from (ctest's log of the host run). */
  source: string;
  figures: Figure[];
}

/** README's block: the table between these two lines. */
export const BEGIN =
  "<!-- figures:begin (deno task figures writes this block from the last deno task test) -->";
export const END = "<!-- figures:end -->";

/** The order of the figures issue 10 asks for; others follow by name. */
const ORDER = [
  "flips survived under threads",
  "faults injected and recovered",
  "random tables fed to init",
  "random operations checked",
];

const FIGURE_LINE = /^figure: (.+): (\d+)\s*$/;

/** The figure lines of one program's output, summed by name. */
export function figureLines(output: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of output.split(/\r?\n/)) {
    const m = line.match(FIGURE_LINE);
    if (m) out.set(m[1], (out.get(m[1]) ?? 0) + Number(m[2]));
  }
  return out;
}

/**
 * The figures of a ctest log (Testing/Temporary/LastTest.log, which holds
 * every test's output, passed or not), from the tests that passed only.
 */
export function parseCTestLog(log: string): Figure[] {
  const sums = new Map<string, Figure>();
  const starts = [...log.matchAll(/^\d+\/\d+ Test: (.+)$/gm)];
  starts.forEach((start, i) => {
    const end = i + 1 < starts.length ? starts[i + 1].index : log.length;
    const chunk = log.slice(start.index, end);
    if (!/^Test Passed\.$/m.test(chunk)) return;
    const test = start[1].trim();
    for (const [name, n] of figureLines(chunk)) {
      const f = sums.get(name) ?? { name, value: 0, tests: {} };
      f.value += n;
      f.tests[test] = (f.tests[test] ?? 0) + n;
      sums.set(name, f);
    }
  });
  return sortFigures([...sums.values()]);
}

function sortFigures(figures: Figure[]): Figure[] {
  const rank = (n: string) => {
    const i = ORDER.indexOf(n);
    return i < 0 ? ORDER.length : i;
  };
  return figures.sort((a, b) =>
    rank(a.name) - rank(b.name) || a.name.localeCompare(b.name)
  );
}

const number = (n: number) => n.toLocaleString("en-US");

/** The console table deno task test prints. */
export function consoleTable(figures: Figure[]): string[] {
  if (figures.length === 0) return ["Figures: none printed by this run"];
  const width = Math.max(...figures.map((f) => f.name.length));
  const digits = Math.max(...figures.map((f) => number(f.value).length));
  return [
    "Figures (printed by the host C suite; README: deno task figures)",
    ...figures.map((f) =>
      `  ${f.name.padEnd(width)}  ${number(f.value).padStart(digits)}  ${
        Object.keys(f.tests).join(", ")
      }`
    ),
  ];
}

/** README's block, markers included (deno fmt may pad the cells). */
export function readmeBlock(figures: Figure[]): string {
  const rows = figures.map((f) => {
    const by = Object.entries(f.tests).map(([t, n]) =>
      Object.keys(f.tests).length > 1 ? `\`${t}\` ${number(n)}` : `\`${t}\``
    );
    return `| ${f.name} | ${number(f.value)} | ${by.join(", ")} |`;
  });
  return [
    BEGIN,
    "",
    "| figure | number | printed by |",
    "| --- | ---: | --- |",
    ...rows,
    "",
    END,
  ].join("\n");
}

/** README with its block replaced; throws when the markers are missing. */
export function replaceBlock(readme: string, block: string): string {
  const from = readme.indexOf(BEGIN);
  const to = readme.indexOf(END);
  if (from < 0 || to < from) {
    throw new Error(
      `Cannot find the figures block in README.md: add the lines "${BEGIN}" and "${END}"`,
    );
  }
  return readme.slice(0, from) + block + readme.slice(to + END.length);
}

/** The figures README's block shows (name and number), or null without one. */
export function parseBlock(
  readme: string,
): { name: string; value: number }[] | null {
  const from = readme.indexOf(BEGIN);
  const to = readme.indexOf(END);
  if (from < 0 || to < from) return null;
  const rows = readme.slice(from + BEGIN.length, to).split("\n")
    .map((l) => l.trim()).filter((l) => l.startsWith("|"))
    .map((l) => l.slice(1, -1).split("|").map((c) => c.trim()));
  return rows.slice(2).map(([name, value]) => ({
    name,
    value: Number(value.replaceAll(",", "")),
  }));
}
