// The audit trails of the connector and the orchestrator (docs/audit.md): list them, merged by time,
// and verify their hash chains.

#include <algorithm>
#include <deque>
#include <functional>
#include <optional>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "clients/migratectl/commands.h"
#include "clients/migratectl/exit_codes.h"
#include "crosstenant/v1/audit.pb.h"
#include "services/common/audit_chain.h"
#include "services/common/proto_time.h"
#include "services/common/status_macros.h"

namespace crosstenant::migratectl {
namespace v1 = crosstenant::v1;
namespace {

// One service that keeps a trail, and how to read a page of it.
struct TrailSource {
  std::string name;  // as records name it: "tenant-connector", "orchestrator"
  std::string address;
  std::function<absl::StatusOr<v1::ListAuditRecordsResponse>(const v1::ListAuditRecordsRequest&)> list;
};

// The services --service names: connector, orchestrator or all (both, connector first).
absl::StatusOr<std::vector<TrailSource>> SourcesOf(Invocation& in, const std::string& service) {
  if (service != "connector" && service != "orchestrator" && service != "all") {
    return UsageError(absl::StrCat("--service must be connector, orchestrator or all, got '", service, "'"));
  }
  std::vector<TrailSource> sources;
  if (service != "orchestrator") {
    sources.push_back({"tenant-connector", in.options().connector_address, [&in](const v1::ListAuditRecordsRequest& r) {
                         return in.Call<v1::ListAuditRecordsResponse>(in.connector(),
                                                                      &v1::TenantConnector::Stub::ListAuditRecords, r);
                       }});
  }
  if (service != "connector") {
    sources.push_back({"orchestrator", in.options().orchestrator_address, [&in](const v1::ListAuditRecordsRequest& r) {
                         return in.Call<v1::ListAuditRecordsResponse>(in.orchestrator(),
                                                                      &v1::Orchestrator::Stub::ListAuditRecords, r);
                       }});
  }
  return sources;
}

// Reads every page of `source`'s trail that passes `request`'s filters, handing each record to
// `each`. False (and a note on stderr) when the server has no trail (an older server: UNIMPLEMENTED).
absl::StatusOr<bool> ReadTrail(Invocation& in, const TrailSource& source, v1::ListAuditRecordsRequest request,
                               const std::function<absl::Status(const v1::AuditRecord&)>& each) {
  request.set_page_size(1000);
  while (true) {
    absl::StatusOr<v1::ListAuditRecordsResponse> page = source.list(request);
    if (page.status().code() == absl::StatusCode::kUnimplemented) {
      in.err() << "migratectl: the " << source.name << " at " << source.address
               << " has no audit trail (an older server: ListAuditRecords is not implemented)\n";
      return false;
    }
    if (!page.ok()) return page.status();
    for (const v1::AuditRecord& record : page->records()) RETURN_IF_ERROR(each(record));
    if (page->next_after_sequence() == 0) return true;
    request.set_after_sequence(page->next_after_sequence());
  }
}

SettingsTable::Parser TimeFlag(std::optional<absl::Time>* out) {
  return [out](absl::string_view value) -> absl::Status {
    absl::Time time;
    std::string error;
    if (!absl::ParseTime(absl::RFC3339_full, value, &time, &error)) {
      return absl::InvalidArgumentError(
          absl::StrCat("expected an RFC 3339 time such as 2026-12-05T19:30:00Z, got '", value, "'"));
    }
    *out = time;
    return absl::OkStatus();
  };
}

// "2026-12-05T19:30:00.123Z": audit times are exact to the microsecond; milliseconds order a table.
std::string AuditTimeText(const google::protobuf::Timestamp& time) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", TimeOf(time), absl::UTCTimeZone());
}

}  // namespace

