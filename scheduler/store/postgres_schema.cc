#include "scheduler/store/postgres_schema.h"

namespace taskwire::scheduler {

const std::vector<PostgresMigration>& PostgresMigrations() {
  static const std::vector<PostgresMigration> kMigrations = {
      // 1: the same model as the SQLite store at its schema version 5 (sqlite_schema.cc):
      // each record is its encoded bytes (record_codec.h) beside the columns SQL needs. The
      // spec is a column of the task's row: PostgreSQL keeps a large one out of line
      // (TOAST) and an UPDATE that does not set it keeps the same out-of-line value, so a
      // payload is written once. retain_until (microseconds since the epoch) is NULL while
      // a task is unfinished; a workflow's node has the largest bigint once finished (it is
      // deleted with its workflow). The writes between a task's first and its final one
      // change no indexed column, so PostgreSQL updates them in place (HOT, helped by the
      // fillfactor). taskwire_meta.max_seq is the highest seq ever committed.
      //
      // scheduler_lease is the one row of leader election (leader_lease.h): who holds the
      // lease, until when (the database's clock, so the schedulers' clocks do not matter)
      // and its term, which every write of the leader checks (fencing).
      {1, R"sql(
        CREATE TABLE taskwire_meta (
          key text PRIMARY KEY,
          value bigint NOT NULL
        );
        INSERT INTO taskwire_meta (key, value) VALUES ('max_seq', 0);
        CREATE TABLE tasks (
          id text PRIMARY KEY,
          seq bigint NOT NULL,
          version bigint NOT NULL,
          state integer NOT NULL,
          workflow_id text NOT NULL DEFAULT '',
          queue text NOT NULL,
          type text NOT NULL,
          idempotency_key text,
          owner text NOT NULL DEFAULT '',
          retain_until bigint,
          record bytea NOT NULL,
          spec bytea NOT NULL
        ) WITH (fillfactor = 80);
        CREATE INDEX tasks_unfinished ON tasks (seq) WHERE retain_until IS NULL;
        CREATE INDEX tasks_finished ON tasks (seq) WHERE retain_until IS NOT NULL;
        CREATE INDEX tasks_by_retention ON tasks (retain_until) WHERE retain_until IS NOT NULL;
        CREATE INDEX tasks_by_key ON tasks (idempotency_key) WHERE idempotency_key IS NOT NULL;
        CREATE INDEX tasks_by_workflow ON tasks (workflow_id) WHERE workflow_id <> '';
        CREATE TABLE workflows (
          id text PRIMARY KEY,
          seq bigint NOT NULL,
          version bigint NOT NULL,
          state integer NOT NULL,
          idempotency_key text,
          retain_until bigint,
          record bytea NOT NULL
        );
        CREATE INDEX workflows_running ON workflows (seq) WHERE state = 1;
        CREATE INDEX workflows_by_retention ON workflows (retain_until)
          WHERE retain_until IS NOT NULL;
        CREATE INDEX workflows_by_key ON workflows (idempotency_key)
          WHERE idempotency_key IS NOT NULL;
        CREATE TABLE scheduler_lease (
          id integer PRIMARY KEY CHECK (id = 1),
          owner text NOT NULL,
          advertise text NOT NULL,
          term bigint NOT NULL,
          expires_at timestamptz NOT NULL
        );
        INSERT INTO scheduler_lease (id, owner, advertise, term, expires_at)
          VALUES (1, '', '', 0, '-infinity');
      )sql"},
  };
  return kMigrations;
}

}  // namespace taskwire::scheduler
