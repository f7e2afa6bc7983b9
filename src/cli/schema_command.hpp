// `ferry schema environment|playbook`: a JSON Schema (draft 2020-12) of the files, for editors
// (yaml-language-server) and CI. It mirrors src/config's readers; tests hold the two together
// (every key the loader accepts is in the schema, an unknown key is refused by both).
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace CLI {
class App;
}

namespace ferry::cli {

struct SchemaOptions {
  std::string kind;
};

CLI::App* add_schema_command(CLI::App& app, SchemaOptions& o);
int cmd_schema(const SchemaOptions& o);

nlohmann::json environment_schema();
nlohmann::json playbook_schema();

}  // namespace ferry::cli
