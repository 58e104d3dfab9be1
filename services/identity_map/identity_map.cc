#include "services/identity_map/identity_map.h"

#include <algorithm>
#include <cstdint>
#include <functional>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "services/common/user_text.h"

namespace crosstenant::identity_map {
namespace {

constexpr int kColumns = 6;
// Values quoted in messages are cut to this many bytes.
constexpr size_t kMaxEchoedField = 80;
// No column needs more (a UPN is at most 113 characters, a group name 256).
constexpr size_t kMaxFieldBytes = 1024;
constexpr const char* kUserColumns[kColumns] = {"Type",          "SourceTenantCompanyID", "SourceUserUpn",
                                                "TargetUserUpn", "TargetUserEmail",       "UserType"};
constexpr const char* kGroupColumns[kColumns] = {
    "Type", "SourceTenantCompanyID", "SourceGroupObjectID", "TargetGroupObjectID", "GroupName", "GroupType"};

// Collects problems up to a limit and counts the rest, so that a file of garbage costs a bounded
// amount of memory and output however many lines it has.
class ProblemList {
 public:
  ProblemList(std::vector<Problem>* problems, int64_t limit, int64_t omitted = 0)
      : problems_(problems), limit_(limit), omitted_(omitted) {}
  int64_t omitted() const { return omitted_; }
  void Add(int line, int column, const char* const* columns, const char* code, std::string message) {
    if (limit_ > 0 && static_cast<int64_t>(problems_->size()) >= limit_) {
      ++omitted_;
      return;
    }
    // A field past the sixth (a row with too many fields) has no column name: report the whole line.
    if (column < 0 || column > kColumns) column = 0;
    problems_->push_back({line, column, column > 0 ? columns[column - 1] : "", code, std::move(message)});
  }
  // Sorts what was kept by position and, when some were left out, ends with TOO_MANY_PROBLEMS.
  // Returns how many were left out.
  int64_t Finish() {
    std::stable_sort(problems_->begin(), problems_->end(), [](const Problem& a, const Problem& b) {
      return a.line != b.line ? a.line < b.line : a.column < b.column;
    });
    if (omitted_ > 0) {
      problems_->push_back({0, 0, "", "TOO_MANY_PROBLEMS",
                            absl::StrCat("and ", omitted_, " more problems not listed (the first ", limit_,
                                         " are); fix these and validate again")});
    }
    return omitted_;
  }

 private:
  std::vector<Problem>* problems_;
  const int64_t limit_;
  int64_t omitted_ = 0;
};

// A field's value as quoted in a message: short, valid UTF-8.
std::string Echo(absl::string_view value) { return QuoteForMessage(value, kMaxEchoedField); }

bool IsHex(char c) { return absl::ascii_isxdigit(static_cast<unsigned char>(c)); }

bool IsGuid(absl::string_view text) {
  if (text.size() != 36) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    const bool hyphen = i == 8 || i == 13 || i == 18 || i == 23;
    if (hyphen ? text[i] != '-' : !IsHex(text[i])) return false;
  }
  return true;
}

bool IsValidUtf8(absl::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    size_t continuation = 0;
    if (lead < 0x80) {
      continuation = 0;
    } else if ((lead >> 5) == 0x6) {
      continuation = 1;
    } else if ((lead >> 4) == 0xE) {
      continuation = 2;
    } else if ((lead >> 3) == 0x1E) {
      continuation = 3;
    } else {
      return false;
    }
    if (i + continuation >= text.size() && continuation > 0) return false;
    for (size_t k = 1; k <= continuation; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) >> 6) != 0x2) return false;
    }
    i += continuation + 1;
  }
  return true;
}

