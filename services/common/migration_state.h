#ifndef CROSSTENANT_SERVICES_COMMON_MIGRATION_STATE_H_
#define CROSSTENANT_SERVICES_COMMON_MIGRATION_STATE_H_

// Facts about crosstenant.v1.MigrationState that the orchestrator and its clients share.

#include "crosstenant/v1/migration.pb.h"

namespace crosstenant {

// Whether a migration in `state` has ended for good: COMPLETED, COMPLETED_WITH_ERRORS, FAILED or
// CANCELLED. Nothing changes it any more except `migrate reconcile`, which reopens it.
inline bool MigrationHasEnded(v1::MigrationState state) {
  return state == v1::MIGRATION_STATE_COMPLETED || state == v1::MIGRATION_STATE_COMPLETED_WITH_ERRORS ||
         state == v1::MIGRATION_STATE_FAILED || state == v1::MIGRATION_STATE_CANCELLED;
}

}  // namespace crosstenant

#endif  // CROSSTENANT_SERVICES_COMMON_MIGRATION_STATE_H_