absl::Status RunAuditList(Invocation& in) {
  std::string service = "all", output;
  bool failures = false;
  int limit = 0;
  std::optional<absl::Time> since, until;
  std::string action, caller, target;
  in.flags().Text("service", &service, "NAME", "connector, orchestrator or all (default: both, merged by time)");
  in.flags().Custom("since", "RFC3339", "", "only records at or after this time, e.g. 2026-12-05T08:00:00Z",
                    TimeFlag(&since));
  in.flags().Custom("until", "RFC3339", "", "only records before this time", TimeFlag(&until));
  in.flags().Text("action", &action, "NAME", "only this action, e.g. DeleteConnection, CancelMigration");
  in.flags().Text("caller", &caller, "TEXT", "only callers whose certificate names contain TEXT");
  in.flags().Text("target", &target, "NAME", "only this resource and what lies under it, e.g. connections/contoso");
  in.flags().Switch("failures", &failures, "only calls that did not succeed");
  in.flags().Int("limit", &limit, 1, 100000000, "only the newest N records (default all)");
  in.flags().Text("output-format", &output, "table|jsonl",
                  "-o: a table (default; CSV with --format=csv) or one JSON object per line");
  ASSIGN_OR_RETURN(
      bool run,
      in.Parse({"Lists who changed what: the audit records of the connector and the orchestrator, oldest first.", "",
                "",
                "Each service keeps its own trail; with --service=all (the default) both are read page by page\n"
                "and merged by time. A server without an audit trail (an older version) is named on stderr and\n"
                "skipped. -o jsonl prints each record's JSON mapping (crosstenant.v1.AuditRecord) on one line.\n"
                "Examples:\n"
                "  migratectl audit list --action=DeleteConnection\n"
                "  migratectl audit list --service=connector --target=connections/contoso --failures\n"
                "  migratectl audit list --since=2026-12-05T00:00:00Z -o jsonl > audit.jsonl"}));
  if (!run) return absl::OkStatus();
  if (output.empty()) output = in.format() == OutputFormat::kJson ? "jsonl" : "table";
  if (output != "table" && output != "jsonl") {
    return UsageError(absl::StrCat("-o must be table or jsonl, got '", output, "'"));
  }
  if (since && until && *since > *until) return UsageError("--since must not be after --until");
  v1::ListAuditRecordsRequest filter;
  if (since) SetTimestamp(*since, filter.mutable_since());
  if (until) SetTimestamp(*until, filter.mutable_until());
  filter.set_action(action);
  filter.set_caller(caller);
  filter.set_target(target);
  filter.set_failures_only(failures);
  ASSIGN_OR_RETURN(std::vector<TrailSource> sources, SourcesOf(in, service));

  std::vector<v1::AuditRecord> records;
  for (const TrailSource& source : sources) {
    // With --limit only the newest records of each trail can be among the newest of all.
    std::deque<v1::AuditRecord> newest;
    RETURN_IF_ERROR(ReadTrail(in, source, filter, [&](const v1::AuditRecord& record) {
                      newest.push_back(record);
                      if (limit > 0 && newest.size() > static_cast<size_t>(limit)) newest.pop_front();
                      return absl::OkStatus();
                    }).status());
    records.insert(records.end(), newest.begin(), newest.end());
  }
  std::stable_sort(records.begin(), records.end(), [](const v1::AuditRecord& a, const v1::AuditRecord& b) {
    return TimeOf(a.time()) < TimeOf(b.time());
  });
  if (limit > 0 && records.size() > static_cast<size_t>(limit)) {
    records.erase(records.begin(), records.end() - limit);
  }
  if (output == "jsonl") {
    for (const v1::AuditRecord& record : records) in.out() << MessageToJson(record).dump() << "\n";
    return absl::OkStatus();
  }
  Table table({"TIME", "SERVICE", "SEQ", "CALLER", "ACTION", "TARGET", "OUTCOME", "REQUEST ID"});
  for (const v1::AuditRecord& record : records) {
    table.AddRow({AuditTimeText(record.time()), record.service(), absl::StrCat(record.sequence()), record.caller(),
                  record.action(), record.target(), record.outcome(), record.request_id()});
  }
  in.out() << (in.format() == OutputFormat::kCsv ? RenderCsv(table) : RenderTable(table));
  if (in.format() == OutputFormat::kTable) in.out() << records.size() << " record(s)\n";
  return absl::OkStatus();
}

