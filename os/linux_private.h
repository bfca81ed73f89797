/* SPDX-License-Identifier: MIT */
/*
 * linux_private.h - what the files of the Linux OS layer share: the state
 * the strategies set up and the functions one file calls in another. All
 * hidden: nothing here is exported from a module, and nothing here is part
 * of os/os.h's contract. Include it after _GNU_SOURCE and
 * _FILE_OFFSET_BITS=64 (off_t must be the same size in every file).
 */
#ifndef STATIC_KEYS_OS_LINUX_PRIVATE_H
#define STATIC_KEYS_OS_LINUX_PRIVATE_H

#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/types.h>

#include "os.h"

#if !defined(_FILE_OFFSET_BITS) || _FILE_OFFSET_BITS != 64
#error "define _FILE_OFFSET_BITS 64 first: struct linux_text holds an off_t"
#endif

#define LINUX_RX (PROT_READ | PROT_EXEC)
#define LINUX_RWX (PROT_READ | PROT_WRITE | PROT_EXEC)

/* ---- state --------------------------------------------------------------- */

/*
 * What the strategies set up for this module, found before the first page
 * changes, so that neither a flip's rollback nor a fork needs a new
 * resource: the file mapping that holds the sites, /proc/self/mem, and a
 * scratch buffer as large as the text to build a run in. A part refused
 * for a passing reason is tried again before the next forward patch. In
 * linux_text.c.
 */
struct linux_text {
	int ready;            /* the span is known (linux_text_setup ran) */
	uintptr_t start, end; /* span the scratch mirrors (the text mapping) */
	off_t offset;         /* file offset of start, when file_fd >= 0 */
	int file_fd;          /* the library file, O_RDONLY, or -1 */
	int file_err;         /* errno of the failed open, or 0 (none tried,
			       * or no file to open) */
	int mem_fd;           /* /proc/self/mem, O_RDWR, or -1 */
	int mem_err;          /* errno of the failed open, or of the read that
			       * checks the file (EFAULT: it does not show
			       * our memory), when mem_fd < 0 */
	const char *mem_call; /* the call mem_err is from */
	uint8_t *scratch;     /* end - start bytes, rw-, or NULL */
	int scratch_err;      /* errno of the failed mmap, when scratch NULL */
};
/* A part whose last try failed with a transient errno is tried again
 * (linux_transient) before the next request; other failures are kept. */
extern STATIC_KEYS_LOCAL struct linux_text linux_text;

/*
 * The alias, if any: [lo, hi) runs from memfd `fd`, rw is its rw- view.
 * In linux_alias.c.
 */
struct linux_alias {
	uintptr_t lo, hi;
	uint8_t *rw;
	int fd;
	int stale;   /* forked child: the next patch sets up its own memfd */
	int forking; /* 1 while fork() runs with the text made private */
	pthread_mutex_t lock;
};
extern STATIC_KEYS_LOCAL struct linux_alias linux_alias;

/* ---- linux_text.c: the text, /proc/self/maps, errno ---------------------- */

/* Why a refusal with errno `err` may pass (os_patch.transient), or NULL. */
STATIC_KEYS_LOCAL const char *linux_transient(int err);
/* Records the failed call and its errno in p; returns STATIC_KEYS_EPATCH. */
STATIC_KEYS_LOCAL int linux_fail(struct os_patch *p, const char *call, int err);

/*
 * The text around [lo, hi) (the pages holding every site): its file
 * mapping found once, then what is missing tried again (linux_text_retry).
 */
STATIC_KEYS_LOCAL void linux_text_setup(uintptr_t lo, uintptr_t hi);
/*
 * The parts that are missing and may be had now: the library file (only
 * when `refind`: not while the alias has moved the text) and
 * /proc/self/mem (no free descriptor: EMFILE), the scratch (ENOMEM under
 * RLIMIT_AS). Each part that fails is left out; the strategies that need
 * it refuse (saying why) or do without. Never called by a rollback.
 */
STATIC_KEYS_LOCAL void linux_text_retry(int refind);
/* A forked child: its own /proc/self/mem (the inherited one is the parent's). */
STATIC_KEYS_LOCAL void linux_text_forked(void);
/* Unload: closes and unmaps everything linux_text holds. */
STATIC_KEYS_LOCAL void linux_text_release(void);

/* One line of /proc/self/maps; path points into the walker's buffer. */
struct linux_map {
	uintptr_t lo, hi;
	char perms[5];
	unsigned long long offset;
	unsigned major, minor;
	unsigned long inode;
	const char *path;
};

/*
 * Calls fn for each line of /proc/self/maps until it returns nonzero;
 * returns that value, or -1 if the file cannot be read. Stack buffers only.
 */
STATIC_KEYS_LOCAL int linux_maps_each(int (*fn)(void *ctx,
						const struct linux_map *m),
				      void *ctx);

/* 1 when every page of [lo, hi) is mapped r-x (private or shared), 0 when
 * not, -1 with errno when /proc/self/maps cannot be read. */
STATIC_KEYS_LOCAL int linux_span_is_text(uintptr_t lo, uintptr_t hi);
/* 1 when [start, start + len) lies inside the span the scratch mirrors. */
STATIC_KEYS_LOCAL int linux_text_covers(uintptr_t start, size_t len);

/* ---- linux_patch.c: remap, mprotect, procmem ----------------------------- */
STATIC_KEYS_LOCAL int linux_patch_remap(struct os_patch *p);
STATIC_KEYS_LOCAL int linux_patch_mprotect(struct os_patch *p);
STATIC_KEYS_LOCAL int linux_patch_procmem(struct os_patch *p);
/* pwrite through /proc/self/mem until done; bytes written, or -1. */
STATIC_KEYS_LOCAL ssize_t linux_mem_write(struct os_patch *p,
					  const uint8_t *from, size_t len,
					  uintptr_t at);

/* ---- linux_alias.c: alias and fork --------------------------------------- */

/* Caller holds linux_alias.lock. */
STATIC_KEYS_LOCAL void linux_alias_forget(void);
STATIC_KEYS_LOCAL int linux_alias_setup(uintptr_t lo, uintptr_t hi,
					struct os_patch *d);
STATIC_KEYS_LOCAL int linux_alias_drop(struct os_patch *d);
STATIC_KEYS_LOCAL int linux_patch_alias(struct os_patch *p);
/* The pthread_atfork handlers os_init installs. */
STATIC_KEYS_LOCAL void linux_fork_prepare(void);
STATIC_KEYS_LOCAL void linux_fork_parent(void);
STATIC_KEYS_LOCAL void linux_fork_child(void);

/* ---- linux_sync.c: core synchronisation ----------------------------------- */

STATIC_KEYS_LOCAL int linux_sync_core_offered(void);
/* 0, or the errno of a refused registration (tried again at the next call) */
STATIC_KEYS_LOCAL int linux_sync_core_register(void);

/* ---- linux_trap.c: the process's SIGTRAP handler ---------------------------- */

STATIC_KEYS_LOCAL int linux_traps_available(void);
/* Unload: this module leaves the handler's registry (os_release). */
STATIC_KEYS_LOCAL void linux_trap_release(void);

#endif
