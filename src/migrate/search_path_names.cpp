#include "migrate/search_path_names.hpp"

#include <pg_query.h>

#include <nlohmann/json.hpp>
#include <set>

#include "core/error.hpp"

namespace ferry::migrate {

namespace {
using nlohmann::json;

// A qualified name list: [{"String": {"sval": "pg_catalog"}}, {"String": {"sval": "quote_ident"}}].
std::vector<std::string> parts(const json& list) {
  std::vector<std::string> out;
  if (!list.is_array()) return out;
  for (const auto& p : list)
    if (p.contains("String")) out.push_back(p["String"].value("sval", ""));
  return out;
}

std::string last(const std::vector<std::string>& name) { return name.empty() ? std::string() : name.back(); }

// reg* types whose input function looks a name up through search_path.
bool looks_up_a_name(const std::string& type) {
  static const std::set<std::string> k = {"regclass", "regproc",      "regprocedure", "regoper",      "regoperator",
                                          "regtype",  "regcollation", "regconfig",    "regdictionary"};
  return k.count(type) > 0;
}

class Walker {
 public:
  std::vector<std::string> found;
  std::set<std::string> ctes;

  void collect_ctes(const json& node) {
    if (node.is_object()) {
      if (node.contains("CommonTableExpr")) ctes.insert(node["CommonTableExpr"].value("ctename", ""));
      for (const auto& [k, v] : node.items()) collect_ctes(v);
    } else if (node.is_array()) {
      for (const auto& v : node) collect_ctes(v);
    }
  }

  void walk(const json& node) {
    if (node.is_array()) {
      for (const auto& v : node) walk(v);
      return;
    }
    if (!node.is_object()) return;
    check_shape(node);
    for (const auto& [kind, body] : node.items()) {
      if (body.is_object()) check(kind, body);
      walk(body);
    }
  }

 private:
  void add(const std::string& what, const std::string& name, const json& body) {
    found.push_back(what + " " + name + " at " + std::to_string(body.value("location", -1)));
  }

  void need_schema(const std::string& what, const json& names, const json& body) {
    auto n = parts(names);
    if (n.size() < 2) add(what, last(n), body);
  }

  // A table or a type, wherever it appears: a list element ({"RangeVar": {...}}) or a field
  // that holds one directly (INSERT's "relation", a cast's "typeName", a function's "returnType").
  void check_shape(const json& node) {
    if (node.contains("relname") && node.contains("relpersistence")) {
      // CREATE TEMP TABLE x makes x in pg_temp; every other name is looked up.
      if (!node.contains("schemaname") && node.value("relpersistence", "") != "t" &&
          !ctes.count(node.value("relname", "")))
        add("relation", node.value("relname", ""), node);
    } else if (node.contains("names") && node.contains("typemod")) {
      // serial and friends are column shorthands the parser expands, never looked up (and
      // never qualified: pg_catalog.bigserial does not exist).
      static const std::set<std::string> k_serial = {"smallserial", "serial",  "bigserial",
                                                     "serial2",     "serial4", "serial8"};
      auto n = parts(node["names"]);
      if (!(n.size() == 1 && k_serial.count(n[0]))) need_schema("type", node["names"], node);
    }
  }

  void check(const std::string& kind, const json& body) {
    if (kind == "FuncCall") {
      need_schema("function", body["funcname"], body);
    } else if (kind == "A_Expr") {
      need_schema(body.value("kind", "") == "AEXPR_OP" ? "operator" : body.value("kind", "expression"), body["name"],
                  body);
    } else if (kind == "SubLink") {
      auto type = body.value("subLinkType", "");
      if ((type == "ANY_SUBLINK" || type == "ALL_SUBLINK") && parts(body.value("operName", json())).size() < 2)
        add("IN or ANY over", "a subquery", body);
    } else if (kind == "CaseExpr" && body.contains("arg")) {
      add("simple", "CASE", body);
    } else if (kind == "CollateClause") {
      need_schema("collation", body["collname"], body);
    } else if (kind == "SortBy" && body.contains("useOp")) {
      need_schema("ORDER BY ... USING", body["useOp"], body);
    } else if (kind == "CreateTrigStmt") {
      need_schema("trigger function", body["funcname"], body);
    } else if (kind == "TypeCast") {
      auto type = last(parts(body["typeName"]["names"]));
      const auto& arg = body["arg"];
      if (looks_up_a_name(type) && arg.contains("A_Const") && arg["A_Const"].contains("sval")) {
        auto text = arg["A_Const"]["sval"].value("sval", "");
        if (text.find('.') == std::string::npos) add(type + " literal", "'" + text + "'", body);
      }
    }
  }
};
}  // namespace

std::vector<std::string> names_found_by_search_path(const std::string& sql) {
  PgQueryParseResult r = pg_query_parse(sql.c_str());
  if (r.error) {
    std::string message = r.error->message;
    pg_query_free_parse_result(r);
    throw Error(ErrorKind::Config, "SQL does not parse: " + message);
  }
  auto tree = json::parse(r.parse_tree);
  pg_query_free_parse_result(r);
  Walker w;
  w.collect_ctes(tree);
  w.walk(tree);
  return w.found;
}

}  // namespace ferry::migrate
