#include "actors/internal/failpoint.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <thread>

namespace mantissa::actors::internal {

namespace {

bool armed(const char* name) {
  static const std::string list = [] {
    const char* v = std::getenv("MANTISSA_FAILPOINTS");
    return std::string{v != nullptr ? v : ""};
  }();
  if (list.empty())
    return false;
  std::istringstream in{list};
  std::string item;
  while (std::getline(in, item, ','))
    if (item == name)
      return true;
  return false;
}

} // namespace

bool failpoint_armed(const char* name) {
  return armed(name);
}

void failpoint(const char* name) {
  if (!armed(name))
    return;
  std::fprintf(stderr, "mantissa: failpoint %s reached\n", name);
  std::fflush(stderr);
  std::this_thread::sleep_for(std::chrono::seconds(60));
}

} // namespace mantissa::actors::internal