// What is wrong with an address of the form local@domain, or "" if nothing. Apostrophes are left to
// the caller, which reports them as Microsoft's own blocker.
std::string AddressProblem(absl::string_view address) {
  const size_t at = address.find('@');
  if (at == absl::string_view::npos || address.find('@', at + 1) != absl::string_view::npos) {
    return "must be of the form name@domain, with exactly one @";
  }
  absl::string_view local = address.substr(0, at);
  absl::string_view domain = address.substr(at + 1);
  if (local.empty()) return "has nothing before the @";
  if (local.front() == '.' || local.back() == '.' || absl::StrContains(local, "..")) {
    return "has a misplaced dot before the @";
  }
  for (char c : local) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && !absl::StrContains("!#$%&'*+-/=?^_`{|}~.", c) &&
        static_cast<unsigned char>(c) < 0x80) {
      return absl::StrCat("contains '", std::string(1, c), "', which a user principal name cannot");
    }
  }
  if (domain.empty() || domain.find('.') == absl::string_view::npos) {
    return "needs a domain with a dot after the @, e.g. contoso.onmicrosoft.com";
  }
  size_t start = 0;
  while (start <= domain.size()) {
    size_t end = domain.find('.', start);
    if (end == absl::string_view::npos) end = domain.size();
    absl::string_view label = domain.substr(start, end - start);
    if (label.empty() || label.front() == '-' || label.back() == '-') {
      return absl::StrCat("has an invalid domain '", domain, "'");
    }
    for (char c : label) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && static_cast<unsigned char>(c) < 0x80) {
        return absl::StrCat("has an invalid domain '", domain, "'");
      }
    }
    start = end + 1;
  }
  return "";
}

void CheckAddress(ProblemList& problems, int line, int column, const char* const* columns, absl::string_view value,
                  bool is_upn) {
  if (value.empty()) {
    problems.Add(line, column, columns, "EMPTY_FIELD", absl::StrCat(columns[column - 1], " is empty"));
    return;
  }
  if (is_upn && absl::StrContains(value, '\'')) {
    problems.Add(line, column, columns, "APOSTROPHE_IN_UPN",
                 absl::StrCat("'", value,
                              "' contains an apostrophe: Microsoft cannot move users whose UPN has one; "
                              "rename the user first"));
    return;
  }
  std::string problem = AddressProblem(value);
  if (!problem.empty()) {
    problems.Add(line, column, columns, is_upn ? "BAD_UPN" : "BAD_EMAIL",
                 absl::StrCat("'", Echo(value), "' ", problem));
  }
}

void CheckGuid(ProblemList& problems, int line, int column, const char* const* columns, absl::string_view value) {
  if (value.empty()) {
    problems.Add(line, column, columns, "EMPTY_FIELD", absl::StrCat(columns[column - 1], " is empty"));
  } else if (!IsGuid(value)) {
    problems.Add(line, column, columns, "BAD_GUID",
                 absl::StrCat("'", Echo(value), "' is not a GUID such as 7f1d1c1e-0000-4000-8000-000000000001"));
  }
}

void CheckUserFields(ProblemList& problems, const UserMapping& user) {
  CheckGuid(problems, user.line, 2, kUserColumns, user.source_tenant_id);
  CheckAddress(problems, user.line, 3, kUserColumns, user.source_upn, true);
  CheckAddress(problems, user.line, 4, kUserColumns, user.target_upn, true);
  CheckAddress(problems, user.line, 5, kUserColumns, user.target_email, false);
}

void CheckGroupFields(ProblemList& problems, const GroupMapping& group) {
  CheckGuid(problems, group.line, 2, kGroupColumns, group.source_tenant_id);
  CheckGuid(problems, group.line, 3, kGroupColumns, group.source_group_id);
  CheckGuid(problems, group.line, 4, kGroupColumns, group.target_group_id);
  if (group.group_name.empty()) {
    problems.Add(group.line, 5, kGroupColumns, "EMPTY_FIELD",
                 "GroupName is empty: Microsoft asks for the TargetGroupObjectID (or the M365 group alias) here");
  }
}

// One source tenant: `tenant` is the expected one, or the first row's once seen.
void CheckTenant(ProblemList& problems, std::string& tenant, const ValidationOptions& options, int line,
                 const char* const* columns, const std::string& value) {
  if (value.empty() || !IsGuid(value)) return;  // already reported
  if (tenant.empty()) {
    tenant = value;
  } else if (!absl::EqualsIgnoreCase(value, tenant)) {
    problems.Add(line, 2, columns, "SOURCE_TENANT_MISMATCH",
                 absl::StrCat("source tenant '", Echo(value), "' differs from ",
                              options.expected_source_tenant_id.empty() ? "the first row's '"
                                                                        : "the source connection's tenant id '",
                              Echo(tenant), "': one map holds one source tenant"));
  }
}

