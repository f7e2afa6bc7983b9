#include "migrate/migration_set.hpp"

#include <algorithm>
#include <atomic>
#include <exception>
#include <filesystem>
#include <iostream>
#include <map>
#include <system_error>
#include <thread>

#include "core/error.hpp"
#include "core/text.hpp"
#include "migrate/sql_parser.hpp"

namespace fs = std::filesystem;

namespace ferry::migrate {

int compare_versions(const std::string& a, const std::string& b) {
  auto strip = [](const std::string& s) {
    size_t i = 0;
    while (i + 1 < s.size() && s[i] == '0') ++i;
    return s.substr(i);
  };
  std::string x = strip(a), y = strip(b);
  if (x.size() != y.size()) return x.size() < y.size() ? -1 : 1;
  return x < y ? -1 : x > y ? 1 : 0;
}

namespace {
bool has_directive(const std::string& sql, const std::string& directive) {
  // A directive is a comment line of its own: "-- ferry:irreversible".
  size_t pos = 0;
  while ((pos = sql.find(directive, pos)) != std::string::npos) {
    size_t bol = sql.rfind('\n', pos);
    bol = bol == std::string::npos ? 0 : bol + 1;
    std::string before = trim(sql.substr(bol, pos - bol));
    size_t eol = sql.find('\n', pos);
    std::string after = trim(sql.substr(pos + directive.size(),
                                        eol == std::string::npos ? std::string::npos : eol - pos - directive.size()));
    if (before == "--" && after.empty()) return true;
    pos += directive.size();
  }
  return false;
}
}  // namespace

const std::string& data_loss(const Migration& m) {
  auto& memo = *m.data_loss_memo;
  std::call_once(memo.once, [&] { memo.why = destroys_data(m.up_sql); });
  return memo.why;
}

namespace {
// One migration directory read, hashed and parsed (a syntax error is a configuration error,
// found before any run; a COMMIT or BEGIN in a file ferry runs in its own transaction would
// break that transaction).
Migration load_one(const fs::path& path, const std::string& base, size_t digits, const std::string& display_dir) {
  std::error_code ec;
  Migration m;
  m.version = base.substr(0, digits);
  m.name = base.substr(digits);
  if (!m.name.empty() && (m.name[0] == '_' || m.name[0] == '-')) m.name = m.name.substr(1);
  m.dir = display_dir + "/" + base;
  fs::path up = path / "up.sql";
  if (!fs::is_regular_file(up, ec)) throw Error(ErrorKind::Config, m.dir + ": missing up.sql");
  m.up_sql = read_file(up.string());
  m.checksum = sha256_hex(m.up_sql);
  m.irreversible = has_directive(m.up_sql, "ferry:irreversible");
  m.down_restores_data = has_directive(m.up_sql, "ferry:down-restores-data");
  m.no_transaction = trim(first_line(m.up_sql)) == "-- ferry:no-transaction";
  fs::path down = path / "down.sql";
  if (fs::is_regular_file(down, ec))
    m.down_sql = read_file(down.string());
  else if (!m.irreversible)
    throw Error(ErrorKind::Config, m.dir + ": missing down.sql",
                "write down.sql, or mark up.sql with a line '-- ferry:irreversible'");
  fs::path verify = path / "verify.sql";
  if (fs::is_regular_file(verify, ec)) m.verify_sql = read_file(verify.string());
  m.up_statements = check_statements(m.up_sql, m.dir + "/up.sql", !m.no_transaction);
  if (m.down_sql) check_statements(*m.down_sql, m.dir + "/down.sql", true);
  if (m.verify_sql) check_statements(*m.verify_sql, m.dir + "/verify.sql", true);
  return m;
}

struct Entry {
  fs::path path;
  std::string base;
  size_t digits;
};
}  // namespace

void remember_data_loss(const Migration& m, const std::string& why) {
  auto& memo = *m.data_loss_memo;
  std::call_once(memo.once, [&] { memo.why = why; });
}

std::vector<Migration> load_migrations(const std::string& dir, const std::string& display_dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return {};
  std::vector<Entry> entries;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!e.is_directory()) continue;
    std::string base = e.path().filename().string();
    size_t digits = 0;
    while (digits < base.size() && std::isdigit(static_cast<unsigned char>(base[digits]))) ++digits;
    if (digits == 0) {  // not a migration (helpers, notes): say so, a typo would skip one silently
      if (base[0] != '.')
        std::cerr << "warning: " << display_dir << "/" << base
                  << " is ignored: a migration directory's name starts with its version digits\n";
      continue;
    }
    entries.push_back({e.path(), base, digits});
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    int c = compare_versions(a.base.substr(0, a.digits), b.base.substr(0, b.digits));
    return c != 0 ? c < 0 : a.base < b.base;
  });
  // Read and parsed on every core (the parse is most of a large project's start); the first
  // error in version order is the one reported, whatever thread met it.
  std::vector<std::optional<Migration>> loaded(entries.size());
  std::vector<std::exception_ptr> failed(entries.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next++) < entries.size();) {
      try {
        loaded[i] = load_one(entries[i].path, entries[i].base, entries[i].digits, display_dir);
      } catch (...) {
        failed[i] = std::current_exception();
      }
    }
  };
  size_t threads = std::min<size_t>({entries.size() / 16 + 1, std::max(1u, std::thread::hardware_concurrency()), 4});
  std::vector<std::thread> pool;
  try {
    for (size_t t = 1; t < threads; ++t) pool.emplace_back(work);
  } catch (const std::system_error&) {  // no thread to be had: the ones started and this one do it all
  }
  work();
  for (auto& t : pool) t.join();
  std::vector<Migration> out;
  std::map<std::string, std::string> seen;  // normalised version -> dir
  for (size_t i = 0; i < entries.size(); ++i) {
    if (failed[i]) std::rethrow_exception(failed[i]);
    Migration& m = *loaded[i];
    std::string norm = m.version;
    norm.erase(0, std::min(norm.find_first_not_of('0'), norm.size() - 1));
    if (auto it = seen.find(norm); it != seen.end())
      throw Error(ErrorKind::Config, m.dir + ": version " + m.version + " is also used by " + it->second);
    seen[norm] = m.dir;
    out.push_back(std::move(m));
  }
  return out;
}

