# apt: clang-16 llvm-16 lld-19 qemu-user
# requires: clang-16 ld.lld-19 llvm-ar-16 llvm-ranlib-16 llvm-nm-16 llvm-objcopy-16 qemu-loongarch64
# SPDX-License-Identifier: MIT
#
# loongarch64, freestanding (os/none.c), run under qemu-user:
#
#   cmake -S . -B build/loongarch64-none --toolchain cmake/toolchains/loongarch64-none.cmake
#   cmake --build build/loongarch64-none
#   ctest --test-dir build/loongarch64-none --output-on-failure
#
# No loongarch64 libc or gcc is needed: clang-16 compiles with
# -ffreestanding, ld.lld-19 links static -nostdlib images (lld-16 has no
# loongarch emulation), and the tests bring their own _start and syscalls
# (tests/freestanding/check_fs.h). The tests link with -N, so their text is
# writable, which is what os/none.c asks of an embedder.
set(CMAKE_SYSTEM_NAME Generic) # no OS layer but none.c: STATIC_KEYS_OS=none
set(CMAKE_SYSTEM_PROCESSOR loongarch64)
set(STATIC_KEYS_OS none CACHE STRING "OS layer" FORCE)

set(_sk_target loongarch64-unknown-linux-gnu)
set(CMAKE_C_COMPILER clang-16)
set(CMAKE_C_COMPILER_TARGET ${_sk_target})
set(CMAKE_C_FLAGS_INIT "-ffreestanding")
find_program(_sk_lld NAMES ld.lld-19 REQUIRED)
set(CMAKE_EXE_LINKER_FLAGS_INIT "--ld-path=${_sk_lld} -nostdlib -static")
find_program(CMAKE_AR NAMES llvm-ar-16 REQUIRED)
find_program(CMAKE_RANLIB NAMES llvm-ranlib-16 REQUIRED)
find_program(CMAKE_NM NAMES llvm-nm-16 REQUIRED)
# the core's one relocatable object (cmake/static_keys_core_object.cmake)
set(CMAKE_LINKER ${_sk_lld})
find_program(CMAKE_OBJCOPY NAMES llvm-objcopy-16 REQUIRED)

# Compiler checks build a static library: there is no libc to link against.
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)

find_program(_sk_qemu NAMES qemu-loongarch64 REQUIRED)
set(CMAKE_CROSSCOMPILING_EMULATOR ${_sk_qemu})

set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
