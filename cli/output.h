// How the taskwire command prints results: for people (aligned tables, local times, text
// output) or for machines (--json: one JSON object per line, proto field names). Commands
// talk only to this interface, so both forms always cover the same commands.
//
// Every method flushes what it printed, so that output through a pipe arrives line by line.
#ifndef TASKWIRE_CLI_OUTPUT_H_
#define TASKWIRE_CLI_OUTPUT_H_

#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "taskwire/v1/scheduler.pb.h"

namespace taskwire::cli {

class Output {
 public:
  virtual ~Output() = default;

  // `submit` without --wait.
  virtual void Submitted(const v1::SubmitResponse& response) = 0;
  // `get`, `wait`, `submit --wait`.
  virtual void Task(const v1::Task& task) = 0;
  // `cancel`: the task's state after the cancel.
  virtual void CancelResult(const std::string& id, v1::TaskState state) = 0;
  // `list`: any number of pages, then one EndTaskList with the token of the page after the
  // last one printed (empty when there is none).
  virtual void TaskPage(const v1::ListTasksResponse& page) = 0;
  virtual void EndTaskList(const std::string& next_page_token) = 0;
  // `watch`: one event of a task, or of a workflow.
  virtual void Event(const v1::TaskEvent& event) = 0;
  virtual void Event(const v1::WorkflowEvent& event) = 0;
  // `executors`.
  virtual void Executors(const std::vector<v1::ExecutorInfo>& executors) = 0;
  // `chain`, `group`, `chord` without --wait: the workflow id (and the node task ids).
  virtual void WorkflowSubmitted(const v1::SubmitWorkflowResponse& response) = 0;
  // `workflow get|wait`, `chain|group|chord --wait`: the workflow and its nodes.
  virtual void Workflow(const v1::Workflow& workflow) = 0;
  // `workflow cancel`: the workflow's state after the cancel.
  virtual void WorkflowCancelResult(const std::string& id, v1::WorkflowState state) = 0;
  // `health`: the service asked about and its status ("SERVING", "NOT_SERVING",
  // "SERVICE_UNKNOWN", ...).
  virtual void Health(const std::string& service, const std::string& status) = 0;
};

std::unique_ptr<Output> MakeHumanOutput(std::ostream& out);
std::unique_ptr<Output> MakeJsonOutput(std::ostream& out);

}  // namespace taskwire::cli

#endif  // TASKWIRE_CLI_OUTPUT_H_
