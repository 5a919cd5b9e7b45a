// Serves a prometheus-cpp registry at /metrics on its own HTTP port, together with the
// process_* metrics (CPU, memory, fds) of common/process_collector.h.
#ifndef TASKWIRE_COMMON_METRICS_SERVER_H_
#define TASKWIRE_COMMON_METRICS_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace prometheus {
class Exposer;
class Registry;
}  // namespace prometheus

namespace taskwire {

class ProcessCollector;

class MetricsServer {
 public:
  // `address` is host:port; port 0 picks a free one. Fails if it cannot bind.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(
      const std::string& address, std::shared_ptr<prometheus::Registry> registry);
  ~MetricsServer();

  // host:port actually bound.
  const std::string& address() const { return address_; }

 private:
  MetricsServer(std::shared_ptr<ProcessCollector> process,
                std::unique_ptr<prometheus::Exposer> exposer, std::string address);
  // Declared before the exposer, which holds only a weak_ptr to it: destroyed after it.
  std::shared_ptr<ProcessCollector> process_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::string address_;
};

}  // namespace taskwire

#endif  // TASKWIRE_COMMON_METRICS_SERVER_H_
