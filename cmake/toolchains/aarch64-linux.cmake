# apt: gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
# requires: aarch64-linux-gnu-gcc qemu-aarch64
# SPDX-License-Identifier: MIT
# aarch64 Linux through the Debian cross compiler; ctest runs every test under
# qemu-user, with the cross sysroot as the dynamic loader's root (-L).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)

# Debian's cross gcc already knows its sysroot (/usr/aarch64-linux-gnu):
# no CMAKE_SYSROOT (--sysroot would look for usr/include under it); find_* look there.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# LD_LIBRARY_PATH keeps the guest's ld.so off the host's /etc/ld.so.cache,
# which can name a same-arch libc of another build (libc6-i386 in /lib32):
# mixing it with the sysroot's ld.so hangs the first pthread_create.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L /usr/aarch64-linux-gnu -E LD_LIBRARY_PATH=/usr/aarch64-linux-gnu/lib)
