#ifndef CROSSTENANT_SERVICES_ORCHESTRATOR_CORE_ORCHESTRATOR_METRICS_H_
#define CROSSTENANT_SERVICES_ORCHESTRATOR_CORE_ORCHESTRATOR_METRICS_H_

// The orchestrator's own Prometheus metrics. Gauges are read from the store at scrape time, so they
// are right after a restart and on every replica; counters count what this process did.
//
//   orchestrator_migrations{phase,state}             migrations by phase and state
//   orchestrator_user_moves{state}                   users of running or waiting migrations, by state
//   orchestrator_queue_depth{source_geo}             users active at Microsoft (or about to be) per source geo
//   orchestrator_queue_limit{source_geo}             the migration's limit for that geo
//   orchestrator_tasks_completed_total{kind,outcome} task completions applied
//   orchestrator_stale_completions_total             completions refused because their lease was lost
//   orchestrator_leader                              1 while this replica drives the phases, else 0
//   orchestrator_leadership_term                     the term it drives in (0 when it does not)
//   orchestrator_store_full                          1 while the state database is full and refuses writes
//   orchestrator_store_write_failures_total{code}    writes the state database refused, by status code
//                                                    (resource_exhausted, unavailable, data_loss, internal)
//   crosstenant_audit_write_failures_total           audit records the store refused (the action they
//                                                    record was done, or refused, all the same)
//   orchestrator_store_statements_total              statements sent to the database server (PostgreSQL)
//   orchestrator_store_round_trips_total             waits for its answers: fewer than statements where
//                                                    they are pipelined

#include <memory>
#include <vector>

#include "crosstenant/v1/task.pb.h"
#include "prometheus/collectable.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"
#include "services/orchestrator/store/migration_store.h"
#include "services/common/store_health.h"

namespace crosstenant::orchestrator {

class OrchestratorMetrics : public prometheus::Collectable {
 public:
  // Registers the counters in `registry`; register this object too (as a shared_ptr) for the gauges.
  // `health` (may be null: no store_* metrics) is the state database's write health.
  OrchestratorMetrics(MigrationStore* store, prometheus::Registry& registry, StoreHealth* health = nullptr);

  void TaskCompleted(crosstenant::v1::TaskKind kind, crosstenant::v1::TaskOutcome outcome);
  void StaleCompletion();
  void AuditWriteFailed();
  // `term` 0: this replica does not lead.
  void SetLeadership(int64_t term);

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  MigrationStore* store_;
  StoreHealth* health_;
  prometheus::Family<prometheus::Counter>& tasks_completed_;
  prometheus::Counter& stale_completions_;
  prometheus::Counter& audit_write_failures_;
  prometheus::Gauge& leader_;
  prometheus::Gauge& leadership_term_;
};

}  // namespace crosstenant::orchestrator

#endif  // CROSSTENANT_SERVICES_ORCHESTRATOR_CORE_ORCHESTRATOR_METRICS_H_
