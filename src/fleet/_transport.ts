// SPDX-License-Identifier: MIT
// The NATS store's connections: the NATS core's protocol over a transport
// of Deno's own sockets (Deno.connect, Deno.startTls), bound to each
// connection. Every failure of such a socket is a rejected promise this
// file awaits, so nothing the server does (a reset after refusing the
// credentials, a write to a closed socket) can become an uncaught error,
// and no error of other code in the process is looked at.
//
// The core makes each transport from one process-wide factory, which
// transport-node's connect() sets at every call. The store's connections
// do not use it: each keeps the transport it makes itself. The factory is
// only set when nothing with a resolver set it (transport-node's, the
// same that connect() would set), so that the core can run at all.

import {
  checkOptions,
  type ConnectionOptions,
  errors,
  extractProtocolMessage,
  getResolveFn,
  INFO,
  type NatsConnection,
  NatsConnectionImpl,
  ProtocolHandler,
  type Server,
  type ServerInfo,
  setTransportFactory,
  type Transport,
} from "@nats-io/transport-node";
import {
  nodeResolveHost,
  NodeTransport,
  VERSION,
} from "@nats-io/transport-node/lib/node_transport.js";

/** Bytes read from the socket at most at once. */
const READ_SIZE = 64 * 1024;

/** Closes a Deno socket that may be closed already. */
function closeQuietly(conn: Deno.Conn | undefined): void {
  try {
    conn?.close();
  } catch {
    // closed already
  }
}

/**
 * One connection attempt to one server, and the connection it makes:
 * the core calls connect(), reads the frames by iterating, writes with
 * send(), and learns of the end from closed().
 */
export class DenoTransport implements Transport {
  readonly lang = "nats.js";
  readonly version = VERSION;
  closeError?: Error;
  #conn: Deno.Conn | undefined;
  #encrypted = false;
  #connected = false;
  #done = false;
  /** What was read while waiting for the server's INFO (INFO included). */
  #early: Uint8Array[] = [];
  /** Frames waiting for the writer, in order. */
  #queue: Uint8Array[] = [];
  #writing: Promise<void> | undefined;
  readonly #ended = Promise.withResolvers<void | Error>();

  get isClosed(): boolean {
    return this.#done;
  }

  isEncrypted(): boolean {
    return this.#encrypted;
  }