void AddDuplicateProblem(ProblemList& problems, int line, int column, const char* const* columns, const char* code,
                         const char* what, absl::string_view value, int other_line) {
  problems.Add(line, column, columns, code,
               absl::StrCat(what, " '", Echo(value), "' is already mapped on line ", other_line,
                            ": the map must be one-to-one"));
}

// The checks across rows: one source tenant, and one-to-one in both directions.
void CheckAcrossRows(ProblemList& problems, const IdentityMap& map, const ValidationOptions& options) {
  std::string tenant = options.expected_source_tenant_id;
  auto check_tenant = [&](int line, const char* const* columns, const std::string& value) {
    CheckTenant(problems, tenant, options, line, columns, value);
  };
  absl::flat_hash_map<std::string, int> sources, targets;
  sources.reserve(map.users.size() + map.groups.size());
  targets.reserve(map.users.size() + map.groups.size());
  auto check_unique = [&problems](absl::flat_hash_map<std::string, int>& seen, const std::string& value, int line,
                                  int column, const char* const* columns, const char* code, const char* what) {
    if (value.empty()) return;
    auto [it, inserted] = seen.emplace(absl::AsciiStrToLower(value), line);
    if (!inserted) AddDuplicateProblem(problems, line, column, columns, code, what, value, it->second);
  };
  for (const UserMapping& user : map.users) {
    check_tenant(user.line, kUserColumns, user.source_tenant_id);
    check_unique(sources, user.source_upn, user.line, 3, kUserColumns, "DUPLICATE_SOURCE", "source user");
    check_unique(targets, user.target_upn, user.line, 4, kUserColumns, "DUPLICATE_TARGET", "target user");
  }
  for (const GroupMapping& group : map.groups) {
    check_tenant(group.line, kGroupColumns, group.source_tenant_id);
    check_unique(sources, group.source_group_id, group.line, 3, kGroupColumns, "DUPLICATE_SOURCE", "source group");
    check_unique(targets, group.target_group_id, group.line, 4, kGroupColumns, "DUPLICATE_TARGET", "target group");
  }
}

struct CsvRecord {
  int line = 0;
  std::vector<std::string> fields;
};

// Splits RFC 4180 CSV into records, handing each to `on_record` as soon as it is read (a file is
// never held twice). Problems with quoting are reported; the record is still handed on. A field is
// kept up to kMaxFieldBytes (FIELD_TOO_LONG past that).
// Returns the line after the last; `line` is the first record's.
int SplitCsv(absl::string_view csv, int line, ProblemList& problems, const std::function<void(CsvRecord&)>& on_record) {
  size_t i = 0;
  while (i < csv.size()) {
    CsvRecord record;
    record.line = line;
    std::string field;
    bool in_quotes = false;
    bool quoted = false;
    bool end_of_record = false;
    bool too_long = false;
    auto append = [&](char c) {
      if (field.size() < kMaxFieldBytes) {
        field += c;
      } else if (!too_long) {
        too_long = true;
        problems.Add(record.line, static_cast<int>(record.fields.size()) + 1, kUserColumns, "FIELD_TOO_LONG",
                     absl::StrCat("a field longer than ", kMaxFieldBytes, " bytes: no column holds that much"));
      }
    };
    while (i < csv.size() && !end_of_record) {
      const char c = csv[i];
      if (in_quotes) {
        if (c == '"') {
          if (i + 1 < csv.size() && csv[i + 1] == '"') {
            append('"');
            ++i;
          } else {
            in_quotes = false;
          }
        } else {
          if (c == '\n') ++line;
          append(c);
        }
        ++i;
        continue;
      }
      switch (c) {
        case '"':
          if (field.empty() && !quoted) {
            in_quotes = quoted = true;
          } else {
            problems.Add(record.line, static_cast<int>(record.fields.size()) + 1, kUserColumns, "BAD_QUOTING",
                         "a double quote inside an unquoted field: quote the whole field and double the quote");
            append(c);
          }
          break;
        case ',':
          record.fields.push_back(std::move(field));
          field.clear();
          quoted = false;
          too_long = false;
          break;
        case '\r':
          if (i + 1 < csv.size() && csv[i + 1] == '\n') break;
          end_of_record = true;
          break;
        case '\n':
          end_of_record = true;
          break;
        default:
          if (quoted) {
            problems.Add(record.line, static_cast<int>(record.fields.size()) + 1, kUserColumns, "BAD_QUOTING",
                         "text after a closing quote");
          }
          append(c);
      }
      ++i;
    }
    if (in_quotes) {
      problems.Add(record.line, static_cast<int>(record.fields.size()) + 1, kUserColumns, "BAD_QUOTING",
                   "a quoted field is never closed");
    }
    record.fields.push_back(std::move(field));
    on_record(record);
    ++line;
  }
  return line;
}

