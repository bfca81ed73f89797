// SPDX-License-Identifier: MIT
// `cli fleet`: the operator's side of the fleet on the command line: set,
// unset, get, status. Exit codes are part of its interface.

import {
  get,
  set,
  type SetOptions,
  status,
  unset,
  waitFor,
} from "../fleet/_admin.ts";
import { FleetError, messageOf } from "../fleet/_errors.ts";
import { checkValue } from "../fleet/_policy.ts";
import type { DesiredValue, FollowerStatus } from "../fleet/_types.ts";
import type { CliOutput } from "./_cli.ts";

/** Exit codes of `cli fleet`. */
export const FLEET_EXIT = {
  /** Done (status: every live follower converged). */
  ok: 0,
  /** Anything else: a missing Deno permission, a malformed desired state. */
  failed: 1,
  /** Bad arguments. */
  usage: 2,
  /** The store cannot be reached. */
  unreachable: 6,
  /** --wait ran out, or status found followers that did not converge. */
  notConverged: 7,
  /** The store refused the credentials or the operation. */
  refused: 8,
} as const;

export const FLEET_USAGE =
  `Usage: cli.ts fleet COMMAND STORE SCOPE [ARGS] [OPTIONS]

Keys of many processes follow a desired state in STORE (nats://host:port,
comma-separated for a cluster, or the path of a JSON file).

  set STORE SCOPE KEY=VALUE...   VALUE is on, off, pin-on or pin-off
  unset STORE SCOPE KEY...       back to the less specific layers
  get STORE SCOPE                the desired state, layer by layer
  status STORE SCOPE             the live followers: revision applied,
                                 converged or not, last error

  --host H          set/unset the layer of host H (default: scope-wide)
  --instance I      set/unset the layer of instance I
  --wait            set/unset: wait until every live follower applied it
  --timeout MS      how long --wait waits (10000)
  --max-age MS      a status older than this is a dead follower's (15000)
  --json            print JSON
  --user U --password P, --token T, --creds FILE
                    NATS credentials
  --replicas N      NATS: replicas of the buckets if set creates them (1)
  --status-ttl MS   NATS: lifetime of a status if set creates the bucket

Permissions: --allow-net=HOST:PORT for NATS; --allow-read and
--allow-write of the file's folder for a file store.

Exit codes: 0 ok, 1 other failure, 2 usage, 6 store unreachable,
7 not converged (--wait ran out, or status found a follower behind),
8 refused by the store (credentials, permissions).`;

/** What `cli fleet` arguments ask for. */
export interface FleetRequest {
  readonly command: "set" | "unset" | "get" | "status";
  readonly store: string;
  readonly scope: string;
  readonly values: Readonly<Record<string, DesiredValue | null>>;
  readonly options: SetOptions & { maxAge?: number };
  readonly wait: boolean;
  readonly timeout: number;
  readonly json: boolean;
}

const COMMANDS = ["set", "unset", "get", "status"] as const;

function number(flag: string, text: string | undefined): number {
  const n = Number(text);
  if (text === undefined || !Number.isFinite(n) || n < 0) {
    throw new TypeError(
      `Cannot parse ${flag}: it takes a number, got ${JSON.stringify(text)}`,
    );
  }
  return n;
}

/** Parses `cli fleet` arguments; a TypeError's message is for the user. */
export function parseFleetArgs(args: readonly string[]): FleetRequest | "help" {
  const positional: string[] = [];
  const options: Record<string, unknown> = {};
  let wait = false;
  let json = false;
  let timeout = 10_000;
  const valued = new Map<string, string>([
    ["--host", "host"],
    ["--instance", "instance"],
    ["--user", "user"],
    ["--password", "password"],
    ["--token", "token"],
    ["--creds", "creds"],
  ]);
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const [flag, inline] = arg.startsWith("--") && arg.includes("=")
      ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]
      : [arg, undefined];
    const value = () => {
      const v = inline ?? args[++i];
      if (v === undefined) {
        throw new TypeError(`Cannot parse ${flag}: it takes a value`);
      }
      return v;
    };
    if (flag === "--help" || flag === "-h") return "help";
    else if (flag === "--wait") wait = true;
    else if (flag === "--json") json = true;
    else if (flag === "--timeout") timeout = number(flag, value());
    else if (flag === "--max-age") options.maxAge = number(flag, value());
    else if (flag === "--replicas") options.replicas = number(flag, value());
    else if (flag === "--status-ttl") options.statusTtl = number(flag, value());
    else if (valued.has(flag)) options[valued.get(flag)!] = value();
    else if (flag.startsWith("-")) {
      throw new TypeError(`Cannot parse option "${arg}": it is not known`);
    } else positional.push(arg);
  }
  const [command, store, scope, ...rest] = positional;
  if (!COMMANDS.includes(command as typeof COMMANDS[number])) {
    throw new TypeError(
      command === undefined
        ? "Cannot run fleet without a command: set, unset, get or status"
        : `Cannot run fleet command "${command}": the commands are set, unset, get and status`,
    );
  }
  if (store === undefined || scope === undefined) {
    throw new TypeError(`Cannot run fleet ${command}: give STORE and SCOPE`);
  }
  const values: Record<string, DesiredValue | null> = {};
  if (command === "set" || command === "unset") {
    if (rest.length === 0) {
      throw new TypeError(
        `Cannot run fleet ${command}: give at least one ${
          command === "set" ? "KEY=VALUE" : "KEY"
        }`,
      );
    }
    for (const item of rest) {
      if (command === "unset") {
        values[item] = null;
        continue;
      }
      const m = item.match(/^([^=]+)=(.*)$/);
      if (!m) {
        throw new TypeError(
          `Cannot parse "${item}": a change is KEY=VALUE, VALUE one of on, off, pin-on, pin-off`,
        );
      }
      try {
        values[m[1]] = checkValue(m[1], m[2]);
      } catch (error) {
        throw new TypeError(messageOf(error));
      }
    }
  } else if (rest.length > 0) {
    throw new TypeError(
      `Cannot run fleet ${command}: it takes no argument after SCOPE, got "${
        rest[0]
      }"`,
    );
  }
  if (wait && command !== "set" && command !== "unset") {
    throw new TypeError(`Cannot use --wait with fleet ${command}`);
  }
  return {
    command: command as FleetRequest["command"],
    store,
    scope,
    values,
    options: options as FleetRequest["options"],
    wait,
    timeout,
    json,
  };
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) =>
    Math.max(...rows.map((r) => r[c].length))
  );
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c])).join("  "))
    .map((line) => line.trimEnd()).join("\n");
}