absl::Status RunAuditVerify(Invocation& in) {
  std::string service = "all", expect_last;
  in.flags().Text("service", &service, "NAME", "connector, orchestrator or all (default)");
  in.flags().Text("expect-last", &expect_last, "SEQ:HASH",
                  "a record noted earlier (needs --service=connector or orchestrator): the trail must still hold it "
                  "with this hash");
  ASSIGN_OR_RETURN(
      bool run,
      in.Parse({"Verifies the audit trails' hash chains: every record, from the first, page by page.", "", "",
                "Prints per service how many records were checked and the last one's sequence and hash. Note\n"
                "them: a change, insertion or deletion inside the trail breaks the chain and is named here, but\n"
                "records deleted from the end leave a shorter, intact chain, which only a noted sequence and hash\n"
                "reveal (--expect-last=SEQ:HASH). A broken chain exits 11 and names the first broken record.\n"
                "Examples:\n"
                "  migratectl audit verify\n"
                "  migratectl audit verify --service=connector --expect-last=1234:3f9a..."}));
  if (!run) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::vector<TrailSource> sources, SourcesOf(in, service));
  int64_t expect_sequence = 0;
  std::string expect_hash;
  if (!expect_last.empty()) {
    std::vector<std::string> parts = absl::StrSplit(expect_last, absl::MaxSplits(':', 1));
    if (sources.size() != 1) return UsageError("--expect-last needs one --service (connector or orchestrator)");
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &expect_sequence) || expect_sequence < 1 ||
        parts[1].size() != 64) {
      return UsageError(
          absl::StrCat("--expect-last must be SEQ:HASH (a sequence and 64 hex digits, as `audit "
                       "verify` printed them), got '",
                       expect_last, "'"));
    }
    expect_hash = parts[1];
  }
  std::vector<std::string> broken;
  int verified = 0;
  for (const TrailSource& source : sources) {
    AuditChainVerifier verifier;
    absl::Status chain;  // the first problem of the records themselves
    std::string problem;
    bool expected_seen = false;
    ASSIGN_OR_RETURN(
        bool has_trail, ReadTrail(in, source, v1::ListAuditRecordsRequest(), [&](const v1::AuditRecord& record) {
          // The first problem is enough: the records after it cannot be trusted.
          if (!chain.ok()) return absl::OkStatus();
          chain = verifier.Add(record);
          if (chain.ok() && record.sequence() == expect_sequence) {
            expected_seen = true;
            if (record.hash() != expect_hash) {
              problem = absl::StrCat(source.name, " audit record ", expect_sequence, ": its hash is ", record.hash(),
                                     ", not the noted ", expect_hash, " (the trail was rewritten up to here)");
            }
          }
          return absl::OkStatus();
        }));
    if (!has_trail) continue;
    ++verified;
    if (!chain.ok()) {
      problem = std::string(chain.message());
    } else if (problem.empty() && expect_sequence != 0 && !expected_seen) {
      problem = absl::StrCat(source.name, " audit trail ends at record ", verifier.last_sequence(),
                             ", before the noted record ", expect_sequence, " (records deleted from its end)");
    }
    if (problem.empty()) {
      in.out() << source.name << ": " << verifier.checked() << " record(s) checked, chain intact; last record "
               << verifier.last_sequence() << " hash " << verifier.last_hash() << "\n";
    } else {
      in.out() << source.name << ": BROKEN after " << verifier.checked() << " good record(s): " << problem << "\n";
      broken.push_back(problem);
    }
  }
  if (!broken.empty()) return AuditChainBrokenError(absl::StrJoin(broken, "; "));
  if (verified == 0) return NotReadyError("no service had an audit trail to verify");
  return absl::OkStatus();
}

}  // namespace crosstenant::migratectl
