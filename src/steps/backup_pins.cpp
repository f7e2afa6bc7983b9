// Automatic pins of pre-change backups, and their release by retention.
#include "steps/backup_pins.hpp"

#include <algorithm>
#include <map>
#include <optional>

#include "core/text.hpp"
#include "log/log.hpp"
#include "steps/backup.hpp"

namespace ferry::steps {

namespace {

constexpr const char* k_auto_prefix = "pre-change backup of run ";
constexpr const char* k_version_key = "version_after ";

std::string pin_path(const config::Environment& env, const std::string& id) {
  return env.backup->dir + "/" + id + ".pin";  // backup.dir + a validated ID, never elsewhere
}

// ID -> the text of ID.pin (its first 4 KiB), for every pin in backup.dir: none when the
// directory cannot be listed. Through the transport's file operations (in-process locally).
std::map<std::string, std::string> read_pins(const config::Environment& env, Transports& transports) {
  auto& t = transports.get(env.backup->on);
  std::vector<std::string> names;
  try {
    names = t.list(env.backup->dir, "*.pin");
  } catch (const Error&) {
    return {};
  }
  std::map<std::string, std::string> out;
  for (auto& [name, text] : t.fetch_files(env.backup->dir, names))
    if (text && name.size() > 4) out[name.substr(0, name.size() - 4)] = text->substr(0, 4096);
  return out;
}

std::string first_line_of(const std::string& text) { return text.substr(0, text.find('\n')); }

// The version_after an automatic pin records; nullopt for a manual pin or one not yet releasable.
std::optional<std::string> releasable_version(const std::string& text) {
  if (!text.starts_with(k_auto_prefix)) return std::nullopt;
  auto p = text.find(std::string("\n") + k_version_key);
  if (p == std::string::npos) return std::nullopt;
  std::string rest = text.substr(p + 1 + std::string(k_version_key).size());
  return trim(rest.substr(0, rest.find('\n')));
}

// Native versions sort by name; an equal version is the run's own state.
bool at_least(const std::string& version, const std::string& wanted) { return version >= wanted; }

}  // namespace

void pin_pre_change_backup(StageContext& ctx, const BackupMeta& meta) {
  if (!ctx.env.backup || ctx.driver->changed(ctx)) return;
  try {
    ctx.transports.get(ctx.env.backup->on).put_file(pin_path(ctx.env, meta.id), k_auto_prefix + ctx.run_id + "\n");
  } catch (const Error& e) {
    ctx.reporter.message(report::Level::Warn, "could not pin " + meta.id + ": " + e.what());
  }
}

void note_pin_outcome(StageContext& ctx, const std::string& outcome, const std::string& version_after) {
  // An unreadable version after a success is not a version to release by; after a failure the
  // database is as it was, whatever version that is.
  if (!ctx.env.backup || !ctx.backup || outcome == "needs_attention" ||
      (version_after.empty() && outcome == "succeeded"))
    return;
  // The pin this run wrote (ctx.backup may be a later backup step's, taken after a change).
  const std::string reason = k_auto_prefix + ctx.run_id;
  try {
    for (const auto& [id, text] : read_pins(ctx.env, ctx.transports)) {
      if (first_line_of(text) != reason || !valid_backup_id(ctx.env.name, id)) continue;
      ctx.transports.get(ctx.env.backup->on)
          .put_file(pin_path(ctx.env, id), reason + "\n" + k_version_key + version_after + "\n");
    }
  } catch (const std::exception& e) {
    log::warn(std::string("could not record the run's outcome in its pin: ") + e.what());
  }
}

void read_pin_reasons(const config::Environment& env, Transports& transports, std::vector<BackupMeta>& all) {
  if (!env.backup || std::none_of(all.begin(), all.end(), [](const BackupMeta& b) { return b.pinned; })) return;
  auto pins = read_pins(env, transports);
  for (auto& b : all) {
    if (!b.pinned) continue;
    const std::string& text = pins[b.id];
    b.pin_reason = text.starts_with(k_auto_prefix) ? first_line_of(text) : "pinned by hand";
  }
}

void release_automatic_pins(const config::Environment& env, Transports& transports, std::vector<BackupMeta>& all,
                            std::vector<std::string>* warnings) {
  if (!env.backup) return;
  const int needed = std::max(env.backup->keep, 1);
  try {
    auto pins = read_pins(env, transports);
    for (size_t i = 0; i < all.size(); ++i) {
      auto& b = all[i];
      auto wanted = b.pinned ? releasable_version(pins[b.id]) : std::nullopt;
      if (!wanted) continue;
      int newer = 0;  // `all` is newest first: the backups before b are newer
      for (size_t k = 0; k < i; ++k)
        if (all[k].verified && at_least(all[k].version, *wanted)) ++newer;
      if (newer < needed) continue;
      if (!transports.get(env.backup->on).remove(env.backup->dir, b.id + ".pin")) continue;
      log::debug("released the automatic pin of " + b.id + " (" + first_line_of(pins[b.id]) +
                 "): " + std::to_string(newer) + " newer backup(s) hold version " + *wanted);
      b.pinned = false;
      b.pin_reason.clear();
    }
  } catch (const std::exception& e) {
    if (warnings) warnings->push_back(std::string("releasing automatic pins failed: ") + e.what());
  }
}

}  // namespace ferry::steps
