#include "scheduler/service/scheduler_service.h"

#include <deque>
#include <memory>
#include <variant>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/grpc_status.h"
#include "common/one_write_in_flight.h"
#include "grpcpp/alarm.h"
#include "scheduler/service/proto_convert.h"
#include "spdlog/spdlog.h"

namespace taskwire::scheduler {
namespace {

grpc::ServerUnaryReactor* Answer(grpc::CallbackServerContext* ctx, const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

absl::Status RequireTaskId(const std::string& id) {
  return id.empty() ? absl::InvalidArgumentError("task_id is empty") : absl::OkStatus();
}

absl::Status RequireWorkflowId(const std::string& id) {
  return id.empty() ? absl::InvalidArgumentError("workflow_id is empty") : absl::OkStatus();
}

// How WaitReactor waits for one kind of thing: a task or a workflow.
struct TaskWait {
  using View = TaskView;
  using Response = v1::Task;
  static absl::StatusOr<uint64_t> Add(SchedulerCore& core, const std::string& id,
                                      std::function<void(const View&)> done) {
    return core.AddWaiter(id, std::move(done));
  }
  static bool Remove(SchedulerCore& core, const std::string& id, uint64_t token) {
    return core.RemoveWaiter(id, token);
  }
  static absl::StatusOr<View> Get(SchedulerCore& core, const std::string& id) {
    return core.GetTask(id);
  }
  static void Fill(const View& view, Response* out) { ToProto(view, out); }
  // What the call answers when reading the task back ended with `read`.
  static grpc::Status StatusAfterRead(const absl::Status& read) { return ToGrpcStatus(read); }
};

struct WorkflowWait {
  using View = WorkflowView;
  using Response = v1::Workflow;
  static absl::StatusOr<uint64_t> Add(SchedulerCore& core, const std::string& id,
                                      std::function<void(const View&)> done) {
    return core.AddWorkflowWaiter(id, std::move(done));
  }
  static bool Remove(SchedulerCore& core, const std::string& id, uint64_t token) {
    return core.RemoveWorkflowWaiter(id, token);
  }
  static absl::StatusOr<View> Get(SchedulerCore& core, const std::string& id) {
    return core.GetWorkflow(id);
  }
  static void Fill(const View& view, Response* out) { ToProto(view, out); }
  static grpc::Status StatusAfterRead(const absl::Status& read) { return ToGrpcStatus(read); }
};

// A Submit or SubmitWorkflow that waits for the end. The submit has succeeded, so a wait
// that cannot read the task back still answers OK, with the id and without the task:
// an error would make the client submit again.
template <typename Wait, typename SubmitResponse, auto kMutableResult>
struct SubmitThenWait : Wait {
  using Response = SubmitResponse;
  static void Fill(const typename Wait::View& view, Response* out) {
    Wait::Fill(view, (out->*kMutableResult)());
  }
  static grpc::Status StatusAfterRead(const absl::Status& read) {
    if (!read.ok()) spdlog::warn("submitted, but could not wait for the end: {}", read.ToString());
    return grpc::Status::OK;
  }
};
using SubmitTaskWait =
    SubmitThenWait<TaskWait, v1::SubmitResponse, &v1::SubmitResponse::mutable_task>;
using SubmitWorkflowWait =
    SubmitThenWait<WorkflowWait, v1::SubmitWorkflowResponse,
                   &v1::SubmitWorkflowResponse::mutable_workflow>;

// Holds a WaitTask or WaitWorkflow call (or a Submit that waits) until the core reports
// the end, the request's timeout passes, or the client goes away. Whichever comes first
// finishes the call; the shared state lets the core's callback and the alarm outlive the
// reactor safely. Until Begin (or Fail) has returned the call is not finished: an end or a
// cancel that comes sooner is answered then, so the reactor outlives both calls even when
// they run on another thread than the handler (a submit answered by the submit thread).
template <typename Wait>
class WaitReactor final : public grpc::ServerUnaryReactor {
 public:
  using View = typename Wait::View;
  using Response = typename Wait::Response;

  WaitReactor(SchedulerCore& core, Response* response)
      : core_(core), state_(std::make_shared<State>(this, response)) {}

  void Begin(std::string id, absl::Duration timeout) {
    std::shared_ptr<State> state = state_;  // `this` may be gone once Started() returns
    if (!state->Done()) StartWaiting(std::move(id), timeout, state);
    state->Started();
  }

  void Fail(grpc::Status status) {
    std::shared_ptr<State> state = state_;
    state->Deliver(nullptr, std::move(status));
    state->Started();
  }

  void OnCancel() override {
    std::shared_ptr<State> state = state_;  // Finish inside may let OnDone free us
    auto [id, token] = state->Waiting();
    // No token: not waiting yet (Begin then sees the call done), or no longer.
    if (token == 0 || Wait::Remove(core_, id, token)) {
      state->Deliver(nullptr, grpc::Status(grpc::StatusCode::CANCELLED, "wait cancelled"));
    }
  }

  void OnDone() override { delete this; }

 private:
  struct State {
    State(WaitReactor* r, Response* resp) : reactor(r), response(resp) {}
    void Deliver(const View* view, grpc::Status status) {
      absl::MutexLock lock(&mu);
      if (done) return;
      done = true;
      if (view != nullptr) Wait::Fill(*view, response);
      final_status = std::move(status);
      if (!starting) FinishLocked();
    }
    void Started() {
      absl::MutexLock lock(&mu);
      starting = false;
      if (done) FinishLocked();
    }
    bool Done() {
      absl::MutexLock lock(&mu);
      return done;
    }
    std::pair<std::string, uint64_t> Waiting() {
      absl::MutexLock lock(&mu);
      return {id, token};
    }
    void FinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      if (finished) return;
      finished = true;
      reactor->Finish(final_status);
    }
    absl::Mutex mu;
    bool starting ABSL_GUARDED_BY(mu) = true;  // Begin or Fail has not returned
    bool done ABSL_GUARDED_BY(mu) = false;
    bool finished ABSL_GUARDED_BY(mu) = false;
    grpc::Status final_status ABSL_GUARDED_BY(mu);
    std::string id ABSL_GUARDED_BY(mu);
    uint64_t token ABSL_GUARDED_BY(mu) = 0;  // the core's waiter, while waiting
    WaitReactor* const reactor;
    Response* const response;
  };

  void StartWaiting(std::string id, absl::Duration timeout, const std::shared_ptr<State>& state) {
    SchedulerCore& core = core_;
    absl::StatusOr<uint64_t> token =
        Wait::Add(core, id, [state](const View& view) { state->Deliver(&view, grpc::Status::OK); });
    if (!token.ok()) {
      state->Deliver(nullptr, Wait::StatusAfterRead(token.status()));
      return;
    }
    if (*token == 0) return;  // already ended: answered
    {
      absl::MutexLock lock(&state->mu);
      state->id = id;
      state->token = *token;
    }
    if (state->Done()) {  // cancelled meanwhile
      Wait::Remove(core, id, *token);
      return;
    }
    if (timeout != absl::InfiniteDuration()) {
      // The alarm may fire after the reactor is gone: it touches only what it captured.
      alarm_.Set(absl::ToChronoTime(absl::Now() + timeout),
                 [&core, id, token = *token, state](bool fired) {
                   if (fired && Wait::Remove(core, id, token)) {
                     // The timeout came first: answer with the state as it is now.
                     absl::StatusOr<View> view = Wait::Get(core, id);
                     state->Deliver(view.ok() ? &*view : nullptr,
                                    Wait::StatusAfterRead(view.status()));
                   }
                 });
    }
  }

  SchedulerCore& core_;
  std::shared_ptr<State> state_;
  grpc::Alarm alarm_;
};

absl::StatusOr<absl::Duration> WaitTimeout(bool has_timeout,
                                           const google::protobuf::Duration& timeout,
                                           absl::string_view field = "timeout") {
  if (!has_timeout) return absl::InfiniteDuration();
  const absl::Duration d = taskwire::FromProto(timeout);
  if (d < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(field, " is negative"));
  }
  return d;
}

// Answers a WatchTasks call that cannot start.
class RejectedWatch final : public grpc::ServerWriteReactor<v1::WatchTasksResponse> {
 public:
  explicit RejectedWatch(grpc::Status status) { Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

// Streams events to one watcher. The hub's callback appends to a backlog; one write is
// in flight at a time and carries everything ready. Finish happens only with no write in
// flight, so the reactor is never deleted under a pending write.
class WatchReactor final : public grpc::ServerWriteReactor<v1::WatchTasksResponse> {
 public:
  WatchReactor(EventHub& hub, const ServiceOptions& options) : hub_(hub), options_(options) {}

  // Subscribes, then sends the response headers: a client that has them knows that every
  // later event reaches it. Events before that wait in the backlog.
  void Begin(EventFilter filter) {
    state_ = std::make_shared<State>(this, options_);
    subscription_ = hub_.Subscribe(
        std::move(filter),
        [state = state_](EventBatch events) { state->Add(std::move(events)); });
    StartSendInitialMetadata();
  }

  void OnSendInitialMetadataDone(bool ok) override {
    std::shared_ptr<State> state = state_;
    state->Ready(ok);
  }

  void OnWriteDone(bool ok) override {
    std::shared_ptr<State> state = state_;  // Finish inside may let OnDone free us
    state->WriteDone(ok);
  }
  void OnCancel() override {
    std::shared_ptr<State> state = state_;
    state->End(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
  }
  void OnDone() override {
    hub_.Unsubscribe(subscription_);
    state_->Detach();
    delete this;
  }

 private:
  struct State {
    State(WatchReactor* r, const ServiceOptions& o) : reactor(r), options(o) {}

    void Add(EventBatch events) {
      absl::MutexLock lock(&mu);
      if (!writer.accepting()) return;
      if (backlog.size() + events.tasks.size() + events.workflows.size() >
          options.max_watch_backlog) {
        EndLocked(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                               absl::StrCat("watcher fell more than ", options.max_watch_backlog,
                                            " events behind; reconnect and read faster")));
        return;
      }
      for (TaskEvent& e : events.tasks) backlog.emplace_back(std::move(e));
      for (WorkflowEvent& e : events.workflows) backlog.emplace_back(std::move(e));
      writer.Kick();
    }

    void Ready(bool ok) {
      absl::MutexLock lock(&mu);
      if (!ok) EndLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "client went away"));
      writer.Open();  // also finishes an End that came before the headers were out
    }

    void WriteDone(bool ok) {
      absl::MutexLock lock(&mu);
      if (!ok) final_status = grpc::Status(grpc::StatusCode::UNAVAILABLE, "");
      writer.WriteDone(ok);
    }

    void End(grpc::Status status) {
      absl::MutexLock lock(&mu);
      EndLocked(std::move(status));
    }

    void Detach() {
      absl::MutexLock lock(&mu);
      writer.Stop();
    }

    void EndLocked(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      if (writer.ending()) return;  // the first reason stands
      final_status = std::move(status);
      writer.End();
    }

    // For `writer`, with mu held.
    bool FillNext() {
      mu.AssertHeld();
      if (backlog.empty()) return false;
      response.Clear();
      for (size_t n = 0; !backlog.empty() && n < options.max_watch_batch; ++n) {
        if (auto* task = std::get_if<TaskEvent>(&backlog.front())) {
          ToProto(*task, response.add_events());
        } else {
          ToProto(std::get<WorkflowEvent>(backlog.front()), response.add_workflow_events());
        }
        backlog.pop_front();
      }
      return true;
    }
    void WriteNext() {
      mu.AssertHeld();
      reactor->StartWrite(&response);
    }
    void EndStream() {
      mu.AssertHeld();
      reactor->Finish(final_status);
    }

    absl::Mutex mu;
    WatchReactor* const reactor;  // touched only through `writer`, which stops at OnDone
    const ServiceOptions& options;
    std::deque<std::variant<TaskEvent, WorkflowEvent>> backlog ABSL_GUARDED_BY(mu);
    v1::WatchTasksResponse response ABSL_GUARDED_BY(mu);
    grpc::Status final_status ABSL_GUARDED_BY(mu);
    // Opens when the headers are sent; the end waits for them too.
    OneWriteInFlight<State> writer ABSL_GUARDED_BY(mu){*this, WriteGate::kHoldAll};
  };

