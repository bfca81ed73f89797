# SPDX-License-Identifier: MIT
# cmake -DNM=<nm> -DARCHIVE=<lib.a> [-DWEAK_OK=a,b] -P this-file
#
# Fails when ARCHIVE leaves a symbol undefined that none of its members
# defines: the freestanding core must link with nothing else. The only
# exception is a weak undefined symbol listed in WEAK_OK (the section
# bounds the linker or the embedder's script defines; see os/none.c).
if(NOT NM OR NOT ARCHIVE)
  message(FATAL_ERROR "usage: cmake -DNM=<nm> -DARCHIVE=<lib.a> [-DWEAK_OK=a,b] -P ${CMAKE_CURRENT_LIST_FILE}")
endif()

cmake_policy(VERSION 3.13...3.28)
string(REPLACE "," ";" WEAK_OK "${WEAK_OK}")

# nm lines: "<value> <type> <name>" (defined) or "<pad> <type> <name>"
function(_nm_symbols out_var)
  execute_process(COMMAND "${NM}" ${ARGN} "${ARCHIVE}"
    OUTPUT_VARIABLE _text RESULT_VARIABLE _rc)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "${NM} ${ARGN} ${ARCHIVE} failed (${_rc})")
  endif()
  string(REPLACE "\n" ";" _lines "${_text}")
  set(_syms "")
  foreach(_l IN LISTS _lines)
    if(_l MATCHES "^[0-9a-fA-F ]* ([A-Za-z]) ([^ ]+)$")
      list(APPEND _syms "${CMAKE_MATCH_1}:${CMAKE_MATCH_2}")
    endif()
  endforeach()
  set(${out_var} "${_syms}" PARENT_SCOPE)
endfunction()

_nm_symbols(_all)
set(_defined "")
set(_undefined "")
foreach(_s IN LISTS _all)
  string(SUBSTRING "${_s}" 0 1 _type)
  string(SUBSTRING "${_s}" 2 -1 _name)
  if(_type MATCHES "^[Uwv]$")
    list(APPEND _undefined "${_type}:${_name}")
  else()
    list(APPEND _defined "${_name}")
  endif()
endforeach()

set(_missing "")
set(_weak "")
foreach(_s IN LISTS _undefined)
  string(SUBSTRING "${_s}" 0 1 _type)
  string(SUBSTRING "${_s}" 2 -1 _name)
  if(_name IN_LIST _defined)
    continue()
  elseif(NOT _type STREQUAL "U" AND _name IN_LIST WEAK_OK)
    list(APPEND _weak "${_name}")
  else()
    list(APPEND _missing "${_type} ${_name}")
  endif()
endforeach()
list(REMOVE_DUPLICATES _missing)
list(REMOVE_DUPLICATES _weak)

if(_missing)
  list(JOIN _missing ", " _missing)
  message(FATAL_ERROR "${ARCHIVE} needs symbols from outside: ${_missing}")
endif()
list(JOIN _weak ", " _weak)
message("undefined symbols: none; weak, from the linker: ${_weak}")
