#include "services/orchestrator/store/postgres.h"

#include <libpq-fe.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"

namespace crosstenant::orchestrator {
namespace {

constexpr absl::string_view kDatabase = "the PostgreSQL state database";

// The statement, shortened to its start on one line, to say what failed (parameters are never shown).
std::string Abbreviate(absl::string_view sql) {
  std::string text;
  for (char c : sql) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c))) {
      if (!text.empty() && text.back() != ' ') text.push_back(' ');
    } else {
      text.push_back(c);
    }
  }
  text = std::string(absl::StripAsciiWhitespace(text));
  if (text.size() > 80) text = absl::StrCat(text.substr(0, 77), "...");
  return text;
}

// libpq messages end with a newline and may (for a malformed or refused connection string) quote it.
std::string Clean(absl::string_view message, const std::vector<std::string>& secrets) {
  std::string text(absl::StripAsciiWhitespace(message));
  for (const std::string& secret : secrets) {
    if (!secret.empty()) absl::StrReplaceAll({{secret, "<redacted>"}}, &text);
  }
  return text;
}

void IgnoreNotice(void*, const char*) {}

std::atomic<int64_t> statements_sent{0};
std::atomic<int64_t> round_trips{0};

void CountRoundTrip(size_t statements) {
  statements_sent.fetch_add(static_cast<int64_t>(statements), std::memory_order_relaxed);
  round_trips.fetch_add(1, std::memory_order_relaxed);
}

// PostgreSQL's type oids (pg_type.dat) of the array elements PgParam sends.
constexpr uint32_t kByteaOid = 17;
constexpr uint32_t kBigintOid = 20;
constexpr uint32_t kIntegerOid = 23;
constexpr uint32_t kTextOid = 25;

void AppendBigEndian32(uint32_t value, std::string* out) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>((value >> shift) & 0xff));
}

// The header of a one-dimensional array without NULLs (array_recv): dimensions, has-nulls flag, element
// type, then the length and lower bound (1) of the one dimension. An empty array has no dimension.
std::string ArrayHeader(uint32_t element_oid, size_t count) {
  std::string out;
  AppendBigEndian32(count == 0 ? 0 : 1, &out);
  AppendBigEndian32(0, &out);
  AppendBigEndian32(element_oid, &out);
  if (count > 0) {
    AppendBigEndian32(static_cast<uint32_t>(count), &out);
    AppendBigEndian32(1, &out);
  }
  return out;
}

// Each element: its length in bytes, then its bytes (text and bytea alike, in binary).
std::string StringArray(uint32_t element_oid, absl::Span<const std::string> values) {
  std::string out = ArrayHeader(element_oid, values.size());
  size_t size = out.size();
  for (const std::string& value : values) size += 4 + value.size();
  out.reserve(size);
  for (const std::string& value : values) {
    AppendBigEndian32(static_cast<uint32_t>(value.size()), &out);
    out.append(value);
  }
  return out;
}

}  // namespace

PgTraffic PgTrafficSoFar() {
  return {statements_sent.load(std::memory_order_relaxed), round_trips.load(std::memory_order_relaxed)};
}

PgParam::PgParam(int64_t value) : value_(absl::StrCat(value)) {}

PgParam PgParam::Bytes(absl::string_view bytes) { return Binary(std::string(bytes)); }

PgParam PgParam::Binary(std::string value) {
  PgParam param;
  param.value_ = std::move(value);
  param.binary_ = true;
  return param;
}

PgParam PgParam::TextArray(absl::Span<const std::string> values) { return Binary(StringArray(kTextOid, values)); }

PgParam PgParam::ByteaArray(absl::Span<const std::string> values) { return Binary(StringArray(kByteaOid, values)); }

PgParam PgParam::BigintArray(absl::Span<const int64_t> values) {
  std::string out = ArrayHeader(kBigintOid, values.size());
  for (int64_t value : values) {
    AppendBigEndian32(8, &out);
    AppendBigEndian32(static_cast<uint32_t>(static_cast<uint64_t>(value) >> 32), &out);
    AppendBigEndian32(static_cast<uint32_t>(static_cast<uint64_t>(value) & 0xffffffffu), &out);
  }
  return Binary(std::move(out));
}

PgParam PgParam::IntegerArray(absl::Span<const int32_t> values) {
  std::string out = ArrayHeader(kIntegerOid, values.size());
  for (int32_t value : values) {
    AppendBigEndian32(4, &out);
    AppendBigEndian32(static_cast<uint32_t>(value), &out);
  }
  return Binary(std::move(out));
}

PgParam PgParam::Null() {
  PgParam param;
  param.null_ = true;
  return param;
}

PgResult::PgResult(PgResult&& other) noexcept : result_(other.result_) { other.result_ = nullptr; }

