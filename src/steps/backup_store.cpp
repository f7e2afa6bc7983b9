// The backups of one environment under backup.dir: sidecars read strictly (one bad sidecar is
// skipped with a warning, never a crash), paths built from backup.dir and a validated ID
// (never from a sidecar's `file`), retention, and the sha256 check before a restore.
#include <time.h>

#include <algorithm>
#include <ctime>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <tuple>

#include "core/text.hpp"
#include "steps/backup.hpp"
#include "steps/backup_internal.hpp"
#include "steps/backup_pins.hpp"
#include "steps/write_counters.hpp"

namespace ferry::steps {

using nlohmann::json;

namespace detail {

std::string backup_file_path(const std::string& dir, const std::string& id, const std::string& format,
                             const std::string& compression) {
  if (format == "directory") return dir + "/" + id + ".dir";
  if (format != "custom") return "";
  if (compression == "zstd") return dir + "/" + id + ".dump.zst";
  if (compression == "pg_dump") return dir + "/" + id + ".dump";
  return "";
}

std::string sha256_check_script(const std::string& format) {
  std::string sum = format == "directory" ? "cd \"$f\" && find . -type f | LC_ALL=C sort | xargs cat | sha256sum"
                                          : "sha256sum -- \"$f\"";
  return "[ -L \"$f\" ] && { echo \"backup file $f is a symbolic link; ferry restores only what is in backup.dir\" "
         ">&2; exit 65; }\n"
         "[ -e \"$f\" ] || { echo \"backup file $f is missing\" >&2; exit 66; }\n"
         "sum=$(" +
         sum +
         " | cut -c1-64); [ \"$sum\" = \"$2\" ] || { echo \"backup file $f does not match its sha256 (found $sum)\" "
         ">&2; exit 65; }\n";
}

}  // namespace detail

bool valid_backup_id(const std::string& env_name, const std::string& id) {
  static const std::regex k_rest("[0-9]{8}T[0-9]{6}Z-[0-9a-f]{4}");
  if (env_name.empty() || id.size() <= env_name.size() + 1 || id.compare(0, env_name.size(), env_name) != 0 ||
      id[env_name.size()] != '-')
    return false;
  return id.find('/') == std::string::npos && std::regex_match(id.substr(env_name.size() + 1), k_rest);
}

namespace {

using namespace detail;

BackupMeta meta_from_json(const json& j) {
  BackupMeta m;
  m.id = j.value("id", "");
  m.environment = j.value("environment", "");
  m.time = j.value("time", "");
  m.file = j.value("file", "");
  m.format = j.value("format", "custom");
  m.compression = j.value("compression", "pg_dump");
  m.size = j.value("size", 0LL);
  m.sha256 = j.value("sha256", "");
  m.version = j.value("version", "");
  m.fingerprint = j.value("fingerprint", "");
  m.run_id = j.value("run_id", "");
  m.verified = j.value("verified", false);
  if (j.contains("database_settings") && j["database_settings"].is_array()) {
    m.database_settings.emplace();
    for (const auto& d : j["database_settings"])
      m.database_settings->push_back({d.value("role", ""), d.value("setting", "")});
  }
  if (j.contains("write_counters")) m.write_counters = write_counters_from_json(j["write_counters"]);
  const json counts = j.value("row_counts", json::object());
  for (const auto& [k, v] : counts.items()) m.row_counts[k] = v.get<long long>();
  const json ledger = j.value("ledger", json::array());
  if (!ledger.is_array()) throw Error(ErrorKind::Config, "'ledger' is not a list");
  for (const auto& r : ledger) {
    db::AppliedMigration a;
    a.version = r.value("version", "");
    a.name = r.value("name", "");
    a.checksum = r.value("checksum", "");
    if (r.contains("down_sql") && !r["down_sql"].is_null()) a.down_sql = r["down_sql"].get<std::string>();
    a.applied_at = r.value("applied_at", "");
    a.duration_ms = r.value("duration_ms", 0LL);
    a.run_id = r.value("run_id", "");
    a.destroys_data = r.value("destroys_data", false);
    a.down_restores_data = r.value("down_restores_data", false);
    m.ledger.push_back(a);
  }
  return m;
}

// YYYYMMDDTHHMMSSZ of a valid ID, as seconds since the epoch.
std::time_t id_time(const std::string& env_name, const std::string& id) {
  std::tm t{};
  if (!strptime(id.substr(env_name.size() + 1, 16).c_str(), "%Y%m%dT%H%M%SZ", &t)) return -1;
  return timegm(&t);
}

// Why the sidecar at `path` is not a backup of `env` ("" when it is; "-" when it is another
// environment's, which is silently not ours). Sets m.file from backup.dir and the ID.
std::string reject_reason(const config::Environment& env, const std::string& path, BackupMeta& m) {
  if (!valid_backup_id(env.name, m.id)) {
    if (m.environment != env.name) return "-";
    return "its id '" + m.id + "' is not a backup ID of '" + env.name + "' (" + env.name + "-YYYYMMDDTHHMMSSZ-XXXX)";
  }
  if (m.environment != env.name) return "its environment is '" + m.environment + "', not '" + env.name + "'";
  if (path != env.backup->dir + "/" + m.id + ".json") return "its name is not " + m.id + ".json";
  m.file = backup_file_path(env.backup->dir, m.id, m.format, m.compression);
  if (m.file.empty()) return "unknown format '" + m.format + "' or compression '" + m.compression + "'";
  std::time_t t = id_time(env.name, m.id);
  if (t < 0) return "its id '" + m.id + "' holds no valid time";
  if (t > std::time(nullptr) + 600) return "its id '" + m.id + "' is dated in the future";
  return "";
}

}  // namespace

std::vector<BackupMeta> list_backups(const config::Environment& env, Transports& transports,
                                     std::vector<std::string>* warnings) {
  std::vector<BackupMeta> out;
  if (!env.backup) return out;
  auto& t = transports.get(env.backup->on);
  const std::string& dir = env.backup->dir;
  // A directory that cannot be listed is named, never read as "no backups".
  std::vector<std::string> names;
  try {
    names = t.list(dir);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::Command) throw;
    if (warnings) warnings->push_back("backup.dir " + std::string(e.what()));
    return out;
  }
  std::vector<std::string> sidecars;
  std::set<std::string> pins;
  for (const auto& n : names) {
    if (n.size() > 5 && n.compare(n.size() - 5, 5, ".json") == 0) sidecars.push_back(n);
    if (n.size() > 4 && n.compare(n.size() - 4, 4, ".pin") == 0) pins.insert(n.substr(0, n.size() - 4));
  }
  auto warn = [&](const std::string& path, const std::string& why) {
    if (warnings) warnings->push_back("skipped backup sidecar " + path + ": " + why);
  };
  for (auto& [name, text] : t.fetch_files(dir, sidecars)) {
    std::string path = dir + "/" + name;
    auto j = text ? json::parse(*text, nullptr, false) : json();
    if (!text || j.is_discarded() || !j.is_object()) {
      warn(path, "unreadable or not a JSON object");
      continue;
    }
    BackupMeta m;
    try {
      m = meta_from_json(j);
    } catch (const std::exception& e) {
      warn(path, std::string("a field has the wrong type: ") + e.what());
      continue;
    }
    std::string why = reject_reason(env, path, m);
    if (why == "-") continue;
    if (!why.empty()) {
      warn(path, why);
      continue;
    }
    m.pinned = pins.count(name.substr(0, name.size() - 5)) > 0;
    out.push_back(std::move(m));
  }
  // Newest first, by the time in the ID (ferry's clock when the backup started).
  auto stamp = [](const BackupMeta& m) { return m.id.substr(0, m.id.size() - 5); };
  std::sort(out.begin(), out.end(), [&](const BackupMeta& a, const BackupMeta& b) {
    if (stamp(a) != stamp(b)) return stamp(a) > stamp(b);
    return a.time != b.time ? a.time > b.time : a.id > b.id;
  });
  read_pin_reasons(env, transports, out);  // steps/backup_pins.*
  return out;
}

