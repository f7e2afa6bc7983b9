// The text of a long step's progress line (backup, restore): what is done, elapsed, an estimate.
#pragma once
#include <string>

#include "core/duration.hpp"

namespace ferry::steps {

// "120.0 MB of ~400.0 MB, 35 item(s), 12s elapsed, about 28s left". `bytes` < 0: unknown;
// `expected` <= 0: no estimate; `items` "" : not shown.
std::string progress_text(Millis elapsed, long long bytes, long long expected, const std::string& items);

std::string human_size(long long bytes);

}  // namespace ferry::steps
