#include "run/forecast.hpp"

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <set>

#include "core/error.hpp"
#include "db/ledger_lock_trace.hpp"
#include "run/target.hpp"

namespace ferry::run {

std::optional<double> size_ratio(const steps::TableSize& traced, const db::RelationSize& target) {
  if (traced.rows > 0 && target.rows > 0) return target.rows / traced.rows;
  if (traced.bytes > 0 && target.bytes > 0) return static_cast<double>(target.bytes) / traced.bytes;
  return std::nullopt;
}

namespace {
std::string fixed(double v, int decimals) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}
}  // namespace

std::string format_ms(double ms) {
  if (ms < 10) return fixed(ms, 1) + " ms";
  if (ms < 1'000) return fixed(ms, 0) + " ms";
  if (ms < 120'000) return fixed(ms / 1'000, ms < 10'000 ? 1 : 0) + " s";
  if (ms < 7'200'000) return fixed(ms / 60'000, 1) + " min";
  return fixed(ms / 3'600'000, 1) + " h";
}

std::string format_rows(double rows) {
  if (rows < 0) return "unknown";
  auto trim = [](double v) { return fixed(v, v < 10 ? 1 : 0); };
  if (rows < 1'000) return fixed(rows, 0);
  if (rows < 1'000'000) return trim(rows / 1'000) + "k";
  if (rows < 1'000'000'000) return trim(rows / 1'000'000) + "M";
  return trim(rows / 1'000'000'000) + "G";
}

namespace {
// Scales `f` by the table of its locks and rewrites that grew the most.
void scale(StatementForecast& f, const steps::LockTrace& t, const std::map<std::string, db::RelationSize>& target) {
  std::set<std::string> tables;
  for (const auto& l : f.locks) tables.insert(l.relation);
  std::optional<double> best;
  for (const auto& name : tables) {
    auto a = t.tables.find(name);
    auto b = target.find(name);
    if (a == t.tables.end() || b == target.end()) continue;
    auto r = size_ratio(a->second, b->second);
    if (!r || (best && *r <= *best)) continue;
    best = r;
    f.table = name;
    f.traced_rows = a->second.rows;
    f.target_rows = b->second.rows;
  }
  if (best) f.estimated_ms = f.traced_ms * *best;
}
}  // namespace

std::vector<StatementForecast> forecast_trace(const steps::LockTrace& t,
                                              const std::map<std::string, db::RelationSize>& target) {
  std::vector<StatementForecast> out;
  std::set<std::pair<std::string, std::string>> held;  // (relation, mode) held before the statement
  for (const auto& s : t.statements) {
    StatementForecast f;
    f.file = s.file;
    f.line = s.line;
    f.traced_ms = s.ms;
    f.rewrite = !s.rewritten.empty();
    for (const auto& l : s.locks)
      if (!held.count({l.relation, l.mode})) f.locks.push_back(l);
    if (t.transaction)
      for (const auto& l : s.locks) held.insert({l.relation, l.mode});
    if (f.locks.empty() && !f.rewrite) continue;
    for (const auto& l : s.locks)  // a rewritten table under a lock an earlier statement took
      if (std::count(s.rewritten.begin(), s.rewritten.end(), l.relation) &&
          std::none_of(f.locks.begin(), f.locks.end(), [&](const auto& x) { return x.relation == l.relation; }))
        f.locks.push_back(l);
    scale(f, t, target);
    out.push_back(std::move(f));
  }
  return out;
}

EarlierTraces earlier_traces(const config::Project& project, const config::Playbook& pb, const std::string& env) {
  EarlierTraces out;
  auto end = std::find(pb.stages.begin(), pb.stages.end(), env);
  for (auto it = std::make_reverse_iterator(end); it != pb.stages.rend(); ++it) {
    try {
      auto link = connect(project.environment(*it));
      link.conn->exec("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY");
      for (auto& [version, text] : db::lock_traces(*link.conn))
        if (!out.by_version.count(version)) out.by_version.emplace(version, steps::parse_trace(text));
      out.looked_in.push_back(*it);
    } catch (const Error& e) {
      out.unreachable.push_back(*it + ": " + e.what());
    }
  }
  return out;
}

std::vector<MigrationForecast> forecast_stage(const EarlierTraces& traces,
                                              const std::vector<steps::PendingItem>& pending, db::Connection& target) {
  std::vector<MigrationForecast> out;
  for (const auto& p : pending) {
    MigrationForecast f;
    f.label = p.label;
    auto it = traces.by_version.find(p.version);
    if (it == traces.by_version.end()) {
      std::string where;
      for (const auto& s : traces.looked_in) where += (where.empty() ? "" : ", ") + s;
      for (const auto& s : traces.unreachable)
        where += (where.empty() ? "" : ", ") + s.substr(0, s.find(':')) + " (unreachable)";
      f.no_trace = where.empty() ? "no trace (no earlier stage)" : "no trace on " + where;
      out.push_back(std::move(f));
      continue;
    }
    f.traced_on = it->second.environment;
    std::set<std::string> names;
    for (const auto& [name, size] : it->second.tables) names.insert(name);
    std::map<std::string, db::RelationSize> sizes;
    try {
      sizes = db::relation_sizes_nowait(target, names);
    } catch (const Error& e) {
      f.no_size = std::string("target sizes not read: ") + e.what();
    }
    f.statements = forecast_trace(it->second, sizes);
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace ferry::run