  EventHub& hub_;
  const ServiceOptions& options_;
  std::shared_ptr<State> state_;
  uint64_t subscription_ = 0;
};

}  // namespace

absl::StatusOr<Caller> SchedulerService::Authorize(grpc::CallbackServerContext* ctx,
                                                   Access access) {
  if (options_.gate != nullptr) {
    if (absl::Status s = options_.gate->Check(); !s.ok()) return s;
  }
  return auth_.Check(*ctx, "Scheduler", access);
}

absl::Status SchedulerService::MayTouchTask(const Caller& caller,
                                            grpc::CallbackServerContext* ctx,
                                            const std::string& id) {
  if (caller.SeesEverything()) return absl::OkStatus();
  absl::StatusOr<TaskView> view = core_.GetTask(id);
  if (!view.ok()) return view.status();
  return auth_.CheckOwner(caller, view->record.spec->owner, *ctx, absl::StrCat("task ", id));
}

absl::Status SchedulerService::MayTouchWorkflow(const Caller& caller,
                                                grpc::CallbackServerContext* ctx,
                                                const std::string& id) {
  if (caller.SeesEverything()) return absl::OkStatus();
  absl::StatusOr<WorkflowView> view = core_.GetWorkflow(id);
  if (!view.ok()) return view.status();
  return auth_.CheckOwner(caller, view->record.owner, *ctx, absl::StrCat("workflow ", id));
}

