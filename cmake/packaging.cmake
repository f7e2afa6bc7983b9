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

# --- The man page, from the built binary's help texts (help2man), at build time.
find_program(HELP2MAN help2man)
set(FERRY_MAN_PAGE "${CMAKE_BINARY_DIR}/ferry.1")
if(HELP2MAN)
  add_custom_command(OUTPUT "${FERRY_MAN_PAGE}"
    COMMAND bash "${CMAKE_SOURCE_DIR}/packaging/man.sh" "$<TARGET_FILE:ferry>" "${FERRY_MAN_PAGE}"
    DEPENDS ferry "${CMAKE_SOURCE_DIR}/packaging/man.sh" "${CMAKE_SOURCE_DIR}/packaging/man-extra.h2m"
    COMMENT "Generating ferry.1 with help2man" VERBATIM)
  add_custom_command(OUTPUT "${FERRY_MAN_PAGE}.gz"
    COMMAND sh -c "gzip -9 -n -c \"$1\" > \"$1.gz\"" _ "${FERRY_MAN_PAGE}"
    DEPENDS "${FERRY_MAN_PAGE}" VERBATIM)
  add_custom_target(ferry_man ALL DEPENDS "${FERRY_MAN_PAGE}" "${FERRY_MAN_PAGE}.gz")
else()
  message(WARNING "help2man not found: no man page (scripts/install-deps.sh installs it)")
endif()

# --- Completions: one candidate function (candidates.sh, portable bash/zsh) + a wrapper each.
set(completion_dir "${CMAKE_SOURCE_DIR}/packaging/completions")
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
  "${completion_dir}/candidates.sh" "${completion_dir}/ferry.bash" "${completion_dir}/_ferry.zsh")
file(READ "${completion_dir}/candidates.sh" candidates)
file(READ "${completion_dir}/ferry.bash" bash_wrapper)
file(READ "${completion_dir}/_ferry.zsh" zsh_wrapper)
file(WRITE "${CMAKE_BINARY_DIR}/completions/ferry" "${candidates}\n${bash_wrapper}")
file(WRITE "${CMAKE_BINARY_DIR}/completions/_ferry" "#compdef ferry\n${candidates}\n${zsh_wrapper}")

# --- install(): what `cmake --install` and the .deb carry.
include(GNUInstallDirs)
install(TARGETS ferry RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
if(HELP2MAN)
  install(FILES "${FERRY_MAN_PAGE}.gz" DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
endif()
install(FILES "${CMAKE_BINARY_DIR}/completions/ferry" DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions)
install(FILES "${CMAKE_BINARY_DIR}/completions/_ferry" DESTINATION ${CMAKE_INSTALL_DATADIR}/zsh/vendor-completions)
install(FILES README.md ARCHITECTURE.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
# The licence notices of the libraries linked into the binary (CMakeLists.txt), from the Debian
# copyright files of the packages their archives came from.
set(FERRY_NOTICES "${CMAKE_BINARY_DIR}/THIRD_PARTY_NOTICES")
string(CONCAT notices "ferry's binary contains code of the libraries below, linked from their static archives.\n"
            "Their licences and notices follow, as Debian's packages of them state them.\n\n"
            "Boost.Filesystem 1.74: Boost Software License 1.0 (no notice required in binary form).\n"
            "libstdc++ and libgcc (GCC 12): GPL 3 with the GCC Runtime Library Exception 3.1.\n")
foreach(pkg libpqxx-dev libyaml-cpp-dev libspdlog-dev libfmt-dev libpg-query-dev)
  set(copyright "/usr/share/doc/${pkg}/copyright")
  if(EXISTS "${copyright}")
    file(READ "${copyright}" text)
    string(APPEND notices "\n==== ${pkg} (${copyright}) ====\n${text}")
  else()
    string(APPEND notices "\n==== ${pkg}: its copyright file ${copyright} was not found at build time ====\n")
  endif()
endforeach()
file(WRITE "${FERRY_NOTICES}" "${notices}")
install(FILES "${FERRY_NOTICES}" DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/docs)
install(DIRECTORY examples/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples
        PATTERN "__pycache__" EXCLUDE PATTERN "*.pyc" EXCLUDE)
install(DIRECTORY environments playbooks migrations DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples/project)

# --- The .deb: stripped binary, Depends from the linked libraries (dpkg-shlibdeps) plus the
# programs ferry runs (grep src/ for them: pg_dump/pg_restore/psql, zstd, bash, coreutils'
# tee/sha256sum/stat/mkfifo, find). Build it with packaging/deb.sh (a Release build) or
# `cpack -G DEB` in any build directory.
set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "ferry")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_CONTACT "ferry maintainers <ferry@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "PostgreSQL schema migrations dev -> staging -> production, with proven rollback")
set(CPACK_PACKAGE_INSTALL_DIRECTORY "/usr")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_STRIP_FILES TRUE)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION "database")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libcurl4, postgresql-client, zstd, bash, coreutils, findutils")  # libcurl4: dlopen()ed, unseen by dpkg-shlibdeps
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "alembic, podman | docker.io, kubernetes-client, bash-completion")
include(CPack)

# The packaging tests compare `ferry --version` with the project's version.
set_source_files_properties(tests/integration/package_test.cpp PROPERTIES
  COMPILE_DEFINITIONS "FERRY_PROJECT_VERSION=\"${PROJECT_VERSION}\"")
