// The backups of one environment under backup.dir: sidecars read strictly (one bad sidecar is
// skipped with a warning, never a crash), paths built from backup.dir and a validated ID
// (never from a sidecar's `file`), retention, and the sha256 check before a restore.
#include <time.h>

#include <algorithm>
#include <ctime>
#include <nlohmann/json.hpp>
#include <regex>
#include <tuple>

#include "core/text.hpp"
#include "steps/backup.hpp"
#include "steps/backup_internal.hpp"
#include "steps/backup_pins.hpp"

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
  transport::Command c;
  // A directory that cannot be listed is named (exit 3), never read as "no backups".
  c.argv = {"/bin/sh", "-c",
            "w=\"backup.dir $1\"; [ -e \"$1\" ] || { echo \"$w does not exist\" >&2; exit 3; }\n"
            "[ -d \"$1\" ] || { echo \"$w is not a directory\" >&2; exit 3; }\n"
            "[ -r \"$1\" ] && [ -x \"$1\" ] || { echo \"$w is not readable by $(id -un)\" >&2; exit 3; }\n"
            "for f in \"$1\"/*.json; do [ -f \"$f\" ] || continue; printf '%s\\n' \"$f\"; "
            "if [ -f \"${f%.json}.pin\" ]; then echo pinned; else echo -; fi; cat -- \"$f\" 2>/dev/null; "
            "printf '\\n\\036\\n'; done; exit 0",
            "sh", env.backup->dir};
  auto r = transports.get(env.backup->on).run(c);
  if (r.exit_code == 3 && warnings) warnings->push_back(trim(r.err));
  auto warn = [&](const std::string& path, const std::string& why) {
    if (warnings) warnings->push_back("skipped backup sidecar " + path + ": " + why);
  };
  size_t pos = 0;
  while (pos < r.out.size()) {
    size_t sep = r.out.find("\n\036\n", pos);
    std::string rec = r.out.substr(pos, sep == std::string::npos ? std::string::npos : sep - pos);
    pos = sep == std::string::npos ? r.out.size() : sep + 3;
    size_t nl = rec.find('\n');
    std::string path = rec.substr(0, nl);
    size_t nl2 = nl == std::string::npos ? nl : rec.find('\n', nl + 1);
    bool pinned = nl2 != std::string::npos && rec.compare(nl + 1, nl2 - nl - 1, "pinned") == 0;
    auto j = json::parse(nl2 == std::string::npos ? std::string() : rec.substr(nl2 + 1), nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
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
    m.pinned = pinned;
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
  transport::Command ls;
  ls.argv = {"/bin/sh", "-c",
             "cd -- \"$1\" 2>/dev/null || exit 0; for f in .*.partial .*.partial.*; do [ -e \"$f\" ] || [ -L \"$f\" ] "
             "|| continue; printf '%s\\n' \"$f\"; done",
             "sh", env.backup->dir};
  auto r = t.run(ls);
  transport::Command rm;
  rm.argv = {"/bin/sh", "-c", "cd -- \"$1\" && shift && rm -rf -- \"$@\"", "sh", env.backup->dir};
  size_t pos = 0;
  while (pos < r.out.size()) {
    size_t nl = r.out.find('\n', pos);
    std::string name = r.out.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? r.out.size() : nl + 1;
    if (partial_of(env, name)) rm.argv.push_back(name);
  }
  if (rm.argv.size() > 5) t.run(rm);
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
    // Both paths are backup.dir + a validated ID: nothing outside backup.dir is ever removed.
    transport::Command c;
    c.argv = {"/bin/sh", "-c", "rm -rf -- \"$1\" \"$2\"", "sh", b.file, env.backup->dir + "/" + b.id + ".json"};
    if (transports.get(env.backup->on).run(c).ok()) ++removed;
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
  transport::Command c;
  c.argv = {"/bin/sh",
            "-c",
            pin ? "printf '%s\\n' \"$2\" > \"$1.tmp\" && mv -f -- \"$1.tmp\" \"$1\"" : "rm -f -- \"$1\"",
            "sh",
            env.backup->dir + "/" + id + ".pin",
            id};
  auto r = transports.get(env.backup->on).run(c);
  if (!r.ok())
    throw Error(ErrorKind::Command, "could not " + std::string(pin ? "write " : "remove ") + env.backup->dir + "/" +
                                        id + ".pin: " + r.last_line());
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
