#include "db/introspect.hpp"

#include <set>

#include "core/text.hpp"

namespace ferry::db {

std::string user_schema_test(const std::string& column, bool with_ferry) {
  return column + " OPERATOR(pg_catalog.<>) ALL (ARRAY['pg_catalog', 'information_schema'" +
         (with_ferry ? "" : ", 'ferry'") + "]::pg_catalog.name[]) AND " + column +
         " OPERATOR(pg_catalog.!~~) 'pg\\_toast%' AND " + column + " OPERATOR(pg_catalog.!~~) 'pg\\_temp%'";
}

namespace {
// Namespaces that belong to the user: not system, not ferry's own.
const std::string k_user_ns = user_schema_test();

// Every object as one sortable line, named as a user names it (quote_ident), never by OID or
// attnum. ACLs are sorted, and a NULL ACL reads as the default it stands for, so a GRANT
// undone by a REVOKE is as before. Names of constraints and indexes are included because a
// rollback must bring them back exactly. Every function, operator, type and catalog is named
// with its schema (ARCHITECTURE.md, "ferry's own SQL names everything with its schema"): the
// output is the one the unqualified text gave, and no object on the search path takes part.
constexpr const char* k_description_sql = R"SQL(WITH ns AS (
  SELECT n.oid, n.nspname FROM pg_catalog.pg_namespace n
  WHERE n.nspname OPERATOR(pg_catalog.<>) ALL (ARRAY['pg_catalog', 'information_schema',
     'ferry']::pg_catalog.name[])
    AND n.nspname OPERATOR(pg_catalog.!~~) 'pg\_toast%' AND n.nspname OPERATOR(pg_catalog.!~~) 'pg\_temp%'),
rel AS (
  SELECT c.*, pg_catalog.quote_ident(ns.nspname) OPERATOR(pg_catalog.||) '.'
     OPERATOR(pg_catalog.||) pg_catalog.quote_ident(c.relname) AS qname
  FROM pg_catalog.pg_class c JOIN ns ON ns.oid OPERATOR(pg_catalog.=) c.relnamespace
  WHERE NOT (ns.nspname OPERATOR(pg_catalog.=) 'public' AND c.relname OPERATOR(pg_catalog.=) 'alembic_version'))
SELECT line FROM (
 SELECT 'schema ' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(n.nspname) OPERATOR(pg_catalog.||) ' owner='
    OPERATOR(pg_catalog.||) pg_catalog.pg_get_userbyid(n.nspowner) OPERATOR(pg_catalog.||) ' acl='
       OPERATOR(pg_catalog.||)
   (SELECT pg_catalog.string_agg(a::pg_catalog.text, ',' ORDER BY a::pg_catalog.text)
      FROM pg_catalog.unnest(coalesce(n.nspacl, pg_catalog.acldefault('n', n.nspowner))) a) AS line
 FROM pg_catalog.pg_namespace n JOIN ns ON ns.oid OPERATOR(pg_catalog.=) n.oid
 UNION ALL
 SELECT 'rel ' OPERATOR(pg_catalog.||) qname OPERATOR(pg_catalog.||) ' '
    OPERATOR(pg_catalog.||) relkind::pg_catalog.text OPERATOR(pg_catalog.||) ' persistence='
       OPERATOR(pg_catalog.||) relpersistence::pg_catalog.text OPERATOR(pg_catalog.||)
   ' owner=' OPERATOR(pg_catalog.||) pg_catalog.pg_get_userbyid(relowner) OPERATOR(pg_catalog.||) ' rls='
      OPERATOR(pg_catalog.||) relrowsecurity::pg_catalog.text OPERATOR(pg_catalog.||) '/'
      OPERATOR(pg_catalog.||) relforcerowsecurity::pg_catalog.text OPERATOR(pg_catalog.||)
   ' options=' OPERATOR(pg_catalog.||) coalesce(reloptions::pg_catalog.text, '') OPERATOR(pg_catalog.||) ' acl='
      OPERATOR(pg_catalog.||)
   coalesce((SELECT pg_catalog.string_agg(a::pg_catalog.text, ',' ORDER BY a::pg_catalog.text)
     FROM pg_catalog.unnest(coalesce(relacl, pg_catalog.acldefault(CASE WHEN relkind OPERATOR(pg_catalog.=) 'S'
        THEN 's' ELSE 'r' END::pg_catalog."char", relowner))) a), '') OPERATOR(pg_catalog.||)
   CASE WHEN relkind OPERATOR(pg_catalog.=) 'p' THEN ' partition by '
      OPERATOR(pg_catalog.||) pg_catalog.pg_get_partkeydef(oid) ELSE '' END OPERATOR(pg_catalog.||)
   CASE WHEN relispartition THEN ' partition of '
      OPERATOR(pg_catalog.||) (SELECT pg_catalog.string_agg(i.inhparent::pg_catalog.regclass::pg_catalog.text,
       ',') FROM pg_catalog.pg_inherits i WHERE i.inhrelid OPERATOR(pg_catalog.=) rel.oid)
        OPERATOR(pg_catalog.||) ' ' OPERATOR(pg_catalog.||) pg_catalog.pg_get_expr(relpartbound, oid) ELSE '' END
 FROM rel WHERE relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r','p','v','m','S','f']::pg_catalog."char"[])
 UNION ALL
 SELECT 'col ' OPERATOR(pg_catalog.||) r.qname OPERATOR(pg_catalog.||) ' '
    OPERATOR(pg_catalog.||) pg_catalog.row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum)
       OPERATOR(pg_catalog.||) ' ' OPERATOR(pg_catalog.||)
   pg_catalog.quote_ident(a.attname) OPERATOR(pg_catalog.||) ' '
      OPERATOR(pg_catalog.||) pg_catalog.format_type(a.atttypid, a.atttypmod) OPERATOR(pg_catalog.||)
   CASE WHEN a.attnotnull THEN ' not null' ELSE '' END OPERATOR(pg_catalog.||)
   coalesce(' default ' OPERATOR(pg_catalog.||) pg_catalog.pg_get_expr(d.adbin, d.adrelid), '')
      OPERATOR(pg_catalog.||)
   CASE WHEN a.attidentity OPERATOR(pg_catalog.<>) '' THEN ' identity '
      OPERATOR(pg_catalog.||) a.attidentity::pg_catalog.text ELSE '' END OPERATOR(pg_catalog.||)
   CASE WHEN a.attgenerated OPERATOR(pg_catalog.<>) '' THEN ' generated '
      OPERATOR(pg_catalog.||) a.attgenerated::pg_catalog.text ELSE '' END OPERATOR(pg_catalog.||)
   CASE WHEN a.attcollation OPERATOR(pg_catalog.<>) t.typcollation THEN ' collate '
      OPERATOR(pg_catalog.||) a.attcollation::pg_catalog.regcollation::pg_catalog.text ELSE '' END
      OPERATOR(pg_catalog.||)
   coalesce(' acl='
      OPERATOR(pg_catalog.||) (SELECT pg_catalog.string_agg(x::pg_catalog.text, ',' ORDER BY x::pg_catalog.text)
       FROM pg_catalog.unnest(a.attacl) x), '')
 FROM pg_catalog.pg_attribute a JOIN rel r ON r.oid OPERATOR(pg_catalog.=) a.attrelid
    JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) a.atttypid
 LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid OPERATOR(pg_catalog.=) a.attrelid
    AND d.adnum OPERATOR(pg_catalog.=) a.attnum
 WHERE a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
    AND r.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r','p','v','m','f','c']::pg_catalog."char"[])
 UNION ALL
 SELECT 'con ' OPERATOR(pg_catalog.||) r.qname OPERATOR(pg_catalog.||) ' '
    OPERATOR(pg_catalog.||) pg_catalog.quote_ident(co.conname) OPERATOR(pg_catalog.||) ' '
       OPERATOR(pg_catalog.||) pg_catalog.pg_get_constraintdef(co.oid)
 FROM pg_catalog.pg_constraint co JOIN rel r ON r.oid OPERATOR(pg_catalog.=) co.conrelid
 UNION ALL
 SELECT 'idx ' OPERATOR(pg_catalog.||) pg_catalog.pg_get_indexdef(i.indexrelid) FROM pg_catalog.pg_index i
    JOIN rel r ON r.oid OPERATOR(pg_catalog.=) i.indrelid
 UNION ALL
 SELECT 'seq ' OPERATOR(pg_catalog.||) r.qname OPERATOR(pg_catalog.||) ' '
    OPERATOR(pg_catalog.||) pg_catalog.format_type(s.seqtypid, NULL) OPERATOR(pg_catalog.||) ' start '
       OPERATOR(pg_catalog.||) s.seqstart OPERATOR(pg_catalog.||) ' increment '
       OPERATOR(pg_catalog.||) s.seqincrement OPERATOR(pg_catalog.||)
   ' min ' OPERATOR(pg_catalog.||) s.seqmin OPERATOR(pg_catalog.||) ' max ' OPERATOR(pg_catalog.||) s.seqmax
      OPERATOR(pg_catalog.||) ' cache ' OPERATOR(pg_catalog.||) s.seqcache
      OPERATOR(pg_catalog.||) CASE WHEN s.seqcycle THEN ' cycle' ELSE '' END OPERATOR(pg_catalog.||)
   coalesce(' owned by ' OPERATOR(pg_catalog.||) (SELECT d.refobjid::pg_catalog.regclass::pg_catalog.text
      OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(a.attname)
      FROM pg_catalog.pg_depend d
     JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) d.refobjid
        AND a.attnum OPERATOR(pg_catalog.=) d.refobjsubid
     WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
        AND d.objid OPERATOR(pg_catalog.=) r.oid
        AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
        AND d.deptype OPERATOR(pg_catalog.=) ANY (ARRAY['a','i']::pg_catalog."char"[]) LIMIT 1), '')
 FROM pg_catalog.pg_sequence s JOIN rel r ON r.oid OPERATOR(pg_catalog.=) s.seqrelid
 UNION ALL
 SELECT 'view ' OPERATOR(pg_catalog.||) qname OPERATOR(pg_catalog.||) ' '
    OPERATOR(pg_catalog.||) pg_catalog.pg_get_viewdef(oid) FROM rel
       WHERE relkind OPERATOR(pg_catalog.=) ANY (ARRAY['v','m']::pg_catalog."char"[])
 UNION ALL
 SELECT 'trigger ' OPERATOR(pg_catalog.||) r.qname OPERATOR(pg_catalog.||) ' '
    OPERATOR(pg_catalog.||) pg_catalog.pg_get_triggerdef(tg.oid) OPERATOR(pg_catalog.||) ' enabled='
       OPERATOR(pg_catalog.||) tg.tgenabled::pg_catalog.text
 FROM pg_catalog.pg_trigger tg JOIN rel r ON r.oid OPERATOR(pg_catalog.=) tg.tgrelid WHERE NOT tg.tgisinternal
 UNION ALL
 SELECT 'rule ' OPERATOR(pg_catalog.||) r.qname OPERATOR(pg_catalog.||) ' '
    OPERATOR(pg_catalog.||) pg_catalog.pg_get_ruledef(rw.oid) OPERATOR(pg_catalog.||) ' enabled='
       OPERATOR(pg_catalog.||) rw.ev_enabled::pg_catalog.text
 FROM pg_catalog.pg_rewrite rw JOIN rel r ON r.oid OPERATOR(pg_catalog.=) rw.ev_class
    WHERE rw.rulename OPERATOR(pg_catalog.<>) '_RETURN'
 UNION ALL
 SELECT 'policy ' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(schemaname) OPERATOR(pg_catalog.||) '.'
    OPERATOR(pg_catalog.||) pg_catalog.quote_ident(tablename) OPERATOR(pg_catalog.||) ' '
       OPERATOR(pg_catalog.||) pg_catalog.quote_ident(policyname) OPERATOR(pg_catalog.||) ' '
       OPERATOR(pg_catalog.||)
   permissive OPERATOR(pg_catalog.||) ' ' OPERATOR(pg_catalog.||) cmd OPERATOR(pg_catalog.||) ' to '
      OPERATOR(pg_catalog.||) pg_catalog.array_to_string(roles, ',') OPERATOR(pg_catalog.||) coalesce(' using '
      OPERATOR(pg_catalog.||) qual, '') OPERATOR(pg_catalog.||) coalesce(' check '
      OPERATOR(pg_catalog.||) with_check, '')
 FROM pg_catalog.pg_policies p JOIN ns ON ns.nspname OPERATOR(pg_catalog.=) p.schemaname
 UNION ALL
 SELECT 'function ' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(ns.nspname) OPERATOR(pg_catalog.||) '.'
    OPERATOR(pg_catalog.||) pg_catalog.quote_ident(p.proname) OPERATOR(pg_catalog.||) '('
       OPERATOR(pg_catalog.||) pg_catalog.pg_get_function_identity_arguments(p.oid) OPERATOR(pg_catalog.||) ') '
       OPERATOR(pg_catalog.||)
   p.prokind::pg_catalog.text OPERATOR(pg_catalog.||) ' owner='
      OPERATOR(pg_catalog.||) pg_catalog.pg_get_userbyid(p.proowner) OPERATOR(pg_catalog.||) ' acl='
      OPERATOR(pg_catalog.||)
   (SELECT pg_catalog.string_agg(a::pg_catalog.text, ',' ORDER BY a::pg_catalog.text)
      FROM pg_catalog.unnest(coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner))) a)
      OPERATOR(pg_catalog.||) ' ' OPERATOR(pg_catalog.||)
   pg_catalog.md5(CASE WHEN p.prokind OPERATOR(pg_catalog.=) 'a' THEN (SELECT ag.aggtransfn::pg_catalog.text
      OPERATOR(pg_catalog.||) ' ' OPERATOR(pg_catalog.||) ag.aggfinalfn::pg_catalog.text
      OPERATOR(pg_catalog.||) ' ' OPERATOR(pg_catalog.||) pg_catalog.format_type(ag.aggtranstype, NULL)
      OPERATOR(pg_catalog.||) ' ' OPERATOR(pg_catalog.||) coalesce(ag.agginitval, '')
     FROM pg_catalog.pg_aggregate ag
        WHERE ag.aggfnoid OPERATOR(pg_catalog.=) p.oid) ELSE pg_catalog.pg_get_functiondef(p.oid) END)
 FROM pg_catalog.pg_proc p JOIN ns ON ns.oid OPERATOR(pg_catalog.=) p.pronamespace
 UNION ALL
 SELECT 'type ' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(ns.nspname) OPERATOR(pg_catalog.||) '.'
    OPERATOR(pg_catalog.||) pg_catalog.quote_ident(t.typname) OPERATOR(pg_catalog.||) ' '
       OPERATOR(pg_catalog.||) t.typtype::pg_catalog.text OPERATOR(pg_catalog.||)
   ' owner=' OPERATOR(pg_catalog.||) pg_catalog.pg_get_userbyid(t.typowner) OPERATOR(pg_catalog.||) ' acl='
      OPERATOR(pg_catalog.||)
   (SELECT pg_catalog.string_agg(a::pg_catalog.text, ',' ORDER BY a::pg_catalog.text)
      FROM pg_catalog.unnest(coalesce(t.typacl, pg_catalog.acldefault('T', t.typowner))) a) OPERATOR(pg_catalog.||)
   CASE WHEN t.typtype OPERATOR(pg_catalog.=) 'e' THEN ' labels '
      OPERATOR(pg_catalog.||) (SELECT pg_catalog.string_agg(pg_catalog.quote_literal(e.enumlabel), ',' ORDER BY
       e.enumsortorder) FROM pg_catalog.pg_enum e WHERE e.enumtypid OPERATOR(pg_catalog.=) t.oid)
     WHEN t.typtype OPERATOR(pg_catalog.=) 'd' THEN ' over '
        OPERATOR(pg_catalog.||) pg_catalog.format_type(t.typbasetype, t.typtypmod)
        OPERATOR(pg_catalog.||) CASE WHEN t.typnotnull THEN ' not null' ELSE '' END
        OPERATOR(pg_catalog.||) coalesce(' default ' OPERATOR(pg_catalog.||) t.typdefault, '')
     WHEN t.typtype OPERATOR(pg_catalog.=) 'r' THEN ' of '
        OPERATOR(pg_catalog.||) (SELECT pg_catalog.format_type(rg.rngsubtype, NULL) FROM pg_catalog.pg_range rg
        WHERE rg.rngtypid OPERATOR(pg_catalog.=) t.oid)
     ELSE '' END
 FROM pg_catalog.pg_type t JOIN ns ON ns.oid OPERATOR(pg_catalog.=) t.typnamespace
 WHERE t.typtype OPERATOR(pg_catalog.=) ANY (ARRAY['e','d','c','r']::pg_catalog."char"[]) AND NOT EXISTS (SELECT 1
    FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) t.typrelid
       AND c.relkind OPERATOR(pg_catalog.<>) 'c')
 UNION ALL
 SELECT 'domain constraint ' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(ns.nspname)
    OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(t.typname)
       OPERATOR(pg_catalog.||) ' ' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(co.conname)
       OPERATOR(pg_catalog.||) ' ' OPERATOR(pg_catalog.||) pg_catalog.pg_get_constraintdef(co.oid)
 FROM pg_catalog.pg_constraint co JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) co.contypid
    JOIN ns ON ns.oid OPERATOR(pg_catalog.=) t.typnamespace
 UNION ALL
 SELECT 'comment ' OPERATOR(pg_catalog.||) pg_catalog.pg_describe_object(d.classoid, d.objoid, d.objsubid)
    OPERATOR(pg_catalog.||) ' ' OPERATOR(pg_catalog.||) pg_catalog.md5(d.description)
 FROM pg_catalog.pg_description d, LATERAL pg_catalog.pg_identify_object(d.classoid, d.objoid, d.objsubid) o
 WHERE (d.objoid OPERATOR(pg_catalog.>=) 16384
    OR d.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_namespace'::pg_catalog.regclass)
   AND coalesce(o.schema, CASE WHEN o.type OPERATOR(pg_catalog.=) 'schema'
      THEN o.identity END) OPERATOR(pg_catalog.=) ANY (SELECT nspname FROM ns)
 UNION ALL
 SELECT 'operator ' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(ns.nspname) OPERATOR(pg_catalog.||) '.'
    OPERATOR(pg_catalog.||) op.oprname OPERATOR(pg_catalog.||) '(' OPERATOR(pg_catalog.||)
    coalesce(pg_catalog.format_type(op.oprleft, NULL), 'NONE') OPERATOR(pg_catalog.||) ','
    OPERATOR(pg_catalog.||) coalesce(pg_catalog.format_type(op.oprright, NULL), 'NONE') OPERATOR(pg_catalog.||) ') '
    OPERATOR(pg_catalog.||) op.oprcode::pg_catalog.regprocedure::pg_catalog.text OPERATOR(pg_catalog.||) ' returns '
    OPERATOR(pg_catalog.||) pg_catalog.format_type(op.oprresult, NULL) OPERATOR(pg_catalog.||) ' commutator '
    OPERATOR(pg_catalog.||) op.oprcom::pg_catalog.regoperator::pg_catalog.text OPERATOR(pg_catalog.||) ' negator '
    OPERATOR(pg_catalog.||) op.oprnegate::pg_catalog.regoperator::pg_catalog.text OPERATOR(pg_catalog.||) ' '
    OPERATOR(pg_catalog.||) op.oprrest::pg_catalog.text OPERATOR(pg_catalog.||) ' ' OPERATOR(pg_catalog.||)
    op.oprjoin::pg_catalog.text OPERATOR(pg_catalog.||) ' merges=' OPERATOR(pg_catalog.||)
    op.oprcanmerge::pg_catalog.text OPERATOR(pg_catalog.||) ' hashes=' OPERATOR(pg_catalog.||)
    op.oprcanhash::pg_catalog.text OPERATOR(pg_catalog.||) ' owner=' OPERATOR(pg_catalog.||)
    pg_catalog.pg_get_userbyid(op.oprowner)
 FROM pg_catalog.pg_operator op JOIN ns ON ns.oid OPERATOR(pg_catalog.=) op.oprnamespace
 WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend x WHERE x.classid OPERATOR(pg_catalog.=)
    'pg_catalog.pg_operator'::pg_catalog.regclass AND x.objid OPERATOR(pg_catalog.=) op.oid
    AND x.deptype OPERATOR(pg_catalog.=) ANY (ARRAY['e','i']::pg_catalog."char"[]))
 UNION ALL
 SELECT 'cast ' OPERATOR(pg_catalog.||) pg_catalog.format_type(ca.castsource, NULL) OPERATOR(pg_catalog.||) ' as '
    OPERATOR(pg_catalog.||) pg_catalog.format_type(ca.casttarget, NULL) OPERATOR(pg_catalog.||) ' '
    OPERATOR(pg_catalog.||) ca.castfunc::pg_catalog.regprocedure::pg_catalog.text OPERATOR(pg_catalog.||) ' '
    OPERATOR(pg_catalog.||) ca.castcontext::pg_catalog.text OPERATOR(pg_catalog.||) ca.castmethod::pg_catalog.text
 FROM pg_catalog.pg_cast ca
 WHERE ca.oid OPERATOR(pg_catalog.>=) 16384 AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend x WHERE x.classid
    OPERATOR(pg_catalog.=) 'pg_catalog.pg_cast'::pg_catalog.regclass AND x.objid OPERATOR(pg_catalog.=) ca.oid
    AND x.deptype OPERATOR(pg_catalog.=) ANY (ARRAY['e','i']::pg_catalog."char"[]))
 UNION ALL
 SELECT 'collation ' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(ns.nspname) OPERATOR(pg_catalog.||) '.'
    OPERATOR(pg_catalog.||) pg_catalog.quote_ident(co.collname) OPERATOR(pg_catalog.||) ' '
    OPERATOR(pg_catalog.||) co.collprovider::pg_catalog.text OPERATOR(pg_catalog.||) ' '
    OPERATOR(pg_catalog.||) coalesce(co.collcollate, '') OPERATOR(pg_catalog.||) ' '
    OPERATOR(pg_catalog.||) coalesce(co.collctype, '') OPERATOR(pg_catalog.||) ' deterministic='
    OPERATOR(pg_catalog.||) co.collisdeterministic::pg_catalog.text OPERATOR(pg_catalog.||) ' owner='
    OPERATOR(pg_catalog.||) pg_catalog.pg_get_userbyid(co.collowner)
 FROM pg_catalog.pg_collation co JOIN ns ON ns.oid OPERATOR(pg_catalog.=) co.collnamespace
 WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend x WHERE x.classid OPERATOR(pg_catalog.=)
    'pg_catalog.pg_collation'::pg_catalog.regclass AND x.objid OPERATOR(pg_catalog.=) co.oid
    AND x.deptype OPERATOR(pg_catalog.=) ANY (ARRAY['e','i']::pg_catalog."char"[]))
 UNION ALL
 SELECT 'extension ' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(e.extname) OPERATOR(pg_catalog.||) ' '
    OPERATOR(pg_catalog.||) e.extversion OPERATOR(pg_catalog.||) ' in '
       OPERATOR(pg_catalog.||) pg_catalog.quote_ident(n.nspname)
 FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace
 UNION ALL
 SELECT 'event trigger ' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(evtname) OPERATOR(pg_catalog.||) ' '
    OPERATOR(pg_catalog.||) evtevent OPERATOR(pg_catalog.||) ' '
       OPERATOR(pg_catalog.||) evtfoid::pg_catalog.regproc::pg_catalog.text OPERATOR(pg_catalog.||) ' '
       OPERATOR(pg_catalog.||) evtenabled::pg_catalog.text OPERATOR(pg_catalog.||)
   coalesce(' ' OPERATOR(pg_catalog.||) pg_catalog.array_to_string(evttags, ','), '')
      FROM pg_catalog.pg_event_trigger
 UNION ALL
 SELECT 'database setting '
    OPERATOR(pg_catalog.||) CASE WHEN s.setrole OPERATOR(pg_catalog.=) 0 THEN '*'
       ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(s.setrole)) END OPERATOR(pg_catalog.||) ' '
        OPERATOR(pg_catalog.||) x
 FROM pg_catalog.pg_db_role_setting s, pg_catalog.unnest(s.setconfig) x
 WHERE s.setdatabase OPERATOR(pg_catalog.=) (SELECT oid FROM pg_catalog.pg_database
    WHERE datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
) x ORDER BY line COLLATE pg_catalog."C")SQL";

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
             "SELECT pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(coalesce(pg_catalog.string_agg(coalesce("
             "line, '') OPERATOR(pg_catalog.||) E'\\n', '' ORDER BY line COLLATE pg_catalog.\"C\"), ''), "
             "pg_catalog.pg_client_encoding())), 'hex') FROM (") +
         k_description_sql + ") d";
}

