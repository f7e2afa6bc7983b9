# Installed like a real tool: `--version` text, install() rules, the man page, completions and
# the .deb (CPack). Included once from the top-level CMakeLists.txt, after the ferry target.

# --- `ferry --version`: regenerated at every build, rewritten only when the text changes.
set(FERRY_VERSION_HEADER "${CMAKE_BINARY_DIR}/generated/ferry_version.hpp")
add_custom_target(ferry_version_header
  COMMAND "${CMAKE_COMMAND}" -DSOURCE_DIR=${CMAKE_SOURCE_DIR} -DVERSION=${PROJECT_VERSION}
          -DOUT=${FERRY_VERSION_HEADER} -P ${CMAKE_SOURCE_DIR}/cmake/ferry_version.cmake
  BYPRODUCTS "${FERRY_VERSION_HEADER}"
  COMMENT "" VERBATIM)
add_dependencies(libferry ferry_version_header)
# Only main.cpp includes it (a per-file property: the other files' flags stay as they are).
set_source_files_properties(src/cli/main.cpp PROPERTIES INCLUDE_DIRECTORIES "${CMAKE_BINARY_DIR}/generated")

# The packaging tests compare `ferry --version` with the project's version.
set_source_files_properties(tests/integration/package_test.cpp PROPERTIES
  COMPILE_DEFINITIONS "FERRY_PROJECT_VERSION=\"${PROJECT_VERSION}\"")
