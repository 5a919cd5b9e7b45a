// The schema of SqliteTaskStore's file, as the ordered list of migrations that build it.
// Open() applies, in one transaction each, every migration newer than the version recorded
// in the file's meta table (key 'schema_version'), so an old file is upgraded in place. A
// file whose version is newer than the last migration here is refused.
//
// To change the schema: append a migration with the next version; never edit a published
// one (files in the field were built by it). Tests build a version-1 file from
// SqliteMigrations()[0] alone to check the upgrade path.
#ifndef TASKWIRE_SCHEDULER_STORE_SQLITE_SCHEMA_H_
#define TASKWIRE_SCHEDULER_STORE_SQLITE_SCHEMA_H_

#include <vector>

namespace taskwire::scheduler {

struct SqliteMigration {
  int version;      // 1, 2, ...: the schema version once applied
  const char* sql;  // statements separated by ';'
};

// In version order; the last one's version is the current schema version.
const std::vector<SqliteMigration>& SqliteMigrations();

inline int CurrentSqliteSchemaVersion() { return SqliteMigrations().back().version; }

// The migration that added the columns copied from each record (queue, type, key,
// retain_until): upgrading to it also fills them in from the stored records.
inline constexpr int kSqliteRecordColumnsVersion = 3;

// The migration that gave specs a table of their own: upgrading to it moves each task's
// spec out of its record.
inline constexpr int kSqliteSpecTableVersion = 4;

}  // namespace taskwire::scheduler

#endif  // TASKWIRE_SCHEDULER_STORE_SQLITE_SCHEMA_H_
