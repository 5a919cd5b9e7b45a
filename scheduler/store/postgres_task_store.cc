#include "scheduler/store/postgres_task_store.h"

#include <algorithm>
#include <limits>
#include <pqxx/pqxx>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "scheduler/store/postgres_schema.h"
#include "scheduler/store/postgres_util.h"
#include "scheduler/store/record_codec.h"

namespace taskwire::scheduler {
namespace {

// A task's retain_until column: a workflow's nodes are deleted with it, never on their own.
std::optional<int64_t> RetainUntilColumn(const TaskRecord& r) {
  if (!IsTerminal(r.state)) return std::nullopt;
  const absl::Time until =
      r.workflow_id.empty() ? absl::Time(r.retain_until) : absl::InfiniteFuture();
  if (until == absl::InfiniteFuture()) return std::numeric_limits<int64_t>::max();
  return absl::ToUnixMicros(until);
}

std::optional<int64_t> RetainUntilColumn(const WorkflowRecord& r) {
  if (r.state == WorkflowState::kRunning) return std::nullopt;
  if (r.retain_until == absl::InfiniteFuture()) return std::numeric_limits<int64_t>::max();
  return absl::ToUnixMicros(r.retain_until);
}

std::optional<absl::string_view> KeyColumn(const std::string& key) {
  if (key.empty()) return std::nullopt;  // NULL: the partial index leaves it out
  return key;
}

// Writes: each statement takes its rows as arrays of columns (unnest), and their bytes as
// one binary parameter sliced by 1-based offsets and lengths, so that a transaction costs a
// few round trips whatever the number of records in it.
constexpr char kInsertTasks[] = R"sql(
  INSERT INTO tasks (id, seq, version, state, workflow_id, queue, type, idempotency_key,
                     owner, retain_until, record, spec)
  SELECT u.id, u.seq, u.version, u.state, u.workflow_id, u.queue, u.type, u.key, u.owner,
         u.retain_until, substr($15::bytea, u.record_at, u.record_len),
         substr($15::bytea, u.spec_at, u.spec_len)
  FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::int[], $5::text[], $6::text[],
              $7::text[], $8::text[], $9::text[], $10::bigint[], $11::int[], $12::int[],
              $13::int[], $14::int[])
    AS u(id, seq, version, state, workflow_id, queue, type, key, owner, retain_until,
         record_at, record_len, spec_at, spec_len)
  ON CONFLICT (id) DO NOTHING
)sql";

// The writes after a task's first: only a newer version replaces the row (task_store.h).
// Fewer rows updated than given means some were never committed (inserted next; found by
// kMissingTasks) or are stale (left alone).
constexpr char kUpdateTasks[] = R"sql(
  UPDATE tasks t SET version = u.version, state = u.state, retain_until = u.retain_until,
                     record = substr($7::bytea, u.record_at, u.record_len)
  FROM unnest($1::text[], $2::bigint[], $3::int[], $4::bigint[], $5::int[], $6::int[])
    AS u(id, version, state, retain_until, record_at, record_len)
  WHERE t.id = u.id AND t.version < u.version
)sql";

constexpr char kMissingTasks[] = R"sql(
  SELECT u.id FROM unnest($1::text[]) AS u(id)
  WHERE NOT EXISTS (SELECT 1 FROM tasks t WHERE t.id = u.id)
)sql";

constexpr char kUpsertWorkflows[] = R"sql(
  INSERT INTO workflows (id, seq, version, state, idempotency_key, retain_until, record)
  SELECT u.id, u.seq, u.version, u.state, u.key, u.retain_until,
         substr($8::bytea, u.record_at, u.record_len)
  FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::int[], $5::text[], $6::bigint[],
              $7::int[], $9::int[])
    AS u(id, seq, version, state, key, retain_until, record_at, record_len)
  ON CONFLICT (id) DO UPDATE SET version = excluded.version, state = excluded.state,
    record = excluded.record, retain_until = excluded.retain_until
  WHERE excluded.version > workflows.version
)sql";

// retain_until IS NOT NULL (every finished task) selects the index tasks_finished.
constexpr char kListFinished[] = R"sql(
  SELECT id, record, spec FROM tasks
  WHERE retain_until IS NOT NULL AND seq >= $1 AND seq < $2 AND state >= 5
    AND ($3 = 0 OR state = $3)
    AND ($4 = '' OR queue = $4) AND ($5 = '' OR type = $5) AND ($7 = '' OR owner = $7)
)sql";

