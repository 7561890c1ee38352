#include "actors/internal/failpoint.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

namespace mantissa::actors::internal {

namespace {

/// The armed failpoints. `count` mirrors `items.size()` so that a check
/// with nothing armed reads one atomic; -1 until the environment is read.
struct registry {
  std::mutex mutex;
  std::map<std::string, std::string> items;  // guarded by mutex
};

std::atomic<int> count{-1};

registry& reg() {
  static registry r;
  return r;
}

/// Reads MANTISSA_FAILPOINTS into the registry, once.
void load_environment() {
  static std::once_flag once;
  std::call_once(once, [] {
    auto& r = reg();
    std::lock_guard<std::mutex> guard{r.mutex};
    if (const char* v = std::getenv("MANTISSA_FAILPOINTS")) {
      std::istringstream in{v};
      std::string item;
      while (std::getline(in, item, ',')) {
        if (item.empty())
          continue;
        auto eq = item.find('=');
        if (eq == std::string::npos)
          r.items[item];
        else
          r.items[item.substr(0, eq)] = item.substr(eq + 1);
      }
    }
    count.store(static_cast<int>(r.items.size()), std::memory_order_release);
  });
}

} // namespace

std::optional<std::string> failpoint_value(const char* name) {
  auto n = count.load(std::memory_order_relaxed);
  if (n == 0)
    return std::nullopt;
  if (n < 0)
    load_environment();
  auto& r = reg();
  std::lock_guard<std::mutex> guard{r.mutex};
  auto it = r.items.find(name);
  if (it == r.items.end())
    return std::nullopt;
  return it->second;
}

bool failpoint_armed(const char* name) {
  return failpoint_value(name).has_value();
}

void arm_failpoint(const std::string& name, const std::string& value) {
  load_environment();
  auto& r = reg();
  std::lock_guard<std::mutex> guard{r.mutex};
  r.items[name] = value;
  count.store(static_cast<int>(r.items.size()), std::memory_order_relaxed);
}

void disarm_failpoint(const std::string& name) {
  load_environment();
  auto& r = reg();
  std::lock_guard<std::mutex> guard{r.mutex};
  r.items.erase(name);
  count.store(static_cast<int>(r.items.size()), std::memory_order_relaxed);
}

void failpoint(const char* name) {
  if (!failpoint_armed(name))
    return;
  std::fprintf(stderr, "mantissa: failpoint %s reached\n", name);
  std::fflush(stderr);
  std::this_thread::sleep_for(std::chrono::seconds(60));
}

} // namespace mantissa::actors::internal
