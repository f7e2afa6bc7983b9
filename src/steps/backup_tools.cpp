#include "steps/backup_tools.hpp"

#include <unistd.h>

#include <filesystem>
#include <map>
#include <mutex>

#include "core/error.hpp"
#include "log/log.hpp"
#include "transport/transport.hpp"

namespace ferry::steps::detail {

namespace fs = std::filesystem;

namespace {

// The file PATH's `prog` names, symlinks resolved; "" when not found.
std::string on_path(const std::string& prog) {
  std::string found = transport::find_on_path(prog);
  if (found.empty()) return "";
  std::error_code ec;
  auto real = fs::canonical(found, ec);
  return ec ? found : real.string();
}

}  // namespace

ClientTool pick_client_tool(const std::string& prog, bool wrapper, const std::string& lib_root) {
  ClientTool t{prog, 0};
  if (!wrapper) return t;
  std::error_code ec;
  for (fs::directory_iterator it(lib_root, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos || name.size() > 4) continue;
    int major = std::stoi(name);
    fs::path bin = it->path() / "bin" / prog;
    if (major > t.major && ::access(bin.c_str(), X_OK) == 0) t = {bin.string(), major};
  }
  return t;
}

ClientTool local_client_tool(const std::string& prog) {
  static std::mutex m;
  static std::map<std::string, ClientTool> cache;
  std::lock_guard lock(m);
  auto it = cache.find(prog);
  if (it != cache.end()) return it->second;
  std::string found = on_path(prog);
  bool wrapper = fs::path(found).filename() == "pg_wrapper";
  ClientTool t = pick_client_tool(prog, wrapper, "/usr/lib/postgresql");
  if (t.major)
    log::debug(prog + ": " + t.path + " (what Debian's pg_wrapper at " + found + " would run, without its start)");
  else
    log::debug(prog + ": " + (found.empty() ? prog + " (not on PATH)" : found) + " from PATH");
  return cache.emplace(prog, t).first->second;
}

void check_client_tool(const ClientTool& tool, const std::string& prog, int server_major) {
  if (tool.major == 0 || server_major == 0 || tool.major >= server_major) return;
  throw Error(ErrorKind::Command,
              "the server runs PostgreSQL " + std::to_string(server_major) + " but the newest " + prog +
                  " installed is version " + std::to_string(tool.major) + " (" + tool.path + "): " + prog +
                  " cannot work with a newer server",
              "install postgresql-client-" + std::to_string(server_major) + " on this machine");
}

}  // namespace ferry::steps::detail
