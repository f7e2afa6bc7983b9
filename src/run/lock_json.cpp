#include "run/lock_json.hpp"

namespace ferry::run {

nlohmann::json lock_holder_json(const std::optional<db::LockHolder>& holder) {
  if (!holder) return nullptr;
  nlohmann::json j = {{"pid", holder->pid}, {"run_id", nullptr}, {"operator", nullptr},
                      {"host", nullptr},    {"since", nullptr},  {"command", nullptr}};
  if (const auto& r = holder->run) {
    j["run_id"] = r->id;
    j["operator"] = r->operator_name;
    j["host"] = r->host;
    j["since"] = r->started;
    j["command"] = r->command;
  }
  return j;
}

}  // namespace ferry::run
