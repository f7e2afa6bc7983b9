// What every ferry process pays before it does anything: libcurl (and the shared libraries it
// brings) is loaded only when ferry first makes an HTTP request (steps/curl_api.*), so
// `ferry status` and each member of a fleet run do not pay for it. Health probes and webhooks
// still work: SafeRun.*, Notify.*, CodeRollback.* use them through the loaded library.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <memory>
#include <string>

#include "support/fixtures.hpp"

using namespace ferry::test;

namespace {

std::string output_of(const std::string& command) {
  std::string out;
  std::unique_ptr<FILE, int (*)(FILE*)> p(popen(command.c_str(), "r"), pclose);
  if (!p) return out;
  std::array<char, 4096> buf{};
  size_t n = 0;
  while ((n = fread(buf.data(), 1, buf.size(), p.get())) > 0) out.append(buf.data(), n);
  return out;
}

TEST(Startup, TheBinaryDoesNotLoadLibcurlAtStart) {
  std::string needed = output_of("readelf -d '" + ferry_binary() + "' 2>&1");
  ASSERT_NE(needed.find("NEEDED"), std::string::npos) << needed;
  EXPECT_EQ(needed.find("libcurl"), std::string::npos) << needed;
  EXPECT_NE(needed.find("libpq"), std::string::npos) << needed;  // the others are still linked
}

// The C++ libraries and libstdc++ are inside the binary (CMakeLists.txt: a start ~5 ms sooner);
// the C libraries are shared.
TEST(Startup, TheCxxLibrariesAreLinkedInAndTheCLibrariesShared) {
  std::string needed = output_of("readelf -d '" + ferry_binary() + "' 2>&1");
  ASSERT_NE(needed.find("NEEDED"), std::string::npos) << needed;
  for (const char* lib : {"libstdc++", "libgcc_s", "libpqxx", "libyaml-cpp", "libspdlog", "libfmt", "libboost",
                          "libpg_query"})
    EXPECT_EQ(needed.find(lib), std::string::npos) << lib << " is a shared dependency:\n" << needed;
  for (const char* lib : {"libpq.so", "libssh2", "libzstd", "libcrypto"})
    EXPECT_NE(needed.find(lib), std::string::npos) << lib << " is not a shared dependency:\n" << needed;
}

TEST(Startup, TheLoadedLibrariesOfAVersionCallLackLibcurl) {
  // LD_DEBUG=libs lists every library the loader opens for the run
  std::string libs = output_of("LD_DEBUG=libs '" + ferry_binary() + "' --version 2>&1");
  ASSERT_NE(libs.find("libpq"), std::string::npos) << libs;
  EXPECT_EQ(libs.find("libcurl"), std::string::npos) << libs;
}

}  // namespace
