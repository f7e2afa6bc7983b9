#include "cli/lock_views.hpp"

#include <map>

#include "core/error.hpp"
#include "db/ledger_lock_trace.hpp"
#include "log/log.hpp"

using nlohmann::json;

namespace ferry::cli {

namespace {
std::string locks_text(const std::vector<steps::TracedLock>& locks) {
  std::string out;
  for (const auto& l : locks) out += (out.empty() ? "" : ", ") + l.mode + " on " + l.relation;
  return out.empty() ? "no table lock" : out;
}
json locks_json(const std::vector<steps::TracedLock>& locks) {
  json out = json::array();
  for (const auto& l : locks) out.push_back({{"mode", l.mode}, {"relation", l.relation}});
  return out;
}
}  // namespace

std::map<std::string, steps::LockTrace> read_traces(db::Connection& conn) {
  std::map<std::string, steps::LockTrace> out;
  for (const auto& [version, text] : db::lock_traces(conn)) {
    try {
      out.emplace(version, steps::parse_trace(text));
    } catch (const Error& e) {
      log::warn("lock trace of " + version + ": " + e.what());
    }
  }
  return out;
}

json trace_to_json(const steps::LockTrace& t) {
  json j = {{"environment", t.environment},
            {"transaction", t.transaction},
            {"statements", json::array()},
            {"held_before", locks_json(t.held_before)},
            {"tables", json::object()}};
  for (const auto& s : t.statements)
    j["statements"].push_back({{"file", s.file},
                               {"line", s.line},
                               {"locks", locks_json(s.locks)},
                               {"rewrite", !s.rewritten.empty()},
                               {"rewritten", s.rewritten},
                               {"duration_ms", s.ms}});
  for (const auto& [name, size] : t.tables) j["tables"][name] = {{"rows", size.rows}, {"bytes", size.bytes}};
  return j;
}

void print_traces(std::ostream& os, const std::map<std::string, steps::LockTrace>& traces,
                  const std::map<std::string, std::string>& labels) {
  os << "lock traces (" << traces.size() << ")\n";
  for (const auto& [version, t] : traces) {
    auto label = labels.count(version) ? labels.at(version) : version;
    os << "  " << label << "  traced on " << t.environment
       << (t.transaction ? "" : "  (no transaction: each lock ends with its statement)") << "\n";
    if (!t.held_before.empty())
      os << "    already held from earlier migrations of its transaction: " << locks_text(t.held_before) << "\n";
    for (const auto& s : t.statements)
      os << "    " << s.file << ":" << s.line << "  " << locks_text(s.locks) << "  rewrite "
         << (s.rewritten.empty() ? "no" : "yes") << "  " << run::format_ms(s.ms) << "\n";
  }
}

namespace {
std::string statement_text(const std::string& env, const std::string& traced_on, const run::StatementForecast& s) {
  std::string out =
      s.file + ":" + std::to_string(s.line) + "  " + locks_text(s.locks) + (s.rewrite ? " (rewrite)" : "");
  if (!s.estimated_ms)
    return out + "; traced on " + traced_on + ": " + run::format_ms(s.traced_ms) + " (no size to scale by)";
  return out + " for ~" + run::format_ms(*s.estimated_ms) + " at " + env + "'s " + run::format_rows(s.target_rows) +
         " rows; traced on " + traced_on + " at " + run::format_rows(s.traced_rows) +
         " rows: " + run::format_ms(s.traced_ms);
}
}  // namespace

void print_forecast(std::ostream& os, const std::string& env, const std::vector<run::MigrationForecast>& fs) {
  if (fs.empty()) return;
  os << "  lock forecast (locks are held until the migration commits):\n";
  for (const auto& f : fs) {
    if (f.traced_on.empty()) {
      os << "    " << f.label << ": " << f.no_trace << "; see lint's static levels\n";
      continue;
    }
    os << "    " << f.label << ": traced on " << f.traced_on << (f.statements.empty() ? ", no table lock" : "")
       << (f.no_size.empty() ? "" : " (" + f.no_size + ")") << "\n";
    for (const auto& s : f.statements) os << "      " << statement_text(env, f.traced_on, s) << "\n";
  }
}

json forecast_json(const std::vector<run::MigrationForecast>& fs) {
  json out = json::array();
  for (const auto& f : fs) {
    json m = {{"migration", f.label},
              {"traced_on", f.traced_on.empty() ? json(nullptr) : json(f.traced_on)},
              {"no_trace", f.no_trace.empty() ? json(nullptr) : json(f.no_trace)},
              {"no_size", f.no_size.empty() ? json(nullptr) : json(f.no_size)},
              {"statements", json::array()}};
    for (const auto& s : f.statements)
      m["statements"].push_back({{"file", s.file},
                                 {"line", s.line},
                                 {"locks", locks_json(s.locks)},
                                 {"rewrite", s.rewrite},
                                 {"traced_ms", s.traced_ms},
                                 {"estimated_ms", s.estimated_ms ? json(*s.estimated_ms) : json(nullptr)},
                                 {"scaled_by", s.table.empty() ? json(nullptr) : json(s.table)},
                                 {"traced_rows", s.traced_rows},
                                 {"target_rows", s.target_rows}});
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace ferry::cli