PgResult& PgResult::operator=(PgResult&& other) noexcept {
  if (this != &other) {
    PQclear(result_);
    result_ = other.result_;
    other.result_ = nullptr;
  }
  return *this;
}

PgResult::~PgResult() { PQclear(result_); }

int PgResult::rows() const { return PQntuples(result_); }

int64_t PgResult::affected_rows() const {
  int64_t count = 0;
  return absl::SimpleAtoi(PQcmdTuples(result_), &count) ? count : 0;
}

bool PgResult::IsNull(int row, int column) const { return PQgetisnull(result_, row, column) != 0; }

std::string PgResult::Text(int row, int column) const {
  return std::string(PQgetvalue(result_, row, column), PQgetlength(result_, row, column));
}

int64_t PgResult::Int(int row, int column) const {
  int64_t value = 0;
  return absl::SimpleAtoi(Text(row, column), &value) ? value : 0;
}

bool PgResult::Bool(int row, int column) const { return Text(row, column) == "t"; }

std::string PgResult::Bytes(int row, int column) const {
  size_t length = 0;
  unsigned char* bytes =
      PQunescapeBytea(reinterpret_cast<const unsigned char*>(PQgetvalue(result_, row, column)), &length);
  if (bytes == nullptr) return "";
  std::string value(reinterpret_cast<const char*>(bytes), length);
  PQfreemem(bytes);
  return value;
}

absl::StatusOr<std::unique_ptr<PgConnection>> PgConnection::Connect(const std::string& dsn) {
  // Parse first: libpq's own complaint about a malformed string quotes the string, password and all.
  char* parse_error = nullptr;
  PQconninfoOption* options = PQconninfoParse(dsn.c_str(), &parse_error);
  if (options == nullptr) {
    PQfreemem(parse_error);
    return absl::InvalidArgumentError(absl::StrCat("the connection string of ", kDatabase,
                                                   " is malformed (not repeated here: it may hold a password)"));
  }
  std::vector<std::string> secrets = {dsn};
  for (const PQconninfoOption* option = options; option->keyword != nullptr; ++option) {
    if (option->val != nullptr && std::strcmp(option->keyword, "password") == 0) secrets.push_back(option->val);
  }
  PQconninfoFree(options);

  // A server that never answers fails the connection after 10 s instead of hanging the caller; a
  // connect_timeout in the string itself wins (libpq lets the expanded dbname override earlier keywords).
  const char* keywords[] = {"connect_timeout", "dbname", "fallback_application_name", nullptr};
  const char* values[] = {"10", dsn.c_str(), "crosstenant-orchestrator", nullptr};
  PGconn* conn = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
  if (conn == nullptr) return absl::ResourceExhaustedError("out of memory connecting to the state database");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string message = Clean(PQerrorMessage(conn), secrets);
    PQfinish(conn);
    return absl::UnavailableError(absl::StrCat("cannot connect to ", kDatabase, ": ", message));
  }
  PQsetNoticeProcessor(conn, IgnoreNotice, nullptr);
  std::unique_ptr<PgConnection> connection(new PgConnection(conn));
  connection->secrets_ = std::move(secrets);
  return connection;
}

PgConnection::~PgConnection() { PQfinish(conn_); }

bool PgConnection::broken() const { return PQstatus(conn_) != CONNECTION_OK; }

bool PgConnection::idle() const {
  return !broken() && PQtransactionStatus(conn_) == PQTRANS_IDLE && PQpipelineStatus(conn_) == PQ_PIPELINE_OFF;
}

absl::Status PgConnection::Error(PGresult* result, absl::string_view sql) const {
  const char* field = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  const std::string sqlstate = field ? field : "";
  const char* primary = result ? PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  const std::string message = Clean(primary ? primary : PQerrorMessage(conn_), secrets_);
  const std::string what = absl::StrCat("[", Abbreviate(sql), "] failed: ", message,
                                        sqlstate.empty() ? "" : absl::StrCat(" (SQLSTATE ", sqlstate, ")"));
  if (broken() || absl::StartsWith(sqlstate, "08")) {
    return absl::UnavailableError(absl::StrCat("lost the connection to ", kDatabase, ": ", what));
  }
  // A standby after a failover (read-only), or a server shutting down or starting (class 57): the
  // primary is elsewhere or back soon.
  if (sqlstate == "25006" || absl::StartsWith(sqlstate, "57P")) {
    return absl::UnavailableError(
        absl::StrCat(kDatabase, " does not take writes now (a read-only standby, or shutting down): ", what));
  }
  if (sqlstate == "40001" || sqlstate == "40P01") {
    return absl::AbortedError(absl::StrCat("conflict with a concurrent transaction, try again: ", what));
  }
  if (sqlstate == "23505") return absl::AlreadyExistsError(absl::StrCat("constraint violated: ", what));
  if (sqlstate == "53100" || sqlstate == "53200" || sqlstate == "54000") {
    return absl::ResourceExhaustedError(
        absl::StrCat(kDatabase, " refuses writes (disk full, out of memory or a server limit reached): ", what));
  }
  return absl::InternalError(what);
}

