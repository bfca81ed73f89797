# apt: mingw-w64 wine wine64
# requires: x86_64-w64-mingw32-gcc wine x86_64-w64-mingw32-g++ x86_64-w64-mingw32-windres
# SPDX-License-Identifier: MIT
# Windows x86_64 (PE/COFF) with mingw-w64; tests run under wine through
# cmake/wine-run.sh (a throwaway, headless WINEPREFIX).
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

set(_sk_triple x86_64-w64-mingw32)
set(CMAKE_C_COMPILER ${_sk_triple}-gcc)
set(CMAKE_CXX_COMPILER ${_sk_triple}-g++)
set(CMAKE_RC_COMPILER ${_sk_triple}-windres)
set(CMAKE_FIND_ROOT_PATH /usr/${_sk_triple})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)

# libgcc and winpthread linked in, so wine needs no mingw DLL at run time.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")
set(CMAKE_SHARED_LINKER_FLAGS_INIT "-static")
set(CMAKE_MODULE_LINKER_FLAGS_INIT "-static")

set(CMAKE_CROSSCOMPILING_EMULATOR "${CMAKE_CURRENT_LIST_DIR}/../wine-run.sh")
