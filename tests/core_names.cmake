# SPDX-License-Identifier: MIT
# core_names_test: every global name libstatic_keys_core.a defines is the
# public API (static_key_*, static_keys_*): the internals are local to the
# archive's one object (cmake/static_keys_core_object.cmake), so that a
# user's library linking the archive keeps every other name, os_init and
# err_str included (docs/design.md, "Names").
#   cmake -DNM=<nm> -DARCHIVE=<libstatic_keys_core.a> -P core_names.cmake
execute_process(COMMAND "${NM}" -g --defined-only "${ARCHIVE}"
  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${NM} -g --defined-only ${ARCHIVE} failed (${rc}): ${err}")
endif()
string(REPLACE "\n" ";" lines "${out}")
set(count 0)
set(outside "")
foreach(line IN LISTS lines)
  # "<address> <type> <name>"; members' headers and blank lines have no type
  if(NOT line MATCHES "^[0-9a-fA-F]+ [A-Za-z] (.+)$")
    continue()
  endif()
  set(name "${CMAKE_MATCH_1}")
  math(EXPR count "${count} + 1")
  # Mach-O's leading underscore; mingw's pointer stubs (.refptr.<name>)
  string(REGEX REPLACE "^_" "" bare "${name}")
  string(REGEX REPLACE "^\\.refptr\\." "" bare "${bare}")
  # a name no C identifier can spell (i686's __x86.get_pc_thunk.bx) or one
  # reserved to the implementation cannot meet a user's name
  if(NOT bare MATCHES "^[A-Za-z_][A-Za-z0-9_]*$" OR bare MATCHES "^_")
    continue()
  endif()
  if(NOT bare MATCHES "^static_keys?_")
    list(APPEND outside "${name}")
  endif()
endforeach()
if(count EQUAL 0)
  message(FATAL_ERROR "${NM} found no global name in ${ARCHIVE}: is it the core archive?")
endif()
if(outside)
  list(JOIN outside ", " outside)
  message(FATAL_ERROR "libstatic_keys_core.a defines global names outside the "
    "public API: ${outside}. A user's library that links the archive and has "
    "a function of the same name fails to link: the archive's object must "
    "keep only static_key_* and static_keys_* global (STATIC_KEYS_PUBLIC_PATTERNS "
    "in cmake/static_keys_core_object.cmake); give a public name one of those "
    "prefixes.")
endif()
message(STATUS "${count} global names, all static_key_*/static_keys_*")
