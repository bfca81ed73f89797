# apt: gcc-i686-linux-gnu libc6-dev-i386-cross qemu-user
# requires: i686-linux-gnu-gcc qemu-i386
# SPDX-License-Identifier: MIT
# i686 (x86, 32-bit) Linux through the Debian cross compiler (gcc-multilib
# conflicts with the other cross compilers on Debian 12, so no -m32); ctest
# runs every test under qemu-user, with the cross sysroot as the dynamic
# loader's root (-L).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR i686)
set(CMAKE_C_COMPILER i686-linux-gnu-gcc)

# Debian's cross gcc already knows its sysroot (/usr/i686-linux-gnu):
# no CMAKE_SYSROOT (--sysroot would look for usr/include under it); find_* look there.
set(CMAKE_FIND_ROOT_PATH /usr/i686-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# LD_LIBRARY_PATH keeps the guest's ld.so off the host's /etc/ld.so.cache,
# which can name a same-arch libc of another build (libc6-i386 in /lib32):
# mixing it with the sysroot's ld.so hangs the first pthread_create.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-i386 -L /usr/i686-linux-gnu -E LD_LIBRARY_PATH=/usr/i686-linux-gnu/lib)
