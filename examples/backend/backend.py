#!/usr/bin/python3
"""A small real backend for ferry's demo and tests.

GET /api/health answers 200 {"status":"ok"} only when every column its model needs exists
(REQUIRE="tasks.title,tasks.due_date"), like an ORM that fails with `column does not exist`;
otherwise 503 with the reason. GET /api/tasks lists tasks through the same columns.
Environment: PORT, PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD, REQUIRE.
"""
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2

REQUIRE = [c for c in os.environ.get("REQUIRE", "").split(",") if c]


def connect():
    return psycopg2.connect(connect_timeout=3)


def missing_columns(cur):
    missing = []
    for ref in REQUIRE:
        table, column = ref.rsplit(".", 1)
        cur.execute(
            "SELECT 1 FROM information_schema.columns WHERE table_name = %s AND column_name = %s",
            (table, column),
        )
        if cur.fetchone() is None:
            missing.append(ref)
    return missing


class Handler(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):  # quiet
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        try:
            with connect() as conn, conn.cursor() as cur:
                missing = missing_columns(cur)
                if self.path == "/api/health":
                    if missing:
                        return self.reply(503, {"status": "error", "error": "column does not exist: " + ", ".join(missing)})
                    return self.reply(200, {"status": "ok"})
                if self.path == "/api/tasks":
                    cols = [r.split(".", 1)[1] for r in REQUIRE if r.startswith("tasks.")] or ["id"]
                    cur.execute("SELECT " + ", ".join('"%s"' % c for c in cols) + " FROM tasks ORDER BY 1 LIMIT 100")
                    return self.reply(200, {"tasks": [dict(zip(cols, map(str, row))) for row in cur.fetchall()]})
                return self.reply(404, {"error": "not found"})
        except Exception as exc:  # the database is down, or the schema is broken
            return self.reply(503, {"status": "error", "error": str(exc).strip()})


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler)
    sys.stdout.write("backend listening on 127.0.0.1:%s\n" % os.environ["PORT"])
    sys.stdout.flush()
    server.serve_forever()
