// A loopback TCP proxy for tests: forwards connections to a target and can cut them all
// at once, which is how a test breaks an executor's stream mid-task without killing it.
#ifndef TASKWIRE_TESTS_INTEGRATION_TCP_PROXY_H_
#define TASKWIRE_TESTS_INTEGRATION_TCP_PROXY_H_

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace taskwire::testing {

class TcpProxy {
 public:
  // Listens on 127.0.0.1:0 and forwards to `target_port` on 127.0.0.1.
  explicit TcpProxy(int target_port);
  ~TcpProxy();

  std::string address() const;
  // Closes every proxied connection; new ones are still accepted unless `refuse_new`.
  void Cut(bool refuse_new = false);

 private:
  void AcceptLoop();
  void Pump(int a, int b);

  const int target_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> refusing_{false};
  absl::Mutex mu_;
  std::vector<int> fds_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> pumps_ ABSL_GUARDED_BY(mu_);
  std::thread acceptor_;
};

}  // namespace taskwire::testing

#endif  // TASKWIRE_TESTS_INTEGRATION_TCP_PROXY_H_