Plan make_plan(const std::vector<Migration>& files, const std::vector<db::AppliedMigration>& applied) {
  Plan plan;
  std::map<std::string, const db::AppliedMigration*> by_version;
  for (const auto& a : applied) {
    if (plan.current.empty() || compare_versions(a.version, plan.current) > 0) plan.current = a.version;
    by_version[a.version] = &a;
  }
  std::map<std::string, const Migration*> file_by_version;
  for (const auto& f : files) file_by_version[f.version] = &f;
  for (const auto& a : applied) {
    auto it = file_by_version.find(a.version);
    if (it == file_by_version.end()) {
      plan.drift.push_back(
          {a.version, a.version + "_" + a.name + ": applied, but its directory is missing from migrations/"});
    } else if (it->second->checksum != a.checksum) {
      plan.drift.push_back({a.version, it->second->id() + ": up.sql changed since it was applied (applied " +
                                           a.checksum.substr(0, 12) + ", file " + it->second->checksum.substr(0, 12) +
                                           ")"});
    }
  }
  for (const auto& f : files) {
    if (by_version.count(f.version)) continue;
    if (!plan.current.empty() && compare_versions(f.version, plan.current) < 0) {
      plan.drift.push_back(
          {f.version, f.id() + ": pending, but the newer " + plan.current + " is already applied (out of order)"});
      continue;
    }
    plan.pending.push_back(f);
  }
  return plan;
}

}  // namespace ferry::migrate
