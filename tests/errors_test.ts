// SPDX-License-Identifier: MIT
// Errors a user can act on arrive as classes with a code and the fix in
// their message: unwrap() maps every native status code, and open() names
// what a file that is not a static-keys module is (a directory, not a
// library, no core, the core's exports hidden by a version script, another
// C ABI version).

import assert from "node:assert/strict";
import {
  AbiMismatchError,
  BadSiteError,
  BusyError,
  HiddenExportsError,
  InvalidArgumentError,
  KeyCountError,
  ModuleInitError,
  NotAModuleError,
  OutOfReachError,
  PatchRefusedError,
  StaticKeysError,
  StatusCode,
  UnknownKeyError,
  UnsupportedStrategyError,
  WrongThreadError,
  WxViolationError,
} from "../mod.ts";
import { unwrap } from "../src/runtime/_errors.ts";
import {
  ABI_VERSION,
  type NativeSymbols,
  symbols,
} from "../src/runtime/_ffi.ts";
import { LIB, runOpen } from "./_helpers.ts";

const ROOT = decodeURIComponent(new URL("..", import.meta.url).pathname)
  .replace(/\/$/, "");
const TESTS = `${ROOT}/build/tests`;

/** A native layer whose last-error text is `text`: all unwrap() reads. */
function nativeSaying(text: string): NativeSymbols {
  const bytes = new TextEncoder().encode(text);
  const pointer = {} as Deno.PointerObject;
  return {
    static_keys_ffi_last_error: () => pointer,
    static_keys_ffi_strerror: () => pointer,
    static_keys_ffi_copy_string: (
      _p: Deno.PointerValue,
      out: Uint8Array,
      cap: number,
    ) => {
      out.set(bytes.subarray(0, Math.min(cap, bytes.length)));
      return bytes.length;
    },
  } as unknown as NativeSymbols;
}

// [code, class, what the native layer says, what the message must add]
const CODES = [
  [
    StatusCode.EINVAL,
    InvalidArgumentError,
    'Cannot update keys: key "a" is asked to be both enabled and disabled in one request',
    /; nothing was changed; give each key one state in a request$/,
  ],
  [
    StatusCode.ETHREAD,
    WrongThreadError,
    "Keys can only be flipped on the thread that initialised the module",
    /^Cannot flip: keys can only be flipped on the thread/,
  ],
  [
    StatusCode.EBADSITE,
    BadSiteError,
    'Cannot flip key "a": the site at 0x10 holds 90; nothing was written',
    /nothing was written$/,
  ],
  [
    StatusCode.ERANGE,
    OutOfReachError,
    'Cannot flip key "a": the site at 0x10 cannot reach its target 0x8000000010; nothing was written',
    /; rebuild the library so that each site's jump target lies within one jump of it/,
  ],
  [
    StatusCode.EPATCH,
    PatchRefusedError,
    'Cannot patch pages 0x1000-0x2000 with strategy "procmem": pwrite failed with error 13; every page was restored and no key changed',
    /; pick another strategy with setStrategy\(\) \(stats\(\)\.strategies lists those this system offers\), or allow what refused the write/,
  ],
  [
    StatusCode.ENOTSUP,
    UnsupportedStrategyError,
    'Cannot use strategy "direct": the linux layer does not offer it: choose one it offers (remap, mprotect, alias, procmem)',
    /choose one it offers \(remap, mprotect, alias, procmem\)$/,
  ],
  [
    StatusCode.ECOUNT,
    KeyCountError,
    'Cannot dec key "a": its count is already 0; every dec must match an earlier inc or enable',
    /earlier inc or enable$/,
  ],
  [
    StatusCode.EINIT,
    ModuleInitError,
    "Cannot init module: jump entry 3 at 0x10: the entry table is corrupt",
    /; rebuild the library with this version of the static-keys core, .*\(docs\/init\.md lists what init checks\)$/,
  ],
  [
    StatusCode.EBUSY,
    BusyError,
    "Cannot flip: another call that changes this module is running on this thread (this call came from a signal handler that interrupted it); nothing was changed, call again after it returns",
    /call again after it returns$/,
  ],
  [
    StatusCode.EWX,
    WxViolationError,
    'Cannot patch pages 0x1000-0x2000 with strategy "mprotect": mprotect failed with error 12, and the OS refused to make the pages read+execute again: they hold their old bytes but are left writable and executable; restoring the pages patched before failed too, so sites may disagree with their keys: call static_keys_repair()',
    /call repair\(\); the process has lost W\^X protection on that page: restart the process, and prefer a strategy that never makes a page writable \("procmem" or "remap"\)$/,
  ],
] as const;

