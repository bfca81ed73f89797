/* SPDX-License-Identifier: MIT */
/*
 * bench_lib.c - the bench-only module's own entry points, next to its
 * generated sites (gen_sites.cmake). Deno and bench/flip_bench.c load the
 * same library, so both measure the same flips of the same code.
 *
 *   bench_c_flips     n flips of one key from C, through the same ABI
 *                     entry Deno calls: what a flip costs without Deno
 *   bench_baseline_set   a per-site baseline: every site patched on its
 *                     own, one page copy + mprotect + mremap each (3
 *                     syscalls a site), the way the Rust crate static-keys
 *                     patches; measured in the same run as the library
 *   bench_maps_lines  lines of /proc/self/maps: mappings a flip added
 *                     (the SIGTRAP handler's block aside: the first flip
 *                     in place of the process maps it, once)
 *   bench_floors      the system calls a flip in place is made of, one
 *                     at a time, in the calling process (Deno's threads):
 *                     a pwrite of one code byte to /proc/self/mem, one
 *                     membarrier(SYNC_CORE), one rt_sigaction query
 *
 * Bench-only: the baseline writes the key's state fields itself, which no
 * user code may do.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "bench_clock.h"
#include "site.h"

STATIC_KEYS_EXPORT int32_t static_keys_ffi_set(uint32_t index, int32_t enabled);

/* n flips of key `index` (on, off, on, ...), from its current state. */
STATIC_KEYS_EXPORT int32_t bench_c_flips(uint32_t index, uint32_t n)
{
	struct static_key *k = static_keys_at(index);
	uint32_t i;

	if (!k)
		return STATIC_KEYS_ENOKEY;
	for (i = 0; i < n; i++) {
		int32_t rc = static_keys_ffi_set(index, !k->enabled);

		if (rc)
			return rc;
	}
	return 0;
}

#ifdef __linux__
/* One site, its own page copy: mmap, write, mprotect r-x, mremap over. */
static int baseline_site(uintptr_t code, const uint8_t *bytes, uintptr_t ps)
{
	uintptr_t lo = code & ~(ps - 1);
	uintptr_t hi = (code + ARCH_JUMP_SIZE - 1 + ps) & ~(ps - 1);
	size_t len = hi - lo;
	uint8_t *copy = mmap(NULL, len, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (copy == MAP_FAILED)
		return STATIC_KEYS_EPATCH;
	memcpy(copy, (const void *)lo, len);
	memcpy(copy + (code - lo), bytes, ARCH_JUMP_SIZE);
	if (mprotect(copy, len, PROT_READ | PROT_EXEC) ||
	    mremap(copy, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)lo) ==
		    MAP_FAILED) {
		munmap(copy, len);
		return STATIC_KEYS_EPATCH;
	}
	__builtin___clear_cache((char *)code, (char *)code + ARCH_JUMP_SIZE);
	return 0;
}

STATIC_KEYS_EXPORT int32_t bench_baseline_set(uint32_t index, int32_t enabled)
{
	struct static_key *k = static_keys_at(index);
	uintptr_t ps = (uintptr_t)sysconf(_SC_PAGESIZE);
	uint32_t i;

	if (!k)
		return STATIC_KEYS_ENOKEY;
	enabled = enabled ? 1 : 0;
	if (k->enabled == enabled)
		return 0;
	for (i = 0; i < k->sites; i++) {
		const struct jump_entry *e = &k->entries[i];
		uint8_t bytes[ARCH_JUMP_SIZE];
		int rc;

		site_bytes(e, enabled, bytes);
		rc = baseline_site(jump_entry_code(e), bytes, ps);
		if (rc)
			return rc;
	}
	__atomic_store_n(&k->count, enabled, __ATOMIC_RELAXED);
	__atomic_store_n(&k->enabled, (uint8_t)enabled, __ATOMIC_RELEASE);
	return 0;
}

STATIC_KEYS_EXPORT int32_t bench_maps_lines(void)
{
	static const char block[] = "static-keys-trap";
	char buf[4096];
	ssize_t got;
	int32_t lines = 0;
	size_t match = 0;
	int in_block = 0, fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	while ((got = read(fd, buf, sizeof buf)) > 0) {
		ssize_t i;

		for (i = 0; i < got; i++) {
			if (buf[i] == '\n') {
				lines += !in_block;
				in_block = 0;
				match = 0;
				continue;
			}
			match = buf[i] == block[match] ? match + 1
				: buf[i] == block[0]  ? 1
						       : 0;
			if (match == sizeof block - 1)
				in_block = 1;
		}
	}
	close(fd);
	return lines;
}

enum { FLOOR_ROUNDS = 31, FLOOR_CALLS = 32 };

/* Median over rounds of FLOOR_CALLS calls of what `kind` names, in µs a call. */
static double floor_median(int kind, int mem, uintptr_t at)
{
	double t[FLOOR_ROUNDS];
	int r, i;

	for (r = 0; r < FLOOR_ROUNDS; r++) {
		double t0 = bench_now_ns();

		for (i = 0; i < FLOOR_CALLS; i++) {
			if (kind == 0) {
				uint8_t b = *(const volatile uint8_t *)at;

				if (pwrite(mem, &b, 1, (off_t)at) != 1)
					return -1;
			} else if (kind == 1) {
				if (syscall(SYS_membarrier, 1 << 5, 0, 0))
					return -1;
			} else {
				struct sigaction cur;

				if (sigaction(SIGTRAP, NULL, &cur))
					return -1;
			}
		}
		t[r] = (bench_now_ns() - t0) / 1000.0 / FLOOR_CALLS;
	}
	qsort(t, FLOOR_ROUNDS, sizeof t[0], bench_cmp_double);
	return t[FLOOR_ROUNDS / 2];
}

/*
 * out: µs of one pwrite of a code byte (its own value, first byte of key
 * `index`'s first site) to /proc/self/mem, of one membarrier(SYNC_CORE),
 * of one rt_sigaction query; then the process's thread count. -1 for a
 * call the OS refused.
 */
STATIC_KEYS_EXPORT int32_t bench_floors(uint32_t index, double *out)
{
	struct static_key *k = static_keys_at(index);
	char line[128];
	FILE *f;
	int mem;

	if (!k || !k->sites)
		return STATIC_KEYS_ENOKEY;
	mem = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
	out[0] = mem < 0 ? -1
			 : floor_median(0, mem, jump_entry_code(&k->entries[0]));
	if (mem >= 0)
		close(mem);
	/* registered by the module's first flip in place; once more is free */
	syscall(SYS_membarrier, 1 << 6, 0, 0);
	out[1] = floor_median(1, -1, 0);
	out[2] = floor_median(2, -1, 0);
	out[3] = 0;
	f = fopen("/proc/self/status", "r");
	while (f && fgets(line, sizeof line, f))
		if (!strncmp(line, "Threads:", 8))
			out[3] = atof(line + 8);
	if (f)
		fclose(f);
	return 0;
}
#endif
