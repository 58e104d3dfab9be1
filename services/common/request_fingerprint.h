#ifndef CROSSTENANT_SERVICES_COMMON_REQUEST_FINGERPRINT_H_
#define CROSSTENANT_SERVICES_COMMON_REQUEST_FINGERPRINT_H_

// What makes a retried request recognisable (AIP-155): a request carries a client-chosen `request_id`,
// and a server that sees the id again must tell a retry of the same request (answer as the first time)
// from another request that reuses the id (refuse it). The fingerprint is what it compares: a hash of
// the request's body without its `request_id`.

#include <string>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "google/protobuf/message.h"

namespace crosstenant {

// The SHA-256 (lower-case hex) of `request` serialized deterministically, with its top-level
// `request_id` field cleared, and the top-level fields named in `retry_fields` too (what a retry may
// change, e.g. an attempt counter). Equal requests give equal fingerprints within one build; a field
// added by a newer build changes a request's fingerprint only when the field is set.
std::string RequestFingerprint(const google::protobuf::Message& request,
                               absl::Span<const absl::string_view> retry_fields = {});

// What is wrong with `request_id` as an id (at most 128 printable ASCII characters, no spaces; a UUID is
// recommended), for a field violation; empty when nothing is.
std::string RequestIdProblem(absl::string_view request_id);

}  // namespace crosstenant

#endif  // CROSSTENANT_SERVICES_COMMON_REQUEST_FINGERPRINT_H_
