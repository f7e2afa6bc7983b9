// A failure message may carry a command's whole (bounded) output after this marker: the
// console shows only what comes before it (the lines that carry the error); the journal, the
// --report file and ferry.runs.error keep all of it.
#pragma once
#include <string>
#include <string_view>

namespace ferry {

inline constexpr std::string_view k_full_output_marker = "\n--- full output ---\n";

// The part of a message meant for the console.
inline std::string console_part(const std::string& message) {
  return message.substr(0, message.find(k_full_output_marker));
}

}  // namespace ferry
