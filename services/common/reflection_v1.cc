#include "services/common/reflection_v1.h"

#include <algorithm>
#include <utility>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>

#include "absl/strings/str_cat.h"
#include "services/common/user_text.h"

namespace crosstenant {
namespace {

namespace reflection = ::grpc::reflection::v1;
using google::protobuf::DescriptorPool;
using google::protobuf::FileDescriptor;

const DescriptorPool& Pool() { return *DescriptorPool::generated_pool(); }

void SetError(reflection::ServerReflectionResponse& response, grpc::StatusCode code, const std::string& message) {
  response.mutable_error_response()->set_error_code(static_cast<int32_t>(code));
  response.mutable_error_response()->set_error_message(message);
}

// `file` and, depth first, every file it imports that `sent` does not hold yet.
void AddFile(const FileDescriptor* file, std::vector<std::string>& sent, reflection::FileDescriptorResponse& out) {
  if (std::find(sent.begin(), sent.end(), file->name()) != sent.end()) return;
  sent.push_back(file->name());
  google::protobuf::FileDescriptorProto proto;
  file->CopyTo(&proto);
  out.add_file_descriptor_proto(proto.SerializeAsString());
  for (int i = 0; i < file->dependency_count(); ++i) AddFile(file->dependency(i), sent, out);
}

}  // namespace

// One stream: each request read is answered before the next is read.
class ReflectionV1Service::Stream final
    : public grpc::ServerBidiReactor<reflection::ServerReflectionRequest, reflection::ServerReflectionResponse> {
 public:
  explicit Stream(const ReflectionV1Service* service) : service_(service) { StartRead(&request_); }

  void OnReadDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status::OK);
      return;
    }
    response_ = service_->Answer(request_, sent_);
    StartWrite(&response_);
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::UNKNOWN, "the client went away"));
      return;
    }
    StartRead(&request_);
  }
  void OnDone() override { delete this; }

 private:
  const ReflectionV1Service* service_;
  reflection::ServerReflectionRequest request_;
  reflection::ServerReflectionResponse response_;
  std::vector<std::string> sent_;
};

ReflectionV1Service::ReflectionV1Service(std::vector<std::string> services) : services_(std::move(services)) {}

grpc::ServerBidiReactor<reflection::ServerReflectionRequest, reflection::ServerReflectionResponse>*
ReflectionV1Service::ServerReflectionInfo(grpc::CallbackServerContext* /*context*/) {
  return new Stream(this);
}

reflection::ServerReflectionResponse ReflectionV1Service::Answer(const reflection::ServerReflectionRequest& request,
                                                                 std::vector<std::string>& sent) const {
  reflection::ServerReflectionResponse response;
  response.set_valid_host(request.host());
  *response.mutable_original_request() = request;
  switch (request.message_request_case()) {
    case reflection::ServerReflectionRequest::kListServices:
      for (const std::string& name : services_)
        response.mutable_list_services_response()->add_service()->set_name(name);
      break;
    case reflection::ServerReflectionRequest::kFileByFilename:
      if (const FileDescriptor* file = Pool().FindFileByName(request.file_by_filename())) {
        AddFile(file, sent, *response.mutable_file_descriptor_response());
      } else {
        SetError(response, grpc::StatusCode::NOT_FOUND,
                 absl::StrCat("no file ", QuoteForMessage(request.file_by_filename(), 200)));
      }
      break;
    case reflection::ServerReflectionRequest::kFileContainingSymbol:
      if (const FileDescriptor* file = Pool().FindFileContainingSymbol(request.file_containing_symbol())) {
        AddFile(file, sent, *response.mutable_file_descriptor_response());
      } else {
        SetError(response, grpc::StatusCode::NOT_FOUND,
                 absl::StrCat("no symbol ", QuoteForMessage(request.file_containing_symbol(), 200)));
      }
      break;
    case reflection::ServerReflectionRequest::kFileContainingExtension: {
      const auto& wanted = request.file_containing_extension();
      const google::protobuf::Descriptor* type = Pool().FindMessageTypeByName(wanted.containing_type());
      const google::protobuf::FieldDescriptor* extension =
          type == nullptr ? nullptr : Pool().FindExtensionByNumber(type, wanted.extension_number());
      if (extension != nullptr) {
        AddFile(extension->file(), sent, *response.mutable_file_descriptor_response());
      } else {
        SetError(response, grpc::StatusCode::NOT_FOUND,
                 absl::StrCat("no extension ", wanted.extension_number(), " of ",
                              QuoteForMessage(wanted.containing_type(), 200)));
      }
      break;
    }
    case reflection::ServerReflectionRequest::kAllExtensionNumbersOfType: {
      const google::protobuf::Descriptor* type = Pool().FindMessageTypeByName(request.all_extension_numbers_of_type());
      if (type == nullptr) {
        SetError(response, grpc::StatusCode::NOT_FOUND,
                 absl::StrCat("no type ", QuoteForMessage(request.all_extension_numbers_of_type(), 200)));
        break;
      }
      std::vector<const google::protobuf::FieldDescriptor*> extensions;
      Pool().FindAllExtensions(type, &extensions);
      auto* numbers = response.mutable_all_extension_numbers_response();
      numbers->set_base_type_name(type->full_name());
      for (const auto* extension : extensions) numbers->add_extension_number(extension->number());
      break;
    }
    case reflection::ServerReflectionRequest::MESSAGE_REQUEST_NOT_SET:
      SetError(response, grpc::StatusCode::INVALID_ARGUMENT, "the request names nothing to look up");
      break;
  }
  return response;
}

}  // namespace crosstenant
