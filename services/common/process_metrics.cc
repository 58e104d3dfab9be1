#include "services/common/process_metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <limits>
#include <sstream>
#include <string>

namespace crosstenant {
namespace {

prometheus::MetricFamily Family(const char* name, const char* help, prometheus::MetricType type, double value) {
  prometheus::ClientMetric metric;
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  return prometheus::MetricFamily{name, help, type, {metric}};
}

// Seconds since the epoch at which the machine booted, from /proc/stat's btime.
double BootTimeSeconds() {
  std::ifstream stat("/proc/stat");
  std::string key;
  while (stat >> key) {
    if (key == "btime") {
      double btime = 0;
      stat >> btime;
      return btime;
    }
    stat.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return 0;
}

int CountOpenFds() {
  int count = 0;
  if (DIR* dir = opendir("/proc/self/fd")) {
    while (readdir(dir) != nullptr) ++count;
    closedir(dir);
    count -= 3;  // ".", ".." and the descriptor of the directory stream itself
  }
  return count;
}

}  // namespace

std::vector<prometheus::MetricFamily> ProcessMetricsCollector::Collect() const {
  std::vector<prometheus::MetricFamily> families;
  std::ifstream stat_file("/proc/self/stat");
  std::string stat;
  std::getline(stat_file, stat);
  // The command name (field 2) may contain spaces; the fields after it start past the last ')'.
  const size_t close_paren = stat.rfind(')');
  if (close_paren != std::string::npos) {
    std::istringstream fields(stat.substr(close_paren + 2));
    std::string field;
    std::vector<std::string> values;
    while (fields >> field) values.push_back(field);
    // values[0] is field 3 (state); field N is values[N - 3].
    if (values.size() > 21) {
      const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
      const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
      const double cpu = (std::stod(values[11]) + std::stod(values[12])) / ticks;  // utime + stime
      families.push_back(Family("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
                                prometheus::MetricType::Counter, cpu));
      families.push_back(Family("process_threads", "Number of OS threads in the process.",
                                prometheus::MetricType::Gauge, std::stod(values[17])));
      families.push_back(Family("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
                                prometheus::MetricType::Gauge, BootTimeSeconds() + std::stod(values[19]) / ticks));
      families.push_back(Family("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                                prometheus::MetricType::Gauge, std::stod(values[20])));
      families.push_back(Family("process_resident_memory_bytes", "Resident memory size in bytes.",
                                prometheus::MetricType::Gauge, std::stod(values[21]) * page));
    }
  }
  families.push_back(
      Family("process_open_fds", "Number of open file descriptors.", prometheus::MetricType::Gauge, CountOpenFds()));
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    families.push_back(Family("process_max_fds", "Maximum number of open file descriptors.",
                              prometheus::MetricType::Gauge, static_cast<double>(limit.rlim_cur)));
  }
  if (getrlimit(RLIMIT_AS, &limit) == 0) {
    // RLIM_INFINITY is reported as -1, as the Go client does.
    families.push_back(Family("process_virtual_memory_max_bytes",
                              "Maximum amount of virtual memory available in bytes.", prometheus::MetricType::Gauge,
                              limit.rlim_cur == RLIM_INFINITY ? -1.0 : static_cast<double>(limit.rlim_cur)));
  }
  return families;
}

}  // namespace crosstenant
