#include "services/orchestrator/core/identity_map_upload.h"

#include <openssl/evp.h>

#include <random>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "services/common/errors.h"
#include "services/common/proto_time.h"
#include "services/common/status_macros.h"

namespace crosstenant::orchestrator {

namespace v1 = ::crosstenant::v1;
namespace im = ::crosstenant::identity_map;

struct IdentityMapUploadStream::Hash {
  Hash() : context(EVP_MD_CTX_new()) { EVP_DigestInit_ex(context, EVP_sha256(), nullptr); }
  ~Hash() { EVP_MD_CTX_free(context); }
  void Add(absl::string_view text) { EVP_DigestUpdate(context, text.data(), text.size()); }
  std::string HexDigest() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EVP_DigestFinal_ex(context, digest, &size);
    return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(digest), size));
  }
  EVP_MD_CTX* context;
};

std::string NewIdentityMapUploadName() {
  static thread_local std::mt19937_64 random{std::random_device{}()};
  constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string name = "identityMapUploads/u-";
  for (int i = 0; i < 16; ++i) name += kAlphabet[random() % 36];
  return name;
}

IdentityMapUploadStream::IdentityMapUploadStream(MigrationStore* store, std::string name, absl::Time now)
    : store_(store), name_(std::move(name)), create_time_(now), hash_(std::make_unique<Hash>()) {}

IdentityMapUploadStream::~IdentityMapUploadStream() = default;

absl::Status IdentityMapUploadStream::Add(const v1::OrchestratorUploadIdentityMapRequest& request) {
  std::vector<FieldViolation> violations;
  if (request.csv_chunk().size() > kMaxChunkBytes) {
    violations.push_back({"csv_chunk", absl::StrCat("is ", request.csv_chunk().size(),
                                                    " bytes: send the map in pieces of at most 1 MiB")});
  }
  if (!csv_) {
    if (request.max_problems() < 0 || request.max_problems() > 100000) {
      violations.push_back({"max_problems", "must be between 0 (for 1000) and 100000"});
    }
    if (!violations.empty()) return InvalidArgumentWithViolations("invalid upload", violations);
    max_problems_ = request.max_problems() == 0 ? 1000 : request.max_problems();
    im::ValidationOptions options;
    options.expected_source_tenant_id = request.source_tenant_id();
    options.max_problems = max_problems_;
    csv_.emplace(options);
    RETURN_IF_ERROR(store_->CreateIdentityMapUpload(name_, create_time_));
  } else if (!request.source_tenant_id().empty() || request.max_problems() != 0) {
    violations.push_back({"source_tenant_id", "and max_problems are taken from the first message only"});
  }
  if (!violations.empty()) return InvalidArgumentWithViolations("invalid upload", violations);
  csv_->Add(request.csv_chunk(), &page_);
  if (csv_->open_row_bytes() > kMaxRowBytes) {
    return InvalidArgumentWithViolations("invalid upload",
                                         {{"csv_chunk", "a row longer than 64 KiB: is a quoted field never closed?"}});
  }
  if (static_cast<int>(page_.users.size() + page_.groups.size()) >= kPageRows) RETURN_IF_ERROR(Flush());
  return absl::OkStatus();
}

