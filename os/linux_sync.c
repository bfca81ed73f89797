/* SPDX-License-Identifier: MIT */
/*
 * linux_sync.c - what the cross-modification protocol asks of Linux
 * (docs/concurrency.md): core synchronisation of every thread through
 * membarrier(SYNC_CORE) and, on x86, the SIGTRAP handler that sends a
 * thread which ran into a breakpoint on along the old or new path.
 */
#define _GNU_SOURCE
#define _FILE_OFFSET_BITS 64
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "linux_private.h"

/* ---- cross-modification -------------------------------------------------- */

/* From <linux/membarrier.h>, which a libc-only sysroot may lack. */
#define LINUX_MEMBARRIER_QUERY 0
#define LINUX_MEMBARRIER_SYNC_CORE (1 << 5)
#define LINUX_MEMBARRIER_REGISTER_SYNC_CORE (1 << 6)

/*
 * Tests only: no_sync_core = 1 makes init see no membarrier SYNC_CORE (an
 * old kernel); sync_fail = n > 0 makes the n-th os_sync_core fail (EPERM).
 */
STATIC_KEYS_LOCAL int static_keys_linux_no_sync_core, static_keys_linux_sync_fail;

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

	if (static_keys_linux_no_sync_core)
		return 0;
	cmds = linux_membarrier(LINUX_MEMBARRIER_QUERY);
	return cmds >= 0 && (cmds & LINUX_MEMBARRIER_SYNC_CORE);
}

/*
 * Registers the process for it when a strategy that writes in place is
 * prepared and before each flip in place until it worked, not at init:
 * with several threads running the kernel waits for an RCU grace period
 * here (about 15 ms on the development machine), which open() should not
 * pay. Per process and idempotent: every module may ask; os_sync_core
 * asks again if needed. 0, or the errno of the refusal (tried again at
 * the next call: ENOMEM or EINTR may pass).
 */
int linux_sync_core_register(void)
{
	static int done;

	if (done || static_keys_linux_no_sync_core)
		return 0;
	if (linux_membarrier(LINUX_MEMBARRIER_REGISTER_SYNC_CORE))
		return errno;
	done = 1;
	return 0;
}

int os_sync_core(struct os_patch *diag)
{
	if (static_keys_linux_sync_fail > 0 && --static_keys_linux_sync_fail == 0)
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

/*
 * The breakpoint trap. One handler per module, installed at the first
 * flip in place and kept (a handler installed per flip could be gone when
 * a thread that trapped late runs it); what was installed before is
 * called for every trap the core does not claim, so a debugger's, the
 * runtime's or the user's own SIGTRAP handler keeps working, and with no
 * handler before the default action (a core dump) still happens.
 */
#if defined(__x86_64__) || defined(__i386__)
#ifdef __x86_64__
#define LINUX_PC REG_RIP
#else
#define LINUX_PC REG_EIP
#endif

static struct {
	os_trap_fn fn;
	void *ctx;
	int installed;
	struct sigaction prev;
} linux_trap;

static void linux_trap_chain(int sig, siginfo_t *info, void *uc)
{
	const struct sigaction *prev = &linux_trap.prev;

	if (prev->sa_flags & SA_SIGINFO) {
		prev->sa_sigaction(sig, info, uc);
	} else if (prev->sa_handler == SIG_IGN) {
		return;
	} else if (prev->sa_handler == SIG_DFL) {
		/* the default action, as if we were never here */
		signal(sig, SIG_DFL);
		raise(sig); /* delivered when this handler returns */
	} else {
		prev->sa_handler(sig);
	}
}

static void linux_trap_handler(int sig, siginfo_t *info, void *uc)
{
	ucontext_t *u = uc;
	os_trap_fn fn = __atomic_load_n(&linux_trap.fn, __ATOMIC_ACQUIRE);
	uintptr_t to = 0;
	int saved = errno;

	/* int3 reports SI_KERNEL (valgrind: TRAP_BRKPT); raise() and kill()
	 * report others, and are never ours */
	if (fn && (info->si_code == SI_KERNEL || info->si_code == TRAP_BRKPT))
		to = fn(linux_trap.ctx, (uintptr_t)u->uc_mcontext.gregs[LINUX_PC], 1);
	if (to)
		u->uc_mcontext.gregs[LINUX_PC] = (greg_t)to;
	else
		linux_trap_chain(sig, info, uc);
	errno = saved;
}

int linux_traps_available(void)
{
	return 1;
}

int os_trap_arm(os_trap_fn fn, void *ctx)
{
	struct sigaction sa, cur;

	if (sigaction(SIGTRAP, NULL, &cur))
		return STATIC_KEYS_EPATCH;
	if (linux_trap.installed && (cur.sa_flags & SA_SIGINFO) &&
	    cur.sa_sigaction == linux_trap_handler)
		return 0;
	/* first time, or something replaced us: it becomes the one we chain */
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = linux_trap_handler;
	sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	linux_trap.ctx = ctx;
	__atomic_store_n(&linux_trap.fn, fn, __ATOMIC_RELEASE);
	linux_trap.prev = cur;
	if (sigaction(SIGTRAP, &sa, NULL))
		return STATIC_KEYS_EPATCH;
	linux_trap.installed = 1;
	return 0;
}

/* Unload: hand SIGTRAP back if we are still the one installed. */
void linux_trap_release(void)
{
	struct sigaction cur;

	if (!linux_trap.installed)
		return;
	if (!sigaction(SIGTRAP, NULL, &cur) && (cur.sa_flags & SA_SIGINFO) &&
	    cur.sa_sigaction == linux_trap_handler)
		sigaction(SIGTRAP, &linux_trap.prev, NULL);
	__atomic_store_n(&linux_trap.fn, NULL, __ATOMIC_RELEASE);
	linux_trap.installed = 0;
}
#else /* sites change with one store: no breakpoint to catch */
int linux_traps_available(void)
{
	return 0;
}

int os_trap_arm(os_trap_fn fn, void *ctx)
{
	(void)fn;
	(void)ctx;
	return STATIC_KEYS_EPATCH;
}

void linux_trap_release(void)
{
}
#endif
