// The schema of PostgresTaskStore's database, as the ordered list of migrations that build
// it. Open() applies every migration newer than the highest version in the table
// taskwire_schema_version, in one transaction holding an advisory lock (so schedulers that
// start together on an empty database migrate it once), and records each version it
// applied. A database whose version is newer than the last migration here is refused.
//
// To change the schema: append a migration with the next version; never edit a published
// one (databases in the field were built by it).
#ifndef TASKWIRE_SCHEDULER_STORE_POSTGRES_SCHEMA_H_
#define TASKWIRE_SCHEDULER_STORE_POSTGRES_SCHEMA_H_

#include <cstdint>
#include <vector>

namespace taskwire::scheduler {

struct PostgresMigration {
  int version;      // 1, 2, ...: the schema version once applied
  const char* sql;  // statements separated by ';'
};

// In version order; the last one's version is the current schema version.
const std::vector<PostgresMigration>& PostgresMigrations();

inline int CurrentPostgresSchemaVersion() { return PostgresMigrations().back().version; }

// The key of the advisory lock that serialises migrations ("taskwire" in ASCII, roughly).
inline constexpr int64_t kPostgresMigrationLock = 0x7461736b77697265;

}  // namespace taskwire::scheduler

#endif  // TASKWIRE_SCHEDULER_STORE_POSTGRES_SCHEMA_H_