// Submits answer from the core's callback once the tasks are stored (on the thread that
// committed them), so no gRPC thread waits for the disk. SubmitWorkflow does the same.
grpc::ServerUnaryReactor* SchedulerService::Submit(grpc::CallbackServerContext* ctx,
                                                   const v1::SubmitRequest* req,
                                                   v1::SubmitResponse* resp) {
  absl::StatusOr<Caller> caller = Authorize(ctx, Access::kClient);
  if (!caller.ok()) return Answer(ctx, caller.status());
  absl::StatusOr<absl::Duration> wait = WaitTimeout(req->has_wait(), req->wait(), "wait");
  if (!wait.ok()) return Answer(ctx, wait.status());
  auto fill = [resp](const SchedulerCore::Submitted& submitted) {
    resp->set_task_id(submitted.ids.front());
    resp->set_existing(submitted.existing.front());
  };
  std::vector<TaskSpec> specs;
  specs.push_back(FromProto(v1::TaskSpec(req->task())));
  specs.back().owner = caller->name();
  if (!req->has_wait()) {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    core_.SubmitAsync(std::move(specs), SchedulerCore::SubmitPath::kOne,
                      [reactor, fill](absl::StatusOr<SchedulerCore::Submitted> submitted) {
                        if (submitted.ok()) fill(*submitted);
                        reactor->Finish(ToGrpcStatus(submitted.status()));
                      });
    return reactor;
  }
  auto* reactor = new WaitReactor<SubmitTaskWait>(core_, resp);
  core_.SubmitAsync(std::move(specs), SchedulerCore::SubmitPath::kOne,
                    [reactor, fill, wait = *wait](
                        absl::StatusOr<SchedulerCore::Submitted> submitted) {
                      if (!submitted.ok()) {
                        reactor->Fail(ToGrpcStatus(submitted.status()));
                        return;
                      }
                      fill(*submitted);
                      reactor->Begin(std::move(submitted->ids.front()), wait);
                    });
  return reactor;
}

