#ifndef CROSSTENANT_SERVICES_COMMON_REQUEST_LOG_H_
#define CROSSTENANT_SERVICES_COMMON_REQUEST_LOG_H_

// A server's memory of the mutating requests it answered, by their client-chosen `request_id`
// (AIP-155), so that a retry is answered as the first call was instead of being done twice, and another
// request that reuses an id is refused. The answers are kept in an AnswerStore (the connector's state
// database: they survive a restart and take no memory of the process); the requests still running are
// kept in memory. Every operation behind it must still be safe to repeat, for a retry that comes after
// its answer was forgotten (the connector's are: Microsoft's calls are looked up before they are
// repeated).
//
// Thread-safe.

#include <cstddef>
#include <functional>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"

namespace crosstenant {

// Where a RequestLog keeps the answers it gave. Implementations are thread-safe.
class AnswerStore {
 public:
  struct Answer {
    std::string method;       // the RPC's name
    std::string fingerprint;  // SHA-256 of the request (retry fields left out), 32 raw bytes
    std::string response;     // serialized
    absl::Time answered;
  };
  virtual ~AnswerStore() = default;

  // The answer kept under `request_id`, or nullopt.
  virtual absl::StatusOr<std::optional<Answer>> FindAnswer(absl::string_view request_id) = 0;
  // Keeps `answer` under `request_id` (replacing one kept before), and may forget answers given before
  // `forget_before` and all but the newest `capacity`.
  virtual absl::Status KeepAnswer(absl::string_view request_id, const Answer& answer, absl::Time forget_before,
                                  size_t capacity) = 0;
};

class RequestLog {
 public:
  struct Options {
    // How long an answer is remembered.
    absl::Duration retention = absl::Hours(24);
    // At most this many answers are remembered; the oldest is forgotten first.
    size_t capacity = 10000;
    std::function<absl::Time()> now = absl::Now;
  };

  // `answers` must outlive the log.
  RequestLog(Options options, AnswerStore* answers) : options_(std::move(options)), answers_(answers) {}
  explicit RequestLog(AnswerStore* answers) : RequestLog(Options(), answers) {}

  // Runs `run` (which fills `*response`) for `request` of `method`, unless its `request_id` was seen:
  //   - no `request_id`: runs it;
  //   - an id longer than 128 characters or not printable ASCII: INVALID_ARGUMENT on `request_id`;
  //   - the same method and body answered before: `*response` is that answer, OK, `run` not called;
  //   - another method or body under the id: INVALID_ARGUMENT naming `request_id`;
  //   - the same id still running: ABORTED (retry later);
  //   - the answers cannot be read: the store's error, `run` not called.
  // Only successes are remembered: a request that failed may be tried again under its id. An answer
  // the store fails to keep is logged and forgotten (a retry then runs again). Fields named in
  // `retry_fields` (e.g. an attempt counter) are left out of the comparison of bodies.
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

 private:
  struct Running {
    std::string method;
    std::string fingerprint;
  };
  // INVALID_ARGUMENT on `request_id` unless `method` and `fingerprint` are the ones seen under it.
  static absl::Status CheckSameRequest(absl::string_view method, absl::string_view fingerprint,
                                       absl::string_view seen_method, absl::string_view seen_fingerprint);

  const Options options_;
  AnswerStore* const answers_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Running> running_ ABSL_GUARDED_BY(mu_);  // by request_id
};

}  // namespace crosstenant

#endif  // CROSSTENANT_SERVICES_COMMON_REQUEST_LOG_H_