  async connect(server: Server, options: ConnectionOptions): Promise<void> {
    try {
      const conn = await Deno.connect({
        hostname: server.hostname,
        port: server.port,
      });
      this.#conn = conn;
      if (this.#done) throw new errors.ConnectionError("connection closed");
      conn.setNoDelay(true);
      const info = await this.#readInfo(conn);
      checkOptions(info, options);
      if (
        info.tls_required || info.tls_available && options.tls !== null
      ) {
        const hostname = server.tlsName || server.hostname;
        const tls = await Deno.startTls(conn, { hostname });
        this.#conn = tls;
        this.#encrypted = true;
        try {
          await tls.handshake();
        } catch (error) {
          throw new errors.ConnectionError(
            `the TLS handshake with ${hostname} failed (${
              (error as Error).message
            }); if the server's certificate is signed by a CA of your own, ` +
              `give Deno that CA with --cert=FILE or DENO_CERT=FILE`,
            { cause: error },
          );
        }
      }
      if (this.#done) throw new errors.ConnectionError("connection closed");
      this.#connected = true;
    } catch (error) {
      this.#done = true;
      closeQuietly(this.#conn);
      this.#conn = undefined;
      if (error instanceof Deno.errors.ConnectionRefused) {
        throw new errors.ConnectionError("connection refused", {
          cause: error,
        });
      }
      throw error;
    }
  }

  /** Reads until the server's first line (its INFO), and parses it. */
  async #readInfo(conn: Deno.Conn): Promise<ServerInfo> {
    const buffer = new Uint8Array(READ_SIZE);
    let seen = new Uint8Array(0);
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) {
        throw new errors.ConnectionError(
          "the server closed the connection before its INFO",
        );
      }
      const chunk = buffer.slice(0, n);
      this.#early.push(chunk);
      const joined = new Uint8Array(seen.length + n);
      joined.set(seen);
      joined.set(chunk, seen.length);
      seen = joined;
      const line = extractProtocolMessage(seen);
      if (line === "") continue;
      const m = INFO.exec(line);
      if (!m) throw new Error("unexpected response from server");
      return JSON.parse(m[1]) as ServerInfo;
    }
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Uint8Array> {
    return this.#frames();
  }

  async *#frames(): AsyncIterableIterator<Uint8Array> {
    const early = this.#early;
    this.#early = [];
    yield* early;
    const buffer = new Uint8Array(READ_SIZE);
    while (!this.#done) {
      const conn = this.#conn;
      if (!conn) return;
      let n: number | null;
      try {
        n = await conn.read(buffer);
      } catch (error) {
        // a reset, or the socket closed under the read by close()
        if (!this.#done) this.#end(error as Error);
        return;
      }
      if (n === null) {
        this.#end(undefined); // the server closed it
        return;
      }
      // A copy: the parser may keep part of a frame until the rest comes.
      yield buffer.slice(0, n);
    }
  }

  send(frame: Uint8Array): void {
    if (this.#done || !this.#conn) return;
    this.#queue.push(frame);
    this.#writing ??= this.#write();
  }

  /** Writes the queue in order; a failed write ends the writing only. */
  async #write(): Promise<void> {
    try {
      while (this.#queue.length > 0 && !this.#done && this.#conn) {
        const frames = this.#queue;
        this.#queue = [];
        let data = frames[0];
        if (frames.length > 1) {
          data = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
          let at = 0;
          for (const f of frames) {
            data.set(f, at);
            at += f.length;
          }
        }
        for (let done = 0; done < data.length;) {
          done += await this.#conn.write(data.subarray(done));
        }
      }
    } catch {
      // The socket is gone: the read side (or the core's pings) sees it.
      this.#queue = [];
    } finally {
      this.#writing = undefined;
    }
  }

  close(error?: Error): Promise<void> {
    this.#end(error);
    return Promise.resolve();
  }

  /**
   * The core found the connection stale (or was asked to reconnect): it is
   * closed at once, without waiting for writes a dead peer may never take.
   */
  disconnect(): void {
    this.#end(undefined);
  }

  closed(): Promise<void | Error> {
    return this.#ended.promise;
  }

  discard(): void {
    this.#done = true;
    this.#queue = [];
    closeQuietly(this.#conn);
  }

  /**
   * Ends the connection; the core hears of it through closed() only when
   * it was connected (a failed attempt is the connect()'s rejection).
   */
  #end(error: Error | undefined): void {
    if (this.#done || !this.#connected) {
      this.#done = true;
      closeQuietly(this.#conn);
      return;
    }
    this.closeError = error;
    this.#done = true;
    this.#queue = [];
    closeQuietly(this.#conn);
    this.#ended.resolve(error);
  }
}

/**
 * Connects with the NATS core as transport-node's connect() does, except
 * that the connection's transports are {@linkcode DenoTransport}s.
 */
export async function connectDeno(
  options: ConnectionOptions,
): Promise<NatsConnection> {
  if (typeof getResolveFn() !== "function") {
    // Nothing set the process-wide factory: the core needs one to run.
    setTransportFactory({
      factory: () => new NodeTransport(),
      dnsResolveFn: nodeResolveHost,
    });
  }
  const Impl = NatsConnectionImpl as unknown as new (
    options: ConnectionOptions,
  ) => NatsConnectionImpl;
  const nc = new Impl({ ...options, resolve: false });
  const protocol = new ProtocolHandler(nc.options, nc);
  // The core assigns `transport` the factory's product before each dial
  // (a transport that has no socket yet); this connection uses its own.
  let transport: Transport | undefined;
  Object.defineProperty(protocol, "transport", {
    configurable: true,
    enumerable: true,
    get: () => transport,
    set: (_made: Transport) => {
      transport = new DenoTransport();
    },
  });
  await protocol.dialLoop();
  nc.protocol = protocol;
  return nc;
}
