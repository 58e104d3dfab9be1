#ifndef CROSSTENANT_SERVICES_COMMON_GRPC_STATUS_H_
#define CROSSTENANT_SERVICES_COMMON_GRPC_STATUS_H_

// The one translation between absl::Status (business code) and grpc::Status (the wire), used by
// every gRPC adapter and client of the mesh.

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace crosstenant {

// Converts a business status to a gRPC status. The canonical codes are identical; the message is
// kept; payloads whose type URL names a google.rpc detail (BadRequest, RetryInfo, ...) travel as a
// google.rpc.Status in the `grpc-status-details-bin` trailer. A status that says UNKNOWN is sent as
// INTERNAL, so that callers never see a bare UNKNOWN from the mesh. An UNAVAILABLE or DEADLINE_EXCEEDED
// without an ErrorInfo gets one (reason kReasonUnavailable / kReasonDeadlineExceeded, errors.h), so
// that a client tells a server's answer from its own channel's failure.
grpc::Status ToGrpcStatus(const absl::Status& status);

// The inverse, for clients: the code, the message and every detail as a payload.
absl::Status FromGrpcStatus(const grpc::Status& status);

// The Go spelling of a gRPC code, as Prometheus dashboards expect it ("OK", "InvalidArgument", ...).
const char* GoCodeName(grpc::StatusCode code);

}  // namespace crosstenant

#endif  // CROSSTENANT_SERVICES_COMMON_GRPC_STATUS_H_
