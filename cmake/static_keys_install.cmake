# SPDX-License-Identifier: MIT
# Install the headers, the core, the default module, a CMake package and a
# pkg-config file, so a user's dylib gets static keys with find_package + one
# link line, with pkg-config, or with a plain compiler line:
#
#   find_package(StaticKeys CONFIG REQUIRED)
#   target_link_libraries(mylib PRIVATE StaticKeys::static_keys)
#
#   cc -shared -fPIC mylib.c $(pkg-config --cflags --libs static-keys)
#
# <prefix>/include/static_keys/ holds static_keys.h and the os/ and arch/
# headers it includes by relative path, so -I<prefix>/include/static_keys.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(_sk_cmake_dir "${CMAKE_INSTALL_LIBDIR}/cmake/StaticKeys")
set(_sk_inc "${CMAKE_INSTALL_INCLUDEDIR}/static_keys")

install(FILES native/include/static_keys.h DESTINATION "${_sk_inc}")
install(FILES os/os_sections.h DESTINATION "${_sk_inc}/os")
install(DIRECTORY arch/ DESTINATION "${_sk_inc}/arch" FILES_MATCHING PATTERN "*.h")
# The version script fragment: StaticKeys_VERSION_SCRIPT in the CMake
# package, the variable versionscript in the pkg-config file.
set(_sk_share "${CMAKE_INSTALL_DATADIR}/static-keys")
install(FILES cmake/static_keys.map DESTINATION "${_sk_share}")

set(_sk_targets static_keys_core static_keys)
if(TARGET static_keys_module)
  list(APPEND _sk_targets static_keys_module)
endif()
install(TARGETS ${_sk_targets} EXPORT StaticKeysTargets
  ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}"
  LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}"
  RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}")
install(EXPORT StaticKeysTargets NAMESPACE StaticKeys::
  FILE StaticKeysTargets.cmake DESTINATION "${_sk_cmake_dir}")
# For add_subdirectory / FetchContent users.
export(EXPORT StaticKeysTargets NAMESPACE StaticKeys::
  FILE "${PROJECT_BINARY_DIR}/StaticKeysTargets.cmake")

configure_package_config_file(cmake/StaticKeysConfig.cmake.in
  "${PROJECT_BINARY_DIR}/StaticKeysConfig.cmake"
  INSTALL_DESTINATION "${_sk_cmake_dir}" PATH_VARS _sk_share)
write_basic_package_version_file(
  "${PROJECT_BINARY_DIR}/StaticKeysConfigVersion.cmake"
  COMPATIBILITY SameMinorVersion)
install(FILES "${PROJECT_BINARY_DIR}/StaticKeysConfig.cmake"
  "${PROJECT_BINARY_DIR}/StaticKeysConfigVersion.cmake"
  DESTINATION "${_sk_cmake_dir}")

# pkg-config: paths relative to the .pc file, so `--prefix` at install time
# works as well as CMAKE_INSTALL_PREFIX at configure time. Plain archive
# linking is enough: every key refers to the link guard in native/ffi.c.
set(_sk_pc_dir "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}" OR IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}"
   OR IS_ABSOLUTE "${CMAKE_INSTALL_DATADIR}")
  set(_sk_pc_up "")
  set(_sk_pc_libdir "${CMAKE_INSTALL_FULL_LIBDIR}")
  set(_sk_pc_includedir "${CMAKE_INSTALL_FULL_INCLUDEDIR}")
  set(_sk_pc_datadir "${CMAKE_INSTALL_FULL_DATADIR}")
else()
  file(RELATIVE_PATH _sk_pc_up "/root/${_sk_pc_dir}" "/root")
  string(REGEX REPLACE "/$" "" _sk_pc_up "${_sk_pc_up}")
  set(_sk_pc_libdir "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
  set(_sk_pc_includedir "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
  set(_sk_pc_datadir "\${prefix}/${CMAKE_INSTALL_DATADIR}")
endif()
# The same flags as the StaticKeys::static_keys target (CMakeLists.txt).
set(_sk_pc_cflags "")
set(_sk_pc_libs "")
if(WIN32 AND CMAKE_C_COMPILER_ID STREQUAL "GNU")
  string(APPEND _sk_pc_cflags " -fno-reorder-functions")
  if(CMAKE_SIZEOF_VOID_P EQUAL 8)
    string(APPEND _sk_pc_cflags " -mcmodel=small")
  endif()
endif()
if(WIN32)
  string(APPEND _sk_pc_libs " -Wl,--no-gc-sections")
endif()
configure_file(cmake/static-keys.pc.in "${PROJECT_BINARY_DIR}/static-keys.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/static-keys.pc" DESTINATION "${_sk_pc_dir}")
