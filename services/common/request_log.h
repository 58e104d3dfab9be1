#ifndef CROSSTENANT_SERVICES_COMMON_REQUEST_LOG_H_
#define CROSSTENANT_SERVICES_COMMON_REQUEST_LOG_H_

// A server's memory of the mutating requests it answered, by their client-chosen `request_id`
// (AIP-155), so that a retry is answered as the first call was instead of being done twice, and another
// request that reuses an id is refused. In memory: a server that restarts forgets, which is why every
// operation behind it must also be safe to repeat (the connector's are: Microsoft's calls are looked up
// before they are repeated).
//
// Thread-safe.

#include <cstddef>
#include <deque>
#include <functional>
#include <string>

#include "absl/container/node_hash_map.h"
#include "absl/container/node_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"

namespace crosstenant {

class RequestLog {
 public:
  struct Options {
    // How long an answer is remembered.
    absl::Duration retention = absl::Hours(24);
    // At most this many answers are remembered; the oldest is forgotten first.
    size_t capacity = 10000;
    std::function<absl::Time()> now = absl::Now;
  };

  explicit RequestLog(Options options) : options_(std::move(options)) {}
  RequestLog() : RequestLog(Options()) {}

  // Runs `run` (which fills `*response`) for `request` of `method`, unless its `request_id` was seen:
  //   - no `request_id`: runs it;
  //   - an id longer than 128 characters or not printable ASCII: INVALID_ARGUMENT on `request_id`;
  //   - the same method and body answered before: `*response` is that answer, OK, `run` not called;
  //   - another method or body under the id: INVALID_ARGUMENT naming `request_id`;
  //   - the same id still running: ABORTED (retry later).
  // Only successes are remembered: a request that failed may be tried again under its id. Fields named
  // in `retry_fields` (e.g. an attempt counter) are left out of the comparison of bodies.
  absl::Status Run(absl::string_view method, const google::protobuf::Message& request,
                   google::protobuf::Message* response, const std::function<absl::Status()>& run,
                   absl::Span<const absl::string_view> retry_fields = {});

  // Run in two halves, for requests that run together (the items of a batch call): Begin decides as
  // Run does and returns true when the caller must run the request now, false when `*response` holds
  // the remembered answer, or the refusal; every request Begin returned true for must then be passed
  // to Finish with its outcome and the response it filled.
  absl::StatusOr<bool> Begin(absl::string_view method, const google::protobuf::Message& request,
                             google::protobuf::Message* response,
                             absl::Span<const absl::string_view> retry_fields = {});
  void Finish(const google::protobuf::Message& request, const google::protobuf::Message& response,
              const absl::Status& status);

  // Number of answers remembered now.
  size_t size() const;

 private:
  // About 400 bytes with a move's answer, so that a full log (`capacity`) stays a few megabytes: the
  // method is one of a handful of names, kept once; the fingerprint is kept as its 32 raw bytes; the
  // oldest-first order points at the map's keys instead of copying them.
  struct Entry {
    const std::string* method = nullptr;  // in methods_
    std::string fingerprint;              // raw SHA-256: 32 bytes, not 64 hex characters
    bool running = true;
    absl::Time answered;
    std::string response;  // serialized, once answered
  };
  void ForgetOldLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  mutable absl::Mutex mu_;
  absl::node_hash_set<std::string> methods_ ABSL_GUARDED_BY(mu_);
  // node_hash_map: its keys stay where they are, so order_ can point at them.
  absl::node_hash_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
  std::deque<const std::string*> order_ ABSL_GUARDED_BY(mu_);  // keys of answered ids, oldest first
};

}  // namespace crosstenant

#endif  // CROSSTENANT_SERVICES_COMMON_REQUEST_LOG_H_
