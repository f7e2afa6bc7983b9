// Durations as written in ferry's YAML (500ms, 30s, 5m, 1h) and as printed in output.
#pragma once
#include <chrono>
#include <optional>
#include <string>

namespace ferry {

using Millis = std::chrono::milliseconds;

// Parses "500ms", "30s", "5m", "1h" (an integer and a unit). Returns nullopt on anything else.
std::optional<Millis> parse_duration(const std::string& text);

// "850ms", "1.2s", "3m04s": short, human, stable.
std::string format_duration(Millis d);

// Monotonic stopwatch.
class Stopwatch {
 public:
  Stopwatch() : m_start(std::chrono::steady_clock::now()) {}
  Millis elapsed() const { return std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now() - m_start); }

 private:
  std::chrono::steady_clock::time_point m_start;
};

// UTC wall clock as ISO 8601 with milliseconds ("2026-11-23T17:20:00.123Z").
std::string now_iso8601();

// "20261123T172000Z-" followed by `hex_digits` random hex digits: sortable, unique enough for
// run and backup ids.
std::string stamp_id(int hex_digits);

}  // namespace ferry
