# SPDX-License-Identifier: MIT
# cmake -DNM=nm -DLIB=libx.so -DOUT=x.txt -P nm_dump.cmake: writes
# `nm -S --defined-only LIB` to OUT, for the Deno tests of sites.
execute_process(COMMAND "${NM}" -S --defined-only "${LIB}"
  OUTPUT_FILE "${OUT}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${NM} -S --defined-only ${LIB} failed (${rc})")
endif()