absl::StatusOr<PgResult> PgConnection::Exec(absl::string_view sql, const std::vector<PgParam>& params) {
  std::vector<const char*> values;
  std::vector<int> lengths;
  std::vector<int> formats;
  for (const PgParam& param : params) {
    values.push_back(param.null() ? nullptr : param.value().c_str());
    lengths.push_back(static_cast<int>(param.value().size()));
    formats.push_back(param.binary() ? 1 : 0);
  }
  const std::string statement(sql);
  CountRoundTrip(1);
  PGresult* result = PQexecParams(conn_, statement.c_str(), static_cast<int>(params.size()), /*paramTypes=*/nullptr,
                                  values.data(), lengths.data(), formats.data(), /*resultFormat=*/0);
  const ExecStatusType status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return PgResult(result);
  absl::Status error = Error(result, sql);
  PQclear(result);
  return error;
}

absl::Status PgConnection::Execute(absl::string_view sql) {
  const std::string statement(sql);
  CountRoundTrip(1);
  PGresult* result = PQexec(conn_, statement.c_str());
  const ExecStatusType status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
  absl::Status outcome = absl::OkStatus();
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) outcome = Error(result, sql);
  PQclear(result);
  return outcome;
}

absl::Status PgConnection::Begin() { return Execute("BEGIN ISOLATION LEVEL READ COMMITTED"); }

absl::Status PgConnection::Commit() {
  CountRoundTrip(1);
  PGresult* result = PQexec(conn_, "COMMIT");
  const ExecStatusType status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
  absl::Status outcome = absl::OkStatus();
  if (status != PGRES_COMMAND_OK) {
    outcome = Error(result, "COMMIT");
    if (absl::IsUnavailable(outcome)) {
      outcome = absl::UnavailableError(
          absl::StrCat(outcome.message(), " (the change may or may not have been written: read it again)"));
    }
  } else if (std::strcmp(PQcmdStatus(result), "ROLLBACK") == 0) {
    // COMMIT of a transaction that had failed rolls it back without an error.
    outcome = absl::AbortedError("the transaction had failed and was rolled back at COMMIT");
  }
  PQclear(result);
  return outcome;
}

void PgConnection::Rollback() {
  if (broken()) return;
  CountRoundTrip(1);
  PQclear(PQexec(conn_, "ROLLBACK"));
}

