#include "services/common/request_fingerprint.h"

#include <openssl/sha.h>

#include <memory>

#include "absl/strings/escaping.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace crosstenant {

std::string RequestFingerprint(const google::protobuf::Message& request) {
  std::unique_ptr<google::protobuf::Message> body(request.New());
  body->CopyFrom(request);
  if (const google::protobuf::FieldDescriptor* id = body->GetDescriptor()->FindFieldByName("request_id")) {
    body->GetReflection()->ClearField(body.get(), id);
  }
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

}  // namespace crosstenant
