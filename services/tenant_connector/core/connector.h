#ifndef CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_CONNECTOR_H_
#define CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_CONNECTOR_H_

// The tenant connector's business class: every connection (source, target, each geo), their sign-in
// flows, token cache, probes and states, and the tenant operations of steps 2-7 on the real protocols.
// It uses the crosstenant.v1 protobuf messages as plain data; it has no gRPC types. Every method may
// block on upstream HTTPS (and on a Retry-After): call it from the connector's Executor, never from a
// gRPC callback thread, except the ones marked "cache only".
//
//   Connector connector(options, &transport, Clock::Real(), &executor, store.get(), seal_key, &metrics);
//   RETURN_IF_ERROR(connector.Load());
//   ASSIGN_OR_RETURN(v1::Connection connection, connector.Create(request, absl::Now() + absl::Seconds(30)));

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "crosstenant/v1/tenant_connector.pb.h"
#include "nlohmann/json.hpp"
#include "services/tenant_connector/core/admin_url.h"
#include "services/common/executor.h"
#include "services/tenant_connector/core/graph_client.h"
#include "services/tenant_connector/core/http.h"
#include "services/tenant_connector/core/metrics.h"
#include "services/tenant_connector/core/oauth.h"
#include "services/tenant_connector/core/sharepoint/admin_client.h"
#include "services/tenant_connector/core/sharepoint/wire_log.h"
#include "services/tenant_connector/core/store.h"
#include "services/tenant_connector/core/throttle.h"

namespace crosstenant::tenant_connector {

namespace v1 = ::crosstenant::v1;

// ErrorInfo reasons (domain "crosstenant") of a connection whose credential and admin URL disagree
// about the tenant (FAILED_PRECONDITION from sign-in, ReauthenticateConnection and probes):
// - kReasonTenantMismatch: the token, Graph's organization and SharePoint's realm of the admin URL do
//   not name one tenant, or the admin URL is not a geography of the credential's tenant; a probe that
//   finds it marks the connection FAILED (VERIFICATION_FAILED), not EXPIRED;
// - kReasonTenantChanged: the credential signs in to a tenant other than the connection's own;
//   ReauthenticateConnection then keeps the previous credential.
inline constexpr char kReasonTenantMismatch[] = "TENANT_MISMATCH";
inline constexpr char kReasonTenantChanged[] = "CONNECTION_TENANT_CHANGED";

struct ConnectorOptions {
  // How often each connection is probed.
  absl::Duration probe_interval = absl::Minutes(5);
  // Tokens are refreshed this long before they expire (at most a fifth of their lifetime).
  absl::Duration refresh_margin = absl::Minutes(5);
  // Budget of an upstream operation when the caller gave no deadline.
  absl::Duration default_budget = absl::Seconds(60);
  // Credential expiry warnings start this long ahead.
  absl::Duration credential_warning = absl::Hours(24 * 30);
  ThrottleOptions throttle;
  // Directories from which credential files named by callers (a secret's file_path, certificate_file,
  // a workload identity token_file) may be read; empty refuses every such file.
  std::vector<std::string> credential_file_dirs;
  // Every SharePoint admin request and answer is appended here when set (not owned; may be null).
  sharepoint::WireLog* sharepoint_wire_log = nullptr;
};

class Connector {
 public:
  // Holders one connection may have at once.
  static constexpr int kMaxHolders = 100;

  using WatchCallback = std::function<void(v1::ConnectionEventType, const v1::Connection&)>;

  // `store` may be null (connections are then kept in memory only); `seal_key` is 32 bytes when a
  // store is given. `metrics` may be null.
  Connector(ConnectorOptions options, HttpTransport* transport, Clock* clock, Executor* executor,
            ConnectionStore* store, std::string seal_key, ConnectorMetrics* metrics);
  ~Connector();

  // Loads stored connections and schedules their probes. Call once, before serving.
  absl::Status Load();
  // Stops scheduling probes and sign-in polls.
  void Stop();

  // --- Connections (step 1) ---
  absl::StatusOr<v1::Connection> Create(const v1::CreateConnectionRequest& request, absl::Time deadline);
  absl::StatusOr<v1::Connection> Get(const std::string& name);                                  // cache only
  absl::StatusOr<v1::ListConnectionsResponse> List(const v1::ListConnectionsRequest& request);  // cache only
  // Refused with FAILED_PRECONDITION, naming the holders, while the connection is held, unless
  // `request.force()`; a forced delete logs a warning naming them.
  absl::Status Delete(const v1::DeleteConnectionRequest& request);
  // Records that `request.holder()` (a live migration) uses the connection: kept with the connection
  // (it survives a restart) and shown in `holders`, in name order. Holding twice is one hold; at most
  // kMaxHolders holders (RESOURCE_EXHAUSTED beyond). NOT_FOUND when the connection does not exist.
  absl::StatusOr<v1::Connection> Hold(const v1::HoldConnectionRequest& request);
  // Ends `request.holder()`'s hold. A hold not held, or a connection that no longer exists, is no error.
  absl::Status Release(const v1::ReleaseConnectionRequest& request);
  absl::StatusOr<v1::Connection> Check(const std::string& name, absl::Time deadline);
  absl::StatusOr<v1::Connection> Reauthenticate(const v1::ReauthenticateConnectionRequest& request,
                                                absl::Time deadline);
  absl::StatusOr<v1::PreflightReport> Preflight(const v1::PreflightRequest& request, absl::Time deadline);

