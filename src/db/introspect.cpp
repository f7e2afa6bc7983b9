#include "db/introspect.hpp"

#include <set>

#include "core/text.hpp"

namespace ferry::db {

namespace {
// Namespaces that belong to the user: not system, not ferry's own.
constexpr const char* k_user_ns =
    "n.nspname NOT IN ('pg_catalog', 'information_schema', 'ferry') "
    "AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'";

// Every object as one sortable line, named as a user names it (quote_ident), never by OID or
// attnum. ACLs are sorted, and a NULL ACL reads as the default it stands for, so a GRANT
// undone by a REVOKE is as before. Names of constraints and indexes are included because a
// rollback must bring them back exactly.
constexpr const char* k_description_sql = R"SQL(WITH ns AS (
  SELECT n.oid, n.nspname FROM pg_namespace n
  WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'ferry')
    AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp%'),
rel AS (
  SELECT c.*, quote_ident(ns.nspname) || '.' || quote_ident(c.relname) AS qname FROM pg_class c JOIN ns ON ns.oid = c.relnamespace
  WHERE NOT (ns.nspname = 'public' AND c.relname = 'alembic_version'))
SELECT line FROM (
 SELECT 'schema ' || quote_ident(n.nspname) || ' owner=' || pg_get_userbyid(n.nspowner) || ' acl=' ||
   (SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(coalesce(n.nspacl, acldefault('n', n.nspowner))) a) AS line
 FROM pg_namespace n JOIN ns ON ns.oid = n.oid
 UNION ALL
 SELECT 'rel ' || qname || ' ' || relkind::text || ' persistence=' || relpersistence::text ||
   ' owner=' || pg_get_userbyid(relowner) || ' rls=' || relrowsecurity::text || '/' || relforcerowsecurity::text ||
   ' options=' || coalesce(reloptions::text, '') || ' acl=' ||
   coalesce((SELECT string_agg(a::text, ',' ORDER BY a::text)
     FROM unnest(coalesce(relacl, acldefault(CASE WHEN relkind = 'S' THEN 's' ELSE 'r' END::"char", relowner))) a), '') ||
   CASE WHEN relkind = 'p' THEN ' partition by ' || pg_get_partkeydef(oid) ELSE '' END ||
   CASE WHEN relispartition THEN ' partition of ' || (SELECT string_agg(i.inhparent::regclass::text, ',') FROM pg_inherits i WHERE i.inhrelid = rel.oid) || ' ' || pg_get_expr(relpartbound, oid) ELSE '' END
 FROM rel WHERE relkind IN ('r','p','v','m','S','f')
 UNION ALL
 SELECT 'col ' || r.qname || ' ' || row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum) || ' ' ||
   quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod) ||
   CASE WHEN a.attnotnull THEN ' not null' ELSE '' END ||
   coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '') ||
   CASE WHEN a.attidentity <> '' THEN ' identity ' || a.attidentity::text ELSE '' END ||
   CASE WHEN a.attgenerated <> '' THEN ' generated ' || a.attgenerated::text ELSE '' END ||
   CASE WHEN a.attcollation <> t.typcollation THEN ' collate ' || a.attcollation::regcollation::text ELSE '' END ||
   coalesce(' acl=' || (SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(a.attacl) x), '')
 FROM pg_attribute a JOIN rel r ON r.oid = a.attrelid JOIN pg_type t ON t.oid = a.atttypid
 LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE a.attnum > 0 AND NOT a.attisdropped AND r.relkind IN ('r','p','v','m','f','c')
 UNION ALL
 SELECT 'con ' || r.qname || ' ' || quote_ident(co.conname) || ' ' || pg_get_constraintdef(co.oid)
 FROM pg_constraint co JOIN rel r ON r.oid = co.conrelid
 UNION ALL
 SELECT 'idx ' || pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN rel r ON r.oid = i.indrelid
 UNION ALL
 SELECT 'seq ' || r.qname || ' ' || format_type(s.seqtypid, NULL) || ' start ' || s.seqstart || ' increment ' || s.seqincrement ||
   ' min ' || s.seqmin || ' max ' || s.seqmax || ' cache ' || s.seqcache || CASE WHEN s.seqcycle THEN ' cycle' ELSE '' END ||
   coalesce(' owned by ' || (SELECT d.refobjid::regclass::text || '.' || quote_ident(a.attname) FROM pg_depend d
     JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
     WHERE d.classid = 'pg_class'::regclass AND d.objid = r.oid AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a','i') LIMIT 1), '')
 FROM pg_sequence s JOIN rel r ON r.oid = s.seqrelid
 UNION ALL
 SELECT 'view ' || qname || ' ' || pg_get_viewdef(oid) FROM rel WHERE relkind IN ('v','m')
 UNION ALL
 SELECT 'trigger ' || r.qname || ' ' || pg_get_triggerdef(tg.oid) || ' enabled=' || tg.tgenabled::text
 FROM pg_trigger tg JOIN rel r ON r.oid = tg.tgrelid WHERE NOT tg.tgisinternal
 UNION ALL
 SELECT 'rule ' || r.qname || ' ' || pg_get_ruledef(rw.oid) || ' enabled=' || rw.ev_enabled::text
 FROM pg_rewrite rw JOIN rel r ON r.oid = rw.ev_class WHERE rw.rulename <> '_RETURN'
 UNION ALL
 SELECT 'policy ' || quote_ident(schemaname) || '.' || quote_ident(tablename) || ' ' || quote_ident(policyname) || ' ' ||
   permissive || ' ' || cmd || ' to ' || array_to_string(roles, ',') || coalesce(' using ' || qual, '') || coalesce(' check ' || with_check, '')
 FROM pg_policies p JOIN ns ON ns.nspname = p.schemaname
 UNION ALL
 SELECT 'function ' || quote_ident(ns.nspname) || '.' || quote_ident(p.proname) || '(' || pg_get_function_identity_arguments(p.oid) || ') ' ||
   p.prokind::text || ' owner=' || pg_get_userbyid(p.proowner) || ' acl=' ||
   (SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(coalesce(p.proacl, acldefault('f', p.proowner))) a) || ' ' ||
   md5(CASE WHEN p.prokind = 'a' THEN (SELECT ag.aggtransfn::text || ' ' || ag.aggfinalfn::text || ' ' || format_type(ag.aggtranstype, NULL) || ' ' || coalesce(ag.agginitval, '')
     FROM pg_aggregate ag WHERE ag.aggfnoid = p.oid) ELSE pg_get_functiondef(p.oid) END)
 FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace
 UNION ALL
 SELECT 'type ' || quote_ident(ns.nspname) || '.' || quote_ident(t.typname) || ' ' || t.typtype::text ||
   ' owner=' || pg_get_userbyid(t.typowner) || ' acl=' ||
   (SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(coalesce(t.typacl, acldefault('T', t.typowner))) a) ||
   CASE t.typtype WHEN 'e' THEN ' labels ' || (SELECT string_agg(quote_literal(e.enumlabel), ',' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid)
     WHEN 'd' THEN ' over ' || format_type(t.typbasetype, t.typtypmod) || CASE WHEN t.typnotnull THEN ' not null' ELSE '' END || coalesce(' default ' || t.typdefault, '')
     WHEN 'r' THEN ' of ' || (SELECT format_type(rg.rngsubtype, NULL) FROM pg_range rg WHERE rg.rngtypid = t.oid)
     ELSE '' END
 FROM pg_type t JOIN ns ON ns.oid = t.typnamespace
 WHERE t.typtype IN ('e','d','c','r') AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind <> 'c')
 UNION ALL
 SELECT 'domain constraint ' || quote_ident(ns.nspname) || '.' || quote_ident(t.typname) || ' ' || quote_ident(co.conname) || ' ' || pg_get_constraintdef(co.oid)
 FROM pg_constraint co JOIN pg_type t ON t.oid = co.contypid JOIN ns ON ns.oid = t.typnamespace
 UNION ALL
 SELECT 'comment ' || pg_describe_object(d.classoid, d.objoid, d.objsubid) || ' ' || md5(d.description)
 FROM pg_description d, LATERAL pg_identify_object(d.classoid, d.objoid, d.objsubid) o
 WHERE (d.objoid >= 16384 OR d.classoid = 'pg_namespace'::regclass)
   AND coalesce(o.schema, CASE WHEN o.type = 'schema' THEN o.identity END) IN (SELECT nspname FROM ns)
 UNION ALL
 SELECT 'extension ' || quote_ident(e.extname) || ' ' || e.extversion || ' in ' || quote_ident(n.nspname)
 FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
 UNION ALL
 SELECT 'event trigger ' || quote_ident(evtname) || ' ' || evtevent || ' ' || evtfoid::regproc::text || ' ' || evtenabled::text ||
   coalesce(' ' || array_to_string(evttags, ','), '') FROM pg_event_trigger
 UNION ALL
 SELECT 'database setting ' || CASE WHEN s.setrole = 0 THEN '*' ELSE quote_ident(pg_get_userbyid(s.setrole)) END || ' ' || x
 FROM pg_db_role_setting s, unnest(s.setconfig) x
 WHERE s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
) x ORDER BY line COLLATE "C")SQL";

