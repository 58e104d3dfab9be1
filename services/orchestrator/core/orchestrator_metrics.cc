#include "services/orchestrator/core/orchestrator_metrics.h"

#include <map>
#include <set>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/strip.h"

namespace crosstenant::orchestrator {
namespace {

namespace v1 = ::crosstenant::v1;

std::string Label(const std::string& enum_name, absl::string_view prefix) {
  return absl::AsciiStrToLower(absl::StripPrefix(enum_name, prefix));
}

prometheus::MetricFamily Gauge(const char* name, const char* help) {
  return prometheus::MetricFamily{name, help, prometheus::MetricType::Gauge, {}};
}

prometheus::MetricFamily Counter(const char* name, const char* help, int64_t value) {
  prometheus::ClientMetric metric;
  metric.counter.value = static_cast<double>(value);
  return prometheus::MetricFamily{name, help, prometheus::MetricType::Counter, {metric}};
}

void AddSample(prometheus::MetricFamily& family, std::vector<prometheus::ClientMetric::Label> labels, double value) {
  prometheus::ClientMetric metric;
  metric.label = std::move(labels);
  metric.gauge.value = value;
  family.metric.push_back(std::move(metric));
}

}  // namespace

OrchestratorMetrics::OrchestratorMetrics(MigrationStore* store, prometheus::Registry& registry, StoreHealth* health)
    : store_(store),
      health_(health),
      tasks_completed_(prometheus::BuildCounter()
                           .Name("orchestrator_tasks_completed_total")
                           .Help("Task completions applied, by task kind and outcome.")
                           .Register(registry)),
      stale_completions_(prometheus::BuildCounter()
                             .Name("orchestrator_stale_completions_total")
                             .Help("Task completions refused because their lease had expired or moved on.")
                             .Register(registry)
                             .Add({})),
      audit_write_failures_(prometheus::BuildCounter()
                                .Name("crosstenant_audit_write_failures_total")
                                .Help("Audit records the store refused to append; the actions they record were "
                                      "answered all the same.")
                                .Register(registry)
                                .Add({})),
      leader_(prometheus::BuildGauge()
                  .Name("orchestrator_leader")
                  .Help("1 while this replica drives the migrations' phases (holds the leadership lease), else 0.")
                  .Register(registry)
                  .Add({})),
      leadership_term_(prometheus::BuildGauge()
                           .Name("orchestrator_leadership_term")
                           .Help("The leadership term this replica drives in; 0 when it does not lead.")
                           .Register(registry)
                           .Add({})) {}

void OrchestratorMetrics::SetLeadership(int64_t term) {
  leader_.Set(term != 0 ? 1 : 0);
  leadership_term_.Set(static_cast<double>(term));
}

void OrchestratorMetrics::TaskCompleted(v1::TaskKind kind, v1::TaskOutcome outcome) {
  tasks_completed_
      .Add({{"kind", Label(v1::TaskKind_Name(kind), "TASK_KIND_")},
            {"outcome", Label(v1::TaskOutcome_Name(outcome), "TASK_OUTCOME_")}})
      .Increment();
}

void OrchestratorMetrics::StaleCompletion() { stale_completions_.Increment(); }

void OrchestratorMetrics::AuditWriteFailed() { audit_write_failures_.Increment(); }

std::vector<prometheus::MetricFamily> OrchestratorMetrics::Collect() const {
  prometheus::MetricFamily migrations = Gauge("orchestrator_migrations", "Migrations by phase and state.");
  prometheus::MetricFamily users =
      Gauge("orchestrator_user_moves", "Users of running, waiting or paused migrations, by state.");
  prometheus::MetricFamily depth =
      Gauge("orchestrator_queue_depth", "Users active at Microsoft, or handed to a worker to start, per source geo.");
  prometheus::MetricFamily limit = Gauge("orchestrator_queue_limit", "Most users active at once per source geo.");
  std::map<std::pair<std::string, std::string>, int> by_phase_state;
  std::map<std::string, int> by_user_state;
  std::string token;
  do {
    absl::StatusOr<MigrationPage> page = store_->ListMigrations({}, 1000, token);
    if (!page.ok()) break;  // a scrape must not fail the process; the gauges are just absent
    for (const v1::Migration& migration : page->migrations) {
      ++by_phase_state[{Label(v1::MigrationPhase_Name(migration.phase()), "MIGRATION_PHASE_"),
                        Label(v1::MigrationState_Name(migration.state()), "MIGRATION_STATE_")}];
      const bool live = migration.state() == v1::MIGRATION_STATE_RUNNING ||
                        migration.state() == v1::MIGRATION_STATE_WAITING ||
                        migration.state() == v1::MIGRATION_STATE_PAUSED;
      if (!live) continue;
      if (auto counts = store_->CountUserMoves(migration.name()); counts.ok()) {
        for (const auto& [state, count] : *counts) {
          by_user_state[Label(v1::UserMoveState_Name(state), "USER_MOVE_STATE_")] += count;
        }
      }
      std::set<std::string> source_geos;  // a source geo paired with several target geos is one queue
      for (const v1::GeoPair& pair : migration.geo_pairs()) {
        if (!source_geos.insert(pair.source_geo()).second) continue;
        if (auto queue = store_->GetSourceGeoQueue(migration.name(), pair.source_geo()); queue.ok()) {
          AddSample(depth, {{"source_geo", pair.source_geo()}}, queue->active());
          AddSample(limit, {{"source_geo", pair.source_geo()}}, migration.plan().options().max_queued_per_source_geo());
        }
      }
    }
    token = page->next_page_token;
  } while (!token.empty());
  for (const auto& [key, count] : by_phase_state)
    AddSample(migrations, {{"phase", key.first}, {"state", key.second}}, count);
  for (const auto& [state, count] : by_user_state) AddSample(users, {{"state", state}}, count);
  std::vector<prometheus::MetricFamily> families = {migrations, users, depth, limit};
  if (health_ != nullptr) {
    prometheus::MetricFamily full = Gauge("orchestrator_store_full",
                                          "1 while the state database is full and refuses writes (no new work is "
                                          "handed out), 0 otherwise.");
    AddSample(full, {}, health_->full() ? 1 : 0);
    prometheus::MetricFamily failures{"orchestrator_store_write_failures_total",
                                      "Writes the state database refused, by status code: resource_exhausted (full), "
                                      "unavailable (locked), data_loss (corrupt), internal.",
                                      prometheus::MetricType::Counter,
                                      {}};
    for (const auto& [code, count] : health_->WriteFailures()) {
      prometheus::ClientMetric metric;
      metric.label = {{"code", code}};
      metric.counter.value = static_cast<double>(count);
      failures.metric.push_back(std::move(metric));
    }
    families.push_back(std::move(full));
    families.push_back(std::move(failures));
  }
  if (const std::optional<MigrationStore::Traffic> traffic = store_->ServerTraffic()) {
    families.push_back(Counter("orchestrator_store_statements_total",
                               "Statements this process sent to the database server.", traffic->statements));
    families.push_back(Counter("orchestrator_store_round_trips_total",
                               "Waits for the database server's answers; fewer than statements where they are "
                               "pipelined.",
                               traffic->round_trips));
  }
  return families;
}

}  // namespace crosstenant::orchestrator