  // Watchers: `callback` runs for every change, on the thread making it; it must not block. The
  // snapshot of current connections is returned by Subscribe atomically with the registration.
  int64_t Subscribe(const std::vector<std::string>& names, WatchCallback callback,
                    std::vector<v1::Connection>* snapshot);
  void Unsubscribe(int64_t id);

  // --- Tenant operations (steps 2-7) ---
  absl::StatusOr<std::string> GetCrossTenantHostUrl(const std::string& geo, absl::Time deadline);
  absl::StatusOr<v1::CrossTenantRelationship> SetRelationship(const std::string& geo,
                                                              const v1::CrossTenantRelationship& relationship,
                                                              absl::Time deadline);
  absl::StatusOr<v1::VerifyCrossTenantRelationshipResponse> VerifyRelationship(
      const std::string& geo, const v1::CrossTenantRelationship& relationship, absl::Time deadline);
  absl::StatusOr<v1::CrossTenantRelationship> RemoveRelationship(const std::string& geo,
                                                                 const v1::CrossTenantRelationship& relationship,
                                                                 absl::Time deadline);
  absl::StatusOr<v1::GetCompatibilityStatusResponse> GetCompatibility(const v1::GetCompatibilityStatusRequest& request,
                                                                      absl::Time deadline);
  absl::StatusOr<v1::ListTenantUsersResponse> ListTenantUsers(const v1::ListTenantUsersRequest& request,
                                                              absl::Time deadline);
  absl::StatusOr<v1::BatchCheckUsersResponse> BatchCheckUsers(const v1::BatchCheckUsersRequest& request,
                                                              absl::Time deadline);
  absl::StatusOr<v1::UploadIdentityMapResponse> UploadIdentityMap(const v1::UploadIdentityMapRequest& request,
                                                                  absl::Time deadline);
  absl::StatusOr<v1::GetIdentityMapEntryResponse> GetIdentityMapEntry(const v1::GetIdentityMapEntryRequest& request,
                                                                      absl::Time deadline);
  absl::StatusOr<v1::StartUserContentMoveResponse> StartMove(const v1::StartUserContentMoveRequest& request,
                                                             absl::Time deadline);
  // BatchStartUserContentMoves: one result per request, in order, each what StartMove would have
  // returned for it with `geo` as its geo (a request's own `geo` must be empty or `geo`); an item that
  // does not validate is INVALID_ARGUMENT naming its fields as StartMove names them (`geo` for one on
  // another geo). Upstream, at most two Graph `$batch` requests: the look-ups of the items that are not
  // first attempts (as StartMove looks them up), then the POSTs of the first attempts, the validate-only
  // starts and the looked-up users without a move. The call itself fails (with StartMove's status) when
  // `geo` is not a usable SOURCE geo, when a `$batch` is refused whole, and when any start fails for the
  // connection's own state.
  static constexpr size_t kMaxBatchedStarts = 20;
  // INVALID_ARGUMENT on `requests` unless 1 <= `count` <= kMaxBatchedStarts.
  static absl::Status CheckStartCount(size_t count);
  absl::StatusOr<std::vector<absl::StatusOr<v1::StartUserContentMoveResponse>>> StartMoves(
      const std::string& geo, const std::vector<v1::StartUserContentMoveRequest>& requests, absl::Time deadline);
  absl::StatusOr<v1::UserContentMove> GetMove(const v1::GetUserContentMoveRequest& request, absl::Time deadline);
  absl::StatusOr<v1::BatchGetUserContentMovesResponse> BatchGetMoves(const v1::BatchGetUserContentMovesRequest& request,
                                                                     absl::Time deadline);
  absl::StatusOr<v1::ListUserContentMovesResponse> ListMoves(const v1::ListUserContentMovesRequest& request,
                                                             absl::Time deadline);
  absl::StatusOr<v1::UserContentMove> StopMove(const v1::StopUserContentMoveRequest& request, absl::Time deadline);
  absl::StatusOr<v1::ListRedirectSitesResponse> ListRedirectSites(const v1::ListRedirectSitesRequest& request,
                                                                  absl::Time deadline);
  absl::Status RemoveRedirectSite(const v1::RemoveRedirectSiteRequest& request, absl::Time deadline);

  // The deadline to use for a call whose client deadline is `client` (InfiniteFuture if none).
  absl::Time Budget(absl::Time client) const;

 private:
  struct Entry;
  struct GeoRef;

