#ifndef CROSSTENANT_TESTS_FUZZ_FAKE_UPSTREAM_H_
#define CROSSTENANT_TESTS_FUZZ_FAKE_UPSTREAM_H_

// A scripted Microsoft for the connector's fuzz targets: an HttpTransport that answers each request
// with the next response of a script taken from the fuzz input, and a Clock whose SleepFor advances
// time instantly (so that a fuzzed Retry-After costs nothing).
//
// Script text, one response after another, separated by a line "%%":
//
//   200                       <- status line: the status, then optional "Name: value" headers
//   {"access_token": "..."}   <- the body: every following line up to the next "%%"
//   %%
//   429 Retry-After: 3
//   {}
//
// When the script runs out, every further request fails as a transport error (UNAVAILABLE).

#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "services/tenant_connector/core/http.h"
#include "services/tenant_connector/core/throttle.h"

namespace crosstenant::fuzz {

class ScriptedTransport : public tenant_connector::HttpTransport {
 public:
  explicit ScriptedTransport(absl::string_view script) {
    for (absl::string_view part : absl::StrSplit(script, "\n%%\n")) {
      tenant_connector::HttpResponse response;
      absl::string_view status_line = part.substr(0, part.find('\n'));
      response.body = part.size() > status_line.size() ? std::string(part.substr(status_line.size() + 1)) : "";
      std::vector<absl::string_view> words = absl::StrSplit(status_line, ' ', absl::SkipEmpty());
      if (words.empty() || !absl::SimpleAtoi(words[0], &response.status)) response.status = 200;
      for (size_t i = 1; i + 1 < words.size(); i += 2) {
        absl::string_view name = words[i];
        absl::ConsumeSuffix(&name, ":");
        response.headers[absl::AsciiStrToLower(name)] = std::string(words[i + 1]);
      }
      responses_.push_back(std::move(response));
    }
  }

  absl::StatusOr<tenant_connector::HttpResponse> Send(const tenant_connector::HttpRequest& request) override {
    absl::MutexLock lock(&mu_);
    urls_.push_back(request.url);
    if (next_ >= responses_.size()) return absl::UnavailableError("the fuzz script has no more responses");
    return responses_[next_++];
  }

  std::vector<std::string> urls() {
    absl::MutexLock lock(&mu_);
    return urls_;
  }

 private:
  absl::Mutex mu_;
  std::vector<tenant_connector::HttpResponse> responses_;
  size_t next_ = 0;
  std::vector<std::string> urls_;
};

class InstantClock : public tenant_connector::Clock {
 public:
  explicit InstantClock(absl::Time start) : now_(start) {}
  absl::Time Now() override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void SleepFor(absl::Duration duration) override {
    absl::MutexLock lock(&mu_);
    if (duration > absl::ZeroDuration()) now_ += duration;
  }

 private:
  absl::Mutex mu_;
  absl::Time now_;
};

}  // namespace crosstenant::fuzz

#endif  // CROSSTENANT_TESTS_FUZZ_FAKE_UPSTREAM_H_
