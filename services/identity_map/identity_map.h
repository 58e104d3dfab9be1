#ifndef CROSSTENANT_SERVICES_IDENTITY_MAP_IDENTITY_MAP_H_
#define CROSSTENANT_SERVICES_IDENTITY_MAP_IDENTITY_MAP_H_

// The identity map of Microsoft's step 5: which source user (or group) becomes which target user (or
// group). Admins write it as the CSV that `Add-SPOTenantIdentityMap` takes: no header, six columns,
//
//   User,<SourceTenantCompanyID>,<SourceUserUpn>,<TargetUserUpn>,<TargetUserEmail>,<UserType>
//   Group,<SourceTenantCompanyID>,<SourceGroupObjectID>,<TargetGroupObjectID>,<GroupName>,<GroupType>
//
// This library parses and validates it before anything reaches Microsoft, and reports every problem
// at once with its line, column and Microsoft's column name, so that an admin fixes a 10,000-row file
// in one pass. It is shared by the orchestrator (migration plans) and the connector (uploads).

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace crosstenant::identity_map {

enum class UserType { kRegularUser, kAdminUser, kGuestUser };
enum class GroupType { kRegularGroup, kM365Group };

struct UserMapping {
  int line = 0;  // 1-based line of the CSV, or row number for structured input
  std::string source_tenant_id;
  std::string source_upn;
  std::string target_upn;
  std::string target_email;
  UserType user_type = UserType::kRegularUser;
};

struct GroupMapping {
  int line = 0;
  std::string source_tenant_id;
  std::string source_group_id;
  std::string target_group_id;
  std::string group_name;
  GroupType group_type = GroupType::kRegularGroup;
};

struct IdentityMap {
  std::vector<UserMapping> users;
  std::vector<GroupMapping> groups;
};

// One problem; `code` is one of the stable codes documented on crosstenant.v1.IdentityMapProblem
// (WRONG_COLUMN_COUNT, HEADER_ROW, BAD_ROW_KIND, EMPTY_FIELD, BAD_GUID, BAD_UPN, BAD_EMAIL,
// APOSTROPHE_IN_UPN, BAD_USER_TYPE, BAD_GROUP_TYPE, SOURCE_TENANT_MISMATCH, DUPLICATE_SOURCE,
// DUPLICATE_TARGET, BAD_ENCODING, BAD_QUOTING, WHITESPACE, EMPTY_MAP, FIELD_TOO_LONG, and
// TOO_MANY_PROBLEMS: the last problem, on line 0, when more than ValidationOptions::max_problems were
// found, saying how many more).
// Blank lines (empty, spaces only, or only commas) are skipped wherever they are; line numbers count them.
struct Problem {
  int line = 0;
  int column = 0;     // 1..6, or 0 for the whole line
  std::string field;  // Microsoft's column name, e.g. "SourceUserUpn"; empty when column is 0
  std::string code;
  std::string message;
};

struct ValidationOptions {
  // When set, every row's SourceTenantCompanyID must equal it (the source connection's tenant id).
  std::string expected_source_tenant_id;
  // At most this many problems are kept (the first found, in line order), then one TOO_MANY_PROBLEMS
  // counting the rest; 0 keeps every one. Bounds memory and output for a file of garbage; the default
  // is the most the orchestrator's ValidateIdentityMap returns.
  int64_t max_problems = 100000;
};

struct ParseResult {
  // The rows that parsed, valid or not, so that a caller can still show them.
  IdentityMap map;
  // Every problem, in line order (at most ValidationOptions::max_problems, then TOO_MANY_PROBLEMS).
  // The map is usable only when this is empty.
  std::vector<Problem> problems;
  // How many problems were found beyond those listed.
  int64_t problems_omitted = 0;
};

// Parses and validates a CSV (RFC 4180 quoting, LF or CRLF line ends, an optional UTF-8 byte order
// mark as Excel writes it).
ParseResult ParseCsv(absl::string_view csv, const ValidationOptions& options = {});

// Validates structured rows (e.g. from a gRPC request): the same checks as ParseCsv, where a row's
// `line` is its 1-based position.
std::vector<Problem> Validate(const IdentityMap& map, const ValidationOptions& options = {});

// Writes the map as Microsoft's CSV, users first, in the order given.
std::string ToCsv(const IdentityMap& map);
// One row of that CSV, ending with '\n'.
std::string ToCsv(const UserMapping& user);
std::string ToCsv(const GroupMapping& group);

// Parses and validates a CSV that arrives in pieces (a row may span pieces), with ParseCsv's rules and
// line numbers, holding only the rows the current piece completes and the one row still open: a map of
// any size is checked in bounded memory. One source tenant is checked here; duplicates across the whole
// map are not, since that needs every earlier row: the caller looks them up (in its store) and reports
// each with AddDuplicate.
class CsvStream {
 public:
  explicit CsvStream(const ValidationOptions& options = {});
  CsvStream(const CsvStream&) = delete;
  CsvStream& operator=(const CsvStream&) = delete;

  // Adds the next piece. The rows it completes are appended to `rows`, valid or not (as ParseResult::map).
  void Add(absl::string_view piece, IdentityMap* rows);
  // The input has ended: its last row (one without a line end) goes to `rows`; EMPTY_MAP when there
  // was no row at all.
  void Finish(IdentityMap* rows);
  // Bytes of the row still open (read, not complete yet). A caller bounds it: a quote never closed
  // makes the rest of the input one row.
  size_t open_row_bytes() const { return pending_.size(); }

  // Reports that the value in column 3 (`target` false) or 4 (`target` true) of the row on `line` is
  // already mapped on `other_line`: DUPLICATE_SOURCE or DUPLICATE_TARGET, worded as ParseCsv words it.
  void AddDuplicate(int line, bool group, bool target, absl::string_view value, int other_line);

  // How many problems were found so far (kept or not).
  int64_t problem_count() const;
  // After Finish: the problems kept, in line order, then TOO_MANY_PROBLEMS when some were left out.
  std::vector<Problem> TakeProblems();

 private:
  void Parse(absl::string_view text, IdentityMap* rows);

  ValidationOptions options_;
  std::vector<Problem> problems_;
  std::string pending_;     // text not parsed yet: the open row
  size_t scanned_ = 0;      // bytes of pending_ already looked at for a line end
  bool in_quotes_ = false;  // inside a quoted field at pending_[scanned_]
  bool started_ = false;    // the byte order mark, if any, has been dealt with
  bool any_row_ = false;
  int next_line_ = 1;
  std::string tenant_;   // the first row's (or the expected) source tenant
  int64_t omitted_ = 0;  // problems found beyond the kept ones
};

// Microsoft's spellings of the type columns ("RegularUser", "M365Group", ...).
const char* UserTypeName(UserType type);
const char* GroupTypeName(GroupType type);

}  // namespace crosstenant::identity_map

#endif  // CROSSTENANT_SERVICES_IDENTITY_MAP_IDENTITY_MAP_H_