std::string schema_fingerprint(Connection& conn) { return conn.exec(fingerprint_query()).text(0, 0); }

const char* const k_row_security_applies =
    "(c.relrowsecurity AND NOT (SELECT r.rolsuper OR r.rolbypassrls FROM pg_catalog.pg_roles r WHERE r.rolname "
    "OPERATOR(pg_catalog.=) current_user) AND (c.relforcerowsecurity OR NOT pg_catalog.pg_has_role(c.relowner, "
    "'USAGE')))";

// In front of a statement sent alone (not inside a transaction ferry opened): the statement runs
// in an implicit transaction, and the setting ends with it.
const char* const k_row_security_off = "SET LOCAL row_security = off; ";

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
    "c.relam OPERATOR(pg_catalog.=) (SELECT oid FROM pg_catalog.pg_am WHERE amname OPERATOR(pg_catalog.=) 'heap') "
    "AND pg_catalog.pg_relation_size(c.oid) OPERATOR(pg_catalog.=) 0";

constexpr const char* k_grant_bypassrls =
    "; run ferry as a role with BYPASSRLS (ALTER ROLE ... BYPASSRLS) or as the table's owner";

struct TableToCount {
  std::string schema;
  std::string table;
  bool empty = false;
};

TableToCount countable(const Result& r, int i) {
  if (r.boolean(i, 3))
    throw Error(ErrorKind::Verify,
                "cannot count the rows of " + quote_qualified(r.text(i, 0), r.text(i, 1)) +
                    ": its row-level security policies apply to the role that runs ferry, so a count would run "
                    "their code as that role and see only the rows they show" +
                    k_grant_bypassrls);
  return {r.text(i, 0), r.text(i, 1), r.boolean(i, 2)};
}

