#ifndef CROSSTENANT_SERVICES_ORCHESTRATOR_CORE_USER_TRANSITION_H_
#define CROSSTENANT_SERVICES_ORCHESTRATOR_CORE_USER_TRANSITION_H_

// The history event of one user's change of state, as every writer of a migration records it.

#include "crosstenant/v1/migration.pb.h"

namespace crosstenant::orchestrator {

// Makes `event` the transition of `user` from `from` to the state `user` is in now, with the user's
// error when it has one.
inline void SetUserTransition(const crosstenant::v1::UserMove& user, crosstenant::v1::UserMoveState from,
                              crosstenant::v1::MigrationEvent* event) {
  crosstenant::v1::UserMoveTransition* transition = event->mutable_user_transition();
  transition->set_user_move(user.name());
  transition->set_source_user_principal_name(user.source_user_principal_name());
  transition->set_from_state(from);
  transition->set_to_state(user.state());
  if (user.has_error()) *transition->mutable_error() = user.error();
}

}  // namespace crosstenant::orchestrator

#endif  // CROSSTENANT_SERVICES_ORCHESTRATOR_CORE_USER_TRANSITION_H_
