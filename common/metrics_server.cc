#include "common/metrics_server.h"

#include <exception>

#include "absl/strings/str_cat.h"
#include "common/process_collector.h"
#include "prometheus/exposer.h"
#include "prometheus/registry.h"

namespace taskwire {

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const std::string& address, std::shared_ptr<prometheus::Registry> registry) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics address '", address, "' is not host:port"));
  }
  std::unique_ptr<prometheus::Exposer> exposer;
  try {  // prometheus-cpp reports a failed bind by throwing
    exposer = std::make_unique<prometheus::Exposer>(address, /*num_threads=*/1);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", address, ": ", e.what()));
  }
  exposer->RegisterCollectable(registry);
  auto process = std::make_shared<ProcessCollector>();
  exposer->RegisterCollectable(process);
  const auto ports = exposer->GetListeningPorts();
  const std::string bound =
      absl::StrCat(address.substr(0, colon), ":", ports.empty() ? 0 : ports.front());
  return std::unique_ptr<MetricsServer>(
      new MetricsServer(std::move(process), std::move(exposer), bound));
}

MetricsServer::MetricsServer(std::shared_ptr<ProcessCollector> process,
                             std::unique_ptr<prometheus::Exposer> exposer, std::string address)
    : process_(std::move(process)), exposer_(std::move(exposer)), address_(std::move(address)) {}

MetricsServer::~MetricsServer() = default;

}  // namespace taskwire
