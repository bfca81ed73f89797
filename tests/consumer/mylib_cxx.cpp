// SPDX-License-Identifier: MIT
// mylib_cxx.cpp - examples/mylib as a C++ library: a key in a namespace, a
// branch in a member function, the entry point exported with C linkage.
#include <static_keys.h>

namespace mylib {
DEFINE_STATIC_KEY_FALSE(fast_path);

class Computer {
public:
	int compute() const;
};

int Computer::compute() const
{
	return static_branch_unlikely(&fast_path) ? 2 : 1;
}
} // namespace mylib

// 2 on the fast path, 1 otherwise.
extern "C" STATIC_KEYS_EXPORT int mylib_cxx_compute(void)
{
	return mylib::Computer().compute();
}
