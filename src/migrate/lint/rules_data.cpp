// Rule family: data removed or rewritten (FL030-FL035): DROP of anything, TRUNCATE, UPDATE and
// DELETE without WHERE.
#include <cctype>

#include "migrate/lint/rules.hpp"

namespace ferry::migrate::lint::detail {

namespace {
// "schema.name" of one of a DropStmt's objects (a list of names), or the string itself.
std::string object_name(const json& o) {
  if (o.contains("String")) return str(o["String"], "sval");
  std::string out;
  for (const auto& part : o.value("List", json::object()).value("items", json::array()))
    if (part.contains("String")) out += (out.empty() ? "" : ".") + str(part["String"], "sval");
  return out;
}

std::string object_word(std::string type) {  // "OBJECT_MATVIEW" -> "matview"
  if (type.starts_with("OBJECT_")) type = type.substr(7);
  for (auto& ch : type) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return type;
}

void dropped(Context& c, const json& b) {
  std::string type = str(b, "removeType");
  bool cascade = str(b, "behavior") == "DROP_CASCADE";
  for (const auto& o : b.value("objects", json::array())) {
    std::string name = object_name(o);
    std::string what = "DROP " + object_word(type) + " " + name + (cascade ? " CASCADE" : "");
    if (type == "OBJECT_SCHEMA" || cascade)
      c.add("FL032", type == "OBJECT_TABLE" ? name : "", what);
    else if (type == "OBJECT_TABLE")
      c.add("FL030", name, what);
    else if (type != "OBJECT_INDEX")  // an index: FL022
      c.add("FL031", "", what);
  }
}
}  // namespace

void data_rules(Context& c) {
  const json& b = *c.body;
  if (c.kind == "DropStmt") {
    dropped(c, b);
  } else if (c.kind == "TruncateStmt") {
    for (const auto& r : b.value("relations", json::array())) {
      std::string t = relation_name(r.value("RangeVar", json::object()));
      c.add("FL033", t, "TRUNCATE " + t);
    }
  } else if ((c.kind == "DeleteStmt" || c.kind == "UpdateStmt") && !b.contains("whereClause") &&
             b.contains("relation")) {
    std::string t = relation_name(b["relation"]);
    bool del = c.kind == "DeleteStmt";
    c.add(del ? "FL034" : "FL035", t, std::string(del ? "DELETE FROM " : "UPDATE ") + t + " without WHERE: every row");
  }
}

}  // namespace ferry::migrate::lint::detail