namespace {

// True when `name` is a partial file a backup of `env` leaves while it runs (.ID.dump.zst.partial,
// .ID.dir.partial, and their .fifo/.sum/.verr/.derr companions).
bool partial_of(const config::Environment& env, const std::string& name) {
  if (name.size() < env.name.size() + 24 || name[0] != '.') return false;
  std::string id = name.substr(1, env.name.size() + 22);
  if (!valid_backup_id(env.name, id)) return false;
  std::string rest = name.substr(1 + id.size());
  for (const char* stem : {".dump.zst.partial", ".dump.partial", ".dir.partial"})
    for (const char* tail : {"", ".fifo", ".sum", ".verr", ".derr"})
      if (rest == std::string(stem) + tail) return true;
  return false;
}

// Removes what backups of `env` killed half-way (SIGKILL, OOM, power cut) left in backup.dir.
// Runs under the environment's lock, so no backup of `env` is running; a pipeline orphaned by
// a killed ferry then fails its final rename and leaves nothing.
void remove_leftovers(const config::Environment& env, transport::Transport& t) {
  std::vector<std::string> names;
  try {
    names = t.list(env.backup->dir, ".*.partial*");
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::Command) throw;
    return;  // no directory, nothing left over; listing the backups says why
  }
  for (const auto& n : names)
    if (partial_of(env, n)) t.remove(env.backup->dir, n);
}

}  // namespace

