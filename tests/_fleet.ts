// SPDX-License-Identifier: MIT
// Shared by the fleet tests and the fleet benchmark: NATS servers started
// by the test itself (loopback, free ports, a temporary store folder, a
// user with every right and a follower user that may only read the desired
// state and write statuses), temporary folders under build/, and follower
// processes (tests/fixtures/fleet_follower.ts) that report what their
// module says.

import {
  createAccount,
  createOperator,
  createUser,
  encodeAccount,
  encodeOperator,
  encodeUser,
  fmtCreds,
  type User,
} from "@nats-io/jwt";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
/** Where the fleet tests write: one folder per test under it. */
export const SCRATCH = `${ROOT}/build/fleet-scratch`;
const FIXTURE = `${ROOT}/tests/fixtures/fleet_follower.ts`;
/**
 * A test CA and a certificate of 127.0.0.1 it signed (valid until 2126),
 * for servers that require TLS; clients trust the CA with --cert.
 */
export const TLS = {
  ca: `${ROOT}/tests/fixtures/fleet_tls/ca.pem`,
  cert: `${ROOT}/tests/fixtures/fleet_tls/server.pem`,
  key: `${ROOT}/tests/fixtures/fleet_tls/server.key`,
};

/**
 * Whether a missing nats-server fails the NATS tests instead of skipping
 * them: in CI (deno task test with STATIC_KEYS_TARGETS=all).
 */
export const strict = Deno.permissions.querySync({
      name: "env",
      variable: "STATIC_KEYS_FIGURES_STRICT",
    }).state === "granted" &&
  Deno.env.get("STATIC_KEYS_FIGURES_STRICT") === "1";

/** The users of the servers startNats() configures. */
export const OPERATOR = { user: "operator", password: "operator-secret" };
export const FOLLOWER = { user: "follower", password: "follower-secret" };

/** A fresh folder under build/fleet-scratch; remove() deletes it. */
export async function scratch(
  tag: string,
): Promise<{ path: string; remove(): Promise<void> }> {
  await Deno.mkdir(SCRATCH, { recursive: true });
  const path = await Deno.makeTempDir({ dir: SCRATCH, prefix: `${tag}-` });
  return {
    path,
    remove: () => Deno.remove(path, { recursive: true }).catch(() => {}),
  };
}

/** A port nothing listens on now. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Whether nats-server is installed (cmake/host.requires installs it in CI). */
export function hasNatsServer(): boolean {
  try {
    new Deno.Command("nats-server", { args: ["--version"], stdout: "null" })
      .outputSync();
    return true;
  } catch {
    return false;
  }
}

/** The subjects a follower may publish to: read the desired bucket, write statuses. */
const FOLLOWER_PUBLISH = (() => {
  const d = "KV_static_keys_desired";
  return [
    "$JS.API.INFO",
    `$JS.API.STREAM.INFO.${d}`,
    "$JS.API.STREAM.INFO.KV_static_keys_status",
    `$JS.API.CONSUMER.CREATE.${d}`,
    `$JS.API.CONSUMER.CREATE.${d}.>`,
    `$JS.API.CONSUMER.DELETE.${d}.>`,
    `$JS.API.CONSUMER.INFO.${d}.>`,
    "$KV.static_keys_status.>",
  ];
})();
const FOLLOWER_DENY = ["$KV.static_keys_desired.>"];

/**
 * A follower user's rights in a server configuration: every status key
 * (the shared follower user), or only the status key of one instance.
 */
function followerPermissions(
  own?: { scope: string; instance: string },
): string {
  const allow = own
    ? FOLLOWER_PUBLISH.map((s) =>
      s === "$KV.static_keys_status.>"
        ? `$KV.static_keys_status.${own.scope}.${own.instance}`
        : s
    )
    : FOLLOWER_PUBLISH;
  return `permissions: {
        publish: { allow: ${JSON.stringify(allow)}, deny: ${
    JSON.stringify(FOLLOWER_DENY)
  } }
        subscribe: { allow: ["_INBOX.>"] }
      }`;
}

/** A user of one instance (startNats's `instances`): it may write only its own status. */
export interface InstanceUser {
  readonly scope: string;
  readonly instance: string;
  readonly user: string;
  readonly password: string;
}