absl::Status IdentityMapUploadStream::Flush() {
  // Keys by lower case, as ParseCsv compares them. A page's own rows are checked among themselves here,
  // and against every earlier page by one look-up in the store per column.
  std::vector<std::string> source_keys, target_keys;
  auto collect = [&](const std::string& source, const std::string& target) {
    if (!source.empty()) source_keys.push_back(absl::AsciiStrToLower(source));
    if (!target.empty()) target_keys.push_back(absl::AsciiStrToLower(target));
  };
  for (const im::UserMapping& user : page_.users) collect(user.source_upn, user.target_upn);
  for (const im::GroupMapping& group : page_.groups) collect(group.source_group_id, group.target_group_id);
  ASSIGN_OR_RETURN(auto stored_sources, store_->FindStagedKeys(name_, /*target=*/false, source_keys));
  ASSIGN_OR_RETURN(auto stored_targets, store_->FindStagedKeys(name_, /*target=*/true, target_keys));
  absl::flat_hash_map<std::string, int> page_sources, page_targets;
  std::vector<StagedIdentityMapRow> rows;
  rows.reserve(page_.users.size() + page_.groups.size());
  // True when the key is new; otherwise reports the duplicate.
  auto unique = [&](const std::string& value, int line, bool group, bool target) {
    if (value.empty()) return true;
    std::string key = absl::AsciiStrToLower(value);
    const auto& stored = target ? stored_targets : stored_sources;
    if (auto it = stored.find(key); it != stored.end()) {
      csv_->AddDuplicate(line, group, target, value, it->second);
      return false;
    }
    auto [it, inserted] = (target ? page_targets : page_sources).emplace(std::move(key), line);
    if (!inserted) csv_->AddDuplicate(line, group, target, value, it->second);
    return inserted;
  };
  for (const im::UserMapping& user : page_.users) {
    ++users_;
    const std::string csv = im::ToCsv(user);
    hash_->Add(csv);
    const bool new_source = unique(user.source_upn, user.line, false, false);
    const bool new_target = unique(user.target_upn, user.line, false, true);
    if (!new_source || !new_target) continue;
    rows.push_back({user.line, false, absl::AsciiStrToLower(user.source_upn), absl::AsciiStrToLower(user.target_upn),
                    user.source_upn, user.target_upn, user.target_email, csv});
  }
  for (const im::GroupMapping& group : page_.groups) {
    ++groups_;
    const bool new_source = unique(group.source_group_id, group.line, true, false);
    const bool new_target = unique(group.target_group_id, group.line, true, true);
    if (!new_source || !new_target) continue;
    rows.push_back({group.line, true, absl::AsciiStrToLower(group.source_group_id),
                    absl::AsciiStrToLower(group.target_group_id), group.source_group_id, group.target_group_id,
                    group.group_name, im::ToCsv(group)});
  }
  // The store reads rows back in line order; a page holds users and groups apart.
  std::sort(rows.begin(), rows.end(),
            [](const StagedIdentityMapRow& a, const StagedIdentityMapRow& b) { return a.line < b.line; });
  page_.users.clear();
  page_.groups.clear();
  if (rows.empty()) return absl::OkStatus();
  return store_->AppendStagedRows(name_, rows);
}

absl::StatusOr<v1::OrchestratorUploadIdentityMapResponse> IdentityMapUploadStream::Finish() {
  if (!csv_) RETURN_IF_ERROR(Add(v1::OrchestratorUploadIdentityMapRequest()));  // a stream with no message
  csv_->Finish(&page_);
  RETURN_IF_ERROR(Flush());
  // Groups come after every user in the canonical CSV.
  int after_line = 0;
  while (true) {
    ASSIGN_OR_RETURN(std::vector<StagedIdentityMapRow> rows,
                     store_->ListStagedRows(name_, StagedRows::kGroups, after_line, kPageRows));
    if (rows.empty()) break;
    for (const StagedIdentityMapRow& row : rows) hash_->Add(row.csv);
    after_line = rows.back().line;
  }
  v1::OrchestratorUploadIdentityMapResponse response;
  response.mutable_summary()->set_user_rows(static_cast<int32_t>(users_));
  response.mutable_summary()->set_group_rows(static_cast<int32_t>(groups_));
  response.mutable_summary()->set_sha256(hash_->HexDigest());
  const int64_t problem_count = csv_->problem_count();
  for (im::Problem& problem : csv_->TakeProblems()) {
    if (problem.code == "TOO_MANY_PROBLEMS") continue;  // problem_count says how many there are
    v1::IdentityMapProblem* out = response.add_problems();
    out->set_line(problem.line);
    out->set_column(problem.column);
    out->set_field(std::move(problem.field));
    out->set_code(std::move(problem.code));
    out->set_message(std::move(problem.message));
  }
  response.set_problem_count(static_cast<int32_t>(problem_count));
  response.set_valid(problem_count == 0);
  if (problem_count > 0) {
    // Nothing of an invalid map is kept: it could not be used.
    RETURN_IF_ERROR(store_->DeleteUnusedIdentityMapUploads(absl::InfinitePast(), name_).status());
    return response;
  }
  RETURN_IF_ERROR(store_->CompleteIdentityMapUpload(name_, response.summary()));
  response.set_name(name_);
  SetTimestamp(create_time_ + kUnusedLifetime, response.mutable_expire_time());
  return response;
}

}  // namespace crosstenant::orchestrator
