/* SPDX-License-Identifier: MIT */
/*
 * unload_test.c - unloading a module releases what its strategy set up:
 * after dlclose of a plugin that chose alias, no mapping of its memfd is
 * left, its /proc/self/mem descriptor is closed, and its fork handlers are
 * gone (a fork() after dlclose would otherwise call unmapped code).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "static_keys.h"

typedef int32_t (*strategy_fn)(int32_t);
typedef int (*set_fn)(int);

/* Lines of /proc/self/maps naming the alias memfd. */
static int alias_mappings(void)
{
	return check_maps_lines("memfd:static-keys-text", NULL);
}

/* Open descriptors of this process onto /proc/<pid>/mem. */
static int mem_fds(void)
{
	char mine[64], path[300], target[128];
	struct dirent *d;
	DIR *dir = opendir("/proc/self/fd");
	int n = 0;

	if (!dir)
		return -1;
	snprintf(mine, sizeof mine, "/proc/%d/mem", (int)getpid());
	while ((d = readdir(dir))) {
		ssize_t len;

		snprintf(path, sizeof path, "/proc/self/fd/%s", d->d_name);
		len = readlink(path, target, sizeof target - 1);
		if (len > 0) {
			target[len] = '\0';
			n += !strcmp(target, mine);
		}
	}
	closedir(dir);
	return n;
}

int main(void)
{
	void *lib;
	strategy_fn set_strategy;
	set_fn set_feature;
	int fds, status = 0;
	pid_t pid;

	if (!check_prot_visible()) {
		printf("skipped: alias cannot be tested under an emulator\n");
		return 77;
	}
	CHECK("no alias yet", alias_mappings() == 0);
	fds = mem_fds();
	lib = dlopen(STATIC_KEYS_PLUGIN_PATH, RTLD_NOW | RTLD_LOCAL);
	CHECK("plugin loads", lib != NULL);
	if (!lib)
		return check_summary();
	set_strategy = (strategy_fn)dlsym(lib, "static_keys_ffi_set_strategy");
	set_feature = (set_fn)dlsym(lib, "plugin_set_feature");
	CHECK("plugin exports", set_strategy && set_feature);
	if (!set_strategy || !set_feature)
		return check_summary();

	CHECK("plugin flips with remap", set_feature(1) == 0);
	CHECK("plugin chooses alias", set_strategy(STATIC_KEYS_STRATEGY_ALIAS) == 0);
	CHECK("plugin flips with alias", set_feature(0) == 0);
	CHECK("the alias is mapped", alias_mappings() >= 2); /* r-x and rw- */
	CHECK("the plugin holds /proc/self/mem", mem_fds() == fds + 1);

	CHECK("dlclose", dlclose(lib) == 0);
	CHECK("no mapping of the memfd is left", alias_mappings() == 0);
	CHECK("its /proc/self/mem is closed", mem_fds() == fds);
	CHECK("never writable+executable", check_no_wx_mapping());

	/* The plugin's fork handlers went with it: fork() calls none of them. */
	pid = fork();
	if (pid == 0)
		_exit(0);
	CHECK("fork after dlclose", pid > 0 && waitpid(pid, &status, 0) == pid &&
					    WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return check_summary();
}
