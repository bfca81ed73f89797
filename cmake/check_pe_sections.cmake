# SPDX-License-Identifier: MIT
# cmake -DOBJDUMP=<objdump> -DFILES=<a.exe|b.dll> [-DEXPORTS=<prefix|...>]
#       -P check_pe_sections.cmake
#
# The PE linker groups `.stks$b` between `.stks$a`/`.stks$c` only if the
# assembler kept the `$` (rust-lang/rust#128177: some parsers drop it and
# emit `.stksb`). Each image must hold non-empty `.stks` and `.stkt`
# sections and nothing else named `.stk*`. EXPORTS lists name prefixes the
# last file must export (the DLL's Deno ABI).
string(REPLACE "|" ";" FILES "${FILES}")
string(REPLACE "|" ";" EXPORTS "${EXPORTS}")
foreach(_f IN LISTS FILES)
  execute_process(COMMAND "${OBJDUMP}" -h "${_f}" OUTPUT_VARIABLE _out
                  RESULT_VARIABLE _rc)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "${OBJDUMP} -h ${_f} failed (${_rc})")
  endif()
  foreach(_sec .stks .stkt)
    if(NOT _out MATCHES " ${_sec} +0*[1-9a-f][0-9a-f]* ")
      message(FATAL_ERROR "${_f}: no non-empty ${_sec} section:\n${_out}")
    endif()
  endforeach()
  string(REGEX MATCHALL " \\.stk[^ ]*" _all "${_out}")
  foreach(_sec IN LISTS _all)
    if(NOT _sec MATCHES "^ \\.stk[st]$")
      message(FATAL_ERROR "${_f}: stray section '${_sec}' (a `$` was lost)")
    endif()
  endforeach()
  message(STATUS "${_f}: .stks and .stkt grouped")
endforeach()

if(EXPORTS)
  list(GET FILES -1 _dll)
  execute_process(COMMAND "${OBJDUMP}" -p "${_dll}" OUTPUT_VARIABLE _out)
  foreach(_prefix IN LISTS EXPORTS)
    if(NOT _out MATCHES "\\] ${_prefix}")
      message(FATAL_ERROR "${_dll} exports nothing named ${_prefix}*")
    endif()
  endforeach()
  message(STATUS "${_dll}: exports ${EXPORTS}")
endif()
