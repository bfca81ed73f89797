# SPDX-License-Identifier: MIT
# Runs tests/gdb_test.c under gdb in batch mode, as the debugger section of
# docs/concurrency.md tells a user to, and checks what gdb reports.
#   cmake -DGDB=gdb -DEXE=<gdb_test> -DMODE=signal|continue|breakpoint
#         -DDIR=<scratch dir> -P gdb_test.cmake
#
#   signal      a thread that meets the protocol's breakpoint stops with
#               SIGTRAP; `signal SIGTRAP` resumes it: the program ends well
#   continue    `continue` resumes it without the signal, mid-instruction:
#               the program faults (SIGILL or SIGSEGV); why the docs say so
#   breakpoint  `break *site` before init (gdb_test.c says what follows)

if(NOT GDB OR GDB MATCHES "NOTFOUND$")
  # CI installs it (cmake/host.requires); elsewhere the test skips
  message("SKIPPED: gdb is not installed")
  return()
endif()
set(script "${DIR}/gdb_test_${MODE}.gdb")
set(common "set pagination off\nset confirm off\n")
if(MODE STREQUAL "signal" OR MODE STREQUAL "continue")
  set(arg trap)
  if(MODE STREQUAL "signal")
    set(resume "signal SIGTRAP")
  else()
    set(resume "continue")
  endif()
  # resume as long as the program stops with SIGTRAP
  file(WRITE "${script}" "${common}run\n"
    "while $_isvoid($_exitcode) && $_siginfo.si_signo == 5\n"
    "  ${resume}\nend\n")
elseif(MODE STREQUAL "breakpoint")
  set(arg breakpoint)
  file(WRITE "${script}" "${common}break gdb_ready\nrun\n"
    "eval \"break *0x%lx\", *(unsigned long *)&gdb_site\n"
    "while $_isvoid($_exitcode)\n  continue\nend\n")
else()
  message(FATAL_ERROR "MODE must be signal, continue or breakpoint")
endif()

# LeakSanitizer cannot run under ptrace: in the asan build it would end the
# program with an error of its own at exit, whatever the protocol did
if("$ENV{ASAN_OPTIONS}" STREQUAL "")
  set(ENV{ASAN_OPTIONS} "detect_leaks=0")
else()
  set(ENV{ASAN_OPTIONS} "$ENV{ASAN_OPTIONS}:detect_leaks=0")
endif()
execute_process(COMMAND "${GDB}" -batch -nx -x "${script}" --args "${EXE}" ${arg}
  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc TIMEOUT 300)
set(all "${out}${err}")
message("${all}")
if(all MATCHES "skipped: no breakpoint protocol")
  message("SKIPPED")
  return()
endif()

if(MODE STREQUAL "signal")
  if(NOT all MATCHES "received signal SIGTRAP")
    message(FATAL_ERROR "gdb never stopped at the protocol's breakpoint")
  endif()
  if(NOT all MATCHES "exited normally")
    message(FATAL_ERROR "with `signal SIGTRAP` the program did not end well")
  endif()
elseif(MODE STREQUAL "continue")
  if(NOT all MATCHES "received signal SIGTRAP")
    message(FATAL_ERROR "gdb never stopped at the protocol's breakpoint")
  endif()
  if(NOT all MATCHES "received signal SIG(ILL|SEGV)")
    message(FATAL_ERROR "`continue` was expected to resume mid-instruction and crash")
  endif()
else()
  if(NOT all MATCHES "Breakpoint 2, " OR NOT all MATCHES "exited normally")
    message(FATAL_ERROR "gdb's breakpoint on the site was not hit, or the program failed")
  endif()
endif()