grpc::ServerUnaryReactor* SchedulerService::SubmitBatch(grpc::CallbackServerContext* ctx,
                                                        const v1::SubmitBatchRequest* req,
                                                        v1::SubmitBatchResponse* resp) {
  absl::StatusOr<Caller> caller = Authorize(ctx, Access::kClient);
  if (!caller.ok()) return Answer(ctx, caller.status());
  std::vector<TaskSpec> specs;
  specs.reserve(req->tasks_size());
  for (const v1::TaskSpec& t : req->tasks()) {
    specs.push_back(FromProto(v1::TaskSpec(t)));
    specs.back().owner = caller->name();
  }
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  core_.SubmitAsync(std::move(specs), SchedulerCore::SubmitPath::kBatch,
                    [reactor, resp](absl::StatusOr<SchedulerCore::Submitted> submitted) {
                      if (submitted.ok()) {
                        for (std::string& id : submitted->ids) resp->add_task_ids(std::move(id));
                      }
                      reactor->Finish(ToGrpcStatus(submitted.status()));
                    });
  return reactor;
}

grpc::ServerUnaryReactor* SchedulerService::GetTask(grpc::CallbackServerContext* ctx,
                                                    const v1::GetTaskRequest* req,
                                                    v1::Task* resp) {
  absl::StatusOr<Caller> caller = Authorize(ctx, Access::kClient);
  if (!caller.ok()) return Answer(ctx, caller.status());
  if (absl::Status s = RequireTaskId(req->task_id()); !s.ok()) return Answer(ctx, s);
  absl::StatusOr<TaskView> view = core_.GetTask(req->task_id());
  if (!view.ok()) return Answer(ctx, view.status());
  if (absl::Status s = auth_.CheckOwner(*caller, view->record.spec->owner, *ctx,
                                        absl::StrCat("task ", req->task_id()));
      !s.ok()) {
    return Answer(ctx, s);
  }
  ToProto(*view, resp);
  return Answer(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* SchedulerService::WaitTask(grpc::CallbackServerContext* ctx,
                                                     const v1::WaitTaskRequest* req,
                                                     v1::Task* resp) {
  absl::StatusOr<Caller> caller = Authorize(ctx, Access::kClient);
  if (!caller.ok()) return Answer(ctx, caller.status());
  if (absl::Status s = RequireTaskId(req->task_id()); !s.ok()) return Answer(ctx, s);
  if (absl::Status s = MayTouchTask(*caller, ctx, req->task_id()); !s.ok()) return Answer(ctx, s);
  absl::StatusOr<absl::Duration> timeout = WaitTimeout(req->has_timeout(), req->timeout());
  if (!timeout.ok()) return Answer(ctx, timeout.status());
  auto* reactor = new WaitReactor<TaskWait>(core_, resp);
  reactor->Begin(req->task_id(), *timeout);
  return reactor;
}

grpc::ServerUnaryReactor* SchedulerService::CancelTask(grpc::CallbackServerContext* ctx,
                                                       const v1::CancelTaskRequest* req,
                                                       v1::CancelTaskResponse* resp) {
  absl::StatusOr<Caller> caller = Authorize(ctx, Access::kClient);
  if (!caller.ok()) return Answer(ctx, caller.status());
  if (absl::Status s = RequireTaskId(req->task_id()); !s.ok()) return Answer(ctx, s);
  if (absl::Status s = MayTouchTask(*caller, ctx, req->task_id()); !s.ok()) return Answer(ctx, s);
  absl::StatusOr<TaskState> state = core_.CancelTask(req->task_id());
  if (state.ok()) resp->set_state(ToProto(*state));
  return Answer(ctx, state.status());
}

grpc::ServerUnaryReactor* SchedulerService::ListTasks(grpc::CallbackServerContext* ctx,
                                                      const v1::ListTasksRequest* req,
                                                      v1::ListTasksResponse* resp) {
  absl::StatusOr<Caller> caller = Authorize(ctx, Access::kClient);
  if (!caller.ok()) return Answer(ctx, caller.status());
  TaskListQuery query;
  query.owner = caller->OwnerFilter();
  if (req->state() != v1::TASK_STATE_UNSPECIFIED) {
    query.state = FromProto(req->state());
    if (!query.state) {
      return Answer(ctx, absl::InvalidArgumentError(
                             absl::StrCat("state ", req->state(), " is not a task state")));
    }
  }
  query.queue = req->queue();
  query.type = req->type();
  query.page_size = req->page_size();
  query.page_token = req->page_token();
  query.newest_first = req->newest_first();
  absl::StatusOr<TaskPage> page = core_.ListTasks(query);
  if (page.ok()) {
    for (const TaskRecord& r : page->tasks) ToProto(r, /*with_data=*/false, resp->add_tasks());
    resp->set_next_page_token(page->next_page_token);
  }
  return Answer(ctx, page.status());
}

grpc::ServerWriteReactor<v1::WatchTasksResponse>* SchedulerService::WatchTasks(
    grpc::CallbackServerContext* ctx, const v1::WatchTasksRequest* req) {
  absl::StatusOr<Caller> caller = Authorize(ctx, Access::kClient);
  if (!caller.ok()) return new RejectedWatch(ToGrpcStatus(caller.status()));
  EventFilter filter;
  filter.owner = caller->OwnerFilter();
  for (int s : req->states()) {
    std::optional<TaskState> state = FromProto(static_cast<v1::TaskState>(s));
    if (state) filter.states.push_back(*state);
  }
  filter.queue = req->queue();
  filter.type = req->type();
  auto* reactor = new WatchReactor(events_, options_);
  reactor->Begin(std::move(filter));
  return reactor;
}

grpc::ServerUnaryReactor* SchedulerService::ListExecutors(grpc::CallbackServerContext* ctx,
                                                          const v1::ListExecutorsRequest* req,
                                                          v1::ListExecutorsResponse* resp) {
  if (absl::StatusOr<Caller> caller = Authorize(ctx, Access::kAdmin); !caller.ok()) {
    return Answer(ctx, caller.status());
  }
  for (const ExecutorView& e : core_.ListExecutors()) ToProto(e, resp->add_executors());
  return Answer(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* SchedulerService::SubmitWorkflow(grpc::CallbackServerContext* ctx,
                                                           const v1::SubmitWorkflowRequest* req,
                                                           v1::SubmitWorkflowResponse* resp) {
  absl::StatusOr<Caller> caller = Authorize(ctx, Access::kClient);
  if (!caller.ok()) return Answer(ctx, caller.status());
  absl::StatusOr<absl::Duration> wait = WaitTimeout(req->has_wait(), req->wait(), "wait");
  if (!wait.ok()) return Answer(ctx, wait.status());
  auto fill = [resp](SubmittedWorkflow& submitted) {
    resp->set_workflow_id(submitted.workflow_id);
    for (std::string& id : submitted.task_ids) resp->add_task_ids(std::move(id));
    resp->set_existing(submitted.existing);
  };
  WorkflowSpec spec = FromProto(v1::WorkflowSpec(req->workflow()));
  spec.owner = caller->name();
  if (!req->has_wait()) {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    core_.SubmitWorkflowAsync(std::move(spec),
                              [reactor, fill](absl::StatusOr<SubmittedWorkflow> submitted) {
                                if (submitted.ok()) fill(*submitted);
                                reactor->Finish(ToGrpcStatus(submitted.status()));
                              });
    return reactor;
  }
  auto* reactor = new WaitReactor<SubmitWorkflowWait>(core_, resp);
  core_.SubmitWorkflowAsync(
      std::move(spec), [reactor, fill, wait = *wait](absl::StatusOr<SubmittedWorkflow> submitted) {
        if (!submitted.ok()) {
          reactor->Fail(ToGrpcStatus(submitted.status()));
          return;
        }
        std::string id = submitted->workflow_id;
        fill(*submitted);
        reactor->Begin(std::move(id), wait);
      });
  return reactor;
}

grpc::ServerUnaryReactor* SchedulerService::GetWorkflow(grpc::CallbackServerContext* ctx,
                                                        const v1::GetWorkflowRequest* req,
                                                        v1::Workflow* resp) {
  absl::StatusOr<Caller> caller = Authorize(ctx, Access::kClient);
  if (!caller.ok()) return Answer(ctx, caller.status());
  if (absl::Status s = RequireWorkflowId(req->workflow_id()); !s.ok()) return Answer(ctx, s);
  absl::StatusOr<WorkflowView> view = core_.GetWorkflow(req->workflow_id());
  if (!view.ok()) return Answer(ctx, view.status());
  if (absl::Status s = auth_.CheckOwner(*caller, view->record.owner, *ctx,
                                        absl::StrCat("workflow ", req->workflow_id()));
      !s.ok()) {
    return Answer(ctx, s);
  }
  ToProto(*view, resp);
  return Answer(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* SchedulerService::WaitWorkflow(grpc::CallbackServerContext* ctx,
                                                         const v1::WaitWorkflowRequest* req,
                                                         v1::Workflow* resp) {
  absl::StatusOr<Caller> caller = Authorize(ctx, Access::kClient);
  if (!caller.ok()) return Answer(ctx, caller.status());
  if (absl::Status s = RequireWorkflowId(req->workflow_id()); !s.ok()) return Answer(ctx, s);
  if (absl::Status s = MayTouchWorkflow(*caller, ctx, req->workflow_id()); !s.ok()) {
    return Answer(ctx, s);
  }
  absl::StatusOr<absl::Duration> timeout = WaitTimeout(req->has_timeout(), req->timeout());
  if (!timeout.ok()) return Answer(ctx, timeout.status());
  auto* reactor = new WaitReactor<WorkflowWait>(core_, resp);
  reactor->Begin(req->workflow_id(), *timeout);
  return reactor;
}

grpc::ServerUnaryReactor* SchedulerService::CancelWorkflow(grpc::CallbackServerContext* ctx,
                                                           const v1::CancelWorkflowRequest* req,
                                                           v1::CancelWorkflowResponse* resp) {
  absl::StatusOr<Caller> caller = Authorize(ctx, Access::kClient);
  if (!caller.ok()) return Answer(ctx, caller.status());
  if (absl::Status s = RequireWorkflowId(req->workflow_id()); !s.ok()) return Answer(ctx, s);
  if (absl::Status s = MayTouchWorkflow(*caller, ctx, req->workflow_id()); !s.ok()) {
    return Answer(ctx, s);
  }
  absl::StatusOr<WorkflowState> state = core_.CancelWorkflow(req->workflow_id());
  if (state.ok()) resp->set_state(ToProto(*state));
  return Answer(ctx, state.status());
}

}  // namespace taskwire::scheduler
