#ifndef CROSSTENANT_SERVICES_COMMON_HEALTH_H_
#define CROSSTENANT_SERVICES_COMMON_HEALTH_H_

// The readiness a server reports through grpc.health.v1, kept identical on the main gRPC server and
// on the optional plaintext health-only server that Kubernetes probes.
//
// Every name starts NOT_SERVING, including "" (the whole server); gRPC's default health service
// would otherwise report "" as SERVING before warm-up.

#include <string>
#include <vector>

#include <grpcpp/health_check_service_interface.h>

#include "absl/synchronization/mutex.h"

namespace crosstenant {

class HealthRegistry {
 public:
  // `names` are the fully qualified services this server reports on; "" is added.
  explicit HealthRegistry(std::vector<std::string> names);

  // Adds a server's health service; it is set to the current statuses at once.
  void Attach(grpc::HealthCheckServiceInterface* service);

  // Sets one name (or "" for the whole server).
  void SetServing(const std::string& name, bool serving);
  // Sets every name, "" included.
  void SetAllServing(bool serving);
  // Every name NOT_SERVING for good: later updates are ignored (server shutdown).
  void Shutdown();

  bool IsServing(const std::string& name) const;

 private:
  mutable absl::Mutex mutex_;
  std::vector<std::string> names_ ABSL_GUARDED_BY(mutex_);
  std::vector<bool> serving_ ABSL_GUARDED_BY(mutex_);
  std::vector<grpc::HealthCheckServiceInterface*> services_ ABSL_GUARDED_BY(mutex_);
  bool shut_down_ ABSL_GUARDED_BY(mutex_) = false;
};

}  // namespace crosstenant

#endif  // CROSSTENANT_SERVICES_COMMON_HEALTH_H_
