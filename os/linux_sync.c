/* SPDX-License-Identifier: MIT */
/*
 * linux_sync.c - what the cross-modification protocol asks of Linux
 * (docs/concurrency.md): core synchronisation of every thread through
 * membarrier(SYNC_CORE). The SIGTRAP handler is in linux_trap.c.
 */
#define _GNU_SOURCE
#define _FILE_OFFSET_BITS 64
#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "linux_private.h"
#include "test_hooks.h"

/* ---- cross-modification -------------------------------------------------- */

/* From <linux/membarrier.h>, which a libc-only sysroot may lack. */
#define LINUX_MEMBARRIER_QUERY 0
#define LINUX_MEMBARRIER_SYNC_CORE (1 << 5)
#define LINUX_MEMBARRIER_REGISTER_SYNC_CORE (1 << 6)

static long linux_membarrier(int cmd)
{
#ifdef SYS_membarrier
	return syscall(SYS_membarrier, cmd, 0, 0);
#else
	(void)cmd;
	errno = ENOSYS;
	return -1;
#endif
}

/*
 * 1 when membarrier(PRIVATE_EXPEDITED_SYNC_CORE) is offered (x86 and
 * arm64 since Linux 4.16, riscv since 6.9). One cheap query at init.
 */
int linux_sync_core_offered(void)
{
	long cmds;

	if (TEST_HOOK(no_sync_core))
		return 0;
	cmds = linux_membarrier(LINUX_MEMBARRIER_QUERY);
	return cmds >= 0 && (cmds & LINUX_MEMBARRIER_SYNC_CORE);
}

/*
 * Registers the process for it when a strategy that writes in place is
 * prepared and before each flip in place until it worked, not at init:
 * with several threads running the kernel waits for an RCU grace period
 * here (milliseconds: about 15 ms was measured on an idle 2-core x86_64), which open() should not
 * pay. Per process and idempotent: every module may ask; os_sync_core
 * asks again if needed. 0, or the errno of the refusal (tried again at
 * the next call: ENOMEM or EINTR may pass).
 */
int linux_sync_core_register(void)
{
	static int done;

	if (done || TEST_HOOK(no_sync_core))
		return 0;
	if (linux_membarrier(LINUX_MEMBARRIER_REGISTER_SYNC_CORE))
		return errno;
	done = 1;
	return 0;
}

int os_sync_core(struct os_patch *diag)
{
	if (TEST_HOOK_COUNTDOWN(sync_fail))
		return linux_fail(diag, "membarrier(SYNC_CORE) (injected)", EPERM);
	if (!linux_membarrier(LINUX_MEMBARRIER_SYNC_CORE))
		return 0;
	/* a kernel that does not carry the registration across fork() */
	if (errno == EPERM &&
	    !linux_membarrier(LINUX_MEMBARRIER_REGISTER_SYNC_CORE) &&
	    !linux_membarrier(LINUX_MEMBARRIER_SYNC_CORE))
		return 0;
	return linux_fail(diag, "membarrier(SYNC_CORE)", errno);
}