std::vector<TableToCount> tables_to_count(Connection& conn, const std::vector<std::string>& only) {
  std::vector<TableToCount> tables;
  if (only.empty()) {
    auto r = conn.exec(std::string("SELECT n.nspname, c.relname, ") + k_surely_empty + ", " + k_row_security_applies +
                       " FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) "
                       "c.relnamespace WHERE c.relkind OPERATOR(pg_catalog.=) 'r' AND " +
                       k_user_ns +
                       " AND NOT (n.nspname OPERATOR(pg_catalog.=) 'public' AND c.relname OPERATOR(pg_catalog.=) "
                       "'alembic_version') ORDER BY 1, 2");
    for (int i = 0; i < r.rows(); ++i) tables.push_back(countable(r, i));
    return tables;
  }
  for (const auto& t : only) {
    auto r =
        conn.exec_params(std::string("SELECT n.nspname, c.relname, ") + k_surely_empty + ", " + k_row_security_applies +
                             " FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid "
                             "OPERATOR(pg_catalog.=) c.relnamespace WHERE c.oid OPERATOR(pg_catalog.=) "
                             "pg_catalog.to_regclass($1)",
                         {t});
    if (r.rows() == 0) throw Error(ErrorKind::Verify, "table '" + t + "' does not exist");
    tables.push_back(countable(r, 0));
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
    sql += "SELECT " + std::to_string(i) + ", pg_catalog.count(*) FROM " + quote_qualified(t.schema, t.table);
  }
  if (sql.empty()) return out;
  // row_security = off for this statement: a policy switched on after the check above makes
  // PostgreSQL refuse the count instead of running the policy's code and counting what it shows.
  Result r = [&] {
    try {
      return conn.exec(k_row_security_off + sql);
    } catch (const DbError& e) {
      if (e.sqlstate() != "42501") throw;
      throw Error(ErrorKind::Verify, std::string("cannot count the rows: ") + e.what() + k_grant_bypassrls);
    }
  }();
  for (int i = 0; i < r.rows(); ++i) {
    const auto& t = tables[std::stoul(r.text(i, 0))];
    out[table_key(t.schema, t.table)] = r.integer(i, 1);
  }
  return out;
}

