# SPDX-License-Identifier: MIT
# The core as a user links it (docs/design.md, "Names"). A user links
# libstatic_keys_core.a into their own library, where os_init, err_str or
# update_patch may well be names of their own; so the archive holds one
# relocatable object, linked from the core's objects (`ld -r`), in which
# every name but the public API is local: the sources keep their own names
# (in gdb and nm too), and nothing internal can meet a user's name.
#
#   ELF, PE/COFF   <ld> -r, then <objcopy> --wildcard --keep-global-symbol=
#                  for static_key_* and static_keys_* (PE has no hidden
#                  visibility, so the list, not --localize-hidden); GNU
#                  binutils and llvm-objcopy alike
#   Mach-O         <ld> -r -exported_symbols_list <the same patterns>: Apple's
#                  ld makes every other global private, and -r turns private
#                  names into local ones (not built here: tests/macos_check.sh
#                  compiles the sources only)
#
# static_keys_core_library(<name> [TESTING] <sources>...): the core as the
# static library <name>. TESTING: an ordinary archive of the same objects,
# every name global, with the test hooks compiled in (os/test_hooks.h): for
# the C tests, never installed.
# static_keys_module_options(<target>): what a module that links the core
# compiles and links with (an INTERFACE target's usage requirements), for
# static_keys and the tests' static_keys_testing alike.
include_guard(GLOBAL)

# The public API: names a user's code calls or the loader finds.
set(STATIC_KEYS_PUBLIC_PATTERNS static_key_* static_keys_*)

function(_sk_core_compile target)
  static_keys_setup_target(${target})
  set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  target_include_directories(${target} PRIVATE "${PROJECT_SOURCE_DIR}/native")
  # mingw x86_64: no .refptr stubs (COMDAT sections named after a symbol,
  # which must not be localized); the core is one image's code anyway.
  if(WIN32 AND CMAKE_C_COMPILER_ID STREQUAL "GNU" AND CMAKE_SIZEOF_VOID_P EQUAL 8)
    target_compile_options(${target} PRIVATE -mcmodel=small)
  endif()
  # os_symbolize asks the loader (dladdr); glibc < 2.34 keeps it in libdl.
  target_link_libraries(${target} PUBLIC ${CMAKE_DL_LIBS})
endfunction()

function(static_keys_core_library name)
  cmake_parse_arguments(C "TESTING" "" "" ${ARGN})
  if(C_TESTING)
    add_library(${name} STATIC ${C_UNPARSED_ARGUMENTS})
    _sk_core_compile(${name})
    target_compile_definitions(${name} PRIVATE STATIC_KEYS_TEST_HOOKS)
    return()
  endif()

  add_library(${name}_objects OBJECT ${C_UNPARSED_ARGUMENTS})
  _sk_core_compile(${name}_objects)
  set(_obj "${CMAKE_CURRENT_BINARY_DIR}/${name}${CMAKE_C_OUTPUT_EXTENSION}")
  if(APPLE)
    set(_list "${CMAKE_CURRENT_BINARY_DIR}/${name}.exported")
    list(TRANSFORM STATIC_KEYS_PUBLIC_PATTERNS PREPEND "_" OUTPUT_VARIABLE _pats)
    string(REPLACE ";" "\n" _pats "${_pats}")
    file(WRITE "${_list}" "${_pats}\n")
    set(_link "${CMAKE_LINKER}" -r -exported_symbols_list "${_list}" -o "${_obj}")
    set(_localize "")
  else()
    if(NOT CMAKE_LINKER OR NOT CMAKE_OBJCOPY)
      message(FATAL_ERROR "The core needs a linker for `ld -r` and an objcopy "
        "(CMAKE_LINKER='${CMAKE_LINKER}', CMAKE_OBJCOPY='${CMAKE_OBJCOPY}'): "
        "install the toolchain's binutils, or set both in the toolchain file")
    endif()
    set(_link "${CMAKE_LINKER}" -r -o "${_obj}")
    # i686 PE spells C names with a leading underscore; `__*` are the
    # compiler's own (i686's __x86.get_pc_thunk.* sit in COMDAT groups,
    # which a local name would break), but for AddressSanitizer's ODR
    # indicators, named after each global (`__odr_asan.this_module`), which
    # would meet a user's global of the same name (a negated pattern wins)
    set(_keep --wildcard "--keep-global-symbol=!__odr_asan*")
    foreach(_p IN LISTS STATIC_KEYS_PUBLIC_PATTERNS ITEMS __*)
      list(APPEND _keep "--keep-global-symbol=${_p}" "--keep-global-symbol=_${_p}")
    endforeach()
    set(_localize COMMAND "${CMAKE_OBJCOPY}" ${_keep} "${_obj}")
  endif()
  add_custom_command(OUTPUT "${_obj}"
    COMMAND ${_link} "$<TARGET_OBJECTS:${name}_objects>"
    ${_localize}
    DEPENDS ${name}_objects "$<TARGET_OBJECTS:${name}_objects>"
    COMMENT "Linking the core into one object, public names only: ${name}${CMAKE_C_OUTPUT_EXTENSION}"
    COMMAND_EXPAND_LISTS VERBATIM)
  set_source_files_properties("${_obj}" PROPERTIES EXTERNAL_OBJECT ON GENERATED ON)
  add_library(${name} STATIC "${_obj}")
  set_target_properties(${name} PROPERTIES LINKER_LANGUAGE C)
  static_keys_setup_target(${name})
  target_link_libraries(${name} PUBLIC ${CMAKE_DL_LIBS})
endfunction()

function(static_keys_module_options target)
  # Every key refers to the link guard that only native/ffi.c defines
  # (static_keys.h), and "-u" names ffi.c's first function for a module with
  # no key yet; ffi.c calls into the rest. So every module exports the Deno
  # ABI, with the objects --whole-archive would link, and CMake 3.13
  # ($<LINK_LIBRARY> is 3.24). (The shipped archive is one object anyway.)
  if(APPLE OR (WIN32 AND CMAKE_SIZEOF_VOID_P EQUAL 4))
    set(_abi_symbol _static_keys_ffi_abi_version) # C names get a "_"
  else()
    set(_abi_symbol static_keys_ffi_abi_version)
  endif()
  target_link_options(${target} INTERFACE "LINKER:-u,${_abi_symbol}")
  # mingw GCC: sites must stay in .text (os/os_sections.h says why), and on
  # x86_64 an extern key must be a link-time constant for asm "i", not a
  # .refptr load (i686 has no .refptr and no -mcmodel=small).
  if(WIN32 AND CMAKE_C_COMPILER_ID STREQUAL "GNU")
    target_compile_options(${target} INTERFACE -fno-reorder-functions
      $<$<EQUAL:${CMAKE_SIZEOF_VOID_P},8>:-mcmodel=small>)
  endif()
  # PE/COFF has no SHF_GNU_RETAIN: --gc-sections would drop the entry section,
  # which nothing references. A later --no-gc-sections wins.
  target_link_options(${target} INTERFACE
    "$<$<PLATFORM_ID:Windows>:LINKER:--no-gc-sections>")
endfunction()
