/* SPDX-License-Identifier: MIT */
/*
 * junk_keys_test.c - a module without sites and with junk in its key
 * section (junk_keys.c), driven through the Deno ABI as open() does:
 * init is refused with EINIT naming the record, and no call reads the junk
 * name (it points at an unmapped page: a read would crash the test).
 */
#include "check.h"
#include "plat.h"

typedef int32_t (*count_fn)(void);
typedef const char *(*name_fn)(uint32_t);
typedef int32_t (*find_fn)(const char *);
typedef const char *(*err_fn)(void);

int main(void)
{
	void *lib = plat_lib_open(STATIC_KEYS_JUNK_PATH);
	count_fn count;
	name_fn name;
	find_fn find;
	err_fn last;
	const char *err;

	CHECK("the junk module loads", lib != NULL);
	if (!lib)
		return check_summary();
	count = (count_fn)plat_lib_sym(lib, "static_keys_ffi_key_count");
	name = (name_fn)plat_lib_sym(lib, "static_keys_ffi_key_name");
	find = (find_fn)plat_lib_sym(lib, "static_keys_ffi_find");
	last = (err_fn)plat_lib_sym(lib, "static_keys_ffi_last_error");
	CHECK("it exports the Deno ABI", count && name && find && last);
	if (!count || !name || !find || !last)
		return check_summary();
	CHECK("the key count is EINIT", count() == STATIC_KEYS_EINIT);
	err = last();
	printf("last error: %s\n", err);
	CHECK("the text names the record",
	      strstr(err, "Cannot init module: key record 0 at 0x") != NULL);
	CHECK("and says what is wrong with it",
	      strstr(err, "has a name that is not a string in this module") != NULL);
	CHECK("no name is handed out", name(0) == NULL);
	CHECK("no key is found", find("anything") == STATIC_KEYS_ENOKEY);
	plat_lib_close(lib);
	return check_summary();
}
