#include "clients/loadgen/load_generator.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <vector>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/text_format.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace crosstenant::loadgen {
namespace {

using Clock = std::chrono::steady_clock;

double CpuSecondsOfSelf() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec + (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

double CpuSecondsOf(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(in, stat);
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return 0;
  std::istringstream fields(stat.substr(paren + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; fields >> field; ++i) {
    if (i == 14) utime = std::stod(field);
    if (i == 15) {
      stime = std::stod(field);
      break;
    }
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double Percentile(const std::vector<uint32_t>& sorted, double fraction) {
  if (sorted.empty()) return 0;
  const size_t index = std::min(sorted.size() - 1, static_cast<size_t>(fraction * static_cast<double>(sorted.size())));
  return sorted[index];
}

// Keeps one call outstanding per slot until the end of the run.
class ClosedLoop {
 public:
  ClosedLoop(const LoadSpec& spec, std::vector<std::unique_ptr<grpc::GenericStub>>* stubs)
      : spec_(spec), stubs_(stubs) {
    latencies_.reserve(1 << 20);
  }

  void Run() {
    start_ = Clock::now();
    measure_from_ = start_ + spec_.warmup;
    end_ = measure_from_ + spec_.duration;
    outstanding_ = spec_.in_flight;
    for (int slot = 0; slot < spec_.in_flight; ++slot) StartCall(slot);
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [this] { return outstanding_ == 0; });
  }

  std::vector<uint32_t>& latencies() { return latencies_; }
  int64_t errors() const { return errors_; }
  const std::string& first_error() const { return first_error_; }

 private:
  struct Call {
    grpc::ClientContext context;
    grpc::ByteBuffer request;
    grpc::ByteBuffer response;
    Clock::time_point sent;
  };

  void StartCall(int slot) {
    auto call = std::make_shared<Call>();
    grpc::Slice slice(spec_.request_bytes);
    call->request = grpc::ByteBuffer(&slice, 1);
    call->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    call->sent = Clock::now();
    grpc::GenericStub& stub = *(*stubs_)[slot % stubs_->size()];
    stub.UnaryCall(&call->context, spec_.method, grpc::StubOptions(), &call->request, &call->response,
                   [this, slot, call](grpc::Status status) { OnDone(slot, *call, status); });
  }

  void OnDone(int slot, const Call& call, const grpc::Status& status) {
    const Clock::time_point now = Clock::now();
    if (now >= measure_from_ && now < end_) {
      std::lock_guard<std::mutex> lock(mutex_);
      latencies_.push_back(
          static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::microseconds>(now - call.sent).count()));
      if (!status.ok()) {
        ++errors_;
        if (first_error_.empty()) first_error_ = absl::StrCat(status.error_code(), ": ", status.error_message());
      }
    }
    if (now < end_) {
      StartCall(slot);
      return;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    if (--outstanding_ == 0) done_.notify_all();
  }

  const LoadSpec& spec_;
  std::vector<std::unique_ptr<grpc::GenericStub>>* stubs_;
  Clock::time_point start_, measure_from_, end_;
  std::mutex mutex_;
  std::condition_variable done_;
  int outstanding_ = 0;
  std::vector<uint32_t> latencies_;
  int64_t errors_ = 0;
  std::string first_error_;
};

}  // namespace

absl::StatusOr<std::string> SerializeRequest(const std::string& method, const std::string& text_format) {
  // "/pkg.Service/Method" -> "pkg.Service.Method"
  std::string full_name = method;
  if (!full_name.empty() && full_name.front() == '/') full_name.erase(0, 1);
  full_name = absl::StrReplaceAll(full_name, {{"/", "."}});
  const auto* descriptor = google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(full_name);
  if (descriptor == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("--method: ", method, " is not a method this binary knows (give /package.Service/Method)"));
  }
  if (descriptor->client_streaming() || descriptor->server_streaming()) {
    return absl::InvalidArgumentError(absl::StrCat("--method: ", method, " is streaming; only unary methods load"));
  }
  const google::protobuf::Message* prototype =
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(descriptor->input_type());
  std::unique_ptr<google::protobuf::Message> message(prototype->New());
  if (!google::protobuf::TextFormat::ParseFromString(text_format, message.get())) {
    return absl::InvalidArgumentError(
        absl::StrCat("--request: not a valid ", descriptor->input_type()->full_name(), " in protobuf text format"));
  }
  return message->SerializeAsString();
}

absl::StatusOr<LoadReport> RunLoad(const LoadSpec& spec) {
  if (spec.in_flight < 1 || spec.channels < 1 || spec.duration.count() <= 0) {
    return absl::InvalidArgumentError("in-flight, channels and duration must be positive");
  }
  std::vector<std::unique_ptr<grpc::GenericStub>> stubs;
  for (int i = 0; i < spec.channels; ++i) {
    grpc::ChannelArguments args;
    // Separate TCP connections: without these, identical channels share one subchannel.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("crosstenant.loadgen.channel", i);
    if (!spec.server_name.empty()) args.SetSslTargetNameOverride(spec.server_name);
    auto channel = grpc::CreateCustomChannel(spec.target, MakeChannelCredentials(spec.tls), args);
    if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(5))) {
      return absl::UnavailableError(absl::StrCat("cannot connect to ", spec.target));
    }
    stubs.push_back(std::make_unique<grpc::GenericStub>(channel));
  }
  ClosedLoop loop(spec, &stubs);
  const Clock::time_point begin = Clock::now();
  // CPU is sampled around the whole run and scaled to the measured window's share of the calls.
  const double client_cpu_before = CpuSecondsOfSelf();
  const double server_cpu_before = spec.server_pid ? CpuSecondsOf(spec.server_pid) : 0;
  loop.Run();
  const double client_cpu = CpuSecondsOfSelf() - client_cpu_before;
  const double server_cpu = spec.server_pid ? CpuSecondsOf(spec.server_pid) - server_cpu_before : 0;
  const double total_seconds = std::chrono::duration<double>(Clock::now() - begin).count();

  LoadReport report;
  std::vector<uint32_t>& latencies = loop.latencies();
  std::sort(latencies.begin(), latencies.end());
  report.calls = static_cast<int64_t>(latencies.size());
  report.errors = loop.errors();
  report.first_error = loop.first_error();
  report.seconds = std::chrono::duration<double>(spec.duration).count();
  report.calls_per_second = static_cast<double>(report.calls) / report.seconds;
  report.p50_us = Percentile(latencies, 0.50);
  report.p90_us = Percentile(latencies, 0.90);
  report.p99_us = Percentile(latencies, 0.99);
  report.p999_us = Percentile(latencies, 0.999);
  // Calls over the whole run (warm-up included) at the measured rate: CPU per call over all of them.
  const double all_calls = std::max(1.0, report.calls_per_second * total_seconds);
  report.client_cpu_us_per_call = client_cpu * 1e6 / all_calls;
  report.server_cpu_us_per_call = server_cpu * 1e6 / all_calls;
  return report;
}

}  // namespace crosstenant::loadgen