int prune_backups(const config::Environment& env, Transports& transports, std::vector<std::string>* warnings) {
  if (!env.backup) return 0;
  remove_leftovers(env, transports.get(env.backup->on));
  const int keep = env.backup->keep, keep_days = env.backup->keep_days;
  if (keep <= 0 && keep_days <= 0) return 0;
  auto all = list_backups(env, transports, warnings);
  release_automatic_pins(env, transports, all, warnings);  // steps/backup_pins.*
  const std::time_t cutoff = std::time(nullptr) - static_cast<std::time_t>(keep_days) * 86400;
  int removed = 0;
  int kept = 0;
  for (const auto& b : all) {
    // Pinned backups are never removed and do not count among the newest N.
    if (!b.verified || b.pinned) continue;
    bool beyond_count = keep <= 0 || ++kept > keep;
    bool beyond_age = keep_days <= 0 || id_time(env.name, b.id) < cutoff;
    if (!beyond_count || !beyond_age) continue;
    // Both names are a validated ID + a suffix, removed within backup.dir: nothing outside it.
    auto& t = transports.get(env.backup->on);
    if (t.remove(env.backup->dir, b.file.substr(env.backup->dir.size() + 1)) &&
        t.remove(env.backup->dir, b.id + ".json"))
      ++removed;
  }
  return removed;
}

bool set_backup_pin(const config::Environment& env, Transports& transports, const std::string& id, bool pin) {
  if (!env.backup) throw Error(ErrorKind::Config, env.file + ": no 'backup:' section");
  if (!valid_backup_id(env.name, id))
    throw Error(ErrorKind::Config,
                "'" + id + "' is not a backup ID of '" + env.name + "' (" + env.name + "-YYYYMMDDTHHMMSSZ-XXXX)");
  auto all = list_backups(env, transports);
  auto it = std::find_if(all.begin(), all.end(), [&](const BackupMeta& b) { return b.id == id; });
  if (it == all.end())
    throw Error(ErrorKind::Config, "no backup '" + id + "' of '" + env.name + "' in " + env.backup->dir,
                "ferry backups " + env.name + " lists them");
  if (it->pinned == pin) return false;
  // backup.dir + a validated ID: the pin is always beside the sidecar, never elsewhere.
  auto& t = transports.get(env.backup->on);
  if (pin) {
    t.put_file(env.backup->dir + "/" + id + ".pin", id + "\n", 0600);
  } else if (!t.remove(env.backup->dir, id + ".pin")) {
    throw Error(ErrorKind::Command, "could not remove " + env.backup->dir + "/" + id + ".pin on " + t.describe());
  }
  return true;
}

namespace {

// The sha256 check's exit status (0 ok, 65 mismatch or symlink, 66 missing) and message.
std::pair<int, std::string> run_check(const config::Environment& env, Transports& transports, const BackupMeta& meta) {
  transport::Command c;
  c.argv = {"bash", "-c", "f=$1\n" + sha256_check_script(meta.format), "ferry-check", meta.file, meta.sha256};
  auto r = transports.get(env.backup->on).run(c);
  if (r.ok()) return {0, ""};
  std::string why = r.last_line();
  return {r.exit_code, why.empty() ? "the check failed (exit " + std::to_string(r.exit_code) + ")" : why};
}

}  // namespace

std::string check_backup_file(const config::Environment& env, Transports& transports, const BackupMeta& meta) {
  return run_check(env, transports, meta).second;
}

std::optional<BackupMeta> newest_good_backup(const config::Environment& env, Transports& transports,
                                             const std::string& except_id) {
  for (const auto& b : list_backups(env, transports))
    if (b.verified && b.id != except_id && check_backup_file(env, transports, b).empty()) return b;
  return std::nullopt;
}

std::optional<BackupMeta> restorable_backup(const config::Environment& env, Transports& transports,
                                            const BackupMeta& preferred, std::string& why) {
  try {
    int code = 0;
    std::tie(code, why) = run_check(env, transports, preferred);
    // A missing file may come back (an unmounted disk); a mismatching one is known bad.
    if (code == 0 || code == 66) return preferred;
    return newest_good_backup(env, transports, preferred.id);
  } catch (const Error&) {
    return preferred;  // cannot look: the preferred one is still the best guess
  }
}

}  // namespace ferry::steps