bool ParseUserType(absl::string_view text, UserType* type) {
  if (absl::EqualsIgnoreCase(text, "RegularUser"))
    *type = UserType::kRegularUser;
  else if (absl::EqualsIgnoreCase(text, "AdminUser"))
    *type = UserType::kAdminUser;
  else if (absl::EqualsIgnoreCase(text, "GuestUser"))
    *type = UserType::kGuestUser;
  else
    return false;
  return true;
}

bool ParseGroupType(absl::string_view text, GroupType* type) {
  if (absl::EqualsIgnoreCase(text, "RegularGroup"))
    *type = GroupType::kRegularGroup;
  else if (absl::EqualsIgnoreCase(text, "M365Group"))
    *type = GroupType::kM365Group;
  else
    return false;
  return true;
}

bool LooksLikeHeader(const std::vector<std::string>& fields) {
  for (const std::string& field : fields) {
    for (const char* name : {"SourceTenantCompanyID", "SourceUserUpn", "TargetUserUpn", "SourceTenantId", "UserType"}) {
      if (absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(field), name)) return true;
    }
  }
  return false;
}

// Checks one record of the CSV and appends it to `map` as a user or a group row (even with problems
// in its fields); blank records are skipped, any other sets `any_row`.
void CheckRecord(CsvRecord& record, ProblemList& problems, IdentityMap& map, bool& any_row) {
  std::vector<std::string>& fields = record.fields;
  const int line = record.line;
  if (std::all_of(fields.begin(), fields.end(),
                  [](const std::string& field) { return absl::StripAsciiWhitespace(field).empty(); })) {
    return;
  }
  any_row = true;
  bool bad_encoding = false;
  for (const std::string& field : fields) bad_encoding |= !IsValidUtf8(field);
  if (bad_encoding) {
    problems.Add(line, 0, kUserColumns, "BAD_ENCODING", "not valid UTF-8: save the file as UTF-8");
    return;
  }
  if (line == 1 && LooksLikeHeader(fields)) {
    problems.Add(line, 0, kUserColumns, "HEADER_ROW",
                 "this looks like a header row: the identity map has no header, remove line 1");
    return;
  }
  const bool is_user = absl::EqualsIgnoreCase(fields[0], "User");
  const bool is_group = absl::EqualsIgnoreCase(fields[0], "Group");
  const char* const* columns = is_group ? kGroupColumns : kUserColumns;
  if (fields.size() != kColumns) {
    problems.Add(line, 0, columns, "WRONG_COLUMN_COUNT",
                 absl::StrCat("expected 6 comma-separated columns, found ", fields.size(),
                              " (Type, SourceTenantCompanyID, source, target, e-mail or name, type)"));
    return;
  }
  for (int column = 1; column <= kColumns; ++column) {
    const std::string& value = fields[column - 1];
    if (absl::StripAsciiWhitespace(value).size() != value.size()) {
      problems.Add(line, column, columns, "WHITESPACE",
                   absl::StrCat("'", Echo(value), "' has spaces around it: remove them"));
      fields[column - 1] = std::string(absl::StripAsciiWhitespace(value));
    }
  }
  if (!is_user && !is_group) {
    problems.Add(line, 1, columns, "BAD_ROW_KIND", absl::StrCat("'", Echo(fields[0]), "' must be User or Group"));
    return;
  }
  if (is_user) {
    UserMapping user{line, fields[1], fields[2], fields[3], fields[4], UserType::kRegularUser};
    if (!ParseUserType(fields[5], &user.user_type)) {
      problems.Add(line, 6, columns, "BAD_USER_TYPE",
                   absl::StrCat("'", Echo(fields[5]), "' must be RegularUser, AdminUser or GuestUser"));
    }
    CheckUserFields(problems, user);
    map.users.push_back(std::move(user));
  } else {
    GroupMapping group{line, fields[1], fields[2], fields[3], fields[4], GroupType::kRegularGroup};
    if (!ParseGroupType(fields[5], &group.group_type)) {
      problems.Add(line, 6, columns, "BAD_GROUP_TYPE",
                   absl::StrCat("'", Echo(fields[5]), "' must be RegularGroup or M365Group"));
    }
    CheckGroupFields(problems, group);
    map.groups.push_back(std::move(group));
  }
}

}  // namespace

