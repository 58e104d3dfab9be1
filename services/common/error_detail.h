#ifndef CROSSTENANT_SERVICES_COMMON_ERROR_DETAIL_H_
#define CROSSTENANT_SERVICES_COMMON_ERROR_DETAIL_H_

// A status carried inside a response rather than as the call's status: one ErrorDetail per item of a
// batch call (CompleteTasks), read back into the status it stands for.
//
//   *result.mutable_error() = ErrorDetailOf(status);
//   absl::Status again = StatusOfErrorDetail(result.error());  // same code, message and retry delay

#include "absl/status/status.h"
#include "crosstenant/v1/common.pb.h"

namespace crosstenant {

// `code` is the canonical code's name (e.g. "ABORTED"), `message` the status's message, and
// `retry_delay` its RetryInfo delay when it has one.
crosstenant::v1::ErrorDetail ErrorDetailOf(const absl::Status& status);

// The status ErrorDetailOf made `error` from; UNKNOWN for a code that is not a canonical code's name.
absl::Status StatusOfErrorDetail(const crosstenant::v1::ErrorDetail& error);

}  // namespace crosstenant

#endif  // CROSSTENANT_SERVICES_COMMON_ERROR_DETAIL_H_
