#include "scheduler/auth/authorizer.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/quote.h"
#include "grpc/grpc_security_constants.h"
#include "grpcpp/server_context.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/registry.h"
#include "spdlog/spdlog.h"

namespace taskwire::scheduler {
namespace {

constexpr absl::Duration kLogEvery = absl::Minutes(1);
constexpr size_t kMaxPeersRemembered = 10'000;
constexpr absl::string_view kBearer = "Bearer ";

const std::string& NoName() {
  static const std::string* const kEmpty = new std::string();
  return *kEmpty;
}

// "ipv4:10.0.0.7:51234" -> "ipv4:10.0.0.7": a scanner's every connection is one peer.
std::string PeerHost(const grpc::ServerContextBase& ctx) {
  std::string peer = ctx.peer();
  if (size_t colon = peer.rfind(':'); colon != std::string::npos && colon > 5) peer.resize(colon);
  return peer;
}

std::string FileStamp(const std::string& path, std::error_code& ec) {
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return "";
  const auto mtime = std::filesystem::last_write_time(path, ec);
  if (ec) return "";
  return absl::StrCat(size, "@", mtime.time_since_epoch().count());
}

}  // namespace

const std::string& Caller::name() const { return principal_ ? principal_->name : NoName(); }

absl::StatusOr<std::unique_ptr<Authorizer>> Authorizer::Create(std::string access_file,
                                                               absl::Duration reload_interval,
                                                               prometheus::Registry* registry) {
  std::unique_ptr<Authorizer> auth(
      new Authorizer(std::move(access_file), reload_interval, registry));
  if (!auth->enabled()) return auth;
  if (absl::Status s = auth->Load(); !s.ok()) return s;
  auth->watcher_ = std::thread([a = auth.get()] { a->WatchLoop(); });
  return auth;
}

Authorizer::Authorizer(std::string access_file, absl::Duration reload_interval,
                       prometheus::Registry* registry)
    : access_file_(std::move(access_file)), reload_interval_(reload_interval) {
  if (registry != nullptr) {
    failures_ = &prometheus::BuildCounter()
                     .Name("taskwire_auth_failures_total")
                     .Help("Calls refused: reason missing (no credentials), unknown (a token "
                           "or certificate not in the access file), role, owner or scope")
                     .Register(*registry);
  }
}

Authorizer::~Authorizer() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (watcher_.joinable()) watcher_.join();
}

absl::Status Authorizer::Load() {
  std::error_code ec;
  const std::string stamp = FileStamp(access_file_, ec);
  if (ec) {
    return absl::NotFoundError(
        absl::StrCat("--auth-file ", access_file_, ": ", ec.message()));
  }
  {
    absl::MutexLock lock(&mu_);
    if (stamp == loaded_stamp_ || stamp == rejected_stamp_) return absl::OkStatus();
  }
  std::ifstream in(access_file_, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in) {
    return absl::NotFoundError(absl::StrCat("--auth-file ", access_file_,
                                            ": cannot be read"));
  }
  absl::StatusOr<AccessTable> table = AccessTable::Parse(text.str(), access_file_);
  if (!table.ok()) {
    absl::MutexLock lock(&mu_);
    rejected_stamp_ = stamp;  // said once, not at every look
    return table.status();
  }
  const size_t entries = table->size();
  {
    absl::MutexLock lock(&mu_);
    const bool first = table_ == nullptr;
    table_ = std::make_shared<const AccessTable>(std::move(*table));
    loaded_stamp_ = stamp;
    spdlog::info("access file {} {}: {} entries", access_file_,
                 first ? "loaded" : "reloaded", entries);
  }
  return absl::OkStatus();
}

void Authorizer::WatchLoop() {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), reload_interval_);
      if (stopping_) return;
    }
    // A bad edit keeps the last good table: access does not open up or close by accident.
    if (absl::Status s = Load(); !s.ok()) {
      spdlog::error("access file not reloaded, the previous one stays in force: {}",
                    s.ToString());
    }
  }
}