Deno.test("unwrap() maps every native status code to its class, with what to do", async (t) => {
  for (const [code, type, text, fix] of CODES) {
    const name = type.name;
    await t.step(`${code} is ${name}`, () => {
      assert.throws(
        () => unwrap(code, nativeSaying(text), "Cannot flip"),
        (error: unknown) => {
          assert.ok(error instanceof type, `${error}`);
          assert.ok(error instanceof StaticKeysError);
          assert.equal(error.name, name);
          assert.equal(error.code, code);
          assert.match(error.message, fix);
          // Said once: a fix the native text gives is not repeated.
          const said = error.message.match(/call again|nothing was written/g);
          assert.ok((said?.length ?? 0) <= 1, error.message);
          return true;
        },
      );
    });
  }
  await t.step("a transient EPATCH keeps its own fix: try again", () => {
    const text = 'Cannot patch pages 0x1000-0x2000 with strategy "remap": ' +
      "mmap failed with error 12, a transient refusal (out of memory): " +
      "nothing is kept from it, so try again once that has passed; every " +
      "page was restored and no key changed";
    assert.throws(() => unwrap(StatusCode.EPATCH, nativeSaying(text), "x"), {
      name: "PatchRefusedError",
      message: text,
    });
  });
  await t.step("a code it does not know is a StaticKeysError", () => {
    assert.throws(() => unwrap(-99, nativeSaying("Odd"), "Cannot flip"), {
      name: "StaticKeysError",
      code: -99,
      message: "Cannot flip: odd",
    });
  });
  await t.step("success codes pass through", () => {
    assert.equal(unwrap(0, nativeSaying("unused"), "Cannot flip"), 0);
    assert.equal(unwrap(7, nativeSaying("unused"), "Cannot flip"), 7);
  });
});

Deno.test("unwrap() names the key of a native ENOKEY, with suggestions", () => {
  const native = nativeSaying(
    "Cannot find key number 3: the module has 3 keys",
  );
  assert.throws(
    () =>
      unwrap(StatusCode.ENOKEY, native, 'Cannot enable key "tracing"', {
        name: "tracing",
        names: ["tracing", "tracer", "checks"],
      }),
    (error: unknown) => {
      assert.ok(error instanceof UnknownKeyError);
      assert.equal(error.key, "tracing");
      assert.deepEqual(error.suggestions, ["tracer"]);
      return true;
    },
  );
});

Deno.test("mod.set() with a key in both states is an InvalidArgumentError", async () => {
  const { openDemo } = await import("./_helpers.ts");
  using mod = openDemo();
  assert.throws(() => mod.set([["tracing", true], ["tracing", false]]), {
    name: "InvalidArgumentError",
    code: StatusCode.EINVAL,
    message: 'Cannot update keys: key "tracing" is asked to be both enabled ' +
      "and disabled in one request; nothing was changed; give each key one " +
      "state in a request",
  });
});

/** open(path) in a fresh process, with --allow-ffi for it and `flags`. */
async function refusal(path: string, flags: string[] = []) {
  const { code, result, stderr } = await runOpen(
    [`--allow-ffi=${path}`, ...flags],
    [path],
  );
  assert.equal(code, 0, `the subprocess died: ${stderr}`);
  assert.doesNotMatch(result.message, /Could not open library/);
  return result;
}