std::map<std::string, SequencePosition> sequence_positions(Connection& conn) {
  auto r = conn.exec(std::string("SELECT n.nspname, c.relname, s.seqincrement OPERATOR(pg_catalog.>) 0, ps.last_value "
                                 "FROM pg_catalog.pg_sequence s JOIN pg_catalog.pg_class c ON c.oid "
                                 "OPERATOR(pg_catalog.=) s.seqrelid JOIN pg_catalog.pg_namespace n ON n.oid "
                                 "OPERATOR(pg_catalog.=) c.relnamespace LEFT JOIN pg_catalog.pg_sequences ps ON "
                                 "ps.schemaname OPERATOR(pg_catalog.=) n.nspname AND ps.sequencename "
                                 "OPERATOR(pg_catalog.=) c.relname WHERE ") +
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
      "SELECT CASE WHEN s.setrole OPERATOR(pg_catalog.=) 0 THEN '' ELSE pg_catalog.pg_get_userbyid(s.setrole) END, x "
      "FROM pg_catalog.pg_db_role_setting s, pg_catalog.unnest(s.setconfig) x WHERE s.setdatabase "
      "OPERATOR(pg_catalog.=) (SELECT oid FROM pg_catalog.pg_database WHERE datname OPERATOR(pg_catalog.=) "
      "pg_catalog.current_database()) ORDER BY 1, 2");
  std::vector<DatabaseSetting> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back({r.text(i, 0), r.text(i, 1)});
  return out;
}

