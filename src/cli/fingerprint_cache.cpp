#include "cli/fingerprint_cache.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>

#include "core/text.hpp"
#include "db/introspect.hpp"
#include "log/log.hpp"

namespace fs = std::filesystem;

namespace ferry::cli {

namespace {

constexpr const char* k_header = "ferry fingerprint cache 1";

struct Entry {
  std::string signature;
  std::string fingerprint;
  bool confirmed = false;  // computed twice, with the same result
};

bool is_hex64(const std::string& s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

// The entry, or nothing when the file is missing, not ours, or damaged.
std::optional<Entry> read_entry(const fs::path& path) {
  std::ifstream in(path);
  std::string header, confirmed;
  Entry e;
  if (!std::getline(in, header) || header != k_header || !std::getline(in, e.signature) ||
      !std::getline(in, e.fingerprint) || !std::getline(in, confirmed) || !is_hex64(e.fingerprint) ||
      (confirmed != "0" && confirmed != "1"))
    return std::nullopt;
  e.confirmed = confirmed == "1";
  return e;
}

// Best effort, never throws: a private directory, a private file, renamed into place whole.
void write_entry(const fs::path& path, const Entry& e) {
  ::mkdir(path.parent_path().parent_path().c_str(), 0700);  // the state directory, when it is new
  ::mkdir(path.parent_path().c_str(), 0700);
  std::string tmp = path.string() + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    log::debug("fingerprint cache: cannot write " + tmp + "; not remembered");
    return;
  }
  std::string text = std::string(k_header) + "\n" + e.signature + "\n" + e.fingerprint + "\n" +
                     (e.confirmed ? "1" : "0") + "\n";
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = ::close(fd) == 0 && ok;
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    log::debug("fingerprint cache: cannot write " + path.string() + "; not remembered");
  }
}

}  // namespace

Fingerprint status_fingerprint(db::Connection& conn, const std::string& state_dir, const std::string& key) {
  fs::path path = fs::path(state_dir) / "fingerprints" / sha256_hex(key).substr(0, 32);
  auto entry = read_entry(path);
  if (!entry) {  // a first witness; any signature read near it will do, only a bracketed run confirms
    std::string fp = db::schema_fingerprint(conn);
    write_entry(path, {db::catalog_signature(conn), fp, false});
    return {fp, false};
  }
  std::string before = db::catalog_signature(conn);
  if (entry->confirmed && entry->signature == before) {
    log::debug("fingerprint: remembered (the catalogs' signature is unchanged since it was computed, twice)");
    return {entry->fingerprint, true};
  }
  std::string fp = db::schema_fingerprint(conn);
  if (entry->signature == before && entry->fingerprint == fp) {
    // The second witness: remembered only when nothing committed while it was computed.
    if (db::catalog_signature(conn) == before) write_entry(path, {before, fp, true});
  } else {
    write_entry(path, {before, fp, false});  // a first witness: never shown until another agrees
  }
  return {fp, false};
}

}  // namespace ferry::cli