// The first statement of every write transaction once fenced (see the header): the lease's
// term, with a share lock that a takeover's update waits for.
constexpr char kFence[] = "SELECT term FROM scheduler_lease WHERE id = 1 FOR SHARE";

void Prepare(pqxx::connection_base& c) {
  c.prepare("fence", kFence);
  c.prepare("insert_tasks", kInsertTasks);
  c.prepare("update_tasks", kUpdateTasks);
  c.prepare("missing_tasks", kMissingTasks);
  c.prepare("upsert_workflows", kUpsertWorkflows);
  c.prepare("delete_tasks", "DELETE FROM tasks WHERE id = ANY($1::text[])");
  c.prepare("delete_workflows", "DELETE FROM workflows WHERE id = ANY($1::text[])");
  c.prepare("raise_max_seq",
            "UPDATE taskwire_meta SET value = greatest(value, $1) WHERE key = 'max_seq'");
  c.prepare("max_seq", "SELECT value FROM taskwire_meta WHERE key = 'max_seq'");
  // Recovery reads what is in flight through partial indexes (postgres_schema.cc).
  c.prepare("load_unfinished_tasks",
            "SELECT id, record, spec FROM tasks WHERE retain_until IS NULL");
  c.prepare("load_running_workflow_nodes",
            "SELECT t.id, t.record, t.spec FROM workflows w JOIN tasks t "
            "ON t.workflow_id = w.id WHERE w.state = 1 AND t.workflow_id <> '' "
            "AND t.retain_until IS NOT NULL");
  c.prepare("load_running_workflows",
            "SELECT id, record FROM workflows WHERE state = 1 ORDER BY seq");
  c.prepare("delete_expired_tasks",
            "DELETE FROM tasks WHERE id IN (SELECT id FROM tasks WHERE retain_until IS NOT NULL "
            "AND retain_until <= $1 LIMIT $2)");
  c.prepare("expired_workflows",
            "SELECT id FROM workflows WHERE retain_until IS NOT NULL AND retain_until <= $1 "
            "LIMIT $2");
  c.prepare("delete_workflow_nodes",
            "DELETE FROM tasks WHERE workflow_id = ANY($1::text[]) AND workflow_id <> ''");
  c.prepare("next_due",
            "SELECT least((SELECT min(retain_until) FROM tasks WHERE retain_until IS NOT NULL), "
            "(SELECT min(retain_until) FROM workflows WHERE retain_until IS NOT NULL))");
  c.prepare("size", "SELECT pg_total_relation_size('tasks') + "
                    "pg_total_relation_size('workflows')");
}

void PrepareReads(pqxx::connection_base& c) {
  c.prepare("find_task", "SELECT id, record, spec FROM tasks WHERE id = $1");
  c.prepare("find_workflow", "SELECT id, record FROM workflows WHERE id = $1");
  c.prepare("find_task_by_key", "SELECT id FROM tasks WHERE idempotency_key = $1");
  c.prepare("find_workflow_by_key",
            "SELECT id, record FROM workflows WHERE idempotency_key = $1");
  c.prepare("list_finished", absl::StrCat(kListFinished, " ORDER BY seq LIMIT $6"));
  c.prepare("list_finished_newest", absl::StrCat(kListFinished, " ORDER BY seq DESC LIMIT $6"));
}

// Brings the schema up to CurrentPostgresSchemaVersion() in one transaction; refuses a
// database written by a newer taskwire, and one that holds tables of another program.
absl::Status Migrate(pqxx::connection_base& c, const std::string& where) {
  pqxx::work tx(c);
  tx.exec_params("SELECT pg_advisory_xact_lock($1)", kPostgresMigrationLock);
  const bool has_versions =
      !tx.exec1("SELECT to_regclass('taskwire_schema_version') IS NULL")[0].as<bool>();
  int version = 0;
  if (has_versions) {
    version = tx.exec1("SELECT coalesce(max(version), 0) FROM taskwire_schema_version")[0]
                  .as<int>();
  } else if (!tx.exec1("SELECT to_regclass('tasks') IS NULL")[0].as<bool>()) {
    return absl::FailedPreconditionError(absl::StrCat(
        where, ": not a taskwire store (it holds a table named tasks but no "
               "taskwire_schema_version): use a database of its own"));
  } else {
    tx.exec(
        "CREATE TABLE taskwire_schema_version (version integer PRIMARY KEY, "
        "applied_at timestamptz NOT NULL DEFAULT now())");
  }
  const int current = CurrentPostgresSchemaVersion();
  if (version > current) {
    return absl::FailedPreconditionError(absl::StrCat(
        where, ": the store has schema version ", version, ", newer than this binary knows (",
        current, "): it was written by a newer taskwire; run that version"));
  }
  const int from = version;
  for (const PostgresMigration& m : PostgresMigrations()) {
    if (m.version <= version) continue;
    tx.exec(m.sql);
    tx.exec_params("INSERT INTO taskwire_schema_version (version) VALUES ($1)", m.version);
    version = m.version;
  }
  tx.commit();
  if (from != version) {
    spdlog::info("store {}: schema {} version {}", where,
                 from == 0 ? "created at" : absl::StrCat("upgraded from ", from, " to"), version);
  }
  return absl::OkStatus();
}