absl::StatusOr<Caller> Authorizer::Check(const grpc::ServerContextBase& ctx,
                                         absl::string_view service, Access access) {
  if (!enabled()) return Caller();
  std::shared_ptr<const AccessTable> table;
  {
    absl::MutexLock lock(&mu_);
    table = table_;
  }
  const Principal* who = nullptr;
  const auto& metadata = ctx.client_metadata();
  if (auto it = metadata.find("authorization"); it != metadata.end()) {
    const absl::string_view header(it->second.data(), it->second.size());
    if (!absl::StartsWith(header, kBearer)) {
      return Fail(absl::UnauthenticatedError("the authorization header must be \"Bearer <token>\""),
                  ctx, service, "unknown");
    }
    who = table->ByToken(header.substr(kBearer.size()));
    if (who == nullptr) {
      return Fail(absl::UnauthenticatedError("the token is not valid (unknown or revoked)"), ctx,
                  service, "unknown");
    }
  } else {
    std::vector<grpc::string_ref> subject =
        ctx.auth_context()->FindPropertyValues(GRPC_X509_SUBJECT_PROPERTY_NAME);
    if (subject.empty()) {
      return Fail(absl::UnauthenticatedError(
                      "no credentials: send \"authorization: Bearer <token>\" (--token-file) "
                      "or a client certificate listed in the scheduler's access file"),
                  ctx, service, "missing");
    }
    who = table->ByCertificateSubject(absl::string_view(subject[0].data(), subject[0].size()));
    if (who == nullptr) {
      return Fail(absl::UnauthenticatedError(absl::StrCat(
                      "the client certificate's subject ",
                      Quote(absl::string_view(subject[0].data(), subject[0].size())),
                      " is not in the scheduler's access file")),
                  ctx, service, "unknown");
    }
  }
  const bool allowed = access == Access::kExecutor
                           ? who->role == Role::kExecutor
                           : who->role == Role::kAdmin ||
                                 (access == Access::kClient && who->role == Role::kSubmitter);
  if (!allowed) {
    return Fail(absl::PermissionDeniedError(absl::StrCat(
                    who->name, " has the role ", RoleName(who->role), ", which may not call ",
                    service, access == Access::kAdmin ? " (admins only)" : "")),
                ctx, service, "role");
  }
  return Caller(std::move(table), who);
}

absl::Status Authorizer::CheckOwner(const Caller& caller, const std::string& owner,
                                    const grpc::ServerContextBase& ctx, absl::string_view what) {
  if (caller.SeesEverything() || owner == caller.name()) return absl::OkStatus();
  return Fail(absl::PermissionDeniedError(
                  absl::StrCat(caller.name(), " may not touch ", what, ": it belongs to ",
                               owner.empty() ? "no one (submitted before the access file)"
                                             : "another owner")),
              ctx, "Scheduler", "owner");
}

absl::Status Authorizer::CheckExecutorScope(const Caller& caller,
                                            const std::vector<std::string>& queues,
                                            const std::vector<std::string>& task_types,
                                            const grpc::ServerContextBase& ctx) {
  const Principal* p = caller.principal();
  if (p == nullptr) return absl::OkStatus();
  std::vector<std::string> outside;
  for (const std::string& q : queues) {
    if (!p->MayServeQueue(q)) outside.push_back(absl::StrCat("queue ", q));
  }
  for (const std::string& t : task_types) {
    if (!p->MayServeType(t)) outside.push_back(absl::StrCat("type ", t));
  }
  if (outside.empty()) return absl::OkStatus();
  return Fail(absl::PermissionDeniedError(
                  absl::StrCat("executor credential ", p->name, " may not serve ",
                               absl::StrJoin(outside, ", "), " (its access file entry lists ",
                               "queues ", absl::StrJoin(p->queues, ","), ")")),
              ctx, "ExecutorLink", "scope");
}

absl::Status Authorizer::Fail(absl::Status status, const grpc::ServerContextBase& ctx,
                              absl::string_view service, absl::string_view reason) {
  if (failures_ != nullptr) {
    failures_->Add({{"service", std::string(service)}, {"reason", std::string(reason)}})
        .Increment();
  }
  const std::string peer = PeerHost(ctx);
  const absl::Time now = absl::Now();
  bool log = false;
  {
    absl::MutexLock lock(&log_mu_);
    if (last_logged_.size() >= kMaxPeersRemembered) last_logged_.clear();
    auto [it, fresh] = last_logged_.try_emplace(peer, now);
    if (fresh || now - it->second >= kLogEvery) {
      it->second = now;
      log = true;
    }
  }
  if (log) {
    spdlog::warn("refused a {} call from {} ({}): {} (further refusals of this peer are "
                 "counted in taskwire_auth_failures_total, logged once a minute)",
                 std::string(service), peer, std::string(reason), std::string(status.message()));
  }
  return status;
}

}  // namespace taskwire::scheduler
