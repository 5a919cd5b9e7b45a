// spawn-rate: how many processes per second this machine can start, run and reap, with no
// taskwire involved: the ceiling of process tasks here (bench/README.md, "Process tasks").
//
//   spawn-rate [--program /bin/true] [--count 2000] [--parallel 2]
//
// Each of `parallel` threads runs `program` `count` times with posix_spawn + waitpid.
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"

extern char** environ;

int main(int argc, char** argv) {
  std::string program = "/bin/true";
  int count = 2000;
  int parallel = 2;
  CLI::App app("Starts, runs and reaps a program many times; prints processes per second");
  app.add_option("--program", program, "What to run (no arguments)")->capture_default_str();
  app.add_option("--count", count, "Runs per thread")
      ->capture_default_str()
      ->check(CLI::Range(1, 1'000'000));
  app.add_option("--parallel", parallel, "Threads spawning at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  CLI11_PARSE(app, argc, argv);

  std::vector<int> failures(parallel, 0);
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < parallel; ++t) {
    threads.emplace_back([&, t] {
      char* args[] = {program.data(), nullptr};
      for (int i = 0; i < count; ++i) {
        pid_t pid;
        int status = 0;
        if (posix_spawn(&pid, program.c_str(), nullptr, nullptr, args, environ) != 0 ||
            waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
          ++failures[t];
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  int failed = 0;
  for (int f : failures) failed += f;
  std::printf("spawn-rate: %d x %s on %d threads in %.3f s: %.0f processes/s, %d failed\n",
              count * parallel, program.c_str(), parallel, seconds, count * parallel / seconds,
              failed);
  return failed == 0 ? 0 : 1;
}
