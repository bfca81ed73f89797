// SPDX-License-Identifier: MIT
// cxx_test_b.cpp - the second translation unit of cxx_test.
#include "cxx_inline.h"

#ifndef _WIN32
int cxx_inline_from_b() { return cxx_inline_branch(); }
#endif