std::string part_key(const std::string& part) {
  if (part.find('.') == std::string::npos && part.find('"') == std::string::npos && !part.empty()) return part;
  return quote_ident(part);
}
}  // namespace

std::string table_key(const std::string& schema, const std::string& table) {
  return part_key(schema) + "." + part_key(table);
}

std::string schema_description(Connection& conn) {
  auto r = conn.exec(k_description_sql);
  std::string out;
  for (int i = 0; i < r.rows(); ++i) {
    out += r.text(i, 0);
    out.push_back('\n');
  }
  return out;
}

std::string fingerprint_query() {
  // Hashed where the description is made: 64 characters cross the network instead of one row
  // per object. The same bytes as sha256_hex(schema_description(conn)): the lines in the same
  // order, a NULL line read as "", each ended by a newline, in the client's encoding
  // (RoundTrips.StatusFingerprintIsTheHashOfTheDescription holds the two equal).
  return std::string(
             "SELECT encode(sha256(convert_to(coalesce(string_agg(coalesce(line, '') || E'\\n', '' ORDER BY line COLLATE "
             "\"C\"), ''), pg_client_encoding())), 'hex') FROM (") +
         k_description_sql + ") d";
}

std::string schema_fingerprint(Connection& conn) { return conn.exec(fingerprint_query()).text(0, 0); }

