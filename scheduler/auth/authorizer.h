// Who is calling, and may they: the one check every scheduler service passes through.
// A call names its principal with a bearer token ("authorization: Bearer <token>") or, on
// mTLS, its client certificate's subject; the access file (access_table.h) says who that
// is. Without an access file every caller may do everything (and the scheduler says so at
// start-up). Failures are counted in taskwire_auth_failures_total{service,reason} and
// logged at most once a minute per peer, so a scanner cannot flood the log.
#ifndef TASKWIRE_SCHEDULER_AUTH_AUTHORIZER_H_
#define TASKWIRE_SCHEDULER_AUTH_AUTHORIZER_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "scheduler/auth/access_table.h"

namespace grpc {
class ServerContextBase;
}
namespace prometheus {
class Registry;
template <typename T>
class Family;
class Counter;
}  // namespace prometheus

namespace taskwire::scheduler {

// What a method needs.
enum class Access {
  kClient,    // a submitter (its own tasks) or an admin
  kAdmin,     // an admin
  kExecutor,  // an executor (within its scope)
};

// The principal a call was authorized as. Keeps the access table it came from alive.
class Caller {
 public:
  Caller() = default;  // no access file: may do everything, owns nothing
  Caller(std::shared_ptr<const AccessTable> table, const Principal* principal)
      : table_(std::move(table)), principal_(principal) {}

  // Admins and everyone without an access file see every task; submitters their own.
  bool SeesEverything() const {
    return principal_ == nullptr || principal_->role == Role::kAdmin;
  }
  // Stored as the owner of what this caller submits.
  const std::string& name() const;
  // The owner to filter listings and watches on: empty when it sees everything.
  std::string OwnerFilter() const { return SeesEverything() ? std::string() : name(); }
  const Principal* principal() const { return principal_; }

 private:
  std::shared_ptr<const AccessTable> table_;
  const Principal* principal_ = nullptr;
};

class Authorizer {
 public:
  // Reads the access file (an error if it cannot) and looks at it again every
  // `reload_interval`. An empty path: everyone may do everything.
  static absl::StatusOr<std::unique_ptr<Authorizer>> Create(std::string access_file,
                                                           absl::Duration reload_interval,
                                                           prometheus::Registry* registry);
  ~Authorizer();

  bool enabled() const { return !access_file_.empty(); }

  // UNAUTHENTICATED without known credentials, PERMISSION_DENIED when the role does not
  // allow `access`. `service` names the gRPC service in the metric and the log.
  absl::StatusOr<Caller> Check(const grpc::ServerContextBase& ctx, absl::string_view service,
                               Access access);

  // PERMISSION_DENIED unless the caller may touch what `owner` submitted.
  absl::Status CheckOwner(const Caller& caller, const std::string& owner,
                          const grpc::ServerContextBase& ctx, absl::string_view what);

  // PERMISSION_DENIED unless an executor's Hello stays within its entry's queues and types.
  absl::Status CheckExecutorScope(const Caller& caller, const std::vector<std::string>& queues,
                                  const std::vector<std::string>& task_types,
                                  const grpc::ServerContextBase& ctx);

 private:
  Authorizer(std::string access_file, absl::Duration reload_interval,
             prometheus::Registry* registry);
  absl::Status Load();  // reads the file when it changed
  void WatchLoop();
  absl::Status Fail(absl::Status status, const grpc::ServerContextBase& ctx,
                    absl::string_view service, absl::string_view reason);

  const std::string access_file_;
  const absl::Duration reload_interval_;
  prometheus::Family<prometheus::Counter>* failures_ = nullptr;

  absl::Mutex mu_;
  std::shared_ptr<const AccessTable> table_ ABSL_GUARDED_BY(mu_);
  std::string loaded_stamp_ ABSL_GUARDED_BY(mu_);  // size and mtime of what was loaded
  std::string rejected_stamp_ ABSL_GUARDED_BY(mu_);  // of a version that did not parse
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  absl::Mutex log_mu_;
  absl::flat_hash_map<std::string, absl::Time> last_logged_ ABSL_GUARDED_BY(log_mu_);

  std::thread watcher_;
};

}  // namespace taskwire::scheduler

#endif  // TASKWIRE_SCHEDULER_AUTH_AUTHORIZER_H_
