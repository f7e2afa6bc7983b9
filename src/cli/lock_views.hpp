// How lock traces and forecasts are shown: `ferry history ENV --locks` (and history --json), and
// `ferry plan`'s forecast lines (and plan --json).
#pragma once
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "db/pg.hpp"
#include "run/forecast.hpp"

namespace ferry::cli {

// The stored traces of `conn`'s database by version (parsed; unreadable ones left out).
std::map<std::string, steps::LockTrace> read_traces(db::Connection& conn);
nlohmann::json trace_to_json(const steps::LockTrace& t);
void print_traces(std::ostream& os, const std::map<std::string, steps::LockTrace>& traces,
                  const std::map<std::string, std::string>& labels);

void print_forecast(std::ostream& os, const std::string& env, const std::vector<run::MigrationForecast>& fs);
nlohmann::json forecast_json(const std::vector<run::MigrationForecast>& fs);

}  // namespace ferry::cli
