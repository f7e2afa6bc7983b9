// Test support for the packaging tests (package, compose, Kubernetes examples): running a
// program by argv (never through a shell string), the build directory, and the podman
// images built from a fresh Debian 12 root. Header-only so the test target needs no change.
#pragma once
#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "support/fixtures.hpp"
#include "transport/transport.hpp"

namespace ferry::test::packaging {

inline Proc run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {},
                int timeout_s = 600, const std::string& cwd = "") {
  transport::LocalTransport t;
  transport::Command c;
  c.argv = argv;
  c.env = env;
  c.cwd = cwd;
  c.timeout = Millis(timeout_s * 1000LL);
  auto r = t.run(c);
  return Proc{r.exit_code, r.out, r.err};
}

inline std::string build_dir() { return std::filesystem::path(ferry_binary()).parent_path().string(); }

inline bool podman_usable() { return getuid() == 0 && run({"podman", "--version"}, {}, 30).code == 0; }

// True when the Debian mirror answers (the only registry these machines reach).
inline bool debian_mirror_reachable() {
  return run({"curl", "-fsS", "-o", "/dev/null", "--max-time", "15",
              "http://deb.debian.org/debian/dists/bookworm/Release"},
             {}, 30)
             .code == 0;
}

// localhost/ferry-debian12:base (packaging/debian-base.sh: debootstrap once, cached).
inline Proc debian_base_image() { return run({"bash", source_dir() + "/packaging/debian-base.sh"}); }

// Builds the .deb from the current build directory (cpack, stripped) into `out_dir`; returns
// the path of the .deb or "" (with the output in `log`).
inline std::string build_deb(const std::string& out_dir, std::string* log) {
  auto p =
      run({"cpack", "-G", "DEB", "-B", out_dir, "--config", build_dir() + "/CPackConfig.cmake"}, {}, 600, build_dir());
  *log = p.all();
  if (p.code != 0) return "";
  for (const auto& e : std::filesystem::directory_iterator(out_dir))
    if (e.path().extension() == ".deb") return e.path().string();
  return "";
}

// localhost/ferry:latest built by scripts/image.sh from this build directory: reused when its
// label names this build's binary (ctest runs each test in its own process), else built once
// per test process. Returns "" when it could not be built (`log` says why).
inline std::string ferry_image(std::string* log) {
  static Proc built = [] {
    auto sum = run({"sha256sum", ferry_binary()}).out.substr(0, 64);
    auto label = run({"podman", "image", "inspect", "--format", "{{index .Labels \"ferry.build-sha256\"}}",
                      "localhost/ferry:latest"},
                     {}, 60);
    if (label.code == 0 && label.out == sum + "\n") return Proc{0, "image: reused localhost/ferry:latest\n", ""};
    return run({"bash", source_dir() + "/scripts/image.sh", build_dir()}, {}, 1200);
  }();
  *log = built.all();
  return built.code == 0 ? "localhost/ferry:latest" : "";
}

// localhost/hostusr:1 (the host's /usr and /etc mounted read-only), as fixtures' Container makes it.
inline bool hostusr_image() { return Container().ok(); }

}  // namespace ferry::test::packaging
