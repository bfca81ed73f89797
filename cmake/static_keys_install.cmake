# SPDX-License-Identifier: MIT
# Install the headers, the core, the default module and a CMake package, so
# a user's dylib gets static keys with find_package + one link line:
#
#   find_package(StaticKeys CONFIG REQUIRED)
#   target_link_libraries(mylib PRIVATE StaticKeys::static_keys)
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(_sk_cmake_dir "${CMAKE_INSTALL_LIBDIR}/cmake/StaticKeys")
set(_sk_inc "${CMAKE_INSTALL_INCLUDEDIR}/static_keys")

install(FILES native/include/static_keys.h DESTINATION "${_sk_inc}")
install(FILES os/os_sections.h DESTINATION "${_sk_inc}/os")
install(DIRECTORY arch/ DESTINATION "${_sk_inc}/arch" FILES_MATCHING PATTERN "*.h")

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
  INSTALL_DESTINATION "${_sk_cmake_dir}")
write_basic_package_version_file(
  "${PROJECT_BINARY_DIR}/StaticKeysConfigVersion.cmake"
  COMPATIBILITY SameMinorVersion)
install(FILES "${PROJECT_BINARY_DIR}/StaticKeysConfig.cmake"
  "${PROJECT_BINARY_DIR}/StaticKeysConfigVersion.cmake"
  DESTINATION "${_sk_cmake_dir}")
