// SPDX-License-Identifier: MIT
// cxx_inline.h - a site in an inline function that two C++ translation
// units emit: the linker keeps one copy of the function and, with it, one
// copy of its entries (ELF groups; PE/COFF keeps sites out of COMDAT code).
#include <static_keys.h>

DECLARE_STATIC_KEY_FALSE(cxx_inline_key);

// noinline: each unit keeps its out-of-line copy for the linker to merge.
inline __attribute__((noinline)) int cxx_inline_branch()
{
	return static_branch_unlikely(&cxx_inline_key) ? 2 : 1;
}

int cxx_inline_from_b(); // cxx_test_b.cpp's call of cxx_inline_branch()
