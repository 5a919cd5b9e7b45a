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
      // 2: workflows (issue 4), and each task's workflow for operators' queries (empty for
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
  };
  return kMigrations;
}

}  // namespace taskwire::scheduler
