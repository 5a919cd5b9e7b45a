// Serves a prometheus-cpp registry at /metrics on its own HTTP port.
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

class MetricsServer {
 public:
  // `address` is host:port; port 0 picks a free one. Fails if it cannot bind.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(
      const std::string& address, std::shared_ptr<prometheus::Registry> registry);
  ~MetricsServer();

  // host:port actually bound.
  const std::string& address() const { return address_; }

 private:
  MetricsServer(std::unique_ptr<prometheus::Exposer> exposer, std::string address);
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::string address_;
};

}  // namespace taskwire

#endif  // TASKWIRE_COMMON_METRICS_SERVER_H_
