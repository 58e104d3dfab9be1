#include "services/common/health.h"

#include <algorithm>

namespace crosstenant {

HealthRegistry::HealthRegistry(std::vector<std::string> names) : names_(std::move(names)) {
  if (std::find(names_.begin(), names_.end(), "") == names_.end()) names_.insert(names_.begin(), "");
  serving_.assign(names_.size(), false);
}

void HealthRegistry::Attach(grpc::HealthCheckServiceInterface* service) {
  absl::MutexLock lock(&mutex_);
  services_.push_back(service);
  for (size_t i = 0; i < names_.size(); ++i) service->SetServingStatus(names_[i], serving_[i]);
}

void HealthRegistry::SetServing(const std::string& name, bool serving) {
  absl::MutexLock lock(&mutex_);
  if (shut_down_) return;
  auto it = std::find(names_.begin(), names_.end(), name);
  if (it == names_.end()) {
    names_.push_back(name);
    serving_.push_back(serving);
  } else {
    serving_[it - names_.begin()] = serving;
  }
  for (auto* service : services_) service->SetServingStatus(name, serving);
}

void HealthRegistry::SetAllServing(bool serving) {
  absl::MutexLock lock(&mutex_);
  if (shut_down_) return;
  serving_.assign(names_.size(), serving);
  for (auto* service : services_) {
    for (const std::string& name : names_) service->SetServingStatus(name, serving);
  }
}

void HealthRegistry::Shutdown() {
  absl::MutexLock lock(&mutex_);
  shut_down_ = true;
  serving_.assign(names_.size(), false);
  for (auto* service : services_) service->Shutdown();
}

bool HealthRegistry::IsServing(const std::string& name) const {
  absl::MutexLock lock(&mutex_);
  auto it = std::find(names_.begin(), names_.end(), name);
  return it != names_.end() && serving_[it - names_.begin()];
}

}  // namespace crosstenant