std::string describe_difference(const std::string& before, const std::string& now, size_t limit) {
  auto lines = [](const std::string& text) {
    std::multiset<std::string> out;
    size_t start = 0;
    while (start < text.size()) {
      size_t nl = text.find('\n', start);
      if (nl == std::string::npos) nl = text.size();
      out.insert(text.substr(start, nl - start));
      start = nl + 1;
    }
    return out;
  };
  auto a = lines(before);
  auto b = lines(now);
  std::vector<std::string> diff;
  for (const auto& l : a)
    if (!b.count(l)) diff.push_back("gone: " + l);
  for (const auto& l : b)
    if (!a.count(l)) diff.push_back("new: " + l);
  std::string out;
  for (size_t i = 0; i < diff.size() && i < limit; ++i) out += (i ? "; " : "") + diff[i];
  if (diff.size() > limit) out += "; and " + std::to_string(diff.size() - limit) + " more";
  return out;
}

namespace {
// A heap table whose main fork has no block holds no row, visible or not: its count is 0
// without counting (opening and planning a count of 200 empty tables is most of a baseline).
// Other access methods may keep rows elsewhere: always counted.
constexpr const char* k_surely_empty =
    "c.relam = (SELECT oid FROM pg_am WHERE amname = 'heap') AND pg_relation_size(c.oid) = 0";

struct TableToCount {
  std::string schema;
  std::string table;
  bool empty = false;
};

std::vector<TableToCount> tables_to_count(Connection& conn, const std::vector<std::string>& only) {
  std::vector<TableToCount> tables;
  if (only.empty()) {
    auto r = conn.exec(std::string("SELECT n.nspname, c.relname, ") + k_surely_empty +
                       " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND " +
                       k_user_ns +
                       " AND NOT (n.nspname = 'public' AND c.relname = 'alembic_version') "
                       "ORDER BY 1, 2");
    for (int i = 0; i < r.rows(); ++i) tables.push_back({r.text(i, 0), r.text(i, 1), r.boolean(i, 2)});
    return tables;
  }
  for (const auto& t : only) {
    auto r = conn.exec_params(std::string("SELECT n.nspname, c.relname, ") + k_surely_empty +
                                  " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                                  "WHERE c.oid = to_regclass($1)",
                              {t});
    if (r.rows() == 0) throw Error(ErrorKind::Verify, "table '" + t + "' does not exist");
    tables.push_back({r.text(0, 0), r.text(0, 1), r.boolean(0, 2)});
  }
  return tables;
}
}  // namespace

std::map<std::string, long long> row_counts(Connection& conn, const std::vector<std::string>& only) {
  auto tables = tables_to_count(conn, only);
  std::map<std::string, long long> out;
  // One statement counts every table that may hold rows: one round trip.
  std::string sql;
  for (size_t i = 0; i < tables.size(); ++i) {
    const auto& t = tables[i];
    if (t.empty) {
      out[table_key(t.schema, t.table)] = 0;
      continue;
    }
    if (!sql.empty()) sql += " UNION ALL ";
    sql += "SELECT " + std::to_string(i) + ", count(*) FROM " + quote_qualified(t.schema, t.table);
  }
  if (sql.empty()) return out;
  auto r = conn.exec(sql);
  for (int i = 0; i < r.rows(); ++i) {
    const auto& t = tables[std::stoul(r.text(i, 0))];
    out[table_key(t.schema, t.table)] = r.integer(i, 1);
  }
  return out;
}