/** How clients authenticate: the users' passwords, or JWTs (creds files). */
function authorization(
  jwt?: Jwt,
  instances: readonly InstanceUser[] = [],
): string {
  if (jwt) {
    return `operator: "${jwt.operatorJwt}"
system_account: ${jwt.system}
resolver: MEMORY
resolver_preload: {
  ${jwt.system}: "${jwt.systemJwt}"
  ${jwt.account}: "${jwt.accountJwt}"
}`;
  }
  return `authorization {
  users: [
    { user: ${OPERATOR.user}, password: ${OPERATOR.password} }
    { user: ${FOLLOWER.user}, password: ${FOLLOWER.password}, ${followerPermissions()} }
${
    instances.map((i) =>
      `    { user: ${i.user}, password: ${i.password}, ${
        followerPermissions(i)
      } }\n`
    ).join("")
  }  ]
}`;
}

/** One server's configuration: JetStream, the users, the cluster routes. */
function config(
  dir: string,
  name: string,
  port: number,
  cluster?: { port: number; routes: number[] },
  tls?: boolean,
  jwt?: Jwt,
  instances?: readonly InstanceUser[],
): string {
  const lines = [
    `server_name: ${name}`,
    `listen: "127.0.0.1:${port}"`,
    `log_file: "${dir}/${name}.log"`,
    `jetstream { store_dir: "${dir}/${name}", max_memory_store: 64MB, max_file_store: 256MB }`,
    authorization(jwt, instances),
  ];
  if (tls) {
    lines.push(`tls { cert_file: "${TLS.cert}", key_file: "${TLS.key}" }`);
  }
  if (cluster) {
    lines.push(`cluster {
  name: static_keys_test
  listen: "127.0.0.1:${cluster.port}"
  routes: [${
      cluster.routes.map((p) => `"nats-route://127.0.0.1:${p}"`).join(", ")
    }]
}`);
  }
  return lines.join("\n") + "\n";
}

/** An operator, its accounts, and creds files of two users (startNats's `jwt`). */
interface Jwt {
  readonly operatorJwt: string;
  readonly system: string;
  readonly systemJwt: string;
  readonly account: string;
  readonly accountJwt: string;
  /** Creds files: a user with every right, a follower user. */
  readonly creds: { readonly operator: string; readonly follower: string };
}

/**
 * Makes an operator (its JWT in `dir`), a system account and an account
 * with JetStream, and creds files of two users of that account: one with
 * every right and one with a follower's rights. `nsc` does this for a real
 * deployment; @nats-io/jwt signs the same claims here.
 */
async function makeJwt(dir: string): Promise<Jwt> {
  const okp = createOperator();
  const operatorJwt = `${dir}/operator.jwt`;
  await Deno.writeTextFile(
    operatorJwt,
    await encodeOperator("static-keys-test", okp),
  );
  const skp = createAccount();
  const akp = createAccount();
  const signer = { signer: okp };
  // Unset limits are 0: no connection, no subscription.
  const unlimited = {
    subs: -1,
    conn: -1,
    leaf: -1,
    data: -1,
    payload: -1,
    imports: -1,
    exports: -1,
    wildcards: true,
  };
  const systemJwt = await encodeAccount("SYS", skp, {
    limits: unlimited,
  }, signer);
  const accountJwt = await encodeAccount("FLEET", akp, {
    limits: {
      ...unlimited,
      mem_storage: -1,
      disk_storage: -1,
      streams: -1,
      consumer: -1,
    },
  }, signer);
  const user = async (name: string, rights: Partial<User>) => {
    const ukp = createUser();
    const file = `${dir}/${name}.creds`;
    const claims = { subs: -1, data: -1, payload: -1, ...rights };
    await Deno.writeFile(
      file,
      fmtCreds(await encodeUser(name, ukp, akp, claims), ukp),
    );
    return file;
  };
  return {
    operatorJwt,
    system: skp.getPublicKey(),
    systemJwt,
    account: akp.getPublicKey(),
    accountJwt,
    creds: {
      operator: await user("operator", {}),
      follower: await user("follower", {
        pub: { allow: FOLLOWER_PUBLISH, deny: FOLLOWER_DENY },
        sub: { allow: ["_INBOX.>"], deny: [] },
      }),
    },
  };
}

