# SPDX-License-Identifier: MIT
# Shared target setup, in the spirit of {fmt}'s setup_target().
include(GNUInstallDirs)

# Every library and test gets the same treatment: C11 + GNU extensions
# (asm goto), warnings on, hidden visibility, both include trees.
function(static_keys_setup_target target)
  target_compile_features(${target} PUBLIC c_std_11)
  set_target_properties(${target} PROPERTIES
    C_EXTENSIONS ON C_VISIBILITY_PRESET hidden)
  if(CMAKE_C_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE -Wall -Wextra)
  endif()
  target_include_directories(${target} PUBLIC
    "$<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/native/include>"
    "$<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>"
    "$<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}/static_keys>")
endfunction()
