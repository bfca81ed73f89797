// SPDX-License-Identifier: MIT
// The generated blocks of README.md, docs/ and CONTRIBUTING.md, and the
// figures the suite reports (CONTRIBUTING.md, "What the suite proves"). A test
// program prints `figure: <name>: <n>` on stdout, n counted as it ran;
// deno task test reads every test's output from ctest's log, sums the
// figures by name over the tests that passed, prints them and writes
// build/figures.json. deno task figures rewrites every block from its
// source (build/figures.json, bench/results/latest.json,
// bench/results/fleet.json); tests/figures_test.ts fails when a block and
// its source disagree.

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

/** A generated block: the text of `file` between two marker lines. */
export interface Block {
  /** The file, relative to the repository's root. */
  readonly file: string;
  /** The line before the block. */
  readonly begin: string;
  /** The line after it. */
  readonly end: string;
}

/** CONTRIBUTING's suite figures: the table between these two lines. */
export const BEGIN =
  "<!-- figures:begin (deno task figures writes this block from the last deno task test) -->";
export const END = "<!-- figures:end -->";

/** The order the figures are shown in; others follow by name. */
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
    "Figures (printed by the host C suite; CONTRIBUTING.md: deno task figures)",
    ...figures.map((f) =>
      `  ${f.name.padEnd(width)}  ${number(f.value).padStart(digits)}  ${
        Object.keys(f.tests).join(", ")
      }`
    ),
  ];
}

/** CONTRIBUTING's figures block, markers included (deno fmt may pad the cells). */
export function figuresBlock(figures: Figure[]): string {
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

/** Text with its figures block replaced; throws when the markers are missing. */
export function replaceBlock(text: string, block: string): string {
  const from = text.indexOf(BEGIN);
  const to = text.indexOf(END);
  if (from < 0 || to < from) {
    throw new Error(
      `Cannot find the figures block in ${FIGURES_BLOCK.file}: add the lines "${BEGIN}" and "${END}"`,
    );
  }
  return text.slice(0, from) + block + text.slice(to + END.length);
}

/** The figures the block shows (name and number), or null without one. */
export function parseBlock(
  text: string,
): { name: string; value: number }[] | null {
  const from = text.indexOf(BEGIN);
  const to = text.indexOf(END);
  if (from < 0 || to < from) return null;
  const rows = text.slice(from + BEGIN.length, to).split("\n")
    .map((l) => l.trim()).filter((l) => l.startsWith("|"))
    .map((l) => l.slice(1, -1).split("|").map((c) => c.trim()));
  return rows.slice(2).map(([name, value]) => ({
    name,
    value: Number(value.replaceAll(",", "")),
  }));
}

/** The suite's figures, in CONTRIBUTING.md. */
export const FIGURES_BLOCK: Block = {
  file: "CONTRIBUTING.md",
  begin: BEGIN,
  end: END,
};

/** README's headline flip figures, from bench/results/latest.json. */
export const BENCH_BLOCK: Block = {
  file: "README.md",
  begin:
    "<!-- bench:begin (deno task bench --update writes this from bench/results/latest.json) -->",
  end: "<!-- bench:end -->",
};

/** docs/performance.md's flip figures, every strategy, from the same file. */
export const PERFORMANCE_BLOCK: Block = {
  file: "docs/performance.md",
  begin: BENCH_BLOCK.begin,
  end: BENCH_BLOCK.end,
};

/** docs/fleet.md's fleet figures, from bench/results/fleet.json. */
export const FLEET_BLOCK: Block = {
  file: "docs/fleet.md",
  begin:
    "<!-- fleet:begin (deno task figures writes this from bench/results/fleet.json) -->",
  end: "<!-- fleet:end -->",
};

/** The text between the block's markers, or null without them. */
export function between(text: string, block: Block): string | null {
  const from = text.indexOf(block.begin);
  const to = text.indexOf(block.end);
  if (from < 0 || to < from) return null;
  return text.slice(from + block.begin.length, to);
}

/** `text` with `body` between the block's markers; throws without them. */
export function replaceBetween(
  text: string,
  block: Block,
  body: string,
): string {
  if (between(text, block) === null) {
    throw new Error(
      `Cannot find a block in ${block.file}: add the lines "${block.begin}" and "${block.end}"`,
    );
  }
  const from = text.indexOf(block.begin) + block.begin.length;
  return `${text.slice(0, from)}\n\n${body}\n\n${
    text.slice(text.indexOf(block.end))
  }`;
}

/**
 * Markdown as deno fmt may lay it out, reduced to what it says: runs of
 * white space as one space, table cells without their padding, alignment
 * rows without their width.
 */
export function markdownText(text: string): string {
  return text.replace(/-{3,}/g, "---").replace(/[ \t]*\|[ \t]*/g, "|")
    .replace(/\s+/g, " ").trim();
}
