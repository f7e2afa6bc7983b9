// The one place that chooses a migration driver from configuration.
#include "steps/driver.hpp"

#include <algorithm>

#include "config/loader.hpp"

namespace ferry::steps {

std::unique_ptr<Driver> make_native_driver(std::vector<migrate::Migration> files);                // driver_native.cpp
std::unique_ptr<Driver> make_alembic_driver(const config::MigrationsSource& src, Transports& t);  // driver_alembic.cpp

std::unique_ptr<Driver> make_driver(const config::MigrationsSource& src, Transports& transports,
                                    std::vector<migrate::Migration> files) {
  switch (src.driver) {
    case config::Driver::Alembic:
      return make_alembic_driver(src, transports);
    case config::Driver::Native:
      break;
  }
  return make_native_driver(std::move(files));
}

config::MigrationsSource source_for(const config::Project& project, const std::string& env) {
  std::optional<config::MigrationsSource> native;
  for (const auto& name : config::list_playbooks(project.root)) {
    try {
      auto pb = config::load_playbook(project, name);
      bool stages = std::find(pb.stages.begin(), pb.stages.end(), env) != pb.stages.end();
      if (pb.migrations.driver != config::Driver::Native && stages) return pb.migrations;
      if (pb.migrations.driver == config::Driver::Native && !native) native = pb.migrations;
    } catch (const Error&) {
    }
  }
  return native ? *native : config::MigrationsSource{};
}

std::string method_name(RollbackMethod m) {
  switch (m) {
    case RollbackMethod::DownSql:
      return "down SQL";
    case RollbackMethod::DownSqlDataLoss:
      return "down SQL (data loss!)";
    case RollbackMethod::Downgrade:
      return "alembic downgrade";
    case RollbackMethod::Restore:
      return "restore backup";
    case RollbackMethod::None:
      break;
  }
  return "none";
}

std::string method_id(RollbackMethod m) {
  switch (m) {
    case RollbackMethod::DownSql:
      return "down_sql";
    case RollbackMethod::DownSqlDataLoss:
      return "down_sql_data_loss";
    case RollbackMethod::Downgrade:
      return "downgrade";
    case RollbackMethod::Restore:
      return "restore";
    case RollbackMethod::None:
      break;
  }
  return "none";
}

}  // namespace ferry::steps