function exitFor(error: unknown): number {
  if (error instanceof TypeError) return FLEET_EXIT.usage;
  if (!(error instanceof FleetError)) return FLEET_EXIT.failed;
  switch (error.code) {
    case "EURL":
    case "ESCOPE":
    case "EVALUE":
      return error.code === "EVALUE" ? FLEET_EXIT.failed : FLEET_EXIT.usage;
    case "EUNREACHABLE":
    case "ETIMEOUT":
      return FLEET_EXIT.unreachable;
    case "EAUTH":
      return FLEET_EXIT.refused;
    default:
      return FLEET_EXIT.failed;
  }
}

function names(list: readonly FollowerStatus[]): string {
  return list.map((f) =>
    `${f.instance} (at ${f.revision}${f.error ? `: ${f.error}` : ""})`
  ).join(", ");
}

/** Runs `cli fleet` on `args` and returns the exit code (FLEET_EXIT). */
export async function fleetMain(
  args: readonly string[],
  io: CliOutput,
): Promise<number> {
  let request: FleetRequest | "help";
  try {
    request = parseFleetArgs(args);
  } catch (error) {
    io.err(`${messageOf(error)}\n\n${FLEET_USAGE}`);
    return FLEET_EXIT.usage;
  }
  if (request === "help") {
    io.out(FLEET_USAGE);
    return FLEET_EXIT.ok;
  }
  const { command, store, scope, options, json } = request;
  try {
    if (command === "get") {
      const state = await get(store, scope, options);
      if (json) io.out(JSON.stringify(state, null, 2));
      else {
        const rows = [["layer", "key", "value"]];
        const add = (layer: string, values: Record<string, string>) => {
          for (const [k, v] of Object.entries(values)) rows.push([layer, k, v]);
        };
        add("scope", state.scope);
        for (const [h, v] of Object.entries(state.hosts)) add(`host ${h}`, v);
        for (const [i, v] of Object.entries(state.instances)) {
          add(`instance ${i}`, v);
        }
        io.out(`${store} scope ${scope}, revision ${state.revision}\n`);
        io.out(rows.length > 1 ? table(rows) : "(nothing set)");
      }
      return FLEET_EXIT.ok;
    }
    if (command === "status") {
      const report = await status(store, scope, options);
      const behind = report.followers.filter((f) => !f.converged);
      if (json) io.out(JSON.stringify(report, null, 2));
      else {
        io.out(
          `${store} scope ${scope}, revision ${report.revision}, ` +
            `${report.followers.length} live follower(s)\n`,
        );
        if (report.followers.length === 0) {
          io.out(
            `(no live follower: none wrote a status within --max-age` +
              (report.revision === 0 ? "; nothing was set yet)" : ")"),
          );
        } else {
          io.out(table([
            ["instance", "host", "pid", "applied", "converged", "error"],
            ...report.followers.map((f) => [
              f.instance,
              f.host ?? "-",
              String(f.pid),
              String(f.revision),
              f.converged ? "yes" : "no",
              f.error ?? "",
            ]),
          ]));
        }
      }
      return behind.length > 0 ? FLEET_EXIT.notConverged : FLEET_EXIT.ok;
    }
    const revision = command === "set"
      ? await set(store, scope, request.values, options)
      : await unset(store, scope, Object.keys(request.values), options);
    if (!request.wait) {
      io.out(json ? JSON.stringify({ revision }) : `revision ${revision}`);
      return FLEET_EXIT.ok;
    }
    const { applied, pending } = await waitFor(store, scope, revision, {
      ...options,
      timeout: request.timeout,
    });
    if (json) {
      io.out(JSON.stringify({
        revision,
        applied: applied.map((f) => f.instance),
        pending: pending.map((f) => ({
          instance: f.instance,
          revision: f.revision,
          error: f.error,
        })),
      }));
    } else {
      io.out(
        `revision ${revision}: applied by ${applied.length} live follower(s)`,
      );
    }
    if (pending.length > 0) {
      io.err(
        `Cannot confirm revision ${revision} within ${request.timeout} ms: ` +
          `${pending.length} follower(s) did not apply it: ${names(pending)}`,
      );
      return FLEET_EXIT.notConverged;
    }
    return FLEET_EXIT.ok;
  } catch (error) {
    io.err(messageOf(error));
    return exitFor(error);
  }
}