std::map<std::string, SequencePosition> sequence_positions(Connection& conn) {
  auto r = conn.exec(std::string("SELECT n.nspname, c.relname, s.seqincrement > 0, ps.last_value "
                                 "FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid "
                                 "JOIN pg_namespace n ON n.oid = c.relnamespace "
                                 "LEFT JOIN pg_sequences ps ON ps.schemaname = n.nspname AND ps.sequencename = "
                                 "c.relname WHERE ") +
                     k_user_ns);
  std::map<std::string, SequencePosition> out;
  for (int i = 0; i < r.rows(); ++i) {
    SequencePosition p;
    p.ascending = r.boolean(i, 2);
    if (!r.is_null(i, 3)) p.last_value = r.integer(i, 3);
    out[table_key(r.text(i, 0), r.text(i, 1))] = p;
  }
  return out;
}

std::vector<std::string> sequences_behind(const std::map<std::string, SequencePosition>& before,
                                          const std::map<std::string, SequencePosition>& now) {
  std::vector<std::string> out;
  auto show = [](const SequencePosition& p) {
    return p.last_value ? std::to_string(*p.last_value) : std::string("unused");
  };
  for (const auto& [name, was] : before) {
    auto it = now.find(name);
    if (it == now.end() || !was.last_value) continue;  // a missing sequence shows in the fingerprint
    const auto& is = it->second;
    bool behind =
        !is.last_value || (was.ascending ? *is.last_value < *was.last_value : *is.last_value > *was.last_value);
    if (behind) out.push_back("sequence " + name + " is at " + show(is) + ", behind " + show(was) + " before");
  }
  return out;
}

std::vector<DatabaseSetting> database_settings(Connection& conn) {
  auto r = conn.exec(
      "SELECT CASE WHEN s.setrole = 0 THEN '' ELSE pg_get_userbyid(s.setrole) END, x "
      "FROM pg_db_role_setting s, unnest(s.setconfig) x "
      "WHERE s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY 1, 2");
  std::vector<DatabaseSetting> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back({r.text(i, 0), r.text(i, 1)});
  return out;
}

std::string database_settings_sql(const std::string& dbname, const std::vector<DatabaseSetting>& settings) {
  std::string db = quote_ident(dbname);
  std::string sql =
      "DO $ferry$ DECLARE r record; BEGIN\n"
      "  FOR r IN SELECT setrole FROM pg_db_role_setting\n"
      "      WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database()) LOOP\n"
      "    IF r.setrole = 0 THEN EXECUTE format('ALTER DATABASE %I RESET ALL', current_database());\n"
      "    ELSE EXECUTE format('ALTER ROLE %I IN DATABASE %I RESET ALL', pg_get_userbyid(r.setrole),\n"
      "        current_database());\n"
      "    END IF;\n"
      "  END LOOP;\n"
      "END $ferry$;\n";
  // The value goes in as it is stored (a literal through set_config), then FROM CURRENT: no
  // re-parsing of list values such as search_path.
  for (const auto& s : settings) {
    auto eq = s.setting.find('=');
    if (eq == std::string::npos) continue;
    std::string name = s.setting.substr(0, eq);
    std::string quoted;
    for (size_t start = 0;;) {
      size_t dot = name.find('.', start);
      quoted +=
          (quoted.empty() ? "" : ".") + quote_ident(name.substr(start, dot == std::string::npos ? dot : dot - start));
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    sql += "SELECT pg_catalog.set_config(" + quote_literal(name) + ", " + quote_literal(s.setting.substr(eq + 1)) +
           ", true);\n";
    sql += (s.role.empty() ? "ALTER DATABASE " + db : "ALTER ROLE " + quote_ident(s.role) + " IN DATABASE " + db) +
           " SET " + quoted + " FROM CURRENT;\nRESET " + quoted + ";\n";
  }
  return sql;
}

std::optional<std::string> column_type(Connection& conn, const std::string& table, const std::string& column) {
  auto r = conn.exec_params(
      "SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
      "WHERE a.attrelid = to_regclass($1) AND a.attname = $2 AND a.attnum > 0 "
      "AND NOT a.attisdropped",
      {table, column});
  if (r.rows() == 0) return std::nullopt;
  return r.text(0, 0);
}

std::string canonical_type(Connection& conn, const std::string& type) {
  try {
    auto r = conn.exec_params("SELECT format_type(to_regtype($1), NULL)", {type});
    if (r.rows() == 1 && !r.is_null(0, 0)) return r.text(0, 0);
  } catch (const Error&) {
  }
  return type;
}

}  // namespace ferry::db
