#ifndef CROSSTENANT_SERVICES_ORCHESTRATOR_STORE_STORED_RECORDS_H_
#define CROSSTENANT_SERVICES_ORCHESTRATOR_STORE_STORED_RECORDS_H_

// How both stores encode what they keep: records as protobuf bytes, times as Unix microseconds, page
// tokens as the web-safe base64 of the last key of a page. One place, so that the two stores agree.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "crosstenant/v1/audit.pb.h"
#include "google/protobuf/timestamp.pb.h"

namespace crosstenant::orchestrator::stored {

inline int64_t Micros(const google::protobuf::Timestamp& time) {
  return time.seconds() * 1000000 + time.nanos() / 1000;
}

inline void SetMicros(int64_t micros, google::protobuf::Timestamp* time) {
  time->set_seconds(micros / 1000000);
  time->set_nanos(static_cast<int32_t>(micros % 1000000) * 1000);
}

// The audit trail's table: one column per AuditRecord field, so that filters are SQL and the trail
// can be read (and checked) with the database's own tools.
inline constexpr absl::string_view kAuditColumns =
    "sequence, time_us, service, caller, action, target, request_id, trace_id, outcome, outcome_message, "
    "previous_hash, hash";

// `migrations/{m}` of a user move `migrations/{m}/users/{u}`.
inline std::string MigrationOf(absl::string_view user_move_name) {
  return std::string(user_move_name.substr(0, user_move_name.find("/users/")));
}

inline std::string PageToken(absl::string_view key) { return absl::WebSafeBase64Escape(key); }

// The key a page token carries; INVALID_ARGUMENT if it is not one this server returned.
inline absl::StatusOr<std::string> FromPageToken(absl::string_view token) {
  std::string key;
  if (!absl::WebSafeBase64Unescape(token, &key)) {
    return absl::InvalidArgumentError("page_token is not one this server returned");
  }
  return key;
}

// Migrations are listed newest first: a page of them ends at (create time, name).
struct MigrationPageKey {
  int64_t create_time_us = INT64_MAX;  // the first page starts after the end of time
  std::string name;
};

inline std::string MigrationPageToken(int64_t create_time_us, absl::string_view name) {
  return PageToken(absl::StrCat(create_time_us, "|", name));
}

// The key of a ListMigrations page token; the first page's key for an empty token.
inline absl::StatusOr<MigrationPageKey> FromMigrationPageToken(absl::string_view token) {
  MigrationPageKey key;
  if (token.empty()) return key;
  absl::StatusOr<std::string> text = FromPageToken(token);
  if (!text.ok()) return text.status();
  std::vector<std::string> parts = absl::StrSplit(*text, absl::MaxSplits('|', 1));
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &key.create_time_us)) {
    return absl::InvalidArgumentError("page_token is not one this server returned");
  }
  key.name = parts[1];
  return key;
}

// DATA_LOSS naming `what` if the stored bytes do not parse.
template <typename Message>
absl::StatusOr<Message> ParseRecord(const std::string& bytes, absl::string_view what) {
  Message message;
  if (!message.ParseFromString(bytes)) return absl::DataLossError(absl::StrCat("the stored ", what, " is corrupt"));
  return message;
}

}  // namespace crosstenant::orchestrator::stored

#endif  // CROSSTENANT_SERVICES_ORCHESTRATOR_STORE_STORED_RECORDS_H_