const char* UserTypeName(UserType type) {
  switch (type) {
    case UserType::kRegularUser:
      return "RegularUser";
    case UserType::kAdminUser:
      return "AdminUser";
    case UserType::kGuestUser:
      return "GuestUser";
  }
  return "RegularUser";
}

const char* GroupTypeName(GroupType type) { return type == GroupType::kM365Group ? "M365Group" : "RegularGroup"; }

ParseResult ParseCsv(absl::string_view csv, const ValidationOptions& options) {
  ParseResult result;
  ProblemList problems(&result.problems, options.max_problems);
  if (absl::StartsWith(csv, "\xEF\xBB\xBF")) csv.remove_prefix(3);
  // Blank lines are skipped wherever they are: spreadsheets export trailing empty rows, as empty lines or
  // as ",,,,," (a final line end leaves no record at all). Records keep their own line numbers.
  bool any_row = false;
  SplitCsv(csv, 1, problems, [&](CsvRecord& record) { CheckRecord(record, problems, result.map, any_row); });
  if (!any_row) {
    problems.Add(1, 0, kUserColumns, "EMPTY_MAP", "the identity map has no rows");
    result.problems_omitted = problems.Finish();
    return result;
  }
  CheckAcrossRows(problems, result.map, options);
  result.problems_omitted = problems.Finish();
  return result;
}

std::vector<Problem> Validate(const IdentityMap& map, const ValidationOptions& options) {
  std::vector<Problem> result;
  ProblemList problems(&result, options.max_problems);
  if (map.users.empty() && map.groups.empty()) {
    problems.Add(1, 0, kUserColumns, "EMPTY_MAP", "the identity map has no rows");
    return result;
  }
  for (const UserMapping& user : map.users) CheckUserFields(problems, user);
  for (const GroupMapping& group : map.groups) CheckGroupFields(problems, group);
  CheckAcrossRows(problems, map, options);
  problems.Finish();
  return result;
}

namespace {
// Quotes a field when CSV needs it.
void AppendField(std::string& out, absl::string_view field) {
  if (field.find_first_of(",\"\r\n") == absl::string_view::npos) {
    out.append(field.data(), field.size());
    return;
  }
  out += '"';
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}
}  // namespace

namespace {
void AppendRow(std::string& out, const UserMapping& user) {
  for (absl::string_view field :
       {absl::string_view("User"), absl::string_view(user.source_tenant_id), absl::string_view(user.source_upn),
        absl::string_view(user.target_upn), absl::string_view(user.target_email)}) {
    AppendField(out, field);
    out += ',';
  }
  out += UserTypeName(user.user_type);
  out += '\n';
}

void AppendRow(std::string& out, const GroupMapping& group) {
  for (absl::string_view field :
       {absl::string_view("Group"), absl::string_view(group.source_tenant_id), absl::string_view(group.source_group_id),
        absl::string_view(group.target_group_id), absl::string_view(group.group_name)}) {
    AppendField(out, field);
    out += ',';
  }
  out += GroupTypeName(group.group_type);
  out += '\n';
}
}  // namespace