// A record's bytes, which libpqxx hands over hex-decoded.
std::string Bytes(const pqxx::field& f) {
  if (f.is_null()) return {};
  const pqxx::binarystring b(f);
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

absl::StatusOr<TaskRecord> DecodeTaskRow(const pqxx::row& row, const std::string& where) {
  absl::StatusOr<TaskRecord> r = DecodeTask(Bytes(row[1]), Bytes(row[2]));
  if (!r.ok()) {
    return absl::DataLossError(absl::StrCat(where, ": task ", row[0].c_str(), " is corrupt: ",
                                            r.status().message()));
  }
  return r;
}

absl::StatusOr<WorkflowRecord> DecodeWorkflowRow(const pqxx::row& row,
                                                 const std::string& where) {
  absl::StatusOr<WorkflowRecord> r = DecodeWorkflow(Bytes(row[1]));
  if (!r.ok()) {
    return absl::DataLossError(absl::StrCat(where, ": workflow ", row[0].c_str(),
                                            " is corrupt: ", r.status().message()));
  }
  return r;
}

// The records of one group, merged: a task or workflow written twice in the group (two
// concurrent commits of its versions) is written once, with its newest version, as one
// statement may not touch a row twice.
struct MergedGroup {
  std::vector<const TaskRecord*> tasks;
  std::vector<const WorkflowRecord*> workflows;
  std::vector<std::string> deleted_tasks;
  std::vector<std::string> deleted_workflows;
  uint64_t max_seq = 0;
};

template <typename Record>
void KeepNewest(const Record& r, absl::flat_hash_map<absl::string_view, size_t>& index,
                std::vector<const Record*>& out) {
  auto [it, inserted] = index.try_emplace(r.id, out.size());
  if (inserted) {
    out.push_back(&r);
  } else if (r.version > out[it->second]->version) {
    out[it->second] = &r;
  }
}

template <typename Record>
void SortById(std::vector<const Record*>& records) {
  std::sort(records.begin(), records.end(),
            [](const Record* a, const Record* b) { return a->id < b->id; });
}

MergedGroup Merge(absl::Span<const StoreBatch* const> group) {
  MergedGroup m;
  absl::flat_hash_map<absl::string_view, size_t> task_index, workflow_index;
  for (const StoreBatch* batch : group) {
    for (const TaskRecord& r : batch->tasks) {
      KeepNewest(r, task_index, m.tasks);
      m.max_seq = std::max(m.max_seq, r.seq);
    }
    for (const WorkflowRecord& r : batch->workflows) {
      KeepNewest(r, workflow_index, m.workflows);
      m.max_seq = std::max(m.max_seq, r.seq);
    }
    m.deleted_tasks.insert(m.deleted_tasks.end(), batch->deleted_tasks.begin(),
                           batch->deleted_tasks.end());
    m.deleted_workflows.insert(m.deleted_workflows.end(), batch->deleted_workflows.begin(),
                               batch->deleted_workflows.end());
  }
  SortById(m.tasks);
  SortById(m.workflows);
  return m;
}

// Whether a record of the group is deleted by a later batch of it, which merging would
// reorder: such a group is written batch by batch.
bool DeletesAfterWrites(absl::Span<const StoreBatch* const> group) {
  absl::flat_hash_set<absl::string_view> written;
  for (const StoreBatch* batch : group) {
    for (const std::string& id : batch->deleted_tasks) {
      if (written.contains(id)) return true;
    }
    for (const std::string& id : batch->deleted_workflows) {
      if (written.contains(absl::StrCat("w/", id))) return true;
    }
    for (const TaskRecord& r : batch->tasks) written.insert(r.id);
    for (const WorkflowRecord& r : batch->workflows) written.insert(absl::StrCat("w/", r.id));
  }
  return false;
}

// Writes the merged records of one group inside `tx`.
void WriteMerged(pqxx::transaction_base& tx, const MergedGroup& m) {
  std::vector<const TaskRecord*> first_writes;  // inserted with their spec
  {
    PgArray ids, versions, states, retain, at, len;
    PgBlob bytes;
    std::vector<const TaskRecord*> updates;
    for (const TaskRecord* r : m.tasks) {
      if (r->version <= 1) {
        first_writes.push_back(r);
        continue;
      }
      updates.push_back(r);
      ids.Add(r->id);
      versions.Add(static_cast<int64_t>(r->version));
      states.Add(StoredTaskStateNumber(r->state));
      retain.Add(RetainUntilColumn(*r));
      const auto [offset, size] = bytes.Append(EncodeTask(*r));
      at.Add(offset);
      len.Add(size);
    }
    if (!updates.empty()) {
      std::string id_array = ids.Done();
      const size_t updated =
          tx.exec_prepared("update_tasks", id_array, versions.Done(), states.Done(),
                           retain.Done(), at.Done(), len.Done(), bytes.Param())
              .affected_rows();
      // A later version whose row was never committed (its first write was merged away, or
      // failed) is inserted whole; a stale one finds its row and is left alone.
      if (updated < updates.size()) {
        absl::flat_hash_set<std::string> missing;
        for (const pqxx::row& row : tx.exec_prepared("missing_tasks", id_array)) {
          missing.insert(row[0].as<std::string>());
        }
        for (const TaskRecord* r : updates) {
          if (missing.contains(r->id)) first_writes.push_back(r);
        }
      }
    }
  }
  if (!first_writes.empty()) {
    PgArray ids, seqs, versions, states, workflows, queues, types, keys, owners, retain,
        record_at, record_len, spec_at, spec_len;
    PgBlob bytes;
    for (const TaskRecord* r : first_writes) {
      ids.Add(r->id);
      seqs.Add(static_cast<int64_t>(r->seq));
      versions.Add(static_cast<int64_t>(r->version));
      states.Add(StoredTaskStateNumber(r->state));
      workflows.Add(r->workflow_id);
      queues.Add(r->spec->queue);
      types.Add(r->spec->type);
      keys.Add(KeyColumn(r->spec->idempotency_key));
      owners.Add(r->spec->owner);
      retain.Add(RetainUntilColumn(*r));
      auto [offset, size] = bytes.Append(EncodeTask(*r));
      record_at.Add(offset);
      record_len.Add(size);
      std::tie(offset, size) = bytes.Append(EncodeTaskSpec(*r->spec));
      spec_at.Add(offset);
      spec_len.Add(size);
    }
    tx.exec_prepared("insert_tasks", ids.Done(), seqs.Done(), versions.Done(), states.Done(),
                     workflows.Done(), queues.Done(), types.Done(), keys.Done(), owners.Done(),
                     retain.Done(), record_at.Done(), record_len.Done(), spec_at.Done(),
                     spec_len.Done(), bytes.Param());
  }
  if (!m.workflows.empty()) {
    PgArray ids, seqs, versions, states, keys, retain, at, len;
    PgBlob bytes;
    for (const WorkflowRecord* r : m.workflows) {
      ids.Add(r->id);
      seqs.Add(static_cast<int64_t>(r->seq));
      versions.Add(static_cast<int64_t>(r->version));
      states.Add(StoredWorkflowStateNumber(r->state));
      keys.Add(KeyColumn(r->idempotency_key));
      retain.Add(RetainUntilColumn(*r));
      const auto [offset, size] = bytes.Append(EncodeWorkflow(*r));
      at.Add(offset);
      len.Add(size);
    }
    tx.exec_prepared("upsert_workflows", ids.Done(), seqs.Done(), versions.Done(),
                     states.Done(), keys.Done(), retain.Done(), at.Done(), bytes.Param(),
                     len.Done());
  }
  if (!m.deleted_tasks.empty()) {
    PgArray ids;
    for (const std::string& id : m.deleted_tasks) ids.Add(id);
    tx.exec_prepared("delete_tasks", ids.Done());
  }
  if (!m.deleted_workflows.empty()) {
    PgArray ids;
    for (const std::string& id : m.deleted_workflows) ids.Add(id);
    tx.exec_prepared("delete_workflows", ids.Done());
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<PostgresTaskStore>> PostgresTaskStore::Open(
    const std::string& url, PostgresOptions options) {
  if (url.empty()) {
    return absl::InvalidArgumentError("postgres store: empty URL (--postgres-url)");
  }
  const PgSession session{
      .synchronous_commit = options.synchronous_commit,
      .idle_in_transaction_timeout = options.idle_in_transaction_timeout,
  };
  TW_ASSIGN_OR_RETURN(PgConnection db, PgConnect(url, session));
  const std::string where = PgWhere(*db);
  std::vector<PgConnection> writers;
  try {
    TW_RETURN_IF_ERROR(Migrate(*db, where));
    Prepare(*db);
    for (size_t i = 0; i < std::max<size_t>(options.writers, 1); ++i) {
      TW_ASSIGN_OR_RETURN(PgConnection writer, PgConnect(url, session));
      Prepare(*writer);
      writers.push_back(std::move(writer));
    }
  } catch (const std::exception& e) {
    return PgError(e, where, "preparing the store");
  }
  TW_ASSIGN_OR_RETURN(PgConnection read_db, PgConnect(url, session));
  try {
    PrepareReads(*read_db);
  } catch (const std::exception& e) {
    return PgError(e, where, "preparing the reads");
  }
  std::unique_ptr<PostgresTaskStore> store(new PostgresTaskStore(
      std::move(options), std::move(writers), std::move(db), std::move(read_db)));
  {
    absl::MutexLock lock(&store->db_mu_);
    store->MaybeUpdateSize();
  }
  return store;
}

PostgresTaskStore::PostgresTaskStore(PostgresOptions options,
                                     std::vector<PgConnection> writers, PgConnection db,
                                     PgConnection read_db)
    : where_(PgWhere(*db)),
      options_(std::move(options)),
      group_(writers.size()),
      writers_(std::move(writers)),
      db_(std::move(db)),
      read_db_(std::move(read_db)) {}

PostgresTaskStore::~PostgresTaskStore() = default;

absl::Status PostgresTaskStore::Commit(const StoreBatch& batch) {
  return group_.Commit(batch, [this](absl::Span<const StoreBatch* const> group,
                                     size_t writer) { return WriteGroup(group, writer); });
}

absl::Status PostgresTaskStore::WriteGroup(absl::Span<const StoreBatch* const> group,
                                           size_t writer) {
  const auto start = std::chrono::steady_clock::now();
  const uint64_t term = fence_term_.load();
  MergedGroup merged;
  size_t records = 0;
  for (const StoreBatch* batch : group) {
    records += batch->tasks.size() + batch->workflows.size() + batch->deleted_tasks.size() +
               batch->deleted_workflows.size();
  }
  absl::Status status;
  // The transaction is begun and ended by hand, so that BEGIN and the fence travel in one
  // round trip.
  pqxx::nontransaction tx(*writers_[writer]);
  try {
    if (term == 0) {
      tx.exec("BEGIN");
    } else {
      const uint64_t now_term =
          tx.exec1(absl::StrCat("BEGIN; ", kFence))[0].as<uint64_t>();
      if (now_term != term) {
        status = absl::FailedPreconditionError(absl::StrCat(
            where_, ": fenced: this scheduler led term ", term, " but the lease is at term ",
            now_term, " (another scheduler took over); nothing was written"));
      }
    }
    if (status.ok()) {
      if (DeletesAfterWrites(group)) {
        for (const StoreBatch* batch : group) {
          MergedGroup one = Merge({&batch, 1});
          WriteMerged(tx, one);
          merged.max_seq = std::max(merged.max_seq, one.max_seq);
        }
      } else {
        merged = Merge(group);
        WriteMerged(tx, merged);
      }
      if (merged.max_seq > committed_max_seq_.load()) {
        tx.exec_prepared("raise_max_seq", static_cast<int64_t>(merged.max_seq));
      }
      if (options_.before_commit) status = options_.before_commit();
    }
    tx.exec(status.ok() ? "COMMIT" : "ROLLBACK");
  } catch (const std::exception& e) {
    status = PgError(e, where_, "committing");
    try {
      tx.exec("ROLLBACK");  // a failed statement leaves the transaction open, aborted
    } catch (const std::exception&) {
      // The connection is gone: the server rolled back.
    }
  }
  if (!status.ok()) {
    if (options_.metrics != nullptr) options_.metrics->CommitFailed();
    spdlog::error("store commit of {} records failed: {}", records, status.ToString());
    return status;
  }
  RaiseCommittedMaxSeq(merged.max_seq);
  if (options_.metrics != nullptr) {
    options_.metrics->Committed(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
        records);
    absl::MutexLock lock(&db_mu_);
    MaybeUpdateSize();
  }
  return absl::OkStatus();
}

void PostgresTaskStore::MaybeUpdateSize() {
  if (options_.metrics == nullptr) return;
  const auto now = std::chrono::steady_clock::now();
  if (size_updated_ != std::chrono::steady_clock::time_point() &&
      now - size_updated_ < std::chrono::seconds(5)) {
    return;
  }
  size_updated_ = now;
  try {
    pqxx::nontransaction tx(*db_);
    options_.metrics->SizeBytes(tx.exec_prepared1("size")[0].as<double>());
  } catch (const std::exception& e) {
    spdlog::warn("{}", PgError(e, where_, "reading the store's size").ToString());
  }
}

absl::StatusOr<StoredState> PostgresTaskStore::Load() {
  absl::MutexLock lock(&db_mu_);
  StoredState state;
  try {
    // One snapshot, so the reads see the same commit.
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(*db_);
    const pqxx::result max_seq = tx.exec_prepared("max_seq");
    if (max_seq.empty()) return absl::DataLossError(absl::StrCat(where_, ": no max_seq"));
    state.max_seq = max_seq[0][0].as<uint64_t>();
    for (const char* statement : {"load_unfinished_tasks", "load_running_workflow_nodes"}) {
      const pqxx::result rows = tx.exec_prepared(statement);
      for (const pqxx::row& row : rows) {
        TW_ASSIGN_OR_RETURN(TaskRecord r, DecodeTaskRow(row, where_));
        state.tasks.push_back(std::move(r));
      }
    }
    for (const pqxx::row& row : tx.exec_prepared("load_running_workflows")) {
      TW_ASSIGN_OR_RETURN(WorkflowRecord r, DecodeWorkflowRow(row, where_));
      state.workflows.push_back(std::move(r));
    }
    tx.commit();
  } catch (const std::exception& e) {
    return PgError(e, where_, "loading the work in flight");
  }
  std::sort(state.tasks.begin(), state.tasks.end(),
            [](const TaskRecord& a, const TaskRecord& b) { return a.seq < b.seq; });
  RaiseCommittedMaxSeq(state.max_seq);
  return state;
}

absl::StatusOr<std::optional<TaskRecord>> PostgresTaskStore::FindTask(absl::string_view id) {
  absl::MutexLock lock(&read_mu_);
  try {
    pqxx::nontransaction tx(*read_db_);
    const pqxx::result rows = tx.exec_prepared("find_task", std::string(id));
    if (rows.empty()) return std::nullopt;
    TW_ASSIGN_OR_RETURN(TaskRecord r, DecodeTaskRow(rows[0], where_));
    return r;
  } catch (const std::exception& e) {
    return PgError(e, where_, "reading a task");
  }
}

absl::StatusOr<std::optional<WorkflowRecord>> PostgresTaskStore::FindWorkflow(
    absl::string_view id) {
  absl::MutexLock lock(&read_mu_);
  try {
    pqxx::nontransaction tx(*read_db_);
    const pqxx::result rows = tx.exec_prepared("find_workflow", std::string(id));
    if (rows.empty()) return std::nullopt;
    TW_ASSIGN_OR_RETURN(WorkflowRecord r, DecodeWorkflowRow(rows[0], where_));
    return r;
  } catch (const std::exception& e) {
    return PgError(e, where_, "reading a workflow");
  }
}

absl::StatusOr<std::optional<std::string>> PostgresTaskStore::FindTaskIdByKey(
    absl::string_view key) {
  absl::MutexLock lock(&read_mu_);
  try {
    pqxx::nontransaction tx(*read_db_);
    const pqxx::result rows = tx.exec_prepared("find_task_by_key", std::string(key));
    if (rows.empty()) return std::nullopt;
    return rows[0][0].as<std::string>();
  } catch (const std::exception& e) {
    return PgError(e, where_, "looking up an idempotency key");
  }
}

absl::StatusOr<std::optional<WorkflowRecord>> PostgresTaskStore::FindWorkflowByKey(
    absl::string_view key) {
  absl::MutexLock lock(&read_mu_);
  try {
    pqxx::nontransaction tx(*read_db_);
    const pqxx::result rows = tx.exec_prepared("find_workflow_by_key", std::string(key));
    if (rows.empty()) return std::nullopt;
    TW_ASSIGN_OR_RETURN(WorkflowRecord r, DecodeWorkflowRow(rows[0], where_));
    return r;
  } catch (const std::exception& e) {
    return PgError(e, where_, "looking up an idempotency key");
  }
}

absl::StatusOr<std::vector<TaskRecord>> PostgresTaskStore::ListFinishedTasks(
    const FinishedTaskQuery& query) {
  constexpr uint64_t kMaxSeq = std::numeric_limits<int64_t>::max();
  absl::MutexLock lock(&read_mu_);
  std::vector<TaskRecord> out;
  try {
    pqxx::nontransaction tx(*read_db_);
    const pqxx::result rows = tx.exec_prepared(
        query.newest_first ? "list_finished_newest" : "list_finished",
        static_cast<int64_t>(std::min(query.from_seq, kMaxSeq)),
        static_cast<int64_t>(std::min(query.to_seq, kMaxSeq)),
        query.state ? StoredTaskStateNumber(*query.state) : 0, query.queue, query.type,
        static_cast<int64_t>(std::min<size_t>(query.limit, kMaxSeq)), query.owner);
    out.reserve(rows.size());
    for (const pqxx::row& row : rows) {
      TW_ASSIGN_OR_RETURN(TaskRecord r, DecodeTaskRow(row, where_));
      out.push_back(std::move(r));
    }
  } catch (const std::exception& e) {
    return PgError(e, where_, "listing finished tasks");
  }
  return out;
}

absl::StatusOr<RetentionSweep> PostgresTaskStore::DeleteExpired(absl::Time now, size_t limit) {
  absl::MutexLock lock(&db_mu_);
  const int64_t now_us = absl::ToUnixMicros(now);
  const uint64_t term = fence_term_.load();
  RetentionSweep sweep;
  try {
    pqxx::work tx(*db_);
    if (term != 0 && tx.exec_prepared1("fence")[0].as<uint64_t>() != term) {
      return absl::FailedPreconditionError(
          absl::StrCat(where_, ": fenced: the lease moved past term ", term));
    }
    sweep.deleted = tx.exec_prepared("delete_expired_tasks", now_us,
                                     static_cast<int64_t>(limit))
                        .affected_rows();
    if (sweep.deleted < limit) {
      PgArray ids;
      size_t workflows = 0;
      for (const pqxx::row& row : tx.exec_prepared("expired_workflows", now_us,
                                                   static_cast<int64_t>(limit - sweep.deleted))) {
        ids.Add(row[0].as<std::string>());
        ++workflows;
      }
      if (workflows > 0) {
        std::string array = ids.Done();
        tx.exec_prepared("delete_workflow_nodes", array);
        tx.exec_prepared("delete_workflows", array);
        sweep.deleted += workflows;
      }
    }
    const pqxx::row next = tx.exec_prepared1("next_due");
    if (!next[0].is_null()) {
      const int64_t us = next[0].as<int64_t>();
      sweep.next_due = us == std::numeric_limits<int64_t>::max() ? absl::InfiniteFuture()
                                                                 : absl::FromUnixMicros(us);
    }
    tx.commit();
  } catch (const std::exception& e) {
    return PgError(e, where_, "deleting records past their retention");
  }
  MaybeUpdateSize();
  return sweep;
}

void PostgresTaskStore::RaiseCommittedMaxSeq(uint64_t seq) {
  uint64_t known = committed_max_seq_.load();
  while (seq > known && !committed_max_seq_.compare_exchange_weak(known, seq)) {
  }
}

std::string PostgresTaskStore::Describe() const {
  return absl::StrCat(where_, " (synchronous_commit=",
                      options_.synchronous_commit
                          ? "on: durable once committed on the database server)"
                          : "off: a crash of the database server may lose its last commits)");
}

}  // namespace taskwire::scheduler
