#include "services/common/request_fingerprint.h"

#include <openssl/sha.h>

#include <algorithm>
#include <memory>

#include "absl/strings/escaping.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace crosstenant {

std::string RequestFingerprint(const google::protobuf::Message& request,
                               absl::Span<const absl::string_view> retry_fields) {
  std::unique_ptr<google::protobuf::Message> body(request.New());
  body->CopyFrom(request);
  auto clear = [&](absl::string_view name) {
    if (const google::protobuf::FieldDescriptor* field = body->GetDescriptor()->FindFieldByName(std::string(name))) {
      body->GetReflection()->ClearField(body.get(), field);
    }
  };
  clear("request_id");
  for (absl::string_view name : retry_fields) clear(name);
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    // Map entries in key order: the same request always gives the same bytes.
    coded.SetSerializationDeterministic(true);
    body->SerializeToCodedStream(&coded);
  }
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

std::string RequestIdProblem(absl::string_view request_id) {
  constexpr size_t kMaxRequestId = 128;
  const bool printable = std::all_of(request_id.begin(), request_id.end(), [](char c) { return c > ' ' && c < 0x7f; });
  if (request_id.size() <= kMaxRequestId && printable) return "";
  return "must be at most 128 printable ASCII characters without spaces (a UUID is recommended)";
}

}  // namespace crosstenant
