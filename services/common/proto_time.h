#ifndef CROSSTENANT_SERVICES_COMMON_PROTO_TIME_H_
#define CROSSTENANT_SERVICES_COMMON_PROTO_TIME_H_

// Conversions between absl time types and google.protobuf.Timestamp / Duration, in one place.

#include <google/protobuf/duration.pb.h>
#include <google/protobuf/timestamp.pb.h>

#include "absl/time/time.h"

namespace crosstenant {

// `time` as a Timestamp (nanosecond precision; instants before 1970 keep a non-negative `nanos`); an
// infinite time clears `out` (an unset timestamp).
void SetTimestamp(absl::Time time, google::protobuf::Timestamp* out);
// `duration` as a Duration (seconds and nanos of the same sign, as the type requires).
void SetDuration(absl::Duration duration, google::protobuf::Duration* out);

absl::Time TimeOf(const google::protobuf::Timestamp& timestamp);
absl::Duration DurationOf(const google::protobuf::Duration& duration);

}  // namespace crosstenant

#endif  // CROSSTENANT_SERVICES_COMMON_PROTO_TIME_H_