std::vector<absl::StatusOr<PgResult>> PgConnection::Pipeline(const std::vector<PgStatement>& statements) {
  std::vector<absl::StatusOr<PgResult>> results;
  if (statements.empty()) return results;
  CountRoundTrip(statements.size());
  // The statements this pipeline prepares, by position: forgotten again unless the server says they were
  // prepared (a name is never used twice, so one prepared after all is merely left unused).
  std::vector<std::string> preparing(statements.size());
  auto fail_rest = [&](const absl::Status& status) {
    for (size_t i = results.size(); i < statements.size(); ++i) {
      if (!preparing[i].empty()) prepared_.erase(statements[i].sql);
      results.push_back(status);
    }
    return std::move(results);
  };
  if (PQenterPipelineMode(conn_) != 1) return fail_rest(Error(nullptr, statements.front().sql));
  for (size_t i = 0; i < statements.size(); ++i) {
    const PgStatement& statement = statements[i];
    std::vector<const char*> values;
    std::vector<int> lengths;
    std::vector<int> formats;
    for (const PgParam& param : statement.params) {
      values.push_back(param.null() ? nullptr : param.value().c_str());
      lengths.push_back(static_cast<int>(param.value().size()));
      formats.push_back(param.binary() ? 1 : 0);
    }
    const int count = static_cast<int>(statement.params.size());
    int sent = 0;
    if (statement.prepared) {
      auto [known, added] = prepared_.emplace(statement.sql, "");
      if (added) {
        known->second = absl::StrCat("crosstenant_", ++statements_prepared_);
        sent = PQsendPrepare(conn_, known->second.c_str(), statement.sql.c_str(), count, /*paramTypes=*/nullptr);
        preparing[i] = known->second;
      } else {
        sent = 1;
      }
      const std::string& name = known->second;  // no insertion until it is used
      if (sent == 1) {
        sent = PQsendQueryPrepared(conn_, name.c_str(), count, values.data(), lengths.data(), formats.data(),
                                   /*resultFormat=*/0);
      }
    } else {
      sent = PQsendQueryParams(conn_, statement.sql.c_str(), count, /*paramTypes=*/nullptr, values.data(),
                               lengths.data(), formats.data(), /*resultFormat=*/0);
    }
    // Only a connection that broke refuses to queue a statement; the pool replaces it.
    if (sent != 1) return fail_rest(Error(nullptr, statement.sql));
  }
  if (PQpipelineSync(conn_) != 1) return fail_rest(Error(nullptr, statements.front().sql));
  for (size_t i = 0; i < statements.size(); ++i) {
    const PgStatement& statement = statements[i];
    std::optional<absl::Status> prepare_failed;
    if (!preparing[i].empty()) {
      PGresult* prepared = PQgetResult(conn_);
      if (prepared == nullptr) return fail_rest(Error(nullptr, statement.sql));
      if (PQresultStatus(prepared) != PGRES_COMMAND_OK) {
        prepared_.erase(statement.sql);
        prepare_failed = PQresultStatus(prepared) == PGRES_PIPELINE_ABORTED
                             ? absl::AbortedError("skipped: an earlier statement of its pipeline failed")
                             : Error(prepared, statement.sql);
      }
      PQclear(prepared);
      while (PGresult* extra = PQgetResult(conn_)) PQclear(extra);
    }
    PGresult* result = PQgetResult(conn_);
    if (result == nullptr) return fail_rest(Error(nullptr, statement.sql));
    const ExecStatusType status = PQresultStatus(result);
    if (prepare_failed) {
      results.push_back(*prepare_failed);
      PQclear(result);
    } else if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
      results.push_back(PgResult(result));
    } else {
      results.push_back(status == PGRES_PIPELINE_ABORTED
                            ? absl::AbortedError("skipped: an earlier statement of its pipeline failed")
                            : Error(result, statement.sql));
      PQclear(result);
    }
    // Each statement's results end with a null one.
    while (PGresult* extra = PQgetResult(conn_)) PQclear(extra);
  }
  // The sync point's own result; then the connection takes single statements again.
  while (PGresult* sync = PQgetResult(conn_)) {
    const bool done = PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
    PQclear(sync);
    if (done || broken()) break;
  }
  PQexitPipelineMode(conn_);
  return results;
}

PgConnectionPool::PgConnectionPool(std::string dsn, int size) : dsn_(std::move(dsn)), size_(size < 1 ? 1 : size) {}

PgConnectionPool::~PgConnectionPool() = default;

PgConnectionPool::Lease::~Lease() {
  if (connection_) pool_->Release(std::move(connection_));
}

absl::StatusOr<PgConnectionPool::Lease> PgConnectionPool::Acquire(bool fresh) {
  std::unique_ptr<PgConnection> stale;
  {
    absl::MutexLock lock(&mutex_);
    while (idle_.empty() && open_ >= size_) released_.Wait(&mutex_);
    if (!idle_.empty() && (!fresh || open_ >= size_)) {
      std::unique_ptr<PgConnection> connection = std::move(idle_.back().connection);
      idle_.pop_back();
      if (!fresh) return Lease(this, std::move(connection));
      stale = std::move(connection);  // closed below, outside the lock; its slot goes to the new one
    } else {
      ++open_;
    }
  }
  stale.reset();
  absl::StatusOr<std::unique_ptr<PgConnection>> connection = PgConnection::Connect(dsn_);
  if (!connection.ok()) {
    absl::MutexLock lock(&mutex_);
    --open_;
    released_.Signal();
    return connection.status();
  }
  return Lease(this, std::move(*connection));
}

int PgConnectionPool::CloseIdle(absl::Duration idle_for) {
  std::vector<Idle> closing;  // closed outside the lock
  {
    absl::MutexLock lock(&mutex_);
    const absl::Time cutoff = absl::Now() - idle_for;
    // Acquire takes from the back: the connections idle longest are at the front.
    auto kept = std::find_if(idle_.begin(), idle_.end(), [&](const Idle& idle) { return idle.since > cutoff; });
    closing.assign(std::make_move_iterator(idle_.begin()), std::make_move_iterator(kept));
    idle_.erase(idle_.begin(), kept);
    // Nobody to wake: Acquire waits only while no connection is idle.
    open_ -= static_cast<int>(closing.size());
  }
  return static_cast<int>(closing.size());
}

void PgConnectionPool::Release(std::unique_ptr<PgConnection> connection) {
  // A broken connection, or one left inside a transaction, is closed, not reused.
  const bool reusable = connection->idle();
  if (!reusable) connection.reset();
  absl::MutexLock lock(&mutex_);
  if (reusable) {
    idle_.push_back({std::move(connection), absl::Now()});
  } else {
    --open_;
  }
  released_.Signal();
}

}  // namespace crosstenant::orchestrator
