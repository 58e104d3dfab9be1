#ifndef CROSSTENANT_TESTS_UNIT_TENANT_CONNECTOR_SCRIPTED_TRANSPORT_H_
#define CROSSTENANT_TESTS_UNIT_TENANT_CONNECTOR_SCRIPTED_TRANSPORT_H_

// An HttpTransport for unit tests of one upstream client: answers requests in order from a script and
// keeps every request it was sent.

#include <deque>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "services/tenant_connector/core/http.h"

namespace crosstenant::tenant_connector {

class ScriptedTransport : public HttpTransport {
 public:
  absl::StatusOr<HttpResponse> Send(const HttpRequest& request) override {
    if (before_answer) before_answer(sent.size());
    sent.push_back(request);
    if (answers.empty()) return absl::UnavailableError("script exhausted");
    HttpResponse next = answers.front();
    answers.pop_front();
    return next;
  }
  void Answer(int status, std::string body, std::map<std::string, std::string> headers = {}) {
    HttpResponse response;
    response.status = status;
    response.body = std::move(body);
    response.headers = std::move(headers);
    answers.push_back(response);
  }
  // The value of header `name` of the `index`th request sent ("" if absent).
  std::string Header(size_t index, const std::string& name) const {
    for (const auto& [key, value] : sent.at(index).headers) {
      if (key == name) return value;
    }
    return "";
  }

  std::deque<HttpResponse> answers;
  std::vector<HttpRequest> sent;
  // Called with the request's index before it is answered (e.g. to hold the answer back); may be empty.
  std::function<void(size_t index)> before_answer;
};

}  // namespace crosstenant::tenant_connector

#endif  // CROSSTENANT_TESTS_UNIT_TENANT_CONNECTOR_SCRIPTED_TRANSPORT_H_
