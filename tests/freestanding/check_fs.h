/* SPDX-License-Identifier: MIT */
/*
 * check_fs.h - tests/check.h for images without libc: the same named
 * checks, summary and exit code (= failures), plus the process start-up a
 * libc would bring: _start, and write/exit_group as raw Linux syscalls.
 * One test file includes it once; it defines _start, which calls main().
 * A port adds its _start and syscall below; nothing else names an arch.
 */
#ifndef STATIC_KEYS_CHECK_FS_H
#define STATIC_KEYS_CHECK_FS_H

#include <stddef.h>
#include <stdint.h>

#if defined(__x86_64__)
__asm__(".text\n"
	".globl _start\n"
	"_start:\n\t"
	"xor %ebp, %ebp\n\t"
	"and $-16, %rsp\n\t"
	"call fs_start\n\t"
	"hlt\n");

static long fs_syscall3(long nr, long a, long b, long c)
{
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c)
			 : "rcx", "r11", "memory");
	return ret;
}
#define FS_SYS_WRITE 1
#define FS_SYS_EXIT_GROUP 231
#elif defined(__loongarch64)
__asm__(".text\n"
	".globl _start\n"
	"_start:\n\t"
	"move $fp, $zero\n\t"
	"bstrins.d $sp, $zero, 3, 0\n\t"
	"bl fs_start\n\t"
	"break 0\n");

static long fs_syscall3(long nr, long a, long b, long c)
{
	register long a7 __asm__("$a7") = nr;
	register long a0 __asm__("$a0") = a;
	register long a1 __asm__("$a1") = b;
	register long a2 __asm__("$a2") = c;

	__asm__ volatile("syscall 0"
			 : "+r"(a0)
			 : "r"(a7), "r"(a1), "r"(a2)
			 : "$t0", "$t1", "$t2", "$t3", "$t4", "$t5", "$t6",
			   "$t7", "$t8", "memory");
	return a0;
}
#define FS_SYS_WRITE 64
#define FS_SYS_EXIT_GROUP 94
#else
#error "check_fs.h: add _start and a syscall for this architecture"
#endif

static int check_passed, check_failed;

static void fs_puts(int fd, const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	fs_syscall3(FS_SYS_WRITE, fd, (long)s, (long)n);
}

static void fs_putu(int fd, unsigned long v)
{
	char buf[24];
	int i = (int)sizeof buf - 1;

	buf[i] = '\0';
	do {
		buf[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	fs_puts(fd, &buf[i]);
}

static void check_fail(const char *file, int line, const char *name,
		       const char *cond)
{
	check_failed++;
	fs_puts(2, "FAIL ");
	fs_puts(2, file);
	fs_puts(2, ":");
	fs_putu(2, (unsigned long)line);
	fs_puts(2, ": ");
	fs_puts(2, name);
	fs_puts(2, " (");
	fs_puts(2, cond);
	fs_puts(2, ")\n");
}

#define CHECK(name, cond)                                                      \
	do {                                                                   \
		if (cond)                                                      \
			check_passed++;                                        \
		else                                                           \
			check_fail(__FILE__, __LINE__, name, #cond);           \
	} while (0)

/*
 * A call that must return 0; prints the core's detail when it does not
 * (include static_keys.h first).
 */
#define CHECK_OK(name, call)                                                   \
	do {                                                                   \
		int rc_ = (call);                                              \
		CHECK(name, rc_ == 0);                                         \
		if (rc_) {                                                     \
			fs_puts(2, "  -> ");                                   \
			fs_puts(2, static_keys_last_error());                  \
			fs_puts(2, "\n");                                      \
		}                                                              \
	} while (0)

static inline int check_summary(void)
{
	fs_putu(1, (unsigned long)check_passed);
	fs_puts(1, " checks passed, ");
	fs_putu(1, (unsigned long)check_failed);
	fs_puts(1, " failed\n");
	return check_failed > 255 ? 255 : check_failed;
}

int main(void);

__attribute__((used, noreturn)) void fs_start(void);
void fs_start(void)
{
	fs_syscall3(FS_SYS_EXIT_GROUP, main(), 0, 0);
	__builtin_unreachable();
}

#endif /* STATIC_KEYS_CHECK_FS_H */