  // Sign-in and verification.
  absl::Status Describe(Entry& entry);
  absl::StatusOr<AccessToken> Acquire(Entry& entry, const std::string& scope, absl::Time deadline);
  absl::StatusOr<std::string> Token(Entry& entry, const std::string& scope, bool force, absl::Time deadline);
  absl::Status Verify(Entry& entry, absl::Time deadline);
  // The tenant's geographies, from SharePoint (GetTenantInstances on the connection's admin URL).
  absl::StatusOr<std::vector<v1::Geo>> DiscoverGeos(Entry& entry, absl::Time deadline);
  void StartDeviceCodePolling(std::shared_ptr<Entry> entry, uint64_t generation, absl::Time when);
  void PollDeviceCode(std::shared_ptr<Entry> entry, uint64_t generation);
  void ScheduleProbe(const std::shared_ptr<Entry>& entry, absl::Time when);
  void Probe(std::shared_ptr<Entry> entry, uint64_t generation);
  absl::StatusOr<v1::Connection> RunProbe(const std::shared_ptr<Entry>& entry, absl::Time deadline);

  // Where and as whom to reach Graph for `entry` (its token, throttle key, state and clock skew).
  GraphTarget GraphOf(Entry& entry);
  // One Graph request for `entry` (GraphClient::Send).
  absl::StatusOr<GraphResult> Graph(Entry& entry, const std::string& method, const std::string& path,
                                    const nlohmann::json* body, absl::Time deadline, bool allow_404 = false,
                                    std::vector<std::pair<std::string, std::string>> extra_headers = {});
  // Where and as whom to reach SharePoint admin on `geo`. A connection whose credential is a client
  // secret gets FAILED_PRECONDITION naming the fix: SharePoint refuses app-only tokens from a secret.
  absl::StatusOr<SharePointTarget> SharePointOf(Entry& entry, const v1::Geo& geo);
  // BatchCheckUsers on a source: each OneDrive's lock state, from its geo's SharePoint admin.
  void CheckSiteLocks(Entry& entry, v1::BatchCheckUsersResponse& response, absl::Time deadline);

  // Moves: the SOURCE geo named `geo` (a TARGET one is INVALID_ARGUMENT); a start validated and made
  // ready to send on `source` (resolved from the request's geo when null); and the answer to give once
  // Microsoft answered its POST (`created`; a refusal because the task exists is looked up and returned
  // as started).
  struct PreparedStart;
  absl::StatusOr<GeoRef> SourceGeo(const std::string& geo);
  absl::StatusOr<PreparedStart> PrepareStart(const v1::StartUserContentMoveRequest& request,
                                             const GeoRef* source = nullptr);
  absl::StatusOr<v1::StartUserContentMoveResponse> AnswerOfStart(const PreparedStart& start,
                                                                 const std::string& source_upn,
                                                                 absl::StatusOr<GraphResult> created,
                                                                 absl::Time deadline);

  // Registry helpers.
  absl::StatusOr<std::shared_ptr<Entry>> Find(const std::string& name);
  absl::StatusOr<GeoRef> ResolveGeo(const std::string& geo_name, const char* field);
  std::string GovernorKey(const Entry& entry) const;
  void Publish(v1::ConnectionEventType type, const v1::Connection& connection);
  // Writes `entry` to the store (when there is one); errors are also logged.
  absl::Status Persist(Entry& entry);
  void Changed(Entry& entry, v1::ConnectionEventType type = v1::CONNECTION_EVENT_TYPE_UPDATED);
  // Recomputes throttling and warnings (entry.mu held); `update_metrics` also sets the expiry gauges.
  void RefreshHealth(Entry& entry, bool update_metrics = true);
  void SetState(Entry& entry, v1::ConnectionState state, const std::string& reason);
  absl::StatusOr<std::shared_ptr<Entry>> NewEntry(const std::string& name, v1::ConnectionRole role,
                                                  const AdminUrl& admin, const v1::Credential& credential);
  absl::StatusOr<v1::Connection> SignIn(const std::shared_ptr<Entry>& entry, absl::Time deadline, bool fresh);
  void UpdateGauges();

  const ConnectorOptions options_;
  HttpTransport* const transport_;
  Clock* const clock_;
  Executor* const executor_;
  ConnectionStore* const store_;
  const std::string seal_key_;
  ConnectorMetrics* const metrics_;
  ThrottleGovernors governors_;
  TokenClient tokens_;
  GraphClient graph_;
  SharePointAdminClient sharepoint_;

  absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<Entry>> entries_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> request_ids_ ABSL_GUARDED_BY(mu_);  // request_id -> connection name
  std::map<std::string, std::string> deleted_request_ids_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> creating_ ABSL_GUARDED_BY(mu_);  // names reserved by a Create in progress
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;

  absl::Mutex watch_mu_;
  struct Watcher {
    std::vector<std::string> names;
    WatchCallback callback;
  };
  std::map<int64_t, Watcher> watchers_ ABSL_GUARDED_BY(watch_mu_);
  int64_t next_watcher_ ABSL_GUARDED_BY(watch_mu_) = 1;
};

}  // namespace crosstenant::tenant_connector

#endif  // CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_CONNECTOR_H_