/** Servers started by startNats(). */
export interface Nats {
  /** nats://127.0.0.1:PORT of every node, comma-separated. */
  readonly store: string;
  /** Each node's server name (n1, n2, ...) and client port. */
  readonly nodes: readonly { name: string; port: number }[];
  /** The process ids of the nodes running now. */
  pids(): number[];
  /** Whether node i runs (it was not killed, or was started again). */
  running(i: number): boolean;
  /** With `jwt`: creds files of a user with every right and of a follower. */
  readonly creds?: { readonly operator: string; readonly follower: string };
  /** Kills node i (SIGKILL) and waits for it to exit. */
  kill(i: number): Promise<void>;
  /** Starts node i again (same config, same store folder). */
  start(i: number): Promise<void>;
  /** Stops every node and removes the folder. */
  stop(): Promise<void>;
}

async function listening(port: number, deadline: number): Promise<void> {
  for (;;) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return;
    } catch (error) {
      if (performance.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/**
 * Writes a creds file of a user of an account no server knows (signed by
 * an operator of its own) to `path`.
 */
export async function strangerCreds(path: string): Promise<void> {
  const okp = createOperator();
  const akp = createAccount();
  const ukp = createUser();
  await encodeAccount("STRANGER", akp, {}, { signer: okp });
  await Deno.writeFile(
    path,
    fmtCreds(await encodeUser("stranger", ukp, akp), ukp),
  );
}

/**
 * Starts `nodes` servers (a cluster when more than one) on loopback;
 * with `tls`, clients must speak TLS (certificate {@linkcode TLS}); with
 * `jwt`, clients authenticate with creds files (`Nats.creds`) instead of
 * passwords; `instances` adds users that may write one instance's status
 * each (with passwords).
 */
export async function startNats(
  nodes = 1,
  { tls = false, jwt = false, instances = [] }: {
    tls?: boolean;
    jwt?: boolean;
    instances?: readonly InstanceUser[];
  } = {},
): Promise<Nats> {
  const dir = await scratch("nats");
  const auth = jwt ? await makeJwt(dir.path) : undefined;
  const ports = Array.from({ length: nodes }, () => freePort());
  const routes = Array.from({ length: nodes }, () => freePort());
  const names = ports.map((_, i) => `n${i + 1}`);
  const files: string[] = [];
  for (let i = 0; i < nodes; i++) {
    const file = `${dir.path}/${names[i]}.conf`;
    await Deno.writeTextFile(
      file,
      config(
        dir.path,
        names[i],
        ports[i],
        nodes > 1
          ? { port: routes[i], routes: routes.filter((_, j) => j !== i) }
          : undefined,
        tls,
        auth,
        instances,
      ),
    );
    files.push(file);
  }
  const children: (Deno.ChildProcess | undefined)[] = [];
  const start = async (i: number) => {
    children[i] = new Deno.Command("nats-server", {
      args: ["-c", files[i]],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    await listening(ports[i], performance.now() + 20_000);
  };
  const kill = async (i: number) => {
    const child = children[i];
    children[i] = undefined;
    if (!child) return;
    try {
      child.kill("SIGKILL");
    } catch {
      // exited already
    }
    await child.status;
  };
  try {
    await Promise.all(names.map((_, i) => start(i)));
  } catch (error) {
    await Promise.all(names.map((_, i) => kill(i)));
    await dir.remove();
    throw error;
  }
  return {
    store: ports.map((p) => `nats://127.0.0.1:${p}`).join(","),
    creds: auth?.creds,
    nodes: names.map((name, i) => ({ name, port: ports[i] })),
    pids: () => children.flatMap((c) => c ? [c.pid] : []),
    running: (i) => children[i] !== undefined,
    kill,
    start,
    stop: async () => {
      await Promise.all(names.map((_, i) => kill(i)));
      await dir.remove();
    },
  };
}

/** Retries `fn` until it resolves (a cluster electing its leaders). */
export async function retry<T>(
  fn: () => Promise<T>,
  timeout = 30_000,
): Promise<T> {
  const deadline = performance.now() + timeout;
  for (;;) {
    try {
      return await fn();
    } catch (error) {
      if (performance.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** What a follower process reports: its module's view and the follower's. */
export interface Report {
  readonly revision: number;
  readonly seen: number;
  readonly connected: boolean;
  readonly error: string | null;
  readonly keys: readonly {
    name: string;
    enabled: boolean;
    count: number;
    pinned: "on" | "off" | null;
  }[];
  readonly sites: readonly string[];
  readonly consistent: boolean;
  readonly requests: number;
}

/** A follower process. */
export interface FollowerProcess {
  readonly instance: string;
  /** The process id. */
  readonly pid: number;
  /** Whether the process ended (asked to, or not). */
  readonly exited: boolean;
  /** What follow() resolved with: {ready, error} or {error, code}. */
  readonly started: Record<string, unknown>;
  report(): Promise<Report>;
  /** Closes the follower (its status goes) and waits for the exit. */
  exit(): Promise<void>;
  /** SIGKILL: a dead process; its status stays until it expires. */
  kill(): Promise<void>;
}

/** Options of a follower process (the fixture's JSON argument). */
export interface FollowerSpec {
  readonly lib: string;
  readonly store: string;
  readonly scope: string;
  readonly instance: string;
  readonly host?: string | null;
  readonly minInterval?: number;
  readonly heartbeat?: number;
  readonly readyTimeout?: number;
  readonly user?: string;
  readonly password?: string;
  readonly creds?: string;
}

/**
 * Starts tests/fixtures/fleet_follower.ts with exactly the flags a
 * follower of `spec.store` needs (or `storeFlags` instead of the read,
 * net and write flags), and waits for its first line.
 */
export async function startFollower(
  spec: FollowerSpec,
  storeFlags?: string[],
): Promise<FollowerProcess> {
  const flags = [
    "run",
    "--no-prompt",
    `--config=${ROOT}/deno.json`,
    `--allow-ffi=${spec.lib}`,
  ];
  const dir = spec.store.slice(0, spec.store.lastIndexOf("/"));
  if (storeFlags) flags.push(...storeFlags);
  else if (spec.store.startsWith("nats:")) {
    flags.push(`--allow-read=${ROOT}`, "--allow-net=127.0.0.1");
  } else flags.push(`--allow-read=${ROOT},${dir}`, `--allow-write=${dir}`);
  const child = new Deno.Command(Deno.execPath(), {
    args: [...flags, FIXTURE, JSON.stringify(spec)],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
    env: { NO_COLOR: "1" },
  }).spawn();
  const writer = child.stdin.getWriter();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  const next = async (): Promise<Record<string, unknown>> => {
    for (;;) {
      const nl = buffer.indexOf("\n");
      if (nl >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        return JSON.parse(line);
      }
      const { value, done } = await lines.read();
      if (done) throw new Error(`follower ${spec.instance} exited`);
      buffer += value;
    }
  };
  let exited = false;
  child.status.then(() => exited = true);
  const started = await next();
  let gone = false;
  const end = async (how: () => Promise<void>) => {
    if (gone) return;
    gone = true;
    await how();
    await writer.close().catch(() => {});
    await lines.cancel().catch(() => {});
    await child.status;
  };
  return {
    instance: spec.instance,
    pid: child.pid,
    get exited() {
      return exited;
    },
    started,
    report: async () => {
      await writer.write(new TextEncoder().encode("report\n"));
      return await next() as unknown as Report;
    },
    exit: () =>
      end(async () => {
        await writer.write(new TextEncoder().encode("exit\n")).catch(() => {});
      }),
    kill: () =>
      end(() => {
        try {
          child.kill("SIGKILL");
        } catch {
          // exited already
        }
        return Promise.resolve();
      }),
  };
}

/** The state of key `name` in a report. */
export function keyOf(report: Report, name: string): Report["keys"][number] {
  const key = report.keys.find((k) => k.name === name);
  if (!key) throw new Error(`no key "${name}" in the report`);
  return key;
}
