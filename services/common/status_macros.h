#ifndef CROSSTENANT_SERVICES_COMMON_STATUS_MACROS_H_
#define CROSSTENANT_SERVICES_COMMON_STATUS_MACROS_H_

// RETURN_IF_ERROR and ASSIGN_OR_RETURN, which Abseil 20220623 does not have yet, and StatusOf for
// code that takes either an absl::Status or an absl::StatusOr<T>.
//
//   RETURN_IF_ERROR(store.Save(row));
//   ASSIGN_OR_RETURN(Connection connection, registry.Get(name));

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define CROSSTENANT_STATUS_CONCAT_INNER_(a, b) a##b
#define CROSSTENANT_STATUS_CONCAT_(a, b) CROSSTENANT_STATUS_CONCAT_INNER_(a, b)

// Evaluates `expr` (an absl::Status) once and returns it from the enclosing function unless it is OK.
#define RETURN_IF_ERROR(expr)                                                                             \
  do {                                                                                                    \
    if (absl::Status crosstenant_status_ = (expr); !crosstenant_status_.ok()) return crosstenant_status_; \
  } while (false)

// Evaluates `rexpr` (an absl::StatusOr<T>) once; on error returns its status, otherwise moves the
// value into `lhs`, which may be a declaration (`auto x`) or an existing variable.
#define ASSIGN_OR_RETURN(lhs, rexpr) \
  CROSSTENANT_ASSIGN_OR_RETURN_IMPL_(CROSSTENANT_STATUS_CONCAT_(crosstenant_statusor_, __LINE__), lhs, rexpr)

#define CROSSTENANT_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                       \
  if (!statusor.ok()) return std::move(statusor).status();       \
  lhs = *std::move(statusor)

namespace crosstenant {

// The status of a call's result, whether it is an absl::Status or an absl::StatusOr<T>.
inline const absl::Status& StatusOf(const absl::Status& status) { return status; }
template <typename T>
const absl::Status& StatusOf(const absl::StatusOr<T>& result) {
  return result.status();
}

}  // namespace crosstenant

#endif  // CROSSTENANT_SERVICES_COMMON_STATUS_MACROS_H_
