// Workflows from C++ with the client library: a chain that hashes "hello" through two echo
// steps, and a chord that hashes three words in parallel and collects the digests in order.
//
//   build/examples/workflow_client --server 127.0.0.1:7070
#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "client/client.h"
#include "client/task_options.h"
#include "client/workflow.h"

namespace {

using taskwire::client::Canvas;
using taskwire::client::Chain;
using taskwire::client::Chord;
using taskwire::client::Client;
using taskwire::client::Group;

// Submits `canvas`, waits up to a minute, prints the sink results; returns the exit code.
int Run(Client& client, const std::string& title, const Canvas& canvas) {
  absl::StatusOr<taskwire::v1::WorkflowSpec> spec = canvas.Build();
  if (!spec.ok()) {
    std::cerr << title << ": " << spec.status() << "\n";
    return 2;
  }
  absl::StatusOr<taskwire::v1::SubmitWorkflowResponse> submitted = client.SubmitWorkflow(*spec);
  if (!submitted.ok()) {
    std::cerr << title << ": " << submitted.status() << "\n";
    return 3;
  }
  absl::StatusOr<taskwire::v1::Workflow> done =
      client.WaitWorkflow(submitted->workflow_id(), absl::Minutes(1));
  if (!done.ok()) {
    std::cerr << title << ": " << done.status() << "\n";
    return 3;
  }
  std::cout << title << " (" << done->id() << "): "
            << taskwire::client::WorkflowStateName(done->state()) << "\n";
  for (const taskwire::v1::WorkflowResult& r : done->results()) {
    std::cout << "  " << r.node() << " = " << r.output() << "\n";
  }
  return done->state() == taskwire::v1::WORKFLOW_STATE_SUCCEEDED ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("Submits a chain and a chord to a taskwire scheduler", "workflow_client");
  std::string server = "127.0.0.1:7070";
  app.add_option("--server", server, "Scheduler address")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  Client client({.target = server});
  // sha256(echo(echo("hello"))) == sha256("hello")
  int rc = Run(client, "chain",
               Chain({Canvas::Task("echo", "hello"), Canvas::Task("echo"), Canvas::Task("sha256")}));
  // Each member may be retried twice (flaky networks, say) before the chord fails.
  taskwire::v1::TaskSpec word = taskwire::client::MakeTask("sha256");
  taskwire::client::SetRetry(word, {.max_attempts = 3, .initial_backoff = absl::Milliseconds(100)});
  std::vector<Canvas> members;
  for (const char* w : {"alpha", "beta", "gamma"}) {
    word.set_payload(w);
    members.push_back(Canvas::Task(word).Named(std::string("hash-") + w));
  }
  rc = std::max(rc, Run(client, "chord", Chord(Group(members), Canvas::Task("collect"))));
  return rc;
}
