#include "services/common/tls.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include <grpcpp/security/auth_metadata_processor.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include "absl/strings/match.h"
#include "services/common/grpc_status.h"

namespace crosstenant {
namespace {

// Properties of a gRPC auth context that carry certificate names: DNS SANs, the common name, URI SANs
// (gRPC's x509_subject_alternative_name mixes every kind of SAN, so it is not used).
constexpr const char* kUriProperty = "peer_uri";
constexpr const char* kNameProperties[] = {"peer_dns", "x509_common_name", kUriProperty};

class PeerAuthorizingProcessor : public grpc::AuthMetadataProcessor {
 public:
  explicit PeerAuthorizingProcessor(PeerAuthorizer authorize) : authorize_(std::move(authorize)) {}

  // The decision needs no I/O, so it runs inline on the transport thread.
  bool IsBlocking() const override { return false; }

  // Runs for every call, with the call's metadata, which holds the method as ":path".
  grpc::Status Process(const InputMetadata& auth_metadata, grpc::AuthContext* context, OutputMetadata* /*consumed*/,
                       OutputMetadata* /*response*/) override {
    PeerIdentity peer{PeerNamesOf(*context)};
    absl::string_view method;
    if (auto path = auth_metadata.find(":path"); path != auth_metadata.end()) {
      method = absl::string_view(path->second.data(), path->second.size());
    }
    return ToGrpcStatus(authorize_(peer, method));
  }

 private:
  PeerAuthorizer authorize_;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

bool PeerAllowed(const PeerIdentity& peer, const std::vector<std::string>& allowed) {
  if (allowed.empty()) return true;
  return std::any_of(peer.names.begin(), peer.names.end(), [&allowed](const std::string& name) {
    return std::find(allowed.begin(), allowed.end(), name) != allowed.end();
  });
}

std::vector<std::string> PeerNamesOf(const grpc::AuthContext& auth_context) {
  std::vector<std::string> names;
  for (const char* property : kNameProperties) {
    for (const grpc::string_ref& value : auth_context.FindPropertyValues(property)) {
      std::string name(value.data(), value.size());
      // Only a URI SAN may carry a URI: a common name "spiffe://..." is anyone's to write.
      if (property != kUriProperty && absl::StrContains(name, "://")) continue;
      if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(std::move(name));
    }
  }
  return names;
}

std::shared_ptr<grpc::ServerCredentials> MakeServerCredentials(const TlsConfig& tls, PeerAuthorizer authorize) {
  if (!tls.enabled()) return grpc::InsecureServerCredentials();
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      tls.key_file, tls.cert_file, tls.ca_file, absl::ToInt64Seconds(tls.reload_interval));
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_root_certs();
  options.watch_identity_key_cert_pairs();
  options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::experimental::TlsServerCredentials(options);
  credentials->SetAuthMetadataProcessor(std::make_shared<PeerAuthorizingProcessor>(std::move(authorize)));
  return credentials;
}

std::shared_ptr<grpc::ChannelCredentials> MakeChannelCredentials(const ClientTlsConfig& tls) {
  if (tls.ca_file.empty()) return grpc::InsecureChannelCredentials();
  if (tls.cert_file.empty() || tls.key_file.empty()) {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = ReadFile(tls.ca_file);
    return grpc::SslCredentials(options);
  }
  constexpr unsigned int kReloadSeconds = 60;
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(tls.key_file, tls.cert_file,
                                                                                       tls.ca_file, kReloadSeconds);
  grpc::experimental::TlsChannelCredentialsOptions options;
  options.set_certificate_provider(provider);
  options.watch_root_certs();
  options.watch_identity_key_cert_pairs();
  return grpc::experimental::TlsCredentials(options);
}

}  // namespace crosstenant