Deno.test({
  name: "open() says what a file that is not a static-keys module is",
  ignore: Deno.build.os !== "linux",
  async fn(t) {
    await t.step("a directory", async () => {
      assert.deepEqual(await refusal(TESTS), {
        name: "NotAModuleError",
        code: -9,
        path: TESTS,
        reason: "directory",
        message: `Cannot open "${TESTS}": it is a directory, not a library: ` +
          `give open() the path of the library file in it`,
      });
    });
    await t.step("a file that is not a library", async () => {
      const readme = `${ROOT}/README.md`;
      assert.deepEqual(await refusal(readme), {
        name: "NotAModuleError",
        code: -9,
        path: readme,
        reason: "not-a-library",
        message: `Cannot open "${readme}": it is not a shared library this ` +
          `system can load (invalid ELF header): give open() the path of a ` +
          `shared library built for ${Deno.build.os} ${Deno.build.arch}`,
      });
    });
    const noCore = `${TESTS}/libsk_noabi.so`;
    await t.step("a library without the core, read", async () => {
      const result = await refusal(noCore, [`--allow-read=${noCore}`]);
      assert.equal(result.name, "NotAModuleError");
      assert.equal(result.reason, "no-core");
      assert.match(
        result.message,
        /^Cannot open ".*": it is not linked with the static-keys core \(it does not export static_keys_ffi_\w+\); link the core into it: StaticKeys::static_keys with CMake, /,
      );
    });
    await t.step(
      "a library without the core, unread: both causes and the flag",
      async () => {
        const result = await refusal(noCore);
        assert.equal(result.name, "NotAModuleError");
        assert.equal(result.reason, "no-exports");
        assert.match(
          result.message,
          /either the static-keys core is not linked/,
        );
        assert.match(
          result.message,
          /add "static_keys_ffi_\*;" under "global:"/,
        );
        assert.ok(
          result.message.endsWith(
            `run again with --allow-read=${noCore} for open() to tell which`,
          ),
          result.message,
        );
      },
    );
    const abi = Object.keys(symbols).filter((name) =>
      !(symbols as Record<string, { optional?: boolean }>)[name].optional
    );
    for (
      const [what, file, evidence] of [
        [
          "the core's exports hidden by a version script",
          "libsk_hidden.so",
          /its symbol table holds 2\d static_keys_ffi_\* functions of the core, its dynamic symbol table none of the C ABI's functions/,
        ],
        [
          "the same, stripped: the core's sections tell",
          "libsk_hidden_stripped.so",
          /it has the core's sections \(__static_keys\w*, __static_keys\w*\), its dynamic symbol table none/,
        ],
      ] as const
    ) {
      await t.step(what, async () => {
        const path = `${TESTS}/${file}`;
        const result = await refusal(path, [`--allow-read=${path}`]);
        assert.equal(result.name, "HiddenExportsError");
        assert.equal(result.reason, "hidden-exports");
        assert.equal(result.code, -9);
        assert.deepEqual(
          result.hidden?.filter((n) => abi.includes(n)).sort(),
          [...abi].sort(),
        );
        assert.match(result.message, evidence);
        assert.match(
          result.message,
          /: the static-keys core is linked into it but its exports are hidden: /,
        );
        assert.match(
          result.message,
          /add "static_keys_ffi_\*;" under "global:" in the version script, or link with the package's fragment after yours \(-Wl,--version-script=<prefix>\/share\/static-keys\/static_keys\.map/,
        );
      });
    }
    await t.step(
      "the same library with the package's fragment opens",
      async () => {
        const path = `${TESTS}/libsk_hidden_map.so`;
        const { result } = await runOpen([`--allow-ffi=${path}`], [path]);
        assert.deepEqual(result, { name: "opened", message: path });
      },
    );
    await t.step("a library of the next C ABI version", async () => {
      const path = `${TESTS}/libsk_abi_next.so`;
      const result = await refusal(path);
      assert.deepEqual(result, {
        name: "AbiMismatchError",
        code: -9,
        path,
        message:
          `Cannot open "${path}": its C ABI is version ${
            ABI_VERSION + 1
          }, this module needs version ${ABI_VERSION}: the library was built with a newer static-keys ` +
          `core: import the version of @static-keys/deno it was built with, ` +
          `or rebuild it against this version's C package (the build ` +
          `entry's --prefix)`,
      });
    });
  },
});

Deno.test("the load errors are classes of their own, under StaticKeysError", () => {
  const hidden = new HiddenExportsError("m", "/x", ["static_keys_ffi_init"]);
  assert.ok(hidden instanceof NotAModuleError);
  assert.ok(hidden instanceof StaticKeysError);
  assert.equal(hidden.reason, "hidden-exports");
  const abi = new AbiMismatchError("m", "/x", 2, 1);
  assert.deepEqual([abi.found, abi.expected, abi.path, abi.code], [
    2,
    1,
    "/x",
    StatusCode.EINIT,
  ]);
  assert.ok(LIB.length > 0);
});
