/* SPDX-License-Identifier: MIT */
/*
 * planted.c - a library someone else put in the build entry's cache, for
 * tests/cache_test.ts: it links the core, so it loads and answers like the
 * package's library, and its constructor creates the file named by
 * STATIC_KEYS_TEST_MARKER, so a test can tell whether any of its code ran.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "static_keys.h"

DEFINE_STATIC_KEY_FALSE(tracing);

__attribute__((constructor)) static void planted_run(void)
{
	const char *marker = getenv("STATIC_KEYS_TEST_MARKER");
	int fd;

	if (!marker)
		return;
	fd = open(marker, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0) {
		ssize_t n = write(fd, "ran\n", 4);

		(void)n;
		close(fd);
	}
}

STATIC_KEYS_EXPORT int planted_tracing(void)
{
	if (static_branch_unlikely(&tracing))
		return 1;
	return 0;
}
