#include "scheduler/store/sqlite_schema.h"

namespace taskwire::scheduler {

const std::vector<SqliteMigration>& SqliteMigrations() {
  static const std::vector<SqliteMigration> kMigrations = {
      // 1: tasks and the meta table. The record column holds the whole TaskRecord
      // (record_codec.h); the other columns copy what SQL needs (the versioned upsert) or
      // an operator wants to query with the sqlite3 shell. Load() reads in rowid order and
      // sorts by seq in memory, so seq needs no index. meta.max_seq is the highest seq ever
      // committed, which deleting tasks must not lower.
      {1, R"sql(
        CREATE TABLE meta (
          key TEXT PRIMARY KEY,
          value INTEGER NOT NULL
        ) WITHOUT ROWID;
        INSERT INTO meta (key, value) VALUES ('max_seq', 0);
        CREATE TABLE tasks (
          id TEXT PRIMARY KEY,
          seq INTEGER NOT NULL,
          version INTEGER NOT NULL,
          state INTEGER NOT NULL,
          record BLOB NOT NULL
        );
      )sql"},
      // 2: workflows, and each task's workflow for operators' queries (empty for
      // a task outside a workflow, which every task written by version 1 is).
      {2, R"sql(
        CREATE TABLE workflows (
          id TEXT PRIMARY KEY,
          seq INTEGER NOT NULL,
          version INTEGER NOT NULL,
          state INTEGER NOT NULL,
          record BLOB NOT NULL
        );
        ALTER TABLE tasks ADD COLUMN workflow_id TEXT NOT NULL DEFAULT '';
      )sql"},
      // 3: the scheduler holds only the work in flight; finished tasks are read back from
      // here. Columns for what those reads select on (filled from the records of older
      // files by the upgrade), and indexes so that recovery, retention and key lookups cost
      // by what they return, not by the size of the history. retain_until (microseconds
      // since the epoch) is NULL while a task is unfinished and set once it has finished
      // (a workflow's node: the largest integer, as nodes are deleted with their
      // workflow), so one index serves recovery (IS NULL) and retention (<= now). An
      // UPDATE rewrites only the indexes over the columns it sets: the store sets
      // retain_until only in a task's final write, so the writes between touch no index.
      {3, R"sql(
        ALTER TABLE tasks ADD COLUMN queue TEXT NOT NULL DEFAULT '';
        ALTER TABLE tasks ADD COLUMN type TEXT NOT NULL DEFAULT '';
        ALTER TABLE tasks ADD COLUMN idempotency_key TEXT;
        ALTER TABLE tasks ADD COLUMN retain_until INTEGER;
        ALTER TABLE workflows ADD COLUMN idempotency_key TEXT;
        ALTER TABLE workflows ADD COLUMN retain_until INTEGER;
        CREATE INDEX tasks_by_seq ON tasks (seq);
        CREATE INDEX tasks_by_retention ON tasks (retain_until);
        CREATE INDEX tasks_by_key ON tasks (idempotency_key) WHERE idempotency_key IS NOT NULL;
        CREATE INDEX tasks_by_workflow ON tasks (workflow_id) WHERE workflow_id <> '';
        CREATE INDEX workflows_running ON workflows (seq) WHERE state = 1;
        CREATE INDEX workflows_by_retention ON workflows (retain_until)
          WHERE retain_until IS NOT NULL;
        CREATE INDEX workflows_by_key ON workflows (idempotency_key)
          WHERE idempotency_key IS NOT NULL;
      )sql"},
      // 4: a task's spec (its payload among it) in a table of its own, written once when
      // the task is submitted; the tasks row keeps the rest of the record, rewritten at
      // every change. Keyed by the task's seq (unique among tasks; an integer key is
      // SQLite's cheapest lookup). The trigger deletes a spec with its task, whichever
      // statement deletes the task. The upgrade moves the specs out of the records.
      {4, R"sql(
        CREATE TABLE task_specs (
          seq INTEGER PRIMARY KEY,
          spec BLOB NOT NULL
        );
        CREATE TRIGGER tasks_delete_spec AFTER DELETE ON tasks BEGIN
          DELETE FROM task_specs WHERE seq = OLD.seq;
        END;
      )sql"},
      // 5: who submitted each task (the access file's name), for a submitter's listing of
      // its own finished tasks. Tasks stored before have none: only an admin lists them.
      {5, R"sql(
        ALTER TABLE tasks ADD COLUMN owner TEXT NOT NULL DEFAULT '';
      )sql"},
  };
  return kMigrations;
}

}  // namespace taskwire::scheduler
