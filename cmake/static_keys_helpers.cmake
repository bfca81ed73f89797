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
  # STATIC_KEYS_SANITIZE: ASan + UBSan on every hosted target, with the
  # link flags made PUBLIC so whatever links a sanitized core links the
  # runtimes too. tests/freestanding sets _sk_no_sanitize: no libc there.
  if(STATIC_KEYS_SANITIZE AND NOT _sk_no_sanitize)
    set(_sk_san -fsanitize=address,undefined -fno-sanitize-recover=undefined
                -fno-omit-frame-pointer)
    target_compile_options(${target} PRIVATE ${_sk_san})
    target_link_options(${target} PUBLIC ${_sk_san})
  endif()
  target_include_directories(${target} PUBLIC
    "$<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/native/include>"
    "$<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>"
    "$<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}/static_keys>")
endfunction()