std::string ToCsv(const IdentityMap& map) {
  std::string out;
  out.reserve((map.users.size() + map.groups.size()) * 160);
  for (const UserMapping& user : map.users) AppendRow(out, user);
  for (const GroupMapping& group : map.groups) AppendRow(out, group);
  return out;
}

std::string ToCsv(const UserMapping& user) {
  std::string out;
  AppendRow(out, user);
  return out;
}

std::string ToCsv(const GroupMapping& group) {
  std::string out;
  AppendRow(out, group);
  return out;
}

CsvStream::CsvStream(const ValidationOptions& options)
    : options_(options), tenant_(options.expected_source_tenant_id) {}

void CsvStream::Add(absl::string_view piece, IdentityMap* rows) {
  pending_.append(piece.data(), piece.size());
  // Only whole records are parsed: text up to the last line end outside quotes. A doubled quote inside a
  // quoted field flips the state twice, so counting quotes is enough.
  size_t cut = std::string::npos;
  for (size_t i = scanned_; i < pending_.size(); ++i) {
    if (pending_[i] == '"')
      in_quotes_ = !in_quotes_;
    else if (pending_[i] == '\n' && !in_quotes_)
      cut = i;
  }
  scanned_ = pending_.size();
  // The byte order mark is looked at once three bytes (or the end) are there.
  if (cut == std::string::npos || (!started_ && pending_.size() < 3)) return;
  Parse(absl::string_view(pending_).substr(0, cut + 1), rows);
  pending_.erase(0, cut + 1);
  scanned_ = pending_.size();
}

void CsvStream::Finish(IdentityMap* rows) {
  if (!pending_.empty()) Parse(pending_, rows);
  pending_.clear();
  scanned_ = 0;
  ProblemList problems(&problems_, options_.max_problems, omitted_);
  if (!any_row_) problems.Add(1, 0, kUserColumns, "EMPTY_MAP", "the identity map has no rows");
  omitted_ = problems.omitted();
}

void CsvStream::Parse(absl::string_view text, IdentityMap* rows) {
  if (!started_) {
    started_ = true;
    if (absl::StartsWith(text, "\xEF\xBB\xBF")) text.remove_prefix(3);
  }
  ProblemList problems(&problems_, options_.max_problems, omitted_);
  const size_t first_user = rows->users.size(), first_group = rows->groups.size();
  next_line_ =
      SplitCsv(text, next_line_, problems, [&](CsvRecord& record) { CheckRecord(record, problems, *rows, any_row_); });
  for (size_t i = first_user; i < rows->users.size(); ++i) {
    CheckTenant(problems, tenant_, options_, rows->users[i].line, kUserColumns, rows->users[i].source_tenant_id);
  }
  for (size_t i = first_group; i < rows->groups.size(); ++i) {
    CheckTenant(problems, tenant_, options_, rows->groups[i].line, kGroupColumns, rows->groups[i].source_tenant_id);
  }
  omitted_ = problems.omitted();
}

void CsvStream::AddDuplicate(int line, bool group, bool target, absl::string_view value, int other_line) {
  ProblemList problems(&problems_, options_.max_problems, omitted_);
  AddDuplicateProblem(problems, line, target ? 4 : 3, group ? kGroupColumns : kUserColumns,
                      target ? "DUPLICATE_TARGET" : "DUPLICATE_SOURCE",
                      group ? (target ? "target group" : "source group") : (target ? "target user" : "source user"),
                      value, other_line);
  omitted_ = problems.omitted();
}

int64_t CsvStream::problem_count() const { return static_cast<int64_t>(problems_.size()) + omitted_; }

std::vector<Problem> CsvStream::TakeProblems() {
  ProblemList problems(&problems_, options_.max_problems, omitted_);
  problems.Finish();
  omitted_ = 0;
  return std::move(problems_);
}

}  // namespace crosstenant::identity_map