std::string database_settings_sql(const std::string& dbname, const std::vector<DatabaseSetting>& settings) {
  std::string db = quote_ident(dbname);
  std::string sql =
      "DO $ferry$ DECLARE r record; BEGIN\n"
      "  FOR r IN SELECT setrole FROM pg_catalog.pg_db_role_setting\n"
      "      WHERE setdatabase OPERATOR(pg_catalog.=) (SELECT oid FROM pg_catalog.pg_database\n"
      "        WHERE datname OPERATOR(pg_catalog.=) pg_catalog.current_database()) LOOP\n"
      "    IF r.setrole OPERATOR(pg_catalog.=) 0 THEN\n"
      "      EXECUTE pg_catalog.format('ALTER DATABASE %I RESET ALL', pg_catalog.current_database());\n"
      "    ELSE EXECUTE pg_catalog.format('ALTER ROLE %I IN DATABASE %I RESET ALL',\n"
      "        pg_catalog.pg_get_userbyid(r.setrole), pg_catalog.current_database());\n"
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
      "SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a "
      "WHERE a.attrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass($1) AND a.attname OPERATOR(pg_catalog.=) $2 "
      "AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped",
      {table, column});
  if (r.rows() == 0) return std::nullopt;
  return r.text(0, 0);
}

std::string canonical_type(Connection& conn, const std::string& type) {
  try {
    auto r = conn.exec_params("SELECT pg_catalog.format_type(pg_catalog.to_regtype($1), NULL)", {type});
    if (r.rows() == 1 && !r.is_null(0, 0)) return r.text(0, 0);
  } catch (const Error&) {
  }
  return type;
}

}  // namespace ferry::db
